package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestJoinSyncStable(t *testing.T) {
	f := newFixture(t, nil)
	ch1, m1 := f.joinFull(joinReq("g", "", "a", "range", "roundrobin"))
	ch2, m2 := f.joinFull(joinReq("g", "", "b", "roundrobin", "range"))
	if _, ok := ready(ch1); ok {
		t.Fatal("join answered during the initial delay")
	}
	f.clock.Advance(100 * time.Millisecond) // first delay step: a member arrived, wait again
	if _, ok := ready(ch1); ok {
		t.Fatal("join answered before the delay stopped extending")
	}
	f.clock.Advance(100 * time.Millisecond)
	r1, r2 := mustReady(t, ch1), mustReady(t, ch2)
	if r1.Err != nil || r2.Err != nil || r1.Generation != 1 || r1.Leader != m1 || len(r1.Members) != 2 || len(r2.Members) != 0 {
		t.Fatalf("join results %+v %+v", r1, r2)
	}
	if r1.Protocol != "range" { // one vote each: the tie goes to the first member's preference
		t.Fatalf("protocol %q", r1.Protocol)
	}
	s2 := f.c.Sync(SyncRequest{Group: "g", MemberID: m2, Generation: 1})
	if _, ok := ready(s2); ok {
		t.Fatal("follower sync answered before the leader's")
	}
	s1 := f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1,
		Assignments: []Assignment{{m1, []byte("A1")}, {m2, []byte("A2")}}})
	if a, b := mustReady(t, s1), mustReady(t, s2); string(a.Assignment) != "A1" || string(b.Assignment) != "A2" || a.Wait == nil {
		t.Fatalf("sync results %+v %+v", a, b)
	}
	if d, _ := f.c.Describe("g"); d.State != Stable || d.Protocol != "range" || len(d.Members) != 2 {
		t.Fatalf("describe %+v", d)
	}
	mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil)
	mustErr(t, f.c.Heartbeat("g", m1, nil, 0), kerr.IllegalGeneration)
	mustErr(t, f.c.Heartbeat("g", "nobody", nil, 1), kerr.UnknownMemberID)
	mustErr(t, f.c.Heartbeat("nogroup", m1, nil, 1), kerr.UnknownMemberID)
}

func TestProtocolChecks(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	ch, _ := f.joinFull(joinReq("g", "", "a", "range"))
	mustReady(t, ch)
	r := mustReady(t, f.c.Join(joinReq("g", "", "b", "sticky")))
	mustErr(t, r.Err, kerr.InconsistentGroupProtocol)
	bad := joinReq("g", "", "b", "range")
	bad.ProtocolType = "connect"
	mustErr(t, mustReady(t, f.c.Join(bad)).Err, kerr.InconsistentGroupProtocol)
	short := joinReq("g", "", "b")
	short.SessionTimeout = time.Second
	mustErr(t, mustReady(t, f.c.Join(short)).Err, kerr.InvalidSessionTimeout)
	mustErr(t, mustReady(t, f.c.Join(joinReq("", "", "b"))).Err, kerr.InvalidGroupID)
	mustErr(t, mustReady(t, f.c.Join(joinReq("g", "ghost", "b"))).Err, kerr.UnknownMemberID)
}

