package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/replication"
)

// memCluster is an in-process cluster without sockets: the metadata state machine as the
// controller (commands applied directly, as the Raft leader would after commit), one engine
// log per broker, a LeaderPartition on the partition's leader and Followers on the others,
// joined by direct calls. Time is a manual clock.
type memCluster struct {
	t  *testing.T
	tp engine.TopicPartition

	mu      sync.Mutex // guards meta, index, epochs, now
	meta    *metadata.ClusterState
	index   uint64
	epochs  map[int32]int64
	now     time.Time
	logs    map[int32]*engine.Log
	leader  *replication.LeaderPartition
	leaderB int32
	follow  map[int32]*replication.Follower
	obs     replication.Observer // given to each new LeaderPartition; nil: none
}

func newMemCluster(t *testing.T, brokers int) *memCluster {
	c := &memCluster{t: t, tp: engine.TopicPartition{Topic: "t", Partition: 0}, meta: metadata.NewClusterState("c"),
		epochs: map[int32]int64{}, now: time.Unix(1000, 0), logs: map[int32]*engine.Log{}, follow: map[int32]*replication.Follower{}}
	for id := int32(1); id <= int32(brokers); id++ {
		c.register(id, "first")
		fs := vfs.NewMemFS()
		dir := fmt.Sprintf("/b%d", id)
		fs.MkdirAll(dir, 0o755)
		fs.SyncDir("/")
		e, err := engine.Open(engine.Config{Dir: dir, FS: fs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		l, err := e.OpenLogWith(c.tp, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
		if err != nil {
			t.Fatal(err)
		}
		c.logs[id] = l
	}
	c.must(&metadata.CreateTopic{Name: "t", ID: metadata.TopicID{1}, Partitions: 1, ReplicationFactor: int16(brokers)})
	return c
}

func (c *memCluster) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *memCluster) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *memCluster) apply(cmd any) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.index++
	return c.meta.Apply(c.index, cmd)
}

func (c *memCluster) must(cmd any) any {
	c.t.Helper()
	r, err := c.apply(cmd)
	if err != nil {
		c.t.Fatalf("%T: %v", cmd, err)
	}
	return r
}

func (c *memCluster) register(id int32, incarnation string) {
	b := c.must(&metadata.RegisterBroker{ID: id, Incarnation: incarnation}).(*metadata.BrokerRegistration)
	c.must(&metadata.UnfenceBroker{ID: id, Epoch: b.Epoch})
	c.mu.Lock()
	c.epochs[id] = b.Epoch
	c.mu.Unlock()
}

func (c *memCluster) state() replication.PartitionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.meta.Topics["t"].Partitions[0]
	return replication.PartitionState{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
		Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR)}
}

// AlterPartition implements replication.Controller with the metadata state machine.
func (c *memCluster) AlterPartition(_ context.Context, tp engine.TopicPartition, ch replication.IsrChange) (replication.PartitionState, error) {
	c.mu.Lock()
	epoch := c.epochs[ch.Leader]
	c.mu.Unlock()
	if _, err := c.apply(&metadata.AlterPartition{BrokerID: ch.Leader, BrokerEpoch: epoch, Topic: tp.Topic, Partition: tp.Partition,
		LeaderEpoch: ch.LeaderEpoch, PartitionEpoch: ch.PartitionEpoch, ISR: ch.ISR}); err != nil {
		return replication.PartitionState{}, err
	}
	return c.state(), nil
}

// elect (re)builds the roles from the metadata: a LeaderPartition on the leader, Followers
// on the others.
func (c *memCluster) elect() {
	c.t.Helper()
	st := c.state()
	if c.leader != nil {
		c.leader.Resign()
	}
	lp, err := replication.NewLeaderPartition(replication.Config{ReplicaLagTime: 10 * time.Second, MinInsyncReplicas: 2, Observer: c.obs},
		c.tp, c.logs[st.Leader], st, c, c.clock)
	if err != nil {
		c.t.Fatal(err)
	}
	c.leader, c.leaderB = lp, st.Leader
	c.follow = map[int32]*replication.Follower{}
	for _, r := range st.Replicas {
		if r != st.Leader {
			f, err := replication.NewFollower(c.tp, st.LeaderEpoch, c.logs[r], &memLeaderClient{c: c, replica: r}, 300)
			if err != nil {
				c.t.Fatal(err)
			}
			c.follow[r] = f
		}
	}
}

// step runs one fetch round of each named follower.
func (c *memCluster) step(ids ...int32) {
	c.t.Helper()
	for _, id := range ids {
		if _, err := c.follow[id].Step(context.Background()); err != nil {
			c.t.Fatalf("follower %d: %v", id, err)
		}
	}
}

