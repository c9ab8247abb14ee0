package broker

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/vfs"
)

// groupConfig makes group tests fast: a short initial rebalance delay and session timeouts
// down to 100 ms.
func groupConfig(c *Config) {
	c.GroupInitialRebalanceDelay = 20 * time.Millisecond
	c.GroupMinSessionTimeout = 100 * time.Millisecond
}

// groupConsumer is a kgo group consumer polling in the background, recording what it reads.
type groupConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// seenRecords collects consumed records by partition and offset.
type seenRecords struct {
	mu   sync.Mutex
	recs map[[2]int64]int // (partition, offset) → times seen
}

func (s *seenRecords) add(r *kgo.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[[2]int64]int{}
	}
	s.recs[[2]int64{int64(r.Partition), r.Offset}]++
}

func (s *seenRecords) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

func startConsumer(t *testing.T, cs *clients, seen *seenRecords, opts ...kgo.Opt) *groupConsumer {
	t.Helper()
	base := []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
	gc := &groupConsumer{cl: cs.client(append(base, opts...)...), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	gc.cancel = cancel
	go func() {
		defer close(gc.done)
		for ctx.Err() == nil {
			fs := gc.cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(seen.add)
		}
	}()
	t.Cleanup(gc.stop)
	return gc
}

// stop ends polling and closes the client (a dynamic member leaves the group).
func (gc *groupConsumer) stop() {
	gc.cancel()
	<-gc.done
	gc.cl.Close()
}

// waitBalanced waits until the group is Stable with members members that own every one of
// partitions partitions of topic exactly once, spread evenly, and returns member → partitions.
func waitBalanced(t *testing.T, adm *kadm.Client, groupID, topic string, members, partitions int) map[string][]int32 {
	t.Helper()
	var out map[string][]int32
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out = map[string][]int32{}
		dgs, err := adm.DescribeGroups(testCtx(t), groupID)
		dg := dgs[groupID]
		ok := err == nil && dg.State == "Stable" && len(dg.Members) == members
		owned := map[int32]int{}
		if ok {
			for _, m := range dg.Members {
				a, isConsumer := m.Assigned.AsConsumer()
				if !isConsumer {
					ok = false
					break
				}
				for _, at := range a.Topics {
					if at.Topic == topic {
						out[m.MemberID] = append(out[m.MemberID], at.Partitions...)
						for _, p := range at.Partitions {
							owned[p]++
						}
					}
				}
			}
		}
		even := ok && len(owned) == partitions
		for _, n := range owned {
			even = even && n == 1
		}
		for _, ps := range out {
			even = even && len(ps) == partitions/members
		}
		if even {
			return out
		}
		last = fmt.Sprintf("state %q err %v assignment %v", dg.State, err, out)
		if time.Now().After(deadline) {
			t.Fatalf("group %s never balanced: %s", groupID, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createTopic(t *testing.T, cs *clients, topic string, partitions int32) {
	t.Helper()
	if _, err := cs.admin().CreateTopic(testCtx(t), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
}

// TestGroupBalancers runs three consumers of one group over a six-partition topic with each
// of franz-go's balancers: every record is consumed and the group settles with two
// partitions per member.
func TestGroupBalancers(t *testing.T) {
	balancers := map[string]kgo.GroupBalancer{
		"range": kgo.RangeBalancer(), "roundrobin": kgo.RoundRobinBalancer(),
		"sticky": kgo.StickyBalancer(), "cooperative-sticky": kgo.CooperativeStickyBalancer(),
	}
	for name, bal := range balancers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := startBroker(t, groupConfig)
			cs := newClients(t, tb)
			createTopic(t, cs, "t6", 6)
			for p := int32(0); p < 6; p++ {
				produceN(t, cs, "t6", p, 5, 10)
			}
			var seen seenRecords
			for i := 0; i < 3; i++ {
				startConsumer(t, cs, &seen, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t6"), kgo.Balancers(bal))
			}
			eventually(t, "all records consumed", func() bool { return seen.count() == 30 })
			waitBalanced(t, cs.admin(), "g", "t6", 3, 6)
			dgs, _ := cs.admin().DescribeGroups(testCtx(t), "g")
			if got := dgs["g"].Protocol; got != bal.ProtocolName() {
				t.Fatalf("protocol %q, want %q", got, bal.ProtocolName())
			}
		})
	}
}

// TestGroupMemberLeavesAndExpires: a member that leaves, and one that stops heartbeating
// (its session expires), both hand their partitions to the others.
func TestGroupMemberLeavesAndExpires(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "t6", 6)
	var seen seenRecords
	opts := []kgo.Opt{kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t6"), kgo.SessionTimeout(time.Second)}
	a := startConsumer(t, cs, &seen, opts...)
	b := startConsumer(t, cs, &seen, opts...)
	startConsumer(t, cs, &seen, opts...)
	adm := cs.admin()
	waitBalanced(t, adm, "g", "t6", 3, 6)
	a.stop() // LeaveGroup
	waitBalanced(t, adm, "g", "t6", 2, 6)

	// A raw member joins with a short session and never heartbeats.
	cl := cs.client()
	ctx := testCtx(t)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 300, 10_000
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t6"}
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: meta.AppendTo(nil)}}
	resp, err := join.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("first join: %v %+v", err, resp)
	}
	join.MemberID = resp.MemberID
	if resp, err = join.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("second join: %v %+v", err, resp)
	}
	// It never syncs or heartbeats: after its 300 ms session the other two own everything.
	waitBalanced(t, adm, "g", "t6", 2, 6)
	b.stop()
	waitBalanced(t, adm, "g", "t6", 1, 6)
}

