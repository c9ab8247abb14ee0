package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// cluster applies commands with increasing Raft indexes, going through the log encoding.
type cluster struct {
	t     *testing.T
	s     *ClusterState
	index uint64
}

func newCluster(t *testing.T) *cluster { return &cluster{t: t, s: NewClusterState("c1")} }

func (c *cluster) apply(cmd any) (any, error) {
	c.t.Helper()
	data, err := EncodeCommand(cmd)
	if err != nil {
		c.t.Fatal(err)
	}
	dec, err := DecodeCommand(data)
	if err != nil {
		c.t.Fatal(err)
	}
	c.index++
	return c.s.Apply(c.index, dec)
}

func (c *cluster) must(cmd any) any {
	c.t.Helper()
	r, err := c.apply(cmd)
	if err != nil {
		c.t.Fatalf("%T: %v", cmd, err)
	}
	return r
}

// brokers registers and unfences brokers 1..n and returns their epochs.
func (c *cluster) brokers(n int) map[int32]int64 {
	epochs := map[int32]int64{}
	for id := int32(1); id <= int32(n); id++ {
		b := c.must(&RegisterBroker{ID: id, Incarnation: fmt.Sprint("inc-", id), Host: "h", Port: 9092 + id}).(*BrokerRegistration)
		if !b.Fenced {
			c.t.Fatal("a new registration must start fenced")
		}
		c.must(&UnfenceBroker{ID: id, Epoch: b.Epoch})
		epochs[id] = b.Epoch
	}
	return epochs
}

func (c *cluster) part(topic string, p int32) PartitionAssignment {
	_, pa, err := c.s.partition(topic, p)
	if err != nil {
		c.t.Fatal(err)
	}
	return *pa.clone()
}

func tid(b byte) TopicID { return TopicID{b, 1} }

func TestPlacementRotatesLeaders(t *testing.T) {
	c := newCluster(t)
	c.brokers(3)
	c.must(&CreateTopic{Name: "a", ID: tid(1), Partitions: 3, ReplicationFactor: 2})
	var leaders []int32
	for p := int32(0); p < 3; p++ {
		pa := c.part("a", p)
		if len(pa.Replicas) != 2 || pa.Leader != pa.Replicas[0] || !slices.Equal(pa.ISR, pa.Replicas) {
			t.Fatalf("partition %d: %+v", p, pa)
		}
		leaders = append(leaders, pa.Leader)
	}
	if !slices.Equal(leaders, []int32{1, 2, 3}) {
		t.Fatalf("leaders %v", leaders)
	}
	if _, err := c.apply(&CreateTopic{Name: "b", ID: tid(2), Partitions: 1, ReplicationFactor: 4}); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Fatalf("rf 4 of 3 brokers: %v", err)
	}
	if _, err := c.apply(&CreateTopic{Name: "a", ID: tid(3), Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := c.apply(&CreateTopic{Name: "c", ID: tid(1), Partitions: 1, ReplicationFactor: 1}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	c.must(&CreatePartitions{Name: "a", Total: 5})
	if pa := c.part("a", 4); len(pa.Replicas) != 2 {
		t.Fatalf("new partition: %+v", pa)
	}
	if _, err := c.apply(&CreatePartitions{Name: "a", Total: 5}); !errors.Is(err, ErrInvalidPartitions) {
		t.Fatalf("no growth: %v", err)
	}
	c.must(&DeleteTopic{Name: "a"})
	if _, err := c.apply(&DeleteTopic{Name: "a"}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("delete twice: %v", err)
	}
}

func TestAlterPartitionChecksEpochs(t *testing.T) {
	c := newCluster(t)
	ep := c.brokers(3)
	c.must(&CreateTopic{Name: "a", ID: tid(1), Assignment: [][]int32{{1, 2, 3}}})
	pa := c.part("a", 0)
	shrink := &AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], Topic: "a", LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2}}
	got := c.must(shrink).(*PartitionAssignment)
	if !slices.Equal(got.ISR, []int32{1, 2}) || got.PartitionEpoch != pa.PartitionEpoch+1 || got.LeaderEpoch != pa.LeaderEpoch {
		t.Fatalf("shrink: %+v", got)
	}
	// The same request again is stale now.
	if _, err := c.apply(shrink); !errors.Is(err, ErrInvalidUpdateVersion) {
		t.Fatalf("stale partition epoch: %v", err)
	}
	for _, bad := range []struct {
		ap   AlterPartition
		want error
	}{
		{AlterPartition{BrokerID: 2, BrokerEpoch: ep[2], ISR: []int32{1, 2}}, ErrNotLeader},
		{AlterPartition{BrokerID: 1, BrokerEpoch: ep[1] + 1, ISR: []int32{1, 2}}, ErrStaleBrokerEpoch},
		{AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], LeaderEpoch: got.LeaderEpoch + 1, ISR: []int32{1, 2}}, ErrFencedLeaderEpoch},
		{AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], ISR: []int32{2}}, ErrInvalidISR},
		{AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], ISR: []int32{1, 4}}, ErrInvalidISR},
		{AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], ISR: []int32{1, 1}}, ErrInvalidISR},
	} {
		ap := bad.ap
		ap.Topic = "a"
		if ap.LeaderEpoch == 0 {
			ap.LeaderEpoch = got.LeaderEpoch
		}
		ap.PartitionEpoch = got.PartitionEpoch
		if _, err := c.apply(&ap); !errors.Is(err, bad.want) {
			t.Fatalf("%+v: got %v, want %v", ap, err, bad.want)
		}
	}
	// A fenced broker cannot be added back.
	c.must(&FenceBroker{ID: 3, Epoch: ep[3]})
	pa = c.part("a", 0)
	expand := &AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], Topic: "a", LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2, 3}}
	if _, err := c.apply(expand); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("fenced replica into the ISR: %v", err)
	}
	c.must(&UnfenceBroker{ID: 3, Epoch: ep[3]})
	c.must(expand)
}