func TestSessionExpiryRebalances(t *testing.T) {
	f := newFixture(t, nil)
	ch1, m1 := f.joinFull(joinReq("g", "", "a"))
	ch2, m2 := f.joinFull(joinReq("g", "", "b"))
	f.clock.Advance(time.Second)
	mustReady(t, ch1)
	mustReady(t, ch2)
	f.c.Sync(SyncRequest{Group: "g", MemberID: m2, Generation: 1})
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	// m1 keeps heartbeating, m2 goes silent.
	for i := 0; i < 3; i++ {
		f.clock.Advance(3 * time.Second)
		mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil)
	}
	f.clock.Advance(2 * time.Second) // m2's 10s session is over
	if d, _ := f.c.Describe("g"); d.State != PreparingRebalance || len(d.Members) != 1 {
		t.Fatalf("after m2's expiry: %+v", d)
	}
	mustErr(t, f.c.Heartbeat("g", m1, nil, 1), kerr.RebalanceInProgress)
	mustErr(t, f.c.Heartbeat("g", m2, nil, 1), kerr.UnknownMemberID)
	req := joinReq("g", m1, "a")
	r := mustReady(t, f.c.Join(req)) // the only member rejoined: completes at once
	if r.Err != nil || r.Generation != 2 || r.Leader != m1 || len(r.Members) != 1 {
		t.Fatalf("rejoin %+v", r)
	}
	// Commit fencing during CompletingRebalance and with an old generation.
	errs, _ := f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 2, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	mustErr(t, errs[0], kerr.RebalanceInProgress)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 2}))
	errs, _ = f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	mustErr(t, errs[0], kerr.IllegalGeneration)
	errs, _ = f.c.Commit(CommitRequest{Group: "g", MemberID: m2, Generation: 2, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	mustErr(t, errs[0], kerr.UnknownMemberID)
	errs, _ = f.c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	mustErr(t, errs[0], kerr.UnknownMemberID) // standalone commits only into Empty groups
}

func TestRebalanceTimeoutDropsSilentMembers(t *testing.T) {
	f := newFixture(t, nil)
	ch1, m1 := f.joinFull(joinReq("g", "", "a"))
	ch2, m2 := f.joinFull(joinReq("g", "", "b"))
	f.clock.Advance(time.Second)
	mustReady(t, ch1)
	mustReady(t, ch2)
	f.c.Sync(SyncRequest{Group: "g", MemberID: m2, Generation: 1})
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	// A third member joins: the others must rejoin within the rebalance timeout.
	ch3, m3 := f.joinFull(joinReq("g", "", "c"))
	mustErr(t, f.c.Heartbeat("g", m2, nil, 1), kerr.RebalanceInProgress)
	ch1 = f.c.Join(joinReq("g", m1, "a"))
	// m2 only heartbeats and never rejoins; the join completes at the rebalance timeout.
	for i := 0; i < 9; i++ {
		f.clock.Advance(3 * time.Second)
		f.c.Heartbeat("g", m2, nil, 1)
	}
	if _, ok := ready(ch1); ok {
		t.Fatal("join completed before the rebalance timeout")
	}
	f.clock.Advance(3 * time.Second)
	r1, r3 := mustReady(t, ch1), mustReady(t, ch3)
	if r1.Generation != 2 || len(r1.Members) != 2 || r3.Err != nil || r1.Leader != m1 {
		t.Fatalf("results %+v %+v", r1, r3)
	}
	mustErr(t, f.c.Heartbeat("g", m2, nil, 2), kerr.UnknownMemberID)
	_ = m3
}

func TestLeaveAndPendingExpiry(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	ch1, m1 := f.joinFull(joinReq("g", "", "a"))
	mustReady(t, ch1)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	// A member id handed out (KIP-394) but never used holds up the next rebalance until its
	// session timeout passes.
	first := mustReady(t, f.c.Join(joinReq("g", "", "b")))
	mustErr(t, first.Err, kerr.MemberIDRequired)
	errs := f.c.Leave("g", []LeaveMember{{MemberID: m1}, {MemberID: "ghost"}})
	mustErr(t, errs[0], nil)
	mustErr(t, errs[1], kerr.UnknownMemberID)
	if d, _ := f.c.Describe("g"); d.State != PreparingRebalance {
		t.Fatalf("state %v", d.State)
	}
	f.clock.Advance(10 * time.Second)
	if d, _ := f.c.Describe("g"); d.State != Empty || len(d.Members) != 0 {
		t.Fatalf("after pending expiry %+v", d)
	}
}

func TestStaticMemberRejoinWithoutRebalance(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	inst := "instance-1"
	req := joinReq("g", "", "a")
	req.InstanceID = &inst
	r := mustReady(t, f.c.Join(req)) // static members skip MEMBER_ID_REQUIRED
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	old := r.MemberID
	ch2, m2 := f.joinFull(joinReq("g", "", "b"))
	mustReady(t, f.c.Join(joinReq("g", old, "a")))
	mustReady(t, ch2)
	f.c.Sync(SyncRequest{Group: "g", MemberID: m2, Generation: 2})
	s := mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: old, Generation: 2, InstanceID: &inst,
		Assignments: []Assignment{{old, []byte("X")}, {m2, []byte("Y")}}}))
	if s.Err != nil {
		t.Fatal(s.Err)
	}
	// The instance restarts: a new member id, same generation, no rebalance.
	r = mustReady(t, f.c.Join(req))
	if r.Err != nil || r.Generation != 2 || r.MemberID == old {
		t.Fatalf("static rejoin %+v", r)
	}
	if d, _ := f.c.Describe("g"); d.State != Stable {
		t.Fatalf("state %v after static rejoin", d.State)
	}
	if s := mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: r.MemberID, InstanceID: &inst, Generation: 2})); string(s.Assignment) != "X" {
		t.Fatalf("assignment %q", s.Assignment)
	}
	mustErr(t, f.c.Heartbeat("g", old, &inst, 2), kerr.FencedInstanceID)
	errs, _ := f.c.Commit(CommitRequest{Group: "g", MemberID: old, InstanceID: &inst, Generation: 2, Offsets: []CommitOffset{{Topic: "t"}}})
	mustErr(t, errs[0], kerr.FencedInstanceID)
	// New metadata that selects the same protocol: still no rebalance (Kafka's rule; a
	// cooperative member's metadata changes with every restart, its owned partitions).
	req.Protocols = []Protocol{{Name: "sticky"}, {Name: "range", Metadata: []byte("new")}}
	if r := mustReady(t, f.c.Join(req)); r.Generation != 2 {
		t.Fatalf("%+v", r)
	}
	if d, _ := f.c.Describe("g"); d.State != Stable {
		t.Fatalf("state %v", d.State)
	}
}

