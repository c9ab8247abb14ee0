package metadata

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// dirsCluster registers and unfences brokers 1..3, each with two log directories
// (dir(id, 0) and dir(id, 1)), and creates topic t (ids tid(1)) with parts partitions on
// all three.
func dirsCluster(t *testing.T, parts int32) (*cluster, map[int32]int64) {
	c := newCluster(t)
	epochs := map[int32]int64{}
	for id := int32(1); id <= 3; id++ {
		b := c.must(&RegisterBroker{ID: id, Incarnation: "a", Host: "h", Port: 9092 + id,
			LogDirs: []TopicID{dir(id, 0), dir(id, 1)}}).(*BrokerRegistration)
		c.must(&UnfenceBroker{ID: id, Epoch: b.Epoch})
		epochs[id] = b.Epoch
	}
	c.must(&CreateTopic{Name: "t", ID: tid(1), Assignment: slices.Repeat([][]int32{{1, 2, 3}}, int(parts))})
	return c, epochs
}

// dir is broker id's directory i.
func dir(id int32, i byte) TopicID { return TopicID{byte(id), i, 0xd1} }

// TestDirectoryOfflineMovesLeadership: a directory reported offline takes its broker out of
// the ISR and leadership of exactly the partitions whose replica it holds (Kafka's
// handleDirectoriesOffline); the broker cannot lead or rejoin them until it registers the
// directory online again (a restart with it repaired).
func TestDirectoryOfflineMovesLeadership(t *testing.T) {
	c, epochs := dirsCluster(t, 2)
	// Partition 0 on broker 1's first directory, partition 1 on its second.
	res := c.must(&AssignReplicasToDirs{BrokerID: 1, BrokerEpoch: epochs[1], Assignments: []DirAssignment{
		{Topic: tid(1), Partition: 0, Dir: dir(1, 0)}, {Topic: tid(1), Partition: 1, Dir: dir(1, 1)}}}).([]error)
	if errors.Join(res...) != nil {
		t.Fatalf("assignments refused: %v", res)
	}
	c.must(&AssignReplicasToDirs{BrokerID: 2, BrokerEpoch: epochs[2], Assignments: []DirAssignment{{Topic: tid(1), Partition: 0, Dir: dir(2, 1)}}})
	if p0 := c.part("t", 0); p0.Leader != 1 || p0.Directories[1] != dir(1, 0) || p0.Directories[2] != dir(2, 1) {
		t.Fatalf("partition 0 after assignment: %+v", p0)
	}
	before := c.part("t", 0)
	if n := c.must(&DirectoriesOffline{BrokerID: 1, BrokerEpoch: epochs[1], Dirs: []TopicID{dir(1, 0)}}).(int); n != 1 {
		t.Fatalf("%d partitions lost the replica, want 1", n)
	}
	p0, p1 := c.part("t", 0), c.part("t", 1)
	if p0.Leader != 2 || !slices.Equal(p0.ISR, []int32{2, 3}) || p0.LeaderEpoch != before.LeaderEpoch+1 {
		t.Fatalf("partition 0 (in the failed directory): %+v, want leader 2, ISR [2 3], a new leader epoch", p0)
	}
	if p1.Leader != 1 || len(p1.ISR) != 3 {
		t.Fatalf("partition 1 (in the other directory) changed: %+v", p1)
	}
	b := c.s.Brokers[1]
	if !slices.Equal(b.LogDirs, []TopicID{dir(1, 1)}) || !slices.Equal(b.OfflineDirs, []TopicID{dir(1, 0)}) || b.Fenced {
		t.Fatalf("broker 1: %+v", b)
	}
	// Reported again (every heartbeat carries it): nothing changes.
	if n := c.must(&DirectoriesOffline{BrokerID: 1, BrokerEpoch: epochs[1], Dirs: []TopicID{dir(1, 0)}}).(int); n != 0 || c.part("t", 0).PartitionEpoch != p0.PartitionEpoch {
		t.Fatalf("a repeated report changed %d partitions", n)
	}
	// Broker 1 can neither rejoin partition 0's ISR nor be elected its leader.
	ap := &AlterPartition{BrokerID: 2, BrokerEpoch: epochs[2], Topic: "t", Partition: 0, LeaderEpoch: p0.LeaderEpoch, PartitionEpoch: p0.PartitionEpoch, ISR: []int32{1, 2, 3}}
	if _, err := c.apply(ap); !errors.Is(err, ErrIneligibleReplica) {
		t.Fatalf("ISR expansion to a replica in an offline directory: %v", err)
	}
	if _, err := c.apply(&ElectLeaders{Type: ElectPreferred, Topic: "t", Partition: 0}); !errors.Is(err, ErrPreferredNotAvailable) {
		t.Fatalf("preferred election of a replica in an offline directory: %v", err)
	}
	// A stale epoch is refused.
	if _, err := c.apply(&DirectoriesOffline{BrokerID: 1, BrokerEpoch: epochs[1] + 99, Dirs: []TopicID{dir(1, 1)}}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}

	// Broker 1 restarts with the directory repaired: fenced out, then registered with both
	// directories online. Its leader may add it back to the ISR, and it may lead again.
	c.must(&FenceBroker{ID: 1, Epoch: epochs[1]})
	reg := c.must(&RegisterBroker{ID: 1, Incarnation: "b", Host: "h", Port: 9093, LogDirs: []TopicID{dir(1, 0), dir(1, 1)}}).(*BrokerRegistration)
	c.must(&UnfenceBroker{ID: 1, Epoch: reg.Epoch})
	p0 = c.part("t", 0)
	c.must(&AlterPartition{BrokerID: 2, BrokerEpoch: epochs[2], Topic: "t", Partition: 0, LeaderEpoch: p0.LeaderEpoch, PartitionEpoch: p0.PartitionEpoch, ISR: []int32{1, 2, 3}})
	c.must(&ElectLeaders{Type: ElectPreferred, Topic: "t", Partition: 0})
	if p0 = c.part("t", 0); p0.Leader != 1 || len(p0.ISR) != 3 {
		t.Fatalf("after the restart with the directory repaired: %+v", p0)
	}
	checkClusterInvariants(t, c.s)
}