func TestFencingMovesLeadershipWithinISR(t *testing.T) {
	c := newCluster(t)
	ep := c.brokers(3)
	c.must(&CreateTopic{Name: "a", ID: tid(1), Assignment: [][]int32{{1, 2, 3}, {1}}})
	before := c.part("a", 0)
	c.must(&FenceBroker{ID: 1, Epoch: ep[1]})
	pa := c.part("a", 0)
	if pa.Leader != 2 || !slices.Equal(pa.ISR, []int32{2, 3}) || pa.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("after fencing the leader: %+v", pa)
	}
	// The only replica: leaderless, but still the ISR's last member.
	single := c.part("a", 1)
	if single.Leader != NoLeader || !slices.Equal(single.ISR, []int32{1}) {
		t.Fatalf("single replica: %+v", single)
	}
	// Unclean election is off: fencing 2 and 3 leaves partition 0 leaderless with ISR [3]...
	c.must(&FenceBroker{ID: 2, Epoch: ep[2]})
	c.must(&FenceBroker{ID: 3, Epoch: ep[3]})
	pa = c.part("a", 0)
	if pa.Leader != NoLeader || !slices.Equal(pa.ISR, []int32{3}) {
		t.Fatalf("all fenced: %+v", pa)
	}
	// ...and broker 1 coming back does not lead it: it is not in the ISR.
	c.must(&UnfenceBroker{ID: 1, Epoch: ep[1]})
	if pa = c.part("a", 0); pa.Leader != NoLeader {
		t.Fatalf("out-of-sync replica elected without unclean election: %+v", pa)
	}
	if pa = c.part("a", 1); pa.Leader != 1 {
		t.Fatalf("single replica back: %+v", pa)
	}
	// The last ISR member returning leads again.
	c.must(&UnfenceBroker{ID: 3, Epoch: ep[3]})
	if pa = c.part("a", 0); pa.Leader != 3 {
		t.Fatalf("ISR member back: %+v", pa)
	}
	// Unclean: explicit election, or the topic config.
	c.must(&FenceBroker{ID: 3, Epoch: ep[3]})
	if _, err := c.apply(&ElectLeaders{Type: ElectPreferred, Topic: "a", Partition: 0}); !errors.Is(err, ErrPreferredNotAvailable) {
		t.Fatalf("preferred not in ISR: %v", err)
	}
	c.must(&AlterConfigs{Name: "a", Configs: map[string]string{"unclean.leader.election.enable": "true"}})
	if pa = c.part("a", 0); pa.Leader != 1 || !slices.Equal(pa.ISR, []int32{1}) {
		t.Fatalf("unclean election by config: %+v", pa)
	}
}