func TestStaticMemberProtocolChangeRebalances(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	inst := "i"
	req := joinReq("g", "", "a", "range", "sticky")
	req.InstanceID = &inst
	r := mustReady(t, f.c.Join(req))
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: r.MemberID, InstanceID: &inst, Generation: 1}))
	req.Protocols = req.Protocols[1:]
	r2 := mustReady(t, f.c.Join(req)) // the only member: the rebalance completes at once
	if r2.Generation != 2 || r2.Protocol != "sticky" || r2.MemberID == r.MemberID {
		t.Fatalf("%+v", r2)
	}
}

func TestStaticMemberSurvivesSessionOnlyWhileAlive(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	inst := "i"
	req := joinReq("g", "", "a")
	req.InstanceID = &inst
	r := mustReady(t, f.c.Join(req))
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: r.MemberID, InstanceID: &inst, Generation: 1}))
	f.clock.Advance(11 * time.Second)
	if d, _ := f.c.Describe("g"); d.State != Empty {
		t.Fatalf("static member did not expire: %v", d.State)
	}
}

func TestMaxGroupSize(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.MaxGroupSize = 1; c.InitialRebalanceDelay = -1 })
	f.joinFull(joinReq("g", "", "a"))
	mustErr(t, mustReady(t, f.c.Join(joinReq("g", "", "b"))).Err, kerr.GroupMaxSizeReached)
}

