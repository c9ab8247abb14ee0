package broker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// TestCompactedTopicFranzGo runs a compacted topic through the broker socket with franz-go:
// keyed records produced (idempotent, compressed), a keyless one refused with INVALID_RECORD,
// the engine's own cleaner thread compacting the log, and a consumer from the beginning seeing
// each key's last value at its original offset, with the gaps compaction leaves.
func TestCompactedTopicFranzGo(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		cc := engine.DefaultCleanerConfig
		cc.Backoff = 20 * time.Millisecond
		c.Cleaner = &cc
	})
	ctx := testCtx(t)
	adm := tb.admin()
	resp, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"segment.bytes":             kmsg.StringPtr("2048"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0.01"),
	}, "table")
	if err != nil || resp["table"].Err != nil {
		t.Fatalf("create compacted topic: %v %v", err, resp["table"].Err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("table"), kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerLinger(0))
	last := map[string]string{}
	const n, keys = 400, 10
	for i := 0; i < n; i++ {
		k, v := fmt.Sprintf("key-%d", i%keys), fmt.Sprintf("value-%d", i)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(k), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		last[k] = v
	}
	keyless := tb.client(kgo.DefaultProduceTopic("table"), kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	if err := keyless.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record into a compacted topic: %v, want INVALID_RECORD", err)
	}

	// The cleaner thread (running all along) compacts everything but the active segment: 400
	// batches of about 80 bytes shrink to the active segment plus ten keys' last batches.
	l := tb.b.Engine().Log(engine.TopicPartition{Topic: "table", Partition: 0})
	deadline := time.Now().Add(20 * time.Second)
	for l.Size() > 2*2048 {
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner did not compact the log: %d bytes in %d segments", l.Size(), l.Segments())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("log of %d records compacted to %d bytes in %d segments", n, l.Size(), l.Segments())

	c := tb.client(kgo.ConsumeTopics("table"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	seen, gaps, prev := 0, 0, int64(-1)
	for prev < n-1 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			if r.Offset > prev+1 {
				gaps++
			}
			prev = r.Offset
			seen++
			if want := fmt.Sprintf("value-%d", r.Offset); string(r.Value) != want {
				t.Fatalf("offset %d holds %q, produced %q there", r.Offset, r.Value, want)
			}
			got[string(r.Key)] = string(r.Value)
		})
	}
	if seen >= n || gaps == 0 {
		t.Fatalf("consumed %d records with %d gaps: nothing was compacted", seen, gaps)
	}
	for k, v := range last {
		if got[k] != v {
			t.Fatalf("key %s: last value %q, consumed %q", k, v, got[k])
		}
	}
	t.Logf("consumed %d of %d records, %d offset gaps", seen, n, gaps)
}