func TestControlledShutdownAndPreferredElection(t *testing.T) {
	c := newCluster(t)
	ep := c.brokers(2)
	c.must(&CreateTopic{Name: "a", ID: tid(1), Assignment: [][]int32{{1, 2}, {1}}})
	n := c.must(&ControlledShutdown{ID: 1, Epoch: ep[1]}).(int)
	if n != 1 {
		t.Fatalf("leaderless partitions after shutdown: %d", n)
	}
	if pa := c.part("a", 0); pa.Leader != 2 || !slices.Equal(pa.ISR, []int32{2}) {
		t.Fatalf("after shutdown: %+v", pa)
	}
	if _, err := c.apply(&UnfenceBroker{ID: 1, Epoch: ep[1]}); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("unfence while shutting down: %v", err)
	}
	// It restarts: a new incarnation is refused while the old one is live (unfenced)...
	if _, err := c.apply(&RegisterBroker{ID: 1, Incarnation: "new"}); !errors.Is(err, ErrDuplicateBroker) {
		t.Fatalf("duplicate registration: %v", err)
	}
	// ...and accepted once it is fenced, with a new epoch.
	c.must(&FenceBroker{ID: 1, Epoch: ep[1]})
	b := c.must(&RegisterBroker{ID: 1, Incarnation: "new"}).(*BrokerRegistration)
	if b.Epoch <= ep[1] || b.ShuttingDown || !b.Fenced {
		t.Fatalf("re-registration: %+v", b)
	}
	if _, err := c.apply(&UnfenceBroker{ID: 1, Epoch: ep[1]}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	c.must(&UnfenceBroker{ID: 1, Epoch: b.Epoch})
	pa := c.part("a", 0)
	c.must(&AlterPartition{BrokerID: 2, BrokerEpoch: ep[2], Topic: "a", LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2}})
	c.must(&ElectLeaders{Type: ElectPreferred, Topic: "a", Partition: 0})
	if pa := c.part("a", 0); pa.Leader != 1 {
		t.Fatalf("preferred election: %+v", pa)
	}
	if _, err := c.apply(&ElectLeaders{Type: ElectPreferred, Topic: "a", Partition: 0}); !errors.Is(err, ErrElectionNotNeeded) {
		t.Fatalf("again: %v", err)
	}
}