// waitISR runs each round (follower fetches, ticks) until the leader's committed ISR is want;
// ISR changes commit asynchronously, as they would through the controller.
func (c *memCluster) waitISR(round func(), want ...int32) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(c.leader.ISR(), want) {
		if time.Now().After(deadline) {
			c.t.Fatalf("ISR %v, want %v", c.leader.ISR(), want)
		}
		round()
		time.Sleep(time.Millisecond)
	}
}

type memLeaderClient struct {
	c       *memCluster
	replica int32
}

func (m *memLeaderClient) OffsetForLeaderEpoch(_ context.Context, _ engine.TopicPartition, current, epoch int32) (engine.EpochEndOffset, error) {
	if current != m.c.leader.LeaderEpoch() {
		return engine.EpochEndOffset{}, replication.ErrFencedLeaderEpoch
	}
	l := m.c.logs[m.c.leaderB]
	return engine.EndOffsetForEpoch(l.EpochEntries(), epoch, l.LogEndOffset()), nil
}

func (m *memLeaderClient) LogStartOffset(_ context.Context, _ engine.TopicPartition, current int32) (int64, error) {
	if current != m.c.leader.LeaderEpoch() {
		return 0, replication.ErrFencedLeaderEpoch
	}
	return m.c.logs[m.c.leaderB].LogStartOffset(), nil
}

func (m *memLeaderClient) Fetch(_ context.Context, _ engine.TopicPartition, current int32, offset int64, maxBytes int32) (replication.FetchResult, error) {
	if current != m.c.leader.LeaderEpoch() {
		return replication.FetchResult{}, replication.ErrFencedLeaderEpoch
	}
	// What the broker's Fetch handler does for a replica: report the fetch offset, then read
	// up to the log end (followers read past the high watermark).
	lp, l := m.c.leader, m.c.logs[m.c.leaderB]
	if err := lp.FollowerFetched(m.replica, offset); err != nil {
		return replication.FetchResult{}, err
	}
	hw := l.HighWatermark() // loaded before the read: never past the records sent
	r, err := l.Read(offset, maxBytes, l.LogEndOffset())
	if err != nil {
		return replication.FetchResult{}, err
	}
	defer r.Release()
	res := replication.FetchResult{Records: make([]byte, r.Len), HighWatermark: hw, LogStartOffset: l.LogStartOffset()}
	if r.Len > 0 {
		if _, err := r.File.ReadAt(res.Records, r.Pos); err != nil {
			return replication.FetchResult{}, err
		}
	}
	return res, nil
}

// produce starts a produce on the current leader and returns its outcome channel once the
// batch is in the leader's log (or the produce was answered without appending).
func (c *memCluster) produce(acks int16, fill byte) <-chan error {
	done := make(chan error, 1)
	lp, l := c.leader, c.logs[c.leaderB]
	before := l.LogEndOffset()
	go func() {
		// What the broker's Produce handler does: append as the leader, then for acks=all
		// wait for the leader's fsync and then for the ISR (the high watermark).
		res, err := lp.Append(testbatch.Build(testbatch.Options{Records: 2, Fill: fill}), acks)
		if err != nil || acks != -1 {
			done <- err
			return
		}
		l.NotifyDurable(res.SyncSeq, func(err error) {
			if err != nil {
				done <- err
				return
			}
			lp.NotifyReplicated(res.LastOffset, time.Minute, func(err error) { done <- err })
		})
	}()
	for deadline := time.Now().Add(5 * time.Second); l.LogEndOffset() == before; {
		select {
		case err := <-done:
			done <- err // answered without appending: hand the answer back
			return done
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatal("produce neither appended nor answered")
		}
		time.Sleep(time.Millisecond)
	}
	return done
}

func outcome(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("produce not answered")
		return nil
	}
}

// pending checks that a produce is still waiting.
func pending(t *testing.T, ch <-chan error) {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-ch:
		t.Fatalf("answered early: %v", err)
	default:
	}
}