func TestOffsetsAndPersistence(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	md := "meta"
	errs, wait := f.c.Commit(CommitRequest{Group: "solo", Generation: -1, Offsets: []CommitOffset{
		{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: 3, Metadata: &md}, {Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: -1}}})
	if errs[0] != nil || errs[1] != nil || wait == nil {
		t.Fatalf("commit %v", errs)
	}
	ch, m1 := f.joinFull(joinReq("g", "", "a"))
	mustReady(t, ch)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1, Assignments: []Assignment{{m1, []byte("A")}}}))
	errs, _ = f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 1, Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 5}}})
	mustErr(t, errs[0], nil)

	f.restart()
	got := f.c.FetchOffsets("solo", []TopicPartitions{{Topic: "t", Partitions: []int32{0, 1, 2}}})
	if got[0].Offset.Offset != 10 || got[0].LeaderEpoch != 3 || got[0].Metadata != "meta" || got[1].Offset.Offset != 20 || got[2].Offset.Offset != -1 {
		t.Fatalf("offsets after restart %+v", got)
	}
	d, ok := f.c.Describe("g")
	if !ok || d.State != Stable || len(d.Members) != 1 || string(d.Members[0].Assignment) != "A" {
		t.Fatalf("group after restart %+v", d)
	}
	mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil) // the member carries on, no rebalance
	if all := f.c.FetchOffsets("g", nil); len(all) != 1 || all[0].Offset.Offset != 5 {
		t.Fatalf("all offsets %+v", all)
	}
	// DeleteGroups refuses a group with members; OffsetDelete refuses subscribed topics.
	if err, _ := f.c.Delete("g"); err != kerr.NonEmptyGroup {
		t.Fatalf("delete non-empty: %v", err)
	}
	if err, _ := f.c.Delete("nope"); err != kerr.GroupIDNotFound {
		t.Fatalf("delete unknown: %v", err)
	}
	if err, _ := f.c.Delete("solo"); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if _, ok := f.c.Describe("solo"); ok {
		t.Fatal("deleted group came back")
	}
	if got := f.c.FetchOffsets("solo", nil); len(got) != 0 {
		t.Fatalf("deleted offsets came back: %+v", got)
	}
}

func TestOffsetDeleteSubscribed(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.InitialRebalanceDelay = -1 })
	req := joinReq("g", "", "a")
	req.Protocols = []Protocol{{Name: "range", Metadata: consumerMeta("t1")}}
	ch, m1 := f.joinFull(req)
	mustReady(t, ch)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 1, Offsets: []CommitOffset{{Topic: "t1", Offset: 1}, {Topic: "t2", Offset: 2}}})
	top, errs, _ := f.c.DeleteOffsets("g", []TopicPartitions{{Topic: "t1", Partitions: []int32{0}}, {Topic: "t2", Partitions: []int32{0}}})
	if top != nil || errs[0][0] != kerr.GroupSubscribedToTopic || errs[1][0] != nil {
		t.Fatalf("offset delete %v %v", top, errs)
	}
	if got := f.c.FetchOffsets("g", nil); len(got) != 1 || got[0].Topic != "t1" {
		t.Fatalf("left %+v", got)
	}
	if top, _, _ := f.c.DeleteOffsets("nope", nil); top != kerr.GroupIDNotFound {
		t.Fatal(top)
	}
}

func TestOffsetsRetention(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.InitialRebalanceDelay = -1
		c.OffsetsRetention = time.Hour
		c.OffsetsRetentionCheckInterval = 10 * time.Minute
	})
	f.c.Commit(CommitRequest{Group: "solo", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	req := joinReq("g", "", "a")
	req.SessionTimeout = 30 * time.Minute
	ch, m1 := f.joinFull(req)
	mustReady(t, ch)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}})
	for i := 0; i < 5; i++ {
		f.clock.Advance(10 * time.Minute)
		mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil)
	}
	f.c.Leave("g", []LeaveMember{{MemberID: m1}}) // g is Empty from now on
	f.clock.Advance(20 * time.Minute)
	if _, ok := f.c.Describe("solo"); ok {
		t.Fatal("standalone group's offsets did not expire")
	}
	if got := f.c.FetchOffsets("g", nil); len(got) != 1 {
		t.Fatal("offsets of a group empty for less than the retention expired")
	}
	f.clock.Advance(50 * time.Minute)
	if got := f.c.List(); len(got) != 0 {
		t.Fatalf("groups left: %+v", got)
	}
	f.restart()
	if got := f.c.List(); len(got) != 0 {
		t.Fatalf("tombstones not replayed: %+v", got)
	}
}