func TestReassignment(t *testing.T) {
	c := newCluster(t)
	ep := c.brokers(4)
	c.must(&CreateTopic{Name: "a", ID: tid(1), Assignment: [][]int32{{1, 2}}})
	pa := c.must(&Reassign{Topic: "a", Target: []int32{3, 4}}).(*PartitionAssignment)
	if !slices.Equal(pa.Replicas, []int32{3, 4, 1, 2}) || !slices.Equal(pa.Adding, []int32{3, 4}) || !slices.Equal(pa.Removing, []int32{1, 2}) || pa.Leader != 1 {
		t.Fatalf("reassignment started: %+v", pa)
	}
	// Cancel and start again.
	if pa = c.must(&Reassign{Topic: "a"}).(*PartitionAssignment); !slices.Equal(pa.Replicas, []int32{1, 2}) || pa.Adding != nil {
		t.Fatalf("cancelled: %+v", pa)
	}
	if _, err := c.apply(&Reassign{Topic: "a"}); !errors.Is(err, ErrNoReassignment) {
		t.Fatalf("cancel nothing: %v", err)
	}
	c.must(&Reassign{Topic: "a", Target: []int32{3, 4}})
	// The leader adds 3, then 4: the second completes the reassignment and moves leadership.
	pa = ptr(c.part("a", 0))
	pa = c.must(&AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], Topic: "a", LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2, 3}}).(*PartitionAssignment)
	if pa.Adding == nil {
		t.Fatalf("completed too early: %+v", pa)
	}
	pa = c.must(&AlterPartition{BrokerID: 1, BrokerEpoch: ep[1], Topic: "a", LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: []int32{1, 2, 3, 4}}).(*PartitionAssignment)
	if !slices.Equal(pa.Replicas, []int32{3, 4}) || !slices.Equal(pa.ISR, []int32{3, 4}) || pa.Leader != 3 || pa.Adding != nil || pa.Removing != nil {
		t.Fatalf("completed: %+v", pa)
	}
	if _, err := c.apply(&Reassign{Topic: "a", Target: []int32{3, 9}}); !errors.Is(err, ErrInvalidReplicaAssignment) {
		t.Fatalf("unknown broker: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestHeartbeatsExpire(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHeartbeats(9*time.Second, t0)
	h.Beat(1, t0.Add(5*time.Second))
	// Broker 2 never beat this controller: its session counts from the takeover.
	if got := h.Expired([]int32{1, 2}, t0.Add(9*time.Second)); len(got) != 0 {
		t.Fatalf("nothing expired yet: %v", got)
	}
	if got := h.Expired([]int32{2, 1}, t0.Add(10*time.Second)); !slices.Equal(got, []int32{2}) {
		t.Fatalf("expired: %v", got)
	}
	if got := h.Expired([]int32{1, 2}, t0.Add(15*time.Second)); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("expired: %v", got)
	}
}

// TestApplyIsDeterministic replays random command histories on two states, one of which is
// snapshotted (JSON) and restored halfway, and compares them: the same log gives the same
// state, and a snapshot loses nothing.
func TestApplyIsDeterministic(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	for history := 0; history < 50; history++ {
		a, b := newCluster(t), newCluster(t)
		var cmds []any
		for i := 0; i < 300; i++ {
			cmds = append(cmds, randomCommand(rng, a.s))
			a.apply(cmds[len(cmds)-1])
		}
		for i, cmd := range cmds {
			if i == len(cmds)/2 {
				data, err := json.Marshal(b.s)
				if err != nil {
					t.Fatal(err)
				}
				b.s = NewClusterState("")
				if err := json.Unmarshal(data, b.s); err != nil {
					t.Fatal(err)
				}
			}
			b.apply(cmd)
		}
		ja, _ := json.Marshal(a.s)
		jb, _ := json.Marshal(b.s)
		if string(ja) != string(jb) {
			t.Fatalf("seed %d history %d: states differ:\n%s\n%s", seed, history, ja, jb)
		}
		checkClusterInvariants(t, a.s)
	}
}

func checkClusterInvariants(t *testing.T, s *ClusterState) {
	t.Helper()
	for _, tp := range s.Topics {
		for i, p := range tp.Partitions {
			if len(p.ISR) == 0 {
				t.Fatalf("%s-%d: empty ISR", tp.Name, i)
			}
			for _, r := range p.ISR {
				if !slices.Contains(p.Replicas, r) {
					t.Fatalf("%s-%d: ISR %v outside replicas %v", tp.Name, i, p.ISR, p.Replicas)
				}
			}
			if p.Leader != NoLeader && (!slices.Contains(p.ISR, p.Leader) || !s.replicaEligible(p, p.Leader)) {
				t.Fatalf("%s-%d: leader %d not an eligible ISR member: %+v", tp.Name, i, p.Leader, p)
			}
		}
	}
}

