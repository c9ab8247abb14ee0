package group

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// kip848 is a fixture with a mutable topic catalog for the server-side assignors.
type kip848 struct {
	*fixture
	topics map[string]TopicInfo
}

func newKIP848(t *testing.T) *kip848 {
	k := &kip848{topics: map[string]TopicInfo{}}
	k.fixture = newFixture(t, k.configure)
	return k
}

func (k *kip848) configure(c *Config) {
	c.Topics = func(name string) (TopicInfo, bool) { t, ok := k.topics[name]; return t, ok }
	c.TopicNames = func() []string {
		var names []string
		for n := range k.topics {
			names = append(names, n)
		}
		return names
	}
}

func (k *kip848) restart() {
	k.c.Close()
	k.c = New(k.config(k.configure), k.j, k.j.live)
}

func (k *kip848) addTopic(name string, partitions int32) [16]byte {
	id := [16]byte{byte(len(k.topics) + 1)}
	if t, ok := k.topics[name]; ok {
		id = t.ID
	}
	k.topics[name] = TopicInfo{ID: id, Name: name, Partitions: partitions}
	return id
}

// hb sends a heartbeat; owned nil means "unchanged".
func (k *kip848) hb(member string, epoch int32, owned []TopicPartitionsID, topics ...string) HeartbeatResult {
	k.t.Helper()
	req := HeartbeatRequest{Group: "g", MemberID: member, MemberEpoch: epoch, RebalanceTimeout: -1, Owned: owned}
	if epoch == JoinEpoch {
		req.RebalanceTimeout = 30 * time.Second
		req.SubscribedTopics = topics
		req.Owned = []TopicPartitionsID{}
	}
	return k.c.ConsumerHeartbeat(req)
}

func count(tps []TopicPartitionsID) int {
	n := 0
	for _, tp := range tps {
		n += len(tp.Partitions)
	}
	return n
}

// client is a well-behaved member: it keeps what it was given and reports it as owned.
type client struct {
	id    string
	epoch int32
	owned []TopicPartitionsID
}

func (k *kip848) join(id string, topics ...string) *client {
	k.t.Helper()
	r := k.hb(id, JoinEpoch, nil, topics...)
	mustErr(k.t, r.Err, nil)
	return &client{id: id, epoch: r.MemberEpoch, owned: r.Assignment}
}

func (k *kip848) beat(cl *client) HeartbeatResult {
	k.t.Helper()
	r := k.hb(cl.id, cl.epoch, cl.owned)
	mustErr(k.t, r.Err, nil)
	cl.epoch = r.MemberEpoch
	if r.Assignment != nil {
		cl.owned = r.Assignment
	}
	return r
}

// checkExclusive fails if two clients own one partition.
func checkExclusive(t *testing.T, cls ...*client) {
	t.Helper()
	seen := map[string]string{}
	for _, cl := range cls {
		for _, tp := range cl.owned {
			for _, p := range tp.Partitions {
				key := fmt.Sprint(tp.TopicID[0], p)
				if o, dup := seen[key]; dup {
					t.Fatalf("partition %s owned by %s and %s", key, o, cl.id)
				}
				seen[key] = cl.id
			}
		}
	}
}

func TestConsumerJoinAndIncrementalReconcile(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 6)
	a := k.join("a", "t")
	if count(a.owned) != 6 || a.epoch <= 0 {
		t.Fatalf("first member: epoch %d, %d partitions; want all 6", a.epoch, count(a.owned))
	}
	b := k.join("b", "t")
	if count(b.owned) != 0 {
		t.Fatalf("b got %v before a revoked", b.owned)
	}
	checkExclusive(t, a, b)
	oldEpoch := a.epoch
	r := k.beat(a) // a learns it must revoke 3: its epoch stays until it acknowledges
	if r.MemberEpoch != oldEpoch || count(a.owned) != 3 {
		t.Fatalf("a while revoking: epoch %d (was %d), %d partitions", r.MemberEpoch, oldEpoch, count(a.owned))
	}
	k.beat(b)
	if count(b.owned) != 0 {
		t.Fatal("b got partitions a has not acknowledged revoking")
	}
	k.beat(a) // acknowledges: owned now has 3
	if a.epoch <= oldEpoch {
		t.Fatalf("a epoch %d not bumped after revoking", a.epoch)
	}
	k.beat(b)
	checkExclusive(t, a, b)
	if count(b.owned) != 3 || b.epoch != a.epoch {
		t.Fatalf("b: %d partitions at epoch %d; a epoch %d", count(b.owned), b.epoch, a.epoch)
	}
	d, err := k.c.DescribeConsumer("g")
	mustErr(t, err, nil)
	if d.State != Stable || len(d.Members) != 2 || d.Assignor != UniformAssignor {
		t.Fatalf("describe: %+v", d)
	}
}

