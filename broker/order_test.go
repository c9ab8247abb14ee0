package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPipelinedProduceOrder: acks=0 produce requests pipelined on one connection are appended
// in the order they were sent (Kafka handles a connection's requests one at a time; clients
// rely on it).
func TestPipelinedProduceOrder(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "ord", 1, nil)
	rc := dialDP(t, tb)
	const n = 300
	for i := 0; i < n; i++ {
		bt := batchDP{timestamps: []int64{int64(1000 + i)}, valueSize: 8}
		rc.send(produceReqDP(9, 0, "ord", 0, bt.encode()))
	}
	// Close at once, as sarama's producer does after acks=0 sends: the requests already read
	// must still be appended in order.
	rc.c.Close()
	cl := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"ord": {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []int64
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d", len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Timestamp.UnixMilli()) })
	}
	for i, ts := range got {
		if ts != int64(1000+i) {
			t.Fatalf("record %d has timestamp %d: pipelined requests were appended out of order", i, ts)
		}
	}
}