// randomCommand makes a plausible command, valid or not, from the current state.
func randomCommand(rng *rand.Rand, s *ClusterState) any {
	id := int32(1 + rng.IntN(4))
	var epoch int64
	if b, ok := s.Brokers[id]; ok {
		epoch = b.Epoch
	}
	topic := fmt.Sprint("t", rng.IntN(3))
	p := int32(rng.IntN(3))
	var pa *PartitionAssignment
	if _, x, err := s.partition(topic, p); err == nil {
		pa = x
	}
	switch rng.IntN(13) {
	case 0:
		return &RegisterBroker{ID: id, Incarnation: fmt.Sprint(rng.IntN(3)), LogDirs: []TopicID{{byte(id), 1}, {byte(id), 2}}}
	case 11:
		return &AssignReplicasToDirs{BrokerID: id, BrokerEpoch: epoch, Assignments: []DirAssignment{
			{Topic: TopicID{byte(rng.IntN(250) + 1)}, Partition: p, Dir: TopicID{byte(id), byte(1 + rng.IntN(3))}}}}
	case 12:
		return &DirectoriesOffline{BrokerID: id, BrokerEpoch: epoch, Dirs: []TopicID{{byte(id), byte(1 + rng.IntN(2))}}}
	case 1:
		return &UnfenceBroker{ID: id, Epoch: epoch}
	case 2:
		return &FenceBroker{ID: id, Epoch: epoch}
	case 3:
		return &ControlledShutdown{ID: id, Epoch: epoch}
	case 4:
		return &CreateTopic{Name: topic, ID: TopicID{byte(rng.IntN(250) + 1)}, Partitions: int32(1 + rng.IntN(3)), ReplicationFactor: int16(1 + rng.IntN(3))}
	case 5:
		return &DeleteTopic{Name: topic}
	case 6:
		return &CreatePartitions{Name: topic, Total: int32(1 + rng.IntN(5))}
	case 7:
		return &AlterConfigs{Name: topic, Configs: map[string]string{"unclean.leader.election.enable": fmt.Sprint(rng.IntN(2) == 0)}}
	case 8:
		if pa == nil {
			return &DeleteTopic{Name: topic}
		}
		isr := []int32{pa.Leader}
		for _, r := range pa.Replicas {
			if r != pa.Leader && rng.IntN(2) == 0 {
				isr = append(isr, r)
			}
		}
		var leaderEpoch int64
		if b, ok := s.Brokers[pa.Leader]; ok {
			leaderEpoch = b.Epoch
		}
		return &AlterPartition{BrokerID: pa.Leader, BrokerEpoch: leaderEpoch, Topic: topic, Partition: p, LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch, ISR: isr}
	case 9:
		return &ElectLeaders{Type: int8(rng.IntN(2)), Topic: topic, Partition: p}
	default:
		if rng.IntN(3) == 0 {
			return &Reassign{Topic: topic, Partition: p}
		}
		var target []int32
		for _, b := range rng.Perm(4)[:1+rng.IntN(3)] {
			target = append(target, int32(b+1))
		}
		return &Reassign{Topic: topic, Partition: p, Target: target}
	}
}