func TestConsumerFencing(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 2)
	a := k.join("a", "t")
	mustErr(t, k.hb("a", a.epoch+1, nil).Err, kerr.FencedMemberEpoch)
	mustErr(t, k.hb("zz", 3, nil).Err, kerr.UnknownMemberID)
	b := k.join("b", "t")
	k.beat(a)
	k.beat(a) // revoked one; epoch bumped
	// The previous epoch with a subset of the assignment is accepted (lost answer)...
	r := k.hb("a", a.epoch-1, a.owned)
	mustErr(t, r.Err, nil)
	if r.MemberEpoch != a.epoch {
		t.Fatalf("previous-epoch heartbeat answered epoch %d, want %d", r.MemberEpoch, a.epoch)
	}
	// ... an older one, or one claiming partitions it does not have, is fenced.
	mustErr(t, k.hb("a", a.epoch-1, []TopicPartitionsID{{TopicID: k.topics["t"].ID, Partitions: []int32{0, 1}}}).Err, kerr.FencedMemberEpoch)
	checkExclusive(t, a, b)
	// A fenced member rejoins with epoch 0 under the same id.
	r = k.hb("a", JoinEpoch, nil, "t")
	mustErr(t, r.Err, nil)
	if r.MemberEpoch != a.epoch {
		t.Fatalf("rejoin epoch %d, want %d", r.MemberEpoch, a.epoch)
	}
}

func TestConsumerSessionExpiryAndLeave(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 4)
	a := k.join("a", "t")
	b := k.join("b", "t")
	for i := 0; i < 3; i++ {
		k.beat(a)
		k.beat(b)
	}
	checkExclusive(t, a, b)
	if count(a.owned) != 2 || count(b.owned) != 2 {
		t.Fatalf("a %v b %v", a.owned, b.owned)
	}
	// b stops heartbeating: after the 45 s session it is gone and a takes everything.
	for i := 0; i < 10; i++ {
		k.clock.Advance(5 * time.Second)
		k.beat(a)
	}
	if count(a.owned) != 4 {
		t.Fatalf("a after b expired: %v", a.owned)
	}
	mustErr(t, k.hb("b", b.epoch, nil).Err, kerr.UnknownMemberID)
	// a leaves: the group is empty.
	r := k.hb("a", LeaveEpoch, nil)
	mustErr(t, r.Err, nil)
	if r.MemberEpoch != LeaveEpoch {
		t.Fatalf("leave epoch %d", r.MemberEpoch)
	}
	if d, _ := k.c.DescribeConsumer("g"); d.State != Empty || len(d.Members) != 0 {
		t.Fatalf("after leave: %+v", d)
	}
}

func TestConsumerRevocationTimeout(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 2)
	a := k.join("a", "t")
	b := k.join("b", "t")
	stuck := a.owned
	k.beat(a) // told to revoke, but keeps reporting the old partitions
	a.owned = stuck
	k.clock.Advance(20 * time.Second)
	k.beat(a)
	k.beat(b)
	if count(b.owned) != 0 {
		t.Fatal("b got partitions still owned by a")
	}
	k.clock.Advance(11 * time.Second) // past a's 30 s rebalance timeout
	mustErr(t, k.hb("a", a.epoch, nil).Err, kerr.UnknownMemberID)
	k.beat(b)
	if count(b.owned) != 2 {
		t.Fatalf("b after a timed out: %v", b.owned)
	}
}

func TestConsumerStaticMember(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 3)
	inst := "i1"
	join := func(id string) HeartbeatResult {
		return k.c.ConsumerHeartbeat(HeartbeatRequest{Group: "g", MemberID: id, InstanceID: &inst, RebalanceTimeout: time.Minute,
			SubscribedTopics: []string{"t"}, Owned: []TopicPartitionsID{}})
	}
	r := join("m1")
	mustErr(t, r.Err, nil)
	epoch := r.MemberEpoch
	mustErr(t, join("m2").Err, kerr.UnreleasedInstanceID)
	r = k.c.ConsumerHeartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", InstanceID: &inst, MemberEpoch: StaticLeaveEpoch, RebalanceTimeout: -1})
	mustErr(t, r.Err, nil)
	r = join("m2")
	mustErr(t, r.Err, nil)
	if r.MemberEpoch != epoch || count(r.Assignment) != 3 {
		t.Fatalf("static rejoin: epoch %d (want %d), assignment %v", r.MemberEpoch, epoch, r.Assignment)
	}
	mustErr(t, k.hb("m1", epoch, nil).Err, kerr.UnknownMemberID)
}