// TestGroupStaticMemberRestart: a static member (group.instance.id) that restarts within its
// session takes its place back without a rebalance: same generation, same assignment.
func TestGroupStaticMemberRestart(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "t6", 6)
	var seen seenRecords
	static := func(id string) *groupConsumer {
		return startConsumer(t, cs, &seen, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t6"),
			kgo.InstanceID(id), kgo.SessionTimeout(10*time.Second), kgo.Balancers(kgo.RangeBalancer()))
	}
	a := static("a")
	static("b")
	adm := cs.admin()
	before := waitBalanced(t, adm, "g", "t6", 2, 6)
	coord, _ := tb.b.groupCoordinator("g")
	d0, _ := coord.Describe("g")
	a.stop() // a static member does not leave on close
	d1, _ := coord.Describe("g")
	if d1.State.String() != "Stable" || len(d1.Members) != 2 {
		t.Fatalf("after static member stopped: %+v", d1)
	}
	static("a")
	after := waitBalanced(t, adm, "g", "t6", 2, 6)
	d2, _ := coord.Describe("g")
	if d2.Generation != d0.Generation {
		t.Fatalf("generation went from %d to %d: a rebalance happened", d0.Generation, d2.Generation)
	}
	assigned := func(m map[string][]int32) [][]int32 {
		var out [][]int32
		for _, ps := range m {
			ps = slices.Clone(ps)
			slices.Sort(ps)
			out = append(out, ps)
		}
		slices.SortFunc(out, func(a, b []int32) int { return int(a[0] - b[0]) })
		return out
	}
	if fmt.Sprint(assigned(before)) != fmt.Sprint(assigned(after)) {
		t.Fatalf("assignment changed: %v → %v", before, after)
	}
}