// TestDirectoryOfflineLastISRMember: a partition whose only ISR member loses its directory
// keeps that member (it knows who had the data) but has no leader; with unclean election
// enabled another replica leads.
func TestDirectoryOfflineLastISRMember(t *testing.T) {
	c, epochs := dirsCluster(t, 1)
	p := c.part("t", 0)
	c.must(&AlterPartition{BrokerID: 1, BrokerEpoch: epochs[1], Topic: "t", Partition: 0, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1}})
	c.must(&AssignReplicasToDirs{BrokerID: 1, BrokerEpoch: epochs[1], Assignments: []DirAssignment{{Topic: tid(1), Partition: 0, Dir: dir(1, 1)}}})
	c.must(&DirectoriesOffline{BrokerID: 1, BrokerEpoch: epochs[1], Dirs: []TopicID{dir(1, 1)}})
	if p = c.part("t", 0); p.Leader != NoLeader || !slices.Equal(p.ISR, []int32{1}) {
		t.Fatalf("%+v, want no leader and ISR [1]", p)
	}
	c.must(&AlterConfigs{Name: "t", Configs: map[string]string{"unclean.leader.election.enable": "true"}})
	if p = c.part("t", 0); p.Leader != 2 || !slices.Equal(p.ISR, []int32{2}) {
		t.Fatalf("unclean election: %+v, want leader 2", p)
	}
	checkClusterInvariants(t, c.s)
}