func TestConsumerMetadataChangeBumpsEpoch(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 2)
	a := k.join("a", "t")
	before := a.epoch
	k.addTopic("t", 4)
	k.beat(a)
	if a.epoch <= before || count(a.owned) != 4 {
		t.Fatalf("after growth: epoch %d (was %d), %v", a.epoch, before, a.owned)
	}
}

func TestConsumerOffsetsAndRestart(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 2)
	a := k.join("a", "t")
	commit := func(epoch int32, memberAPI bool) *kerr.Error {
		errs, _ := k.c.Commit(CommitRequest{Group: "g", MemberID: "a", Generation: epoch, MemberEpochAPI: memberAPI,
			Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 7, LeaderEpoch: -1}}})
		return errs[0]
	}
	mustErr(t, commit(a.epoch, true), nil)
	mustErr(t, commit(a.epoch-1, true), kerr.StaleMemberEpoch)
	mustErr(t, commit(a.epoch, false), kerr.UnsupportedVersion)
	id := "a"
	mustErr(t, k.c.ValidateFetch("g", &id, a.epoch), nil)
	mustErr(t, k.c.ValidateFetch("g", &id, a.epoch+1), kerr.StaleMemberEpoch)
	other := "x"
	mustErr(t, k.c.ValidateFetch("g", &other, 1), kerr.UnknownMemberID)
	// Classic and consumer groups do not mix.
	mustErr(t, mustReady(t, k.c.Join(joinReq("g", "", "c"))).Err, kerr.InconsistentGroupProtocol)
	if d, _ := k.c.Describe("g"); !d.NotClassic {
		t.Fatal("DescribeGroups described a consumer group")
	}

	k.restart()
	mustErr(t, k.hb("a", a.epoch, nil).Err, kerr.UnknownMemberID)
	r := k.hb("a", JoinEpoch, nil, "t")
	mustErr(t, r.Err, nil)
	if r.MemberEpoch <= a.epoch {
		t.Fatalf("epoch after restart %d, before %d: epochs must keep growing", r.MemberEpoch, a.epoch)
	}
	if co := k.c.FetchOffsets("g", []TopicPartitions{{Topic: "t", Partitions: []int32{0}}}); co[0].Offset.Offset != 7 {
		t.Fatalf("offset after restart: %+v", co)
	}
	if l := k.c.List(); len(l) != 1 || l[0].Type != "consumer" {
		t.Fatalf("list: %+v", l)
	}
}

func TestConsumerClassicGroupRefused(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("t", 1)
	k.joinFull(joinReq("g", "", "c"))
	mustErr(t, k.hb("a", JoinEpoch, nil, "t").Err, kerr.GroupIDNotFound)
	mustErr(t, k.c.ConsumerHeartbeat(HeartbeatRequest{Group: "g", MemberID: "a", RebalanceTimeout: 1, SubscribedTopics: []string{"t"},
		ServerAssignor: ptr("sticky")}).Err, kerr.UnsupportedAssignor)
}

func ptr[T any](v T) *T { return &v }

func TestAssignors(t *testing.T) {
	members := map[string]*cmember{}
	for _, id := range []string{"a", "b", "c"} {
		members[id] = &cmember{id: id, subscribed: []string{"t", "u"}}
	}
	topics := map[string]TopicInfo{"t": {ID: [16]byte{1}, Name: "t", Partitions: 7}, "u": {ID: [16]byte{2}, Name: "u", Partitions: 1}}
	got := assign(UniformAssignor, members, topics, nil)
	total := 0
	for id, s := range got {
		if n := s.size(); n < 2 || n > 3 {
			t.Fatalf("uniform: %s has %d partitions", id, n)
		}
		total += s.size()
	}
	if total != 8 {
		t.Fatalf("uniform assigned %d of 8", total)
	}
	// Sticky: a member leaving moves only its own partitions.
	delete(members, "c")
	next := assign(UniformAssignor, members, topics, got)
	for _, id := range []string{"a", "b"} {
		if !subset(got[id], next[id]) {
			t.Fatalf("uniform not sticky for %s: %v → %v", id, got[id], next[id])
		}
	}
	r := assign(RangeAssignor, members, topics, nil)
	if !r["a"].has([16]byte{1}, 0) || !r["a"].has([16]byte{1}, 3) || !r["b"].has([16]byte{1}, 4) || !r["a"].has([16]byte{2}, 0) {
		t.Fatalf("range: a %v b %v", r["a"], r["b"])
	}
}