// TestImportTopics: an older release's topics come in with their ids, partition counts and
// configs on the one replica, leaderless until that broker registers and is unfenced; the
// producer id counter rises above the old block; a repeated import changes nothing, and one
// that conflicts with an existing topic is refused whole.
func TestImportTopics(t *testing.T) {
	c := newCluster(t)
	imp := &ImportTopics{Replica: 1, NextProducerID: 3000, Topics: []Topic{
		{Name: "a", ID: tid(1), Partitions: 2, Configs: map[string]string{"retention.ms": "5"}},
		{Name: "b", ID: tid(2), Partitions: 1},
	}}
	c.must(imp)
	if pa := c.part("a", 1); pa.Leader != NoLeader || !slices.Equal(pa.Replicas, []int32{1}) || !slices.Equal(pa.ISR, []int32{1}) {
		t.Fatalf("before the broker registers: %+v", pa)
	}
	c.brokers(1)
	if pa := c.part("a", 0); pa.Leader != 1 {
		t.Fatalf("after the broker is unfenced: %+v", pa)
	}
	if a := c.s.Topics["a"]; a.ID != tid(1) || a.Configs["retention.ms"] != "5" || c.s.NextProducerID != 3000 {
		t.Fatalf("imported %+v, next producer id %d", a, c.s.NextProducerID)
	}
	epoch := c.part("a", 0).LeaderEpoch
	c.must(imp)
	if c.part("a", 0).LeaderEpoch != epoch || len(c.s.Topics) != 2 {
		t.Fatal("a repeated import changed the state")
	}
	if _, err := c.apply(&ImportTopics{Replica: 1, Topics: []Topic{{Name: "c", ID: tid(3), Partitions: 1}, {Name: "a", ID: tid(9), Partitions: 1}}}); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("import over a topic of another id: %v", err)
	}
	if _, ok := c.s.Topics["c"]; ok {
		t.Fatal("a refused import added a topic")
	}
}

// TestCreatePartitionsWithAssignment: new partitions go on the replicas given, which must be
// registered brokers, none twice, as many as the topic's replication factor.
func TestCreatePartitionsWithAssignment(t *testing.T) {
	c := newCluster(t)
	c.brokers(3)
	c.must(&CreateTopic{Name: "t", ID: tid(1), Partitions: 1, ReplicationFactor: 2})
	for _, bad := range [][][]int32{{{1, 7}}, {{2, 2}}, {{1}}, {{1, 2}, {2, 3}}} {
		if _, err := c.apply(&CreatePartitions{Name: "t", Total: 2, Assignment: bad}); !errors.Is(err, ErrInvalidReplicaAssignment) {
			t.Fatalf("assignment %v: %v", bad, err)
		}
	}
	c.must(&CreatePartitions{Name: "t", Total: 3, Assignment: [][]int32{{3, 1}, {2, 3}}})
	if p1, p2 := c.part("t", 1), c.part("t", 2); !slices.Equal(p1.Replicas, []int32{3, 1}) || p1.Leader != 3 || !slices.Equal(p2.Replicas, []int32{2, 3}) {
		t.Fatalf("new partitions %+v %+v", p1, p2)
	}
}

// TestBrokerEndpoints: a registration carries every listener; one written before listeners
// existed (no "listeners" in its JSON) answers its one address for any listener name.
func TestBrokerEndpoints(t *testing.T) {
	var old BrokerRegistration
	if err := json.Unmarshal([]byte(`{"id":1,"epoch":3,"incarnation":"x","host":"h","port":9092,"fenced":false}`), &old); err != nil {
		t.Fatal(err)
	}
	if h, p, ok := old.Endpoint("EXTERNAL"); !ok || h != "h" || p != 9092 {
		t.Fatalf("old registration: %s %d %v", h, p, ok)
	}
	s := NewClusterState("c")
	res, err := s.registerBroker(7, &RegisterBroker{ID: 2, Incarnation: "i", Host: "in", Port: 1,
		Listeners: []Endpoint{{"INTERNAL", "PLAINTEXT", "in", 1}, {"EXTERNAL", "SASL_SSL", "ex", 2}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := res.(*BrokerRegistration)
	for name, want := range map[string]string{"INTERNAL": "in:1", "EXTERNAL": "ex:2", "": "in:1"} {
		if h, p, ok := reg.Endpoint(name); !ok || fmt.Sprintf("%s:%d", h, p) != want {
			t.Errorf("%q: %s:%d %v, want %s", name, h, p, ok, want)
		}
	}
	if _, _, ok := reg.Endpoint("OTHER"); ok {
		t.Error("a listener the broker does not have was found")
	}
	if SecurityProtocolName(SecurityProtocolID("SASL_SSL")) != "SASL_SSL" || SecurityProtocolID("TLS") != -1 || SecurityProtocolName(9) != "" {
		t.Error("security protocol ids")
	}
}