// whole reads a log (one segment in these tests).
func whole(t *testing.T, l *engine.Log) []byte {
	t.Helper()
	if l.Segments() != 1 {
		t.Fatalf("%d segments", l.Segments())
	}
	r, err := l.Read(0, 1<<30, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	b := make([]byte, r.Len)
	if r.Len > 0 {
		r.File.ReadAt(b, r.Pos)
	}
	return b
}

// TestInProcessClusterFailover drives a 3-replica partition through the whole ISR story with
// real engine logs and the real metadata state machine, no sockets: acks=all waits for the
// ISR; a stopped follower is shrunk out after the lag time and acks=all goes on (min ISR 2);
// the leader dies with an unreplicated acks=1 batch and a waiting acks=all one (answered
// NOT_LEADER: outcome unknown); the controller elects an ISR member; the old leader comes back,
// truncates what the new leader never had, and every replica ends with the same log, back in
// the ISR.
func TestInProcessClusterFailover(t *testing.T) {
	c := newMemCluster(t, 3)
	c.elect()
	if c.leaderB != 1 {
		t.Fatalf("leader %d", c.leaderB)
	}

	a := c.produce(-1, 'a')
	pending(t, a)
	c.step(2, 3)
	c.step(2, 3) // the second fetch tells the leader the first one's batches arrived
	if err := outcome(t, a); err != nil {
		t.Fatalf("acks=all with the whole ISR: %v", err)
	}

	// Follower 3 stops. acks=all waits for it until it is out of the ISR.
	b := c.produce(-1, 'b')
	c.step(2)
	c.step(2)
	pending(t, b)
	if hw, leo := c.logs[2].HighWatermark(), c.logs[2].LogEndOffset(); hw != 2 || leo != 4 {
		t.Fatalf("follower 2 has b (end 4) but not its commit (hw 2): end %d hw %d", leo, hw)
	}
	c.advance(11 * time.Second)
	c.waitISR(c.leader.Tick, 1, 2)
	if err := outcome(t, b); err != nil {
		t.Fatalf("acks=all after the shrink: %v", err)
	}

	// An acks=1 batch only the leader has, and an acks=all one waiting; then the leader dies.
	if err := outcome(t, c.produce(1, 'c')); err != nil {
		t.Fatal(err)
	}
	d := c.produce(-1, 'd')
	pending(t, d)
	c.must(&metadata.FenceBroker{ID: 1, Epoch: c.epochs[1]})
	if st := c.state(); st.Leader != 2 || st.LeaderEpoch != 1 || !slices.Equal(st.ISR, []int32{2}) {
		t.Fatalf("after fencing the leader: %+v", st)
	}
	c.elect()
	if err := outcome(t, d); !errors.Is(err, replication.ErrNotLeader) {
		t.Fatalf("a wait cut by the leader change must be NOT_LEADER (unknown outcome): %v", err)
	}
	// min.insync.replicas 2 with an ISR of one: acks=all is refused before appending.
	if err := outcome(t, c.produce(-1, 'x')); !errors.Is(err, replication.ErrNotEnoughReplicas) {
		t.Fatalf("acks=all below min ISR: %v", err)
	}

	// Broker 1 restarts; both followers truncate and catch up and rejoin the ISR.
	c.register(1, "second")
	c.waitISR(func() { c.step(1, 3) }, 1, 2, 3)
	e := c.produce(-1, 'e')
	c.step(1, 3)
	c.step(1, 3)
	if err := outcome(t, e); err != nil {
		t.Fatalf("acks=all on the new leader: %v", err)
	}
	c.step(1, 3) // the high watermark reaches the followers

	leaderBytes := whole(t, c.logs[2])
	for _, id := range []int32{1, 3} {
		if !bytes.Equal(whole(t, c.logs[id]), leaderBytes) {
			t.Fatalf("replica %d's log differs from the leader's", id)
		}
		if c.logs[id].HighWatermark() != c.logs[2].HighWatermark() {
			t.Fatalf("replica %d hw %d, leader %d", id, c.logs[id].HighWatermark(), c.logs[2].HighWatermark())
		}
	}
	// a, b and e survived (2 records each); c and d, never committed, are gone.
	if end := c.logs[2].LogEndOffset(); end != 6 || c.logs[2].HighWatermark() != 6 {
		t.Fatalf("leader log end %d hw %d, want 6 6", end, c.logs[2].HighWatermark())
	}
	if got := c.logs[1].EpochEntries(); !slices.Equal(got, []engine.EpochEntry{{Epoch: 0, StartOffset: 0}, {Epoch: 1, StartOffset: 4}}) {
		t.Fatalf("old leader's epochs after truncation: %v", got)
	}
}

// TestFollowerFetchInsideAppend runs the followers' fetches where the broker's parked
// follower fetches wake: in the leader log's append listener, after the batch is in the log
// but before LeaderPartition.Append has told its Leader the new log end. The followers copy
// the batch and fetch again at the new end at once; that fetch must count (the acks=all
// produce commits), not be refused OFFSET_OUT_OF_RANGE against the Leader's stale end, which
// cost the follower a backoff and a truncation round while the produce waited.
func TestFollowerFetchInsideAppend(t *testing.T) {
	c := newMemCluster(t, 3)
	c.elect()
	var errs []error
	c.logs[c.leaderB].SetAppendListener(func() {
		for range 2 { // copy the batch, then report having it
			for _, id := range []int32{2, 3} {
				if _, err := c.follow[id].Step(context.Background()); err != nil {
					errs = append(errs, fmt.Errorf("follower %d: %w", id, err))
				}
			}
		}
	})
	for i := range 3 {
		a := c.produce(-1, byte('a'+i))
		if err := outcome(t, a); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("follower fetches right after the append failed: %v", errs)
	}
	if hw := c.logs[c.leaderB].HighWatermark(); hw != 6 {
		t.Fatalf("leader high watermark %d, want 6", hw)
	}
}