func TestConsumerRegexSubscription(t *testing.T) {
	k := newKIP848(t)
	k.addTopic("orders-eu", 2)
	k.addTopic("payments", 2)
	re := "orders-.*"
	r := k.c.ConsumerHeartbeat(HeartbeatRequest{Group: "g", MemberID: "a", RebalanceTimeout: time.Minute,
		SubscribedRegex: &re, Owned: []TopicPartitionsID{}})
	mustErr(t, r.Err, nil)
	a := &client{id: "a", epoch: r.MemberEpoch, owned: r.Assignment}
	if count(a.owned) != 2 || a.owned[0].TopicID != k.topics["orders-eu"].ID {
		t.Fatalf("regex assignment: %v", a.owned)
	}
	// A new matching topic is picked up at the next resolution (every 10 s).
	k.addTopic("orders-us", 1)
	k.beat(a)
	if count(a.owned) != 2 {
		t.Fatalf("resolved again before the refresh interval: %v", a.owned)
	}
	k.clock.Advance(regexRefreshInterval)
	k.beat(a)
	if count(a.owned) != 3 {
		t.Fatalf("after refresh: %v", a.owned)
	}
	if d, _ := k.c.DescribeConsumer("g"); d.Members[0].SubscribedRegex == nil || *d.Members[0].SubscribedRegex != re {
		t.Fatalf("describe regex: %+v", d.Members[0])
	}
	bad := "orders-("
	mustErr(t, k.c.ConsumerHeartbeat(HeartbeatRequest{Group: "g", MemberID: "b", RebalanceTimeout: time.Minute,
		SubscribedRegex: &bad, Owned: []TopicPartitionsID{}}).Err, kerr.InvalidRegularExpression)
}

var reconcileSeed = flag.Int64("reconcile.seed", 0, "seed of TestConsumerRandomReconcile (0: time-based)")

// TestConsumerRandomReconcile drives random joins, leaves, topic growth, silent members and
// heartbeats, and checks after every step that no partition is held by two members (the
// coordinator's assigned ∪ revoking sets, and what the clients think they own), and that a
// group left alone converges to a Stable, complete assignment.
func TestConsumerRandomReconcile(t *testing.T) {
	seed := *reconcileSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -reconcile.seed)", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	k := newKIP848(t)
	k.addTopic("t", 5)
	k.addTopic("u", 3)
	clients := map[string]*client{}
	next := 0
	for step := 0; step < 400; step++ {
		switch op := rng.IntN(10); {
		case op == 0 && len(clients) < 6:
			next++
			id := fmt.Sprintf("m%d", next)
			topics := []string{"t", "u"}
			if rng.IntN(3) == 0 {
				topics = []string{"t"}
			}
			clients[id] = k.join(id, topics...)
		case op == 1 && len(clients) > 0:
			for id := range clients {
				mustErr(t, k.hb(id, LeaveEpoch, nil).Err, nil)
				delete(clients, id)
				break
			}
		case op == 2 && rng.IntN(10) == 0:
			k.addTopic("t", k.topics["t"].Partitions+1)
		case op == 3:
			k.clock.Advance(time.Second)
		default:
			for _, cl := range clients {
				if rng.IntN(2) == 0 {
					if r := k.hb(cl.id, cl.epoch, cl.owned); r.Err == nil {
						cl.epoch = r.MemberEpoch
						if r.Assignment != nil {
							cl.owned = r.Assignment
						}
					} else {
						delete(clients, cl.id) // expired or fenced: it drops everything
					}
				}
			}
		}
		checkServerExclusive(t, k)
		cls := make([]*client, 0, len(clients))
		for _, cl := range clients {
			cls = append(cls, cl)
		}
		checkExclusive(t, cls...)
	}
	for i := 0; i < 10; i++ {
		for _, cl := range clients {
			k.beat(cl)
		}
	}
	if d, _ := k.c.DescribeConsumer("g"); len(clients) > 0 && d.State != Stable {
		t.Fatalf("not converged: %+v", d)
	}
}

func checkServerExclusive(t *testing.T, k *kip848) {
	t.Helper()
	g := k.c.lockGroup("g")
	if g == nil {
		return
	}
	defer g.mu.Unlock()
	seen := partitionSet{}
	for _, m := range g.cg.members {
		for _, s := range []partitionSet{m.assigned, m.revoking} {
			for tid, ps := range s {
				for p := range ps {
					if seen.has(tid, p) {
						t.Fatalf("partition %v/%d held twice", tid[0], p)
					}
					seen.add(tid, p)
				}
			}
		}
	}
}