// TestAssignReplicasToDirs: assignments name known topics by id, existing partitions the
// broker holds a replica of and a real directory; one to a directory the broker does not
// have online takes the replica out at once; a reassignment forgets the directories of
// replicas it removes.
func TestAssignReplicasToDirs(t *testing.T) {
	c, epochs := dirsCluster(t, 1)
	c.must(&CreateTopic{Name: "u", ID: tid(2), Assignment: [][]int32{{2, 3}}})
	res := c.must(&AssignReplicasToDirs{BrokerID: 1, BrokerEpoch: epochs[1], Assignments: []DirAssignment{
		{Topic: tid(9), Partition: 0, Dir: dir(1, 0)},
		{Topic: tid(1), Partition: 5, Dir: dir(1, 0)},
		{Topic: tid(2), Partition: 0, Dir: dir(1, 0)},
		{Topic: tid(1), Partition: 0},
		{Topic: tid(1), Partition: 0, Dir: TopicID{7, 7}},
	}}).([]error)
	for i, want := range []error{ErrUnknownTopicID, ErrUnknownPartition, ErrNotLeader, ErrUnknownDirectory, nil} {
		if !errors.Is(res[i], want) || (want == nil) != (res[i] == nil) {
			t.Errorf("assignment %d: %v, want %v", i, res[i], want)
		}
	}
	// TopicID{7, 7} is no directory of broker 1: it lost leadership and ISR place.
	if p := c.part("t", 0); p.Leader != 2 || slices.Contains(p.ISR, 1) {
		t.Fatalf("replica assigned to an unknown directory still leads or is in the ISR: %+v", p)
	}
	if _, err := c.apply(&AssignReplicasToDirs{BrokerID: 1, BrokerEpoch: 1234}); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	c.must(&Reassign{Topic: "t", Partition: 0, Target: []int32{2, 3}})
	if p := c.part("t", 0); p.Directories[1] != (TopicID{}) || len(p.Directories) != 0 {
		t.Fatalf("directories after broker 1 was reassigned away: %v", p.Directories)
	}
	checkClusterInvariants(t, c.s)
}

// TestHeartbeatReportsOfflineDirs: the controller records a heartbeat's offline directories
// once, moving the leadership away; later heartbeats with the same list propose nothing.
func TestHeartbeatReportsOfflineDirs(t *testing.T) {
	q := &stateProposer{s: NewClusterState("c")}
	t0 := time.Unix(1000, 0)
	c := NewController(q, 10*time.Second, t0)
	var epochs [4]int64
	for id := int32(1); id <= 3; id++ {
		b, err := c.Register(RegisterBroker{ID: id, Incarnation: "x", Host: "h", Port: 1, LogDirs: []TopicID{dir(id, 0), dir(id, 1)}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		epochs[id] = b.Epoch
		if _, err := c.Heartbeat(id, b.Epoch, true, false, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Propose(&CreateTopic{Name: "t", ID: tid(1), Assignment: [][]int32{{1, 2, 3}}}, ProposeTimeout); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Propose(&AssignReplicasToDirs{BrokerID: 1, BrokerEpoch: epochs[1], Assignments: []DirAssignment{{Topic: tid(1), Dir: dir(1, 1)}}}, ProposeTimeout); err != nil {
		t.Fatal(err)
	}
	before := len(q.log)
	for i := range 2 {
		r, err := c.Heartbeat(1, epochs[1], true, false, []TopicID{dir(1, 1)}, t0.Add(time.Duration(i)*time.Second))
		if err != nil || r.Fenced {
			t.Fatalf("heartbeat %d: %+v %v", i, r, err)
		}
	}
	if got := q.log[before:]; !slices.Equal(got, []string{"directories_offline"}) {
		t.Fatalf("two heartbeats with the same offline directory proposed %v, want one directories_offline", got)
	}
	st := q.s
	if p := st.Topics["t"].Partitions[0]; p.Leader != 2 || slices.Contains(p.ISR, 1) || p.LeaderEpoch != 1 {
		t.Fatalf("after broker 1 reported its directory offline: %+v", p)
	}
	if b := st.Brokers[1]; fmt.Sprint(b.OfflineDirs) != fmt.Sprint([]TopicID{dir(1, 1)}) {
		t.Fatalf("broker 1's offline directories: %v", b.OfflineDirs)
	}
}
