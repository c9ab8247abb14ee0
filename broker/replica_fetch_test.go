package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/segment"
)

// acceptingController commits every ISR change it is asked for.
type acceptingController struct {
	mu  sync.Mutex
	log []replication.IsrChange
}

func (c *acceptingController) AlterPartition(_ context.Context, _ engine.TopicPartition, ch replication.IsrChange) (replication.PartitionState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, ch)
	return replication.PartitionState{Leader: ch.Leader, LeaderEpoch: ch.LeaderEpoch, PartitionEpoch: ch.PartitionEpoch + 1,
		Replicas: []int32{1, 2}, ISR: ch.ISR}, nil
}

// TestReplicaFetchFromBroker runs a follower in the test — its own engine log and a
// replication.Follower over replication.Conn — against a replicated broker over sockets. A
// partition the broker does not lead answers NOT_LEADER_OR_FOLLOWER; stale and future epochs
// are fenced; the follower copies the partition byte for byte (epochs included) past the
// high watermark; the leader's high watermark moves only when the follower's next fetch shows
// it has the records; an acks=all produce is answered only after that; after Resign the
// partition is refused again.
func TestReplicaFetchFromBroker(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.Replicated = true
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "r"); err != nil {
		t.Fatal(err)
	}
	tp := engine.TopicPartition{Topic: "r", Partition: 0}

	conn, err := replication.Dial(ctx, tb.addr, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.MaxWait = 50 * time.Millisecond
	if _, err := conn.Fetch(ctx, tp, -1, 0, 1<<20); !errors.Is(err, replication.ErrNotLeader) {
		t.Fatalf("fetch before this broker leads: %v", err)
	}

	const epoch = 3
	ctl := &acceptingController{}
	st := replication.PartitionState{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if _, err := tb.b.Lead("r", 0, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 2}, st, ctl); err != nil {
		t.Fatal(err)
	}
	leaderLog := tb.b.Engine().Log(tp)

	cl := tb.client(kgo.DefaultProduceTopic("r"), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	for i := 0; i < 20; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: bytes.Repeat([]byte{byte('a' + i)}, 100)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if leaderLog.LogEndOffset() != 20 || leaderLog.HighWatermark() != 0 {
		t.Fatalf("leader end %d hw %d, want 20 and 0 (the follower has nothing yet)", leaderLog.LogEndOffset(), leaderLog.HighWatermark())
	}

	for _, c := range []struct {
		current int32
		fenced  bool
	}{{epoch - 1, true}, {epoch + 1, false}} {
		_, err := conn.Fetch(ctx, tp, c.current, 0, 1<<20)
		if err == nil || errors.Is(err, replication.ErrFencedLeaderEpoch) != c.fenced {
			t.Fatalf("fetch in epoch %d (leader's %d): %v", c.current, epoch, err)
		}
	}
	if got, err := conn.OffsetForLeaderEpoch(ctx, tp, epoch, epoch); err != nil || got != (engine.EpochEndOffset{Epoch: epoch, EndOffset: 20}) {
		t.Fatalf("OffsetForLeaderEpoch: %+v %v", got, err)
	}

	e, err := engine.Open(engine.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	followerLog, err := e.OpenLogWith(tp, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := replication.NewFollower(tp, epoch, followerLog, conn, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	step := func() {
		t.Helper()
		if _, err := f.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	step() // fetches from 0: everything, up to the leader's end, past its high watermark
	if followerLog.LogEndOffset() != 20 || leaderLog.HighWatermark() != 0 || followerLog.HighWatermark() != 0 {
		t.Fatalf("after the first fetch: follower end %d hw %d, leader hw %d", followerLog.LogEndOffset(), followerLog.HighWatermark(), leaderLog.HighWatermark())
	}
	step() // fetches from 20: the leader learns the follower has 0..19
	if leaderLog.HighWatermark() != 20 || followerLog.HighWatermark() != 20 {
		t.Fatalf("after the second fetch: leader hw %d, follower hw %d, want 20", leaderLog.HighWatermark(), followerLog.HighWatermark())
	}
	if lb, fb := replicaLogBytes(t, leaderLog), replicaLogBytes(t, followerLog); !bytes.Equal(lb, fb) {
		t.Fatalf("follower's log differs: %d bytes, leader %d", len(fb), len(lb))
	}
	if !slices.Equal(followerLog.EpochEntries(), leaderLog.EpochEntries()) || len(leaderLog.EpochEntries()) != 1 {
		t.Fatalf("epochs %v, leader %v", followerLog.EpochEntries(), leaderLog.EpochEntries())
	}

	// acks=all: answered only once the follower has fetched past the batch.
	all := tb.client(kgo.DefaultProduceTopic("r"))
	done := make(chan error, 1)
	go func() { done <- all.ProduceSync(ctx, &kgo.Record{Value: []byte("all")}).FirstErr() }()
	for leaderLog.LogEndOffset() == 20 {
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("acks=all answered (%v) before the follower had the batch", err)
	case <-time.After(200 * time.Millisecond):
	}
	step()
	step()
	if err := <-done; err != nil {
		t.Fatalf("acks=all after the follower caught up: %v", err)
	}
	if leaderLog.HighWatermark() != 21 || followerLog.LogEndOffset() != 21 {
		t.Fatalf("leader hw %d, follower end %d, want 21", leaderLog.HighWatermark(), followerLog.LogEndOffset())
	}

	tb.b.Resign("r", 0)
	if _, err := conn.Fetch(ctx, tp, epoch, 21, 1<<20); !errors.Is(err, replication.ErrNotLeader) {
		t.Fatalf("fetch after resigning: %v", err)
	}
}

// TestSingleNodeRefusesLead: Lead needs a replicated broker; a single node leads everything
// in epoch 0 by itself.
func TestSingleNodeRefusesLead(t *testing.T) {
	tb := startBroker(t, nil)
	st := replication.PartitionState{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1}, ISR: []int32{1}}
	if _, err := tb.b.Lead("x", 0, replication.DefaultConfig, st, &acceptingController{}); !errors.Is(err, replication.ErrNotReplicated) {
		t.Fatalf("Lead on a single node: %v", err)
	}
}

// replicaLogBytes reads a whole log's batches.
func replicaLogBytes(t *testing.T, l *engine.Log) []byte {
	t.Helper()
	var out []byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		r, err := l.Read(off, 1<<30, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, r.Len)
		_, err = r.File.ReadAt(b, r.Pos)
		r.Release()
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		out = append(out, b...)
		for n := 0; n < len(b); {
			h, err := segment.ParseHeader(b[n:])
			if err != nil {
				t.Fatal(err)
			}
			off = h.LastOffset() + 1
			n += h.Size()
		}
	}
	return out
}
