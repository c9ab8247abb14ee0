package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var ls []net.Listener
	var addrs []string
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

func testQuorumConfig(id int32, listen, dir string, voters []Voter) QuorumConfig {
	return QuorumConfig{NodeID: id, Listen: listen, Voters: voters, Dir: dir, Logger: quietLogger(),
		SnapshotThreshold: 1 << 20, SnapshotInterval: time.Hour, TrailingLogs: 2,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stateJSON(t *testing.T, s *ClusterState) string {
	s = s.Clone()
	s.LastIndex = 0 // the index of the last entry differs by the leader's no-op entries
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSingleVoterQuorumBootstrapsAndRestarts(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQuorum(testQuorumConfig(1, "127.0.0.1:0", dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leadership", q.IsController)
	if q.Controller() != 1 || q.Addr() == "" || q.Addr() == "127.0.0.1:0" {
		t.Fatalf("controller %d at %q", q.Controller(), q.Addr())
	}
	waitFor(t, "a cluster id", func() bool { return q.State().ClusterID != "" })
	b, err := q.Propose(&RegisterBroker{ID: 1, Incarnation: "a", Host: "127.0.0.1", Port: 9092}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	epoch := b.(*BrokerRegistration).Epoch
	if _, err := q.Propose(&UnfenceBroker{ID: 1, Epoch: epoch}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Propose(&CreateTopic{Name: "orders", ID: tid(9), Partitions: 2, ReplicationFactor: 1}, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Propose(&CreateTopic{Name: "orders", ID: tid(8), Partitions: 2, ReplicationFactor: 1}, time.Second); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("the state machine's refusal must come back: %v", err)
	}
	want := stateJSON(t, q.State())
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	// A restart on another port: a single voter needs nobody to reach it.
	q, err = OpenQuorum(testQuorumConfig(1, "127.0.0.1:0", dir, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	waitFor(t, "leadership after restart", q.IsController)
	if err := q.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := stateJSON(t, q.State()); got != want {
		t.Fatalf("state after restart:\n%s\nwant:\n%s", got, want)
	}
}

// TestThreeVotersFailover runs three Raft voters on loopback in one process: commands
// replicate, a snapshot compacts the log, the leader is killed, a new one is elected with the
// state intact and keeps accepting commands, and the old leader restarts from its snapshot and
// log, and catches up by installing the new leader's snapshot.
func TestThreeVotersFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Raft nodes")
	}
	addrs := freePorts(t, 3)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	base := t.TempDir()
	nodes := make([]*Quorum, 3)
	open := func(i int) {
		q, err := OpenQuorum(testQuorumConfig(int32(i+1), addrs[i], filepath.Join(base, fmt.Sprint(i+1)), voters))
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = q
	}
	for i := range nodes {
		open(i)
	}
	defer func() {
		for _, q := range nodes {
			if q != nil {
				q.Close()
			}
		}
	}()
	leader := func() int {
		for i, q := range nodes {
			if q != nil && q.IsController() {
				return i
			}
		}
		return -1
	}
	waitFor(t, "a leader", func() bool { return leader() >= 0 })
	l := nodes[leader()]
	waitFor(t, "a cluster id", func() bool { return l.State().ClusterID != "" })
	for id := int32(1); id <= 3; id++ {
		b, err := l.Propose(&RegisterBroker{ID: id, Incarnation: "x", Host: "127.0.0.1", Port: 9092 + id}, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Propose(&UnfenceBroker{ID: id, Epoch: b.(*BrokerRegistration).Epoch}, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Propose(&CreateTopic{Name: "a", ID: tid(1), Partitions: 3, ReplicationFactor: 3}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Followers refuse proposals.
	for i, q := range nodes {
		if i != leader() {
			if _, err := q.Propose(&DeleteTopic{Name: "a"}, time.Second); !errors.Is(err, ErrNotController) {
				t.Fatalf("follower %d accepted a proposal: %v", i+1, err)
			}
		}
	}
	// Snapshot every node: the logs are compacted behind the snapshots.
	for _, q := range nodes {
		waitFor(t, "followers to apply", func() bool { return q.State().Topics["a"] != nil })
		if err := q.Snapshot(); err != nil {
			t.Fatal(err)
		}
		// Compacted: the first entry is gone (an empty log, first index 0, is compacted too).
		if first, _ := q.store.FirstIndex(); first == 1 {
			t.Fatalf("log not compacted after the snapshot: first index %d", first)
		}
	}
	want := stateJSON(t, l.State())

	// Kill the leader.
	old := leader()
	if err := nodes[old].Close(); err != nil {
		t.Fatal(err)
	}
	nodes[old] = nil
	waitFor(t, "a new leader", func() bool { return leader() >= 0 })
	l = nodes[leader()]
	for _, q := range nodes {
		if q != nil {
			waitFor(t, "every node to know the new controller", func() bool { return q.Controller() == int32(leader()+1) })
		}
	}
	if err := l.Barrier(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := stateJSON(t, l.State()); got != want {
		t.Fatalf("new leader's state:\n%s\nwant:\n%s", got, want)
	}
	if _, err := l.Propose(&CreateTopic{Name: "b", ID: tid(2), Partitions: 1, ReplicationFactor: 2}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// More commands and a snapshot on the new leader: the entries the old leader lacks are
	// compacted away, so it can only catch up by installing the leader's snapshot.
	for i := 0; i < 5; i++ {
		if _, err := l.Propose(&CreateTopic{Name: fmt.Sprint("c", i), ID: tid(byte(10 + i)), Partitions: 1, ReplicationFactor: 1}, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// The old leader restarts from its own snapshot and log, then installs the new leader's.
	open(old)
	want = stateJSON(t, l.State())
	waitFor(t, "the restarted node to catch up", func() bool { return stateJSON(t, nodes[old].State()) == want })
	if nodes[old].State().ClusterID != l.State().ClusterID || !slices.Equal(nodes[old].State().Topics["b"].Partitions[0].Replicas, l.State().Topics["b"].Partitions[0].Replicas) {
		t.Fatal("restarted node disagrees")
	}
}

func TestParseVoters(t *testing.T) {
	v, err := ParseVoters("1@127.0.0.1:9093, 2@h2:9093,3@[::1]:9093")
	if err != nil || len(v) != 3 || v[2].ID != 3 || v[2].Addr != "[::1]:9093" {
		t.Fatalf("%v %v", v, err)
	}
	for _, bad := range []string{"x@h:1", "1@h", "1@h:1,1@h:2", "-1@h:1", "1h:1"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if v, err := ParseVoters(""); err != nil || v != nil {
		t.Fatalf("empty: %v %v", v, err)
	}
}