// TestGroupCommitCrashResume commits offsets, crashes the broker (only what was synced
// survives, vfs.MemFS), restarts it from that state and resumes the group from its commits:
// nothing acknowledged is lost and nothing is read twice.
func TestGroupCommitCrashResume(t *testing.T) {
	fs := vfs.NewMemFS()
	withFS := func(fs vfs.FS) func(*Config) {
		return func(c *Config) {
			groupConfig(c)
			c.FS = fs
			c.LogDefaults.MaxIndexBytes = 64 << 10
		}
	}
	tb := startBroker(t, withFS(fs))
	cs := newClients(t, tb)
	createTopic(t, cs, "t6", 6)
	for p := int32(0); p < 6; p++ {
		produceN(t, cs, "t6", p, 10, 10)
	}
	var seen seenRecords
	// A short session: its LeaveGroup's effect (the Empty group record) is not synced before
	// the crash, so the restarted broker may load it as a member until its session expires.
	c := startConsumer(t, cs, &seen, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t6"), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(time.Second), kgo.FetchMaxPartitionBytes(1)) // one record per partition per fetch
	eventually(t, "some records", func() bool { return seen.count() >= 20 })
	c.cancel()
	<-c.done
	if err := c.cl.CommitUncommittedOffsets(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	committed := seen.count()
	c.cl.Close()

	// Kill: stop the network, then take what an fsync'd disk would hold.
	cs.closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tb.b.BeginShutdown()
	tb.srv.Shutdown(ctx)
	crashed := fs.CrashClone(rand.New(rand.NewSource(1)))
	tb.b.Close() // the abandoned broker's clean shutdown lands on the old filesystem only
	tb.srv, tb.b = nil, nil
	tb.start(withFS(crashed))

	var rest seenRecords
	startConsumer(t, cs, &rest, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t6"))
	deadline := time.Now().Add(15 * time.Second)
	for rest.count() != 60-committed {
		if time.Now().After(deadline) {
			adm := cs.admin()
			fetched, _ := adm.FetchOffsets(testCtx(t), "g")
			t.Fatalf("read %d after the crash, want %d; committed offsets now %+v", rest.count(), 60-committed, fetched)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	rest.mu.Lock()
	defer rest.mu.Unlock()
	for k := range rest.recs {
		if seen.recs[k] > 0 {
			t.Fatalf("record %v read again after its commit", k)
		}
	}
	if len(rest.recs)+len(seen.recs) != 60 {
		t.Fatalf("read %d + %d records, want 60", len(seen.recs), len(rest.recs))
	}
}

// TestGroupAdmin: kadm lists, describes with lag, resets offsets by commit, deletes offsets
// and groups.
func TestGroupAdmin(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "t2", 2)
	createTopic(t, cs, "other", 1)
	produceN(t, cs, "t2", 0, 4, 10)
	produceN(t, cs, "t2", 1, 6, 10)
	adm := cs.admin()
	ctx := testCtx(t)
	var seen seenRecords
	c := startConsumer(t, cs, &seen, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t2"))
	eventually(t, "records", func() bool { return seen.count() == 10 })
	if err := c.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil || len(listed) != 1 || listed["g"].State != "Stable" || listed["g"].ProtocolType != "consumer" {
		t.Fatalf("list: %v %+v", err, listed)
	}
	if listed, _ := adm.ListGroups(ctx, "Empty"); len(listed) != 0 {
		t.Fatalf("state filter: %+v", listed)
	}
	lags, err := adm.Lag(ctx, "g")
	lag := lags["g"]
	if err != nil || lag.Error() != nil || lag.Lag.Total() != 0 || len(lag.Members) != 1 {
		t.Fatalf("lag: %v %+v", err, lag)
	}
	produceN(t, cs, "other", 0, 1, 10)
	if dg, err := adm.DeleteGroup(ctx, "g"); err == nil && dg.Err == nil {
		t.Fatal("deleted a group with members")
	} else if dg.Err != nil {
		wantCode(t, "delete non-empty", dg.Err, kerr.NonEmptyGroup)
	}
	// OffsetDelete of a subscribed topic is refused while the member lives.
	od, err := adm.DeleteOffsets(ctx, "g", kadm.TopicsSet{"t2": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "offset delete subscribed", od.Error(), kerr.GroupSubscribedToTopic)
	c.stop()
	eventually(t, "group empty", func() bool {
		l, _ := adm.ListGroups(ctx, "Empty")
		return len(l) == 1
	})
	// Reset: commit new offsets for the empty group, as kafka-consumer-groups --reset-offsets does.
	var reset kadm.Offsets
	reset.Add(kadm.Offset{Topic: "t2", Partition: 0, At: 1, LeaderEpoch: -1, Metadata: "reset"})
	reset.Add(kadm.Offset{Topic: "t2", Partition: 1, At: 2, LeaderEpoch: -1})
	if r, err := adm.CommitOffsets(ctx, "g", reset); err != nil || r.Error() != nil {
		t.Fatalf("reset: %v %v", err, r.Error())
	}
	fetched, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup("t2", 0); o.At != 1 || o.Metadata != "reset" {
		t.Fatalf("fetched %+v", o)
	}
	lags, _ = adm.Lag(ctx, "g")
	if lags["g"].Lag.Total() != 3+4 {
		t.Fatalf("lag after reset %d", lags["g"].Lag.Total())
	}
	var seen2 seenRecords
	c2 := startConsumer(t, cs, &seen2, kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t2"))
	eventually(t, "records after reset", func() bool { return seen2.count() == 7 })
	c2.stop()
	od, err = adm.DeleteOffsets(ctx, "g", kadm.TopicsSet{"t2": {0: {}}})
	if err != nil || od.Error() != nil {
		t.Fatalf("offset delete: %v %v", err, od.Error())
	}
	fetched, _ = adm.FetchOffsets(ctx, "g")
	if _, ok := fetched.Lookup("t2", 0); ok {
		t.Fatalf("offset not deleted: %+v", fetched)
	}
	if dg, err := adm.DeleteGroup(ctx, "g"); err != nil || dg.Err != nil {
		t.Fatalf("delete: %v %v", err, dg.Err)
	}
	if listed, _ := adm.ListGroups(ctx); len(listed) != 0 {
		t.Fatalf("groups after delete: %+v", listed)
	}
	// The internal topic is listed and marked internal, and clients cannot write it.
	md, err := adm.Metadata(ctx)
	if err != nil || !md.Topics["__consumer_offsets"].IsInternal {
		t.Fatalf("metadata: %v %+v", err, md.Topics["__consumer_offsets"])
	}
	p := cs.client(kgo.DefaultProduceTopic("__consumer_offsets"), kgo.RecordRetries(0))
	wantCode(t, "produce internal", p.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(), kerr.InvalidTopicException)
}
