package restproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// curlStep is one request of a script in testdata/curl: its answer's status and body.
type curlStep struct {
	status int
	body   string
}

// runCurlScript runs testdata/curl/NAME against the proxy and splits its output by step.
func runCurlScript(t *testing.T, name, rest, cid string) map[string]curlStep {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join("testdata", "curl", name))
	cmd.Env = append(cmd.Environ(), "REST="+rest, "CLUSTER_ID="+cid)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	steps := map[string]curlStep{}
	for _, chunk := range strings.Split("\n"+string(out), "\n== ")[1:] {
		lines := strings.Split(strings.TrimRight(chunk, "\n"), "\n")
		if len(lines) < 2 {
			t.Fatalf("%s: step %q printed no status", name, lines[0])
		}
		status, err := strconv.Atoi(lines[len(lines)-1])
		if err != nil {
			t.Fatalf("%s: step %q: status line %q", name, lines[0], lines[len(lines)-1])
		}
		steps[lines[0]] = curlStep{status: status, body: strings.Join(lines[1:len(lines)-1], "\n")}
	}
	return steps
}

// check asserts a step's status and, when kind is not "", that its body is one JSON object
// of that kind; more looks further into the decoded body.
func (s curlStep) check(t *testing.T, step string, status int, kind string, more func(map[string]any) bool) {
	t.Helper()
	if s.status != status {
		t.Fatalf("%s: status %d, want %d: %s", step, s.status, status, s.body)
	}
	if kind == "" && more == nil {
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s.body), &m); err != nil {
		t.Fatalf("%s: %v: %s", step, err, s.body)
	}
	if kind != "" && m["kind"] != kind {
		t.Fatalf("%s: kind %v, want %s: %s", step, m["kind"], kind, s.body)
	}
	if more != nil && !more(m) {
		t.Fatalf("%s: unexpected answer %s", step, s.body)
	}
}

// has reports whether m's field (a dotted path) prints as want.
func has(m map[string]any, path, want string) bool {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		o, ok := v.(map[string]any)
		if !ok {
			return false
		}
		v = o[k]
	}
	return fmt.Sprint(v) == want
}

func count(m map[string]any) int { d, _ := m["data"].([]any); return len(d) }

