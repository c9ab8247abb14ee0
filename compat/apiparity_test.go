//go:build compat

package compat

// API parity with Apache Kafka 4.3.1 (issue 17): Kafka's own kafka-broker-api-versions
// (BrokerApiVersionsCommand) run against logd, compared with the same tool's output against
// Kafka 4.3.1, kept verbatim in testdata/kafka-4.3.1-broker-api-versions.txt. To regenerate it,
// start Kafka as bench/brokers.go startKafka does (KRaft, combined broker+controller) and run
//
//	java -cp 'tools/kafka/lib/*' org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server ADDR
//
// keeping the tab-indented lines without their trailing commas.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// apiParityExceptions are the APIs Kafka 4.3.1 serves that logd deliberately does not serve
// (yet), or serves below Kafka's newest version, each with the reason. The list must only
// shrink: an entry logd no longer needs fails the test too, so it is removed when the API lands.
var apiParityExceptions = map[int16]string{}

// apiRange is one line of kafka-broker-api-versions: an API and the version range the broker
// advertises (supported false: UNSUPPORTED).
type apiRange struct {
	name      string
	supported bool
	min, max  int16
}

var apiLine = regexp.MustCompile(`^\s*(\w+)\((\d+)\): (?:(UNSUPPORTED)|(\d+)(?: to (\d+))? \[usable: \d+\])`)

// parseBrokerApiVersions reads the tool's lines into API key → range.
func parseBrokerApiVersions(out string) (map[int16]apiRange, error) {
	apis := map[int16]apiRange{}
	for _, l := range strings.Split(out, "\n") {
		m := apiLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		key, err := strconv.ParseInt(m[2], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("api key in %q: %v", l, err)
		}
		r := apiRange{name: m[1], supported: m[3] == ""}
		if r.supported {
			lo, _ := strconv.ParseInt(m[4], 10, 16)
			hi := lo
			if m[5] != "" {
				hi, _ = strconv.ParseInt(m[5], 10, 16)
			}
			r.min, r.max = int16(lo), int16(hi)
		}
		apis[int16(key)] = r
	}
	if len(apis) == 0 {
		return nil, fmt.Errorf("no API lines in %q", lastLines(out, 5))
	}
	return apis, nil
}

// apiParityGaps compares logd's ranges with Kafka's: every API Kafka serves must be served by
// logd from Kafka's minimum (or lower) up to Kafka's maximum (or higher), unless excepted; an
// exception for an API without a gap is itself reported, so the list shrinks as APIs land.
func apiParityGaps(kafka, logd map[int16]apiRange, exceptions map[int16]string) []string {
	var gaps []string
	keys := make([]int, 0, len(kafka))
	for k := range kafka {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	for _, ki := range keys {
		k := int16(ki)
		want, got := kafka[k], logd[k]
		var gap string
		switch {
		case !want.supported:
			continue
		case !got.supported:
			gap = fmt.Sprintf("%s(%d): Kafka 4.3.1 serves %d-%d, logd does not serve it", want.name, k, want.min, want.max)
		case got.max < want.max:
			gap = fmt.Sprintf("%s(%d): logd's newest version is %d, Kafka 4.3.1's %d", want.name, k, got.max, want.max)
		case got.min > want.min:
			gap = fmt.Sprintf("%s(%d): logd's oldest version is %d, Kafka 4.3.1's %d", want.name, k, got.min, want.min)
		}
		_, excepted := exceptions[k]
		switch {
		case gap != "" && !excepted:
			gaps = append(gaps, gap)
		case gap == "" && excepted:
			gaps = append(gaps, fmt.Sprintf("%s(%d) is served at Kafka's versions now: remove its exception (%q)", want.name, k, exceptions[k]))
		}
	}
	for k, why := range exceptions {
		if _, ok := kafka[k]; !ok {
			gaps = append(gaps, fmt.Sprintf("exception for API %d (%q), which Kafka 4.3.1 does not list", k, why))
		}
	}
	return gaps
}

// TestApiParity runs kafka-broker-api-versions against logd and fails on every API Kafka 4.3.1
// serves that logd does not, or serves only at lower versions, outside apiParityExceptions
// (go test -tags compat -run TestApiParity ./compat).
func TestApiParity(t *testing.T) {
	scenario(t, "java", "kafka-broker-api-versions-parity", 90*time.Second, func(s *S) {
		ref, err := os.ReadFile(filepath.Join(repoRoot, "compat", "testdata", "kafka-4.3.1-broker-api-versions.txt"))
		if err != nil {
			s.Fatalf("Kafka 4.3.1's answer: %v", err)
		}
		kafka, err := parseBrokerApiVersions(string(ref))
		if err != nil {
			s.Fatalf("Kafka 4.3.1's answer: %v", err)
		}
		out := kafkaTool(s, "kafka-broker-api-versions", "org.apache.kafka.tools.BrokerApiVersionsCommand")
		logd, err := parseBrokerApiVersions(out)
		if err != nil {
			s.Fatalf("kafka-broker-api-versions against logd: %v", err)
		}
		for _, g := range apiParityGaps(kafka, logd, apiParityExceptions) {
			s.Errorf("%s", g)
		}
		served := 0
		for _, r := range logd {
			if r.supported {
				served++
			}
		}
		s.Logf("logd serves %d of the %d APIs kafka-broker-api-versions lists; %d deliberate exceptions", served, len(logd), len(apiParityExceptions))
	})
}

// TestKafkaTopicsDescribe: kafka-topics --describe over DescribeTopicPartitions (the Elr
// columns only it fills), one partition per answer so the cursor carries it through
// (go test -tags compat -run TestKafkaTopicsDescribe ./compat).
func TestKafkaTopicsDescribe(t *testing.T) {
	scenario(t, "java", "kafka-topics-describe-paginated", 90*time.Second, func(s *S) {
		createTopic(s, "dtp-compat", 3, nil)
		out := kafkaTool(s, "kafka-topics", "org.apache.kafka.tools.TopicCommand", "--describe", "--topic", "dtp-compat", "--partition-size-limit-per-response", "1")
		for p := 0; p < 3; p++ {
			if !regexp.MustCompile(fmt.Sprintf(`Topic: dtp-compat\s+Partition: %d\s+Leader: \d+\s+Replicas: \d+\s+Isr: \d+\s+Elr:`, p)).MatchString(out) {
				s.Errorf("kafka-topics --describe: no row for partition %d in %q", p, out)
			}
		}
	})
}

// TestKafkaClientMetricsList: kafka-client-metrics --list (ListConfigResources v0) answers,
// listing no subscription: the shared broker has none (TestClientTelemetry sets and deletes
// one on its own broker) (go test -tags compat -run TestKafkaClientMetricsList ./compat).
func TestKafkaClientMetricsList(t *testing.T) {
	scenario(t, "java", "kafka-client-metrics-list", 90*time.Second, func(s *S) {
		out := kafkaTool(s, "kafka-client-metrics", "org.apache.kafka.tools.ClientMetricsCommand", "--list")
		for _, l := range strings.Split(out, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "SLF4J") {
				s.Errorf("kafka-client-metrics --list: unexpected %q", l)
			}
		}
	})
}