func TestStableGroupUnsubscribedOffsetsExpire(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.InitialRebalanceDelay = -1
		c.OffsetsRetention = time.Hour
	})
	req := joinReq("g", "", "a")
	req.Protocols = []Protocol{{Name: "range", Metadata: consumerMeta("t1")}}
	req.SessionTimeout = 30 * time.Minute
	ch, m1 := f.joinFull(req)
	mustReady(t, ch)
	mustReady(t, f.c.Sync(SyncRequest{Group: "g", MemberID: m1, Generation: 1}))
	f.c.Commit(CommitRequest{Group: "g", MemberID: m1, Generation: 1, Offsets: []CommitOffset{{Topic: "t1", Offset: 1}, {Topic: "old", Offset: 2}}})
	for i := 0; i < 7; i++ {
		f.clock.Advance(10 * time.Minute)
		mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil)
	}
	if got := f.c.FetchOffsets("g", nil); len(got) != 1 || got[0].Topic != "t1" {
		t.Fatalf("offsets %+v", got)
	}
}

func TestPartitionForMatchesKafka(t *testing.T) {
	// Java: Utils.abs("my-group".hashCode()) % 50.
	for _, c := range []struct {
		group string
		want  int32
	}{{"my-group", javaPartition("my-group", 50)}, {"", 0}} {
		if got := PartitionFor(c.group, 50); got != c.want {
			t.Fatalf("%q: %d want %d", c.group, got, c.want)
		}
	}
	// "polygenelubricants".hashCode() == Integer.MIN_VALUE: Utils.abs maps it to 0.
	if got := PartitionFor("polygenelubricants", 50); got != 0 {
		t.Fatalf("MIN_VALUE hash: %d", got)
	}
}

func javaPartition(s string, n int32) int32 {
	var h int32
	for i := 0; i < len(s); i++ {
		h = 31*h + int32(s[i])
	}
	if h < 0 {
		h = -h
	}
	return h % n
}

func TestMemberThatNeverSyncsIsRemoved(t *testing.T) {
	f := newFixture(t, nil)
	ch1, m1 := f.joinFull(joinReq("g", "", "a"))
	ch2, m2 := f.joinFull(joinReq("g", "", "b"))
	f.clock.Advance(time.Second)
	mustReady(t, ch1)
	mustReady(t, ch2)
	// The follower syncs and keeps heartbeating; the leader never syncs (but heartbeats).
	s2 := f.c.Sync(SyncRequest{Group: "g", MemberID: m2, Generation: 1})
	for i := 0; i < 9; i++ {
		f.clock.Advance(3 * time.Second)
		mustErr(t, f.c.Heartbeat("g", m1, nil, 1), nil)
		mustErr(t, f.c.Heartbeat("g", m2, nil, 1), nil)
	}
	if _, ok := ready(s2); ok {
		t.Fatal("follower answered without the leader's assignment")
	}
	f.clock.Advance(3 * time.Second) // 30 s rebalance timeout since the join completed
	mustErr(t, mustReady(t, s2).Err, kerr.RebalanceInProgress)
	mustErr(t, f.c.Heartbeat("g", m1, nil, 1), kerr.UnknownMemberID)
	r := mustReady(t, f.c.Join(joinReq("g", m2, "b")))
	if r.Err != nil || r.Generation != 2 || r.Leader != m2 {
		t.Fatalf("%+v", r)
	}
}
