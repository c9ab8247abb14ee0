//go:build compat

package compat

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQuotas: kafka-configs sets producer_byte_rate for a client id (AlterClientQuotas) and
// describes it (DescribeClientQuotas); Kafka's ProducerPerformance with that client id is then
// held to the rate: past the burst Kafka's sampled rate lets through (10 of its 11 windows),
// it sends no faster than the quota, where it would otherwise finish in a second or two.
func TestQuotas(t *testing.T) {
	b, err := startBroker(t.TempDir(), "", "quota.log")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("logd exit: %v", err)
		}
	})
	addr := b.addr
	const rate = 200 << 10 // bytes/s
	scenario(t, "java", "quota-kafka-configs-producer-byte-rate", 120*time.Second, func(s *S) {
		javaTool(s, "", "kafka.admin.ConfigCommand", "--bootstrap-server", addr, "--alter",
			"--add-config", fmt.Sprintf("producer_byte_rate=%d", rate), "--entity-type", "clients", "--entity-name", "quota-perf")
		desc := javaTool(s, "", "kafka.admin.ConfigCommand", "--bootstrap-server", addr, "--describe",
			"--entity-type", "clients", "--entity-name", "quota-perf")
		if !strings.Contains(desc, fmt.Sprintf("producer_byte_rate=%d", rate)) {
			s.Fatalf("kafka-configs --describe: %s", lastLines(desc, 5))
		}
		javaTool(s, "", "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", addr, "--create", "--topic", "quota-perf",
			"--partitions", "1", "--replication-factor", "1")
		const records, size = 4000, 1000
		start := time.Now()
		out := javaTool(s, "", "org.apache.kafka.tools.ProducerPerformance", "--topic", "quota-perf",
			"--num-records", strconv.Itoa(records), "--record-size", strconv.Itoa(size), "--throughput", "-1",
			"--producer-props", "bootstrap.servers="+addr, "client.id=quota-perf", "compression.type=none", "acks=1")
		elapsed := time.Since(start)
		m := regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec`).FindStringSubmatch(out)
		if m == nil {
			s.Fatalf("ProducerPerformance said %s", lastLines(out, 5))
		}
		perSec, _ := strconv.ParseFloat(m[2], 64)
		sendTime := time.Duration(float64(records) / perSec * float64(time.Second))
		total := float64(records * size)
		// Past the first 11 windows' worth, the quota paces the rest.
		paced := (total - 11*rate) / rate
		s.note(fmt.Sprintf("%d records of %d B in %v (%.0f B/s; quota %d B/s, JVM included %v)", records, size,
			sendTime.Round(time.Millisecond), total/sendTime.Seconds(), rate, elapsed.Round(time.Millisecond)))
		if sendTime.Seconds() < paced*0.8 {
			s.Fatalf("sent %.0f bytes in %v: faster than the quota of %d B/s allows (at least %.1f s)", total, sendTime, rate, paced*0.8)
		}
		if sendTime > 20*time.Second {
			s.Fatalf("sent %.0f bytes in %v: far slower than the quota of %d B/s", total, sendTime, rate)
		}
	})
}