// TestCurlScripts runs the requests of Confluent REST Proxy's documentation with the real
// curl binary against a live broker and checks each answer's status and JSON shape.
func TestCurlScripts(t *testing.T) {
	for _, bin := range []string{"curl", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("no %s binary: the curl scripts need it (.ci/run has it)", bin)
		}
	}
	r, addr := startProxy(t, Config{})

	s := runCurlScript(t, "v3-topics.sh", r.base, r.cid)
	s["list-clusters"].check(t, "list-clusters", 200, "KafkaClusterList", func(m map[string]any) bool { return count(m) == 1 })
	s["create-topic"].check(t, "create-topic", 201, "KafkaTopic", func(m map[string]any) bool {
		return has(m, "topic_name", "topic-1") && has(m, "partitions_count", "6") && has(m, "cluster_id", r.cid)
	})
	s["list-topics"].check(t, "list-topics", 200, "KafkaTopicList", func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["data"]), "topic_name:topic-1") })
	s["get-topic"].check(t, "get-topic", 200, "KafkaTopic", func(m map[string]any) bool { return has(m, "replication_factor", "1") })
	s["list-partitions"].check(t, "list-partitions", 200, "KafkaPartitionList", func(m map[string]any) bool { return count(m) == 6 })
	s["get-partition"].check(t, "get-partition", 200, "KafkaPartition", func(m map[string]any) bool { return has(m, "partition_id", "0") })
	s["unknown-topic"].check(t, "unknown-topic", 404, "", func(m map[string]any) bool { return has(m, "error_code", "40403") })

	s = runCurlScript(t, "v3-configs.sh", r.base, r.cid)
	s["list-configs"].check(t, "list-configs", 200, "KafkaTopicConfigList", func(m map[string]any) bool { return count(m) > 10 })
	s["get-config"].check(t, "get-config", 200, "KafkaTopicConfig", func(m map[string]any) bool {
		return has(m, "value", "compact") && has(m, "source", "DYNAMIC_TOPIC_CONFIG")
	})
	s["update-config"].check(t, "update-config", 204, "", nil)
	s["batch-alter"].check(t, "batch-alter", 204, "", nil)
	s["reset-config"].check(t, "reset-config", 204, "", nil)
	s["get-reset-config"].check(t, "get-reset-config", 200, "KafkaTopicConfig", func(m map[string]any) bool {
		return has(m, "is_default", "true") && has(m, "value", "604800000")
	})

	s = runCurlScript(t, "v3-produce.sh", r.base, r.cid)
	delivered := func(m map[string]any) bool {
		return has(m, "error_code", "200") && has(m, "topic_name", "topic-1") && m["offset"] != nil
	}
	s["produce-json"].check(t, "produce-json", 200, "", func(m map[string]any) bool { return delivered(m) && has(m, "value.type", "JSON") })
	s["produce-binary"].check(t, "produce-binary", 200, "", func(m map[string]any) bool {
		return delivered(m) && has(m, "partition_id", "1") && has(m, "key.type", "BINARY") && has(m, "key.size", "6") && has(m, "value.size", "6")
	})
	s["produce-string"].check(t, "produce-string", 200, "", func(m map[string]any) bool { return delivered(m) && has(m, "value.type", "STRING") })
	if st := s["produce-stream"]; st.status != 200 || strings.Count(st.body, `"error_code":200`) != 3 {
		t.Fatalf("produce-stream: %d %s", st.status, st.body)
	}
	s["malformed"].check(t, "malformed", 400, "", func(m map[string]any) bool { return has(m, "error_code", "400") })
	s["unknown-topic"].check(t, "unknown-topic", 404, "", func(m map[string]any) bool { return has(m, "error_code", "40403") })

	// group-1: a member that consumed and committed part of topic-1.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("group-1"), kgo.ConsumeTopics("topic-1"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("consumer-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for got := 0; got < 6; got += cl.PollFetches(ctx).NumRecords() {
		if ctx.Err() != nil {
			t.Fatal("group-1 consumed nothing in 30 s")
		}
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	s = runCurlScript(t, "v3-consumer-groups.sh", r.base, r.cid)
	s["list-groups"].check(t, "list-groups", 200, "KafkaConsumerGroupList", func(m map[string]any) bool {
		return strings.Contains(fmt.Sprint(m["data"]), "consumer_group_id:group-1")
	})
	s["get-group"].check(t, "get-group", 200, "KafkaConsumerGroup", func(m map[string]any) bool { return has(m, "state", "STABLE") })
	s["list-consumers"].check(t, "list-consumers", 200, "KafkaConsumerList", func(m map[string]any) bool {
		return count(m) == 1 && strings.Contains(fmt.Sprint(m["data"]), "client_id:consumer-1")
	})
	s["list-lags"].check(t, "list-lags", 200, "KafkaConsumerLagList", func(m map[string]any) bool { // the partitions it committed
		return count(m) > 0 && strings.Contains(fmt.Sprint(m["data"]), "kind:KafkaConsumerLag") && strings.Contains(fmt.Sprint(m["data"]), "log_end_offset:")
	})
	s["lag-summary"].check(t, "lag-summary", 200, "KafkaConsumerGroupLagSummary", func(m map[string]any) bool { return m["max_lag"] != nil })

	s = runCurlScript(t, "v2-consumer.sh", r.base, r.cid)
	s["create-consumer"].check(t, "create-consumer", 200, "", func(m map[string]any) bool {
		return has(m, "instance_id", "my_consumer_instance") && has(m, "base_uri", r.base+"/consumers/my_binary_consumer/instances/my_consumer_instance")
	})
	s["subscribe"].check(t, "subscribe", 204, "", nil)
	s["subscription"].check(t, "subscription", 200, "", func(m map[string]any) bool { return has(m, "topics", "[topic-1]") })
	var recs []map[string]any
	if st := s["records"]; json.Unmarshal([]byte(st.body), &recs) != nil || len(recs) == 0 || recs[0]["topic"] != "topic-1" || recs[0]["offset"] == nil {
		t.Fatalf("records: %s", st.body)
	}
	s["commit"].check(t, "commit", 200, "", nil)
	s["delete-consumer"].check(t, "delete-consumer", 204, "", nil)
}
