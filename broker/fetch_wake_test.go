package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metrics"
)

// TestFetchWakeMetrics: two fetches parked on one partition are both answered with the
// record one acks=all produce appends (one re-read on the waking completer task itself, the
// other queued), each counted once in logd_fetch_wake_seconds; the produce's wait for the
// high watermark is counted in logd_produce_replication_wait_seconds.
func TestFetchWakeMetrics(t *testing.T) {
	reg := metrics.New()
	tb := startBroker(t, func(c *Config) { c.Metrics = reg })
	createTopicDP(t, tb, "wake", 1, nil)
	req := fetchReqDP(11, "wake", [16]byte{}, 0, 0)
	req.MaxWaitMillis = 30000
	conns := []*rawConnDP{dialDP(t, tb), dialDP(t, tb)}
	corrs := make([]int32, len(conns))
	for i, rc := range conns {
		corrs[i] = rc.send(req)
	}
	deadline := time.Now().Add(20 * time.Second)
	for tb.b.parked.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches parked after 20 s, want 2", tb.b.parked.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cl := tb.client(kgo.DefaultProduceTopic("wake"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i, rc := range conns {
		r := rc.recv(req, corrs[i]).(*kmsg.FetchResponse)
		p := r.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.HighWatermark != 1 || len(batchesDP(t, p.RecordBatches)) != 1 {
			t.Fatalf("fetch %d: error %d, hw %d, %d bytes; want the appended record", i, p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
		}
	}
	// Each fetch observes its wake after its response is handed to the writer: wait for both.
	for {
		wake := gatherSum(t, reg, metrics.FetchWake)
		if wake.count == 2 {
			if wake.sum <= 0 {
				t.Fatalf("%s: 2 samples summing to %v s", metrics.FetchWake, wake.sum)
			}
			break
		}
		if wake.count > 2 || time.Now().After(deadline) {
			t.Fatalf("%s counted %d wakes, want 2", metrics.FetchWake, wake.count)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if repl := gatherSum(t, reg, metrics.ProduceReplicationWait); repl.count != 1 {
		t.Fatalf("%s counted %d produce waits, want 1", metrics.ProduceReplicationWait, repl.count)
	}
}
