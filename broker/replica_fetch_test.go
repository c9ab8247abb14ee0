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

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
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
// replication.Follower over replication.Conn — against a broker over sockets, whose
// leadership the test takes over by hand. A fetch by a broker that is not a replica answers
// NOT_LEADER_OR_FOLLOWER; stale and future epochs
// are fenced; the follower copies the partition byte for byte (epochs included) past the
// high watermark; the leader's high watermark moves only when the follower's next fetch shows
// it has the records; an acks=all produce is answered only after that; after Resign a follower is told to retry (UNKNOWN_LEADER_EPOCH: the state still names
// this broker the leader).
func TestReplicaFetchFromBroker(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "r"); err != nil {
		t.Fatal(err)
	}
	tp := engine.TopicPartition{Topic: "r", Partition: 0}

	conn, err := replication.Dial(ctx, tb.addr, 2, kwire.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.MaxWait = 50 * time.Millisecond
	waitLeading(t, tb, "r", 0)
	if _, err := conn.Fetch(ctx, tp, -1, 0, 1<<20); !errors.Is(err, replication.ErrNotLeader) {
		t.Fatalf("fetch by broker 2 while the partition's only replica is this broker: %v", err)
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

	followerLog, step := testFollower(ctx, t, tp, epoch, conn)
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
	// The cluster state still names this broker the leader: a follower is told to retry.
	if _, err := conn.Fetch(ctx, tp, epoch, 21, 1<<20); !errors.Is(err, kerr.UnknownLeaderEpoch) {
		t.Fatalf("fetch after resigning: %v", err)
	}
}

// testFollower opens a replicated log for tp in a fresh engine (closed with the test) and
// returns it with a function running one fetch round of a follower of epoch over conn.
func testFollower(ctx context.Context, t *testing.T, tp engine.TopicPartition, epoch int32, conn *replication.Conn) (*engine.Log, func()) {
	e, err := engine.Open(engine.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	followerLog, err := e.OpenLogWith(tp, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	f, err := replication.NewFollower(tp, epoch, followerLog, conn, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return followerLog, func() {
		t.Helper()
		if _, err := f.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// waitLeading waits until the broker's metadata listener has made it the leader of a new
// topic's partition.
func waitLeading(t *testing.T, tb *testBroker, topic string, p int32) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); tb.b.Leading(topic, p) == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s-%d: not led after 10 s", topic, p)
		}
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

// TestFetcherFollowsManyPartitions runs a replication.Fetcher (one connection, one Fetch per
// round for every partition) against a replicated broker leading three partitions: all three
// are copied byte for byte and the leader's high watermarks reach the log ends. Then the
// broker restarts (leader high watermarks from their checkpoint); the fetcher's connection
// breaks, it redials with backoff and copies what is produced after the restart. A partition
// led in a newer epoch than the follower's is fenced and removed (OnRemoved); a partition
// removed with Remove is no longer written while the others keep replicating.
func TestFetcherFollowsManyPartitions(t *testing.T) {
	modify := func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tb := startBroker(t, modify)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 3, 1, nil, "m"); err != nil {
		t.Fatal(err)
	}
	const epoch = 2
	lead := func(p int32, e int32) {
		t.Helper()
		waitLeading(t, tb, "m", p) // the node's own leadership first, then the test's
		st := replication.PartitionState{Leader: 1, LeaderEpoch: e, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
		if _, err := tb.b.Lead("m", p, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 1}, st, &acceptingController{}); err != nil {
			t.Fatal(err)
		}
	}
	for p := int32(0); p < 3; p++ {
		lead(p, epoch)
	}
	produce := func(n int) {
		t.Helper()
		cl := tb.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		for i := 0; i < n; i++ {
			r := &kgo.Record{Topic: "m", Partition: int32(i % 3), Value: bytes.Repeat([]byte{byte(i)}, 50)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	produce(30)

	e, err := engine.Open(engine.Config{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	removed := make(chan engine.TopicPartition, 3)
	fe := replication.NewFetcher(replication.FetcherConfig{ReplicaID: 2, Addr: tb.addr, MaxWait: 20 * time.Millisecond,
		Backoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnRemoved: func(tp engine.TopicPartition, _ error) { removed <- tp }})
	follower := map[int32]*engine.Log{}
	for p := int32(0); p < 3; p++ {
		tp := engine.TopicPartition{Topic: "m", Partition: p}
		l, err := e.OpenLogWith(tp, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
		if err != nil {
			t.Fatal(err)
		}
		follower[p] = l
		if err := fe.Add(tp, epoch, l); err != nil {
			t.Fatal(err)
		}
	}
	defer runFetcher(ctx, fe)()

	caughtUp := func(want int64) {
		t.Helper()
		for p := int32(0); p < 3; p++ {
			tp := engine.TopicPartition{Topic: "m", Partition: p}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				ll := tb.b.Engine().Log(tp)
				if ll.LogEndOffset() == want && ll.HighWatermark() == want && follower[p].LogEndOffset() == want && follower[p].HighWatermark() == want {
					if !bytes.Equal(replicaLogBytes(t, ll), replicaLogBytes(t, follower[p])) {
						t.Fatalf("partition %d: follower's bytes differ", p)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("partition %d: leader end %d hw %d, follower end %d hw %d, want %d", p, ll.LogEndOffset(), ll.HighWatermark(),
						follower[p].LogEndOffset(), follower[p].HighWatermark(), want)
				}
			}
		}
	}
	caughtUp(10)

	tb.stop()
	tb.start(modify)
	for p := int32(0); p < 3; p++ {
		lead(p, epoch)
		if hw := tb.b.Engine().Log(engine.TopicPartition{Topic: "m", Partition: p}).HighWatermark(); hw != 10 {
			t.Fatalf("partition %d: high watermark after restart %d, want the checkpointed 10", p, hw)
		}
	}
	produce(30)
	caughtUp(20)

	lead(1, epoch+1) // the follower's epoch is now stale for partition 1
	produce(3)
	select {
	case tp := <-removed:
		if tp.Partition != 1 {
			t.Fatalf("removed %v, want partition 1", tp)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a fenced partition was not removed")
	}

	// Once Remove returns, the fetcher leaves the partition's log alone; the others go on.
	tp0, tp2 := engine.TopicPartition{Topic: "m", Partition: 0}, engine.TopicPartition{Topic: "m", Partition: 2}
	for deadline := time.Now().Add(20 * time.Second); follower[0].LogEndOffset() != 21 || follower[2].LogEndOffset() != 21; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("followers at %d and %d, want 21", follower[0].LogEndOffset(), follower[2].LogEndOffset())
		}
	}
	fe.Remove(tp0)
	produce(3)
	for deadline := time.Now().Add(20 * time.Second); follower[2].LogEndOffset() != 22; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partition 2 stuck at %d after another's removal", follower[2].LogEndOffset())
		}
	}
	if got := follower[0].LogEndOffset(); got != 21 || tb.b.Engine().Log(tp0).LogEndOffset() != 22 || tb.b.Engine().Log(tp2).LogEndOffset() != 22 {
		t.Fatalf("removed partition's follower log moved to %d", got)
	}
}

// TestTwoBrokerFailover drives the roles of two brokers (each a single-node cluster of its
// own) by hand, as a shared controller would: A leads epoch 1 with B following
// (Broker.Follow), and an acks=all produce succeeds only with B's copy. With B stopped
// (StopReplica), A takes acks=1 writes B never sees; then A resigns and B leads epoch 2 alone
// and takes new writes. A follows B: it must cut its unreplicated epoch-1 tail
// (OffsetForLeaderEpoch, KIP-101) and end byte for byte equal to B.
func TestTwoBrokerFailover(t *testing.T) {
	quiet := func(id int32) func(*Config) {
		return func(c *Config) {
			c.NodeID = id
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
	}
	a, b := startBroker(t, quiet(1)), startBroker(t, quiet(2))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, x := range []*testBroker{a, b} {
		if _, err := x.admin().CreateTopic(ctx, 1, 1, nil, "f"); err != nil {
			t.Fatal(err)
		}
	}
	tp := engine.TopicPartition{Topic: "f", Partition: 0}
	cfg := replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 2}
	st := replication.PartitionState{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if _, err := a.b.Lead("f", 0, cfg, st, &acceptingController{}); err != nil {
		t.Fatal(err)
	}
	if err := b.b.Follow("f", 0, a.addr, 1); err != nil {
		t.Fatal(err)
	}
	produce := func(x *testBroker, n int, acks kgo.Acks) {
		t.Helper()
		// Not idempotent: each broker hands out producer ids from its own blocks, so B could
		// give a new producer an id A already gave (it has its state from A's batches) until
		// ids are allocated by the controller.
		cl := x.client(kgo.DefaultProduceTopic("f"), kgo.RequiredAcks(acks), kgo.DisableIdempotentWrite())
		for i := 0; i < n; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		cl.Close()
	}
	produce(a, 10, kgo.AllISRAcks())
	if hw := a.b.Engine().Log(tp).HighWatermark(); hw != 10 {
		t.Fatalf("leader hw %d after acks=all, want 10", hw)
	}

	b.b.StopReplica("f", 0)
	produce(a, 3, kgo.LeaderAck()) // offsets 10..12, never replicated
	a.b.Resign("f", 0)

	st2 := replication.PartitionState{Leader: 2, LeaderEpoch: 2, PartitionEpoch: 2, Replicas: []int32{1, 2}, ISR: []int32{2}}
	if _, err := b.b.Lead("f", 0, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 1}, st2, &acceptingController{}); err != nil {
		t.Fatal(err)
	}
	produce(b, 5, kgo.AllISRAcks()) // offsets 10..14 in epoch 2

	if err := a.b.Follow("f", 0, b.addr, 2); err != nil {
		t.Fatal(err)
	}
	la, lb := func() *engine.Log { return a.b.Engine().Log(tp) }, b.b.Engine().Log(tp)
	for deadline := time.Now().Add(20 * time.Second); la().LogEndOffset() != 15 || la().HighWatermark() != 15 || lb.HighWatermark() != 15; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("A end %d hw %d, B end %d hw %d; want 15", la().LogEndOffset(), la().HighWatermark(), lb.LogEndOffset(), lb.HighWatermark())
		}
	}
	if !bytes.Equal(replicaLogBytes(t, la()), replicaLogBytes(t, lb)) {
		t.Fatal("A's log differs from B's after failover")
	}
	want := []engine.EpochEntry{{Epoch: 1, StartOffset: 0}, {Epoch: 2, StartOffset: 10}}
	if !slices.Equal(la().EpochEntries(), want) || !slices.Equal(lb.EpochEntries(), want) {
		t.Fatalf("epochs A %v, B %v, want %v", la().EpochEntries(), lb.EpochEntries(), want)
	}
}

// TestLaggingFollowerLeavesISR: the broker ticks the partitions it leads. A follower that
// never fetches is proposed out of the ISR after replica.lag.time.max.ms, the controller
// commits it, and an acks=all produce waiting for that follower then succeeds with the leader
// alone (min.insync.replicas 1) instead of waiting forever.
func TestLaggingFollowerLeavesISR(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "lag"); err != nil {
		t.Fatal(err)
	}
	ctl := &acceptingController{}
	st := replication.PartitionState{Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	lp, err := tb.b.Lead("lag", 0, replication.Config{ReplicaLagTime: 300 * time.Millisecond, MinInsyncReplicas: 1}, st, ctl)
	if err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("lag"), kgo.DisableIdempotentWrite())
	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("acks=all answered after %v, before the follower could have been dropped", waited)
	}
	if !slices.Equal(lp.ISR(), []int32{1}) {
		t.Fatalf("ISR %v, want [1]", lp.ISR())
	}
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	if len(ctl.log) == 0 || !slices.Equal(ctl.log[0].ISR, []int32{1}) {
		t.Fatalf("controller saw %+v, want a shrink to [1]", ctl.log)
	}
}
