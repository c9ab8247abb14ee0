package broker

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/replication"
)

// syncedLog is a follower's real engine.Log that remembers the log end at which its last
// WaitDurable returned: what the follower had on disk when it went on to fetch again.
type syncedLog struct {
	*engine.Log
	durableEnd atomic.Int64
}

func (l *syncedLog) WaitDurable(seq uint64) error {
	end := l.LogEndOffset()
	err := l.Log.WaitDurable(seq)
	if err == nil {
		l.durableEnd.Store(end)
	}
	return err
}

// runFetcher runs fe until the returned stop is called, which waits for Run to return.
func runFetcher(ctx context.Context, fe *replication.Fetcher) (stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- fe.Run(runCtx) }()
	return func() { cancel(); <-ran }
}

// TestReplicaFsyncBeforeAck: with FetcherConfig.Fsync (logd.replica.fsync) an acks=all
// produce to a partition whose ISR is the leader and one follower is acknowledged only after
// the follower synced the record: every acknowledged offset is below the follower's durable
// end at that moment.
func TestReplicaFsyncBeforeAck(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tb := startBroker(t, func(c *Config) { c.Logger = quiet })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "fs"); err != nil {
		t.Fatal(err)
	}
	const epoch = 2
	waitLeading(t, tb, "fs", 0)
	st := replication.PartitionState{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if _, err := tb.b.Lead("fs", 0, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 2}, st, &acceptingController{}); err != nil {
		t.Fatal(err)
	}

	e, err := engine.Open(engine.Config{Dir: t.TempDir(), Logger: quiet, RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tp := engine.TopicPartition{Topic: "fs", Partition: 0}
	l, err := e.OpenLogWith(tp, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	follower := &syncedLog{Log: l}
	fe := replication.NewFetcher(replication.FetcherConfig{ReplicaID: 2, Addr: tb.addr, MaxWait: 200 * time.Millisecond,
		Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: quiet, Fsync: true})
	if err := fe.Add(tp, epoch, follower); err != nil {
		t.Fatal(err)
	}
	defer runFetcher(ctx, fe)()

	cl := tb.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	for i := range 5 {
		r := &kgo.Record{Topic: "fs", Partition: 0, Value: []byte{byte(i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if d := follower.durableEnd.Load(); r.Offset >= d {
			t.Fatalf("record %d at offset %d acknowledged while the follower had synced only below %d", i, r.Offset, d)
		}
	}
}
