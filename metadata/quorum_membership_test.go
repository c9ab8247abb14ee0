package metadata

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestQuorumMembership grows a one-voter quorum to three voters and shrinks it again on
// loopback, in one process: joining nodes bootstrap nothing, replicate once added as
// observers, become voters with their directory ids, and keep the voter set across a
// restart; refusals come back as the package's errors; the leader removing itself hands
// the leadership over and the new leader demotes it to an observer.
func TestQuorumMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Raft nodes")
	}
	addrs := freePorts(t, 3)
	base := t.TempDir()
	nodes := make([]*Quorum, 3)
	open := func(i int) {
		cfg := testQuorumConfig(int32(i+1), addrs[i], filepath.Join(base, fmt.Sprint(i+1)), nil)
		cfg.Join = i > 0
		q, err := OpenQuorum(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = q
	}
	defer func() {
		for _, q := range nodes {
			if q != nil {
				q.Close()
			}
		}
	}()
	open(0)
	waitFor(t, "node 1 to lead", nodes[0].IsController)
	open(1)
	open(2)
	for _, q := range nodes[1:] {
		if voter, observer := q.Member(); voter || observer {
			t.Fatalf("a joining node is in the configuration before the leader added it: voter %v observer %v", voter, observer)
		}
		if q.IsController() {
			t.Fatal("a joining node elected itself")
		}
	}
	l := nodes[0]
	if err := l.AddObserver(2, addrs[1], 2*time.Second); err != nil {
		t.Fatalf("AddObserver 2: %v", err)
	}
	waitFor(t, "node 2 to replicate", func() bool {
		_, obs := nodes[1].Member()
		return obs && nodes[1].State().ClusterID == l.State().ClusterID
	})
	st, err := l.Status()
	if err != nil || len(st.Voters) != 1 || len(st.Observers) != 1 || st.Observers[0].ID != 2 {
		t.Fatalf("status with an observer: %+v %v", st, err)
	}
	if _, err := nodes[1].Status(); !errors.Is(err, ErrNotController) {
		t.Fatalf("an observer described the quorum: %v", err)
	}
	if err := nodes[1].AddVoter(3, tid(3), addrs[2], time.Second); !errors.Is(err, ErrNotController) {
		t.Fatalf("AddVoter on an observer: %v, want ErrNotController", err)
	}
	if err := l.RemoveVoter(1, TopicID{}, time.Second); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("removing the only voter: %v, want ErrLastVoter", err)
	}

	// 2 was an observer; 3 joins straight through AddVoter.
	for i, dir := range []TopicID{tid(22), tid(33)} {
		id := int32(i + 2)
		if err := l.AddVoter(id, dir, addrs[i+1], 5*time.Second); err != nil {
			t.Fatalf("AddVoter %d: %v", id, err)
		}
	}
	if err := l.AddVoter(2, tid(22), addrs[1], time.Second); !errors.Is(err, ErrDuplicateVoter) {
		t.Fatalf("AddVoter of a voter: %v, want ErrDuplicateVoter", err)
	}
	st, err = l.Status()
	if err != nil || len(st.Voters) != 3 || len(st.Observers) != 0 || st.Voters[1].Directory != tid(22) || st.Voters[2].Directory != tid(33) {
		t.Fatalf("status of three voters: %+v %v", st, err)
	}
	if err := l.RemoveVoter(3, tid(99), time.Second); !errors.Is(err, ErrVoterNotFound) {
		t.Fatalf("RemoveVoter with another directory id: %v, want ErrVoterNotFound", err)
	}

	// The voter set survives restarts: restart node 3, which needs Join no more.
	if err := nodes[2].Close(); err != nil {
		t.Fatal(err)
	}
	open(2)
	if voter, _ := nodes[2].Member(); !voter {
		t.Fatal("node 3 restarted outside the voter set")
	}

	// The leader removes itself: leadership moves first, then the new leader demotes it.
	if err := l.RemoveVoter(1, TopicID{}, 2*time.Second); !errors.Is(err, ErrNotController) {
		t.Fatalf("the leader removing itself: %v, want ErrNotController after the hand-over", err)
	}
	var nl *Quorum
	waitFor(t, "a new leader", func() bool {
		for _, q := range nodes[1:] {
			if q.IsController() {
				nl = q
				return true
			}
		}
		return false
	})
	if err := nl.RemoveVoter(1, TopicID{}, 2*time.Second); err != nil {
		t.Fatalf("RemoveVoter 1 on the new leader: %v", err)
	}
	st, err = nl.Status()
	if err != nil || len(st.Voters) != 2 || !slices.ContainsFunc(st.Observers, func(v VoterStatus) bool { return v.ID == 1 }) {
		t.Fatalf("after removing node 1 (running): %+v %v, want voters 2, 3 and observer 1", st, err)
	}
	if _, err := nl.Propose(&InitCluster{ClusterID: "ignored"}, 2*time.Second); err != nil {
		t.Fatalf("the two-voter quorum commits no more: %v", err)
	}
}

// TestObserverExpiry: the leader keeps an observer that answers and takes one that stopped
// out of the Raft configuration once its session (short here) has passed; added again, the
// restarted observer replicates again.
func TestObserverExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two Raft nodes")
	}
	addrs := freePorts(t, 2)
	base := t.TempDir()
	nodes := make([]*Quorum, 2)
	open := func(i int) {
		cfg := testQuorumConfig(int32(i+1), addrs[i], filepath.Join(base, fmt.Sprint(i+1)), nil)
		cfg.Join = i > 0
		q, err := OpenQuorum(cfg)
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = q
	}
	defer func() {
		for _, q := range nodes {
			if q != nil {
				q.Close()
			}
		}
	}()
	open(0)
	waitFor(t, "node 1 to lead", nodes[0].IsController)
	l := nodes[0]
	open(1)
	if err := l.AddObserver(2, addrs[1], 2*time.Second); err != nil {
		t.Fatalf("AddObserver 2: %v", err)
	}
	waitFor(t, "node 2 to replicate", func() bool { _, obs := nodes[1].Member(); return obs })
	const session = 500 * time.Millisecond
	exp := l.NewObserverExpiry(session, time.Now())
	if _, err := nodes[1].NewObserverExpiry(session, time.Now()).Expire(time.Now()); !errors.Is(err, ErrNotController) {
		t.Fatalf("an observer expired observers: %v, want ErrNotController", err)
	}
	// Answering: kept for several sessions.
	for end := time.Now().Add(4 * session); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if removed, err := exp.Expire(time.Now()); err != nil || len(removed) > 0 {
			t.Fatalf("an answering observer expired: %v %v", removed, err)
		}
	}
	observers := func() []int32 {
		st, err := l.Status()
		if err != nil {
			t.Fatal(err)
		}
		var ids []int32
		for _, o := range st.Observers {
			ids = append(ids, o.ID)
		}
		return ids
	}
	if got := observers(); !slices.Equal(got, []int32{2}) {
		t.Fatalf("observers %v, want [2]", got)
	}

	nodes[1].Close()
	nodes[1] = nil
	var removed []int32
	waitFor(t, "the stopped observer to expire", func() bool {
		r, err := exp.Expire(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		removed = append(removed, r...)
		return len(removed) > 0
	})
	if !slices.Equal(removed, []int32{2}) || len(observers()) != 0 {
		t.Fatalf("expired %v, observers left %v; want 2 expired and none left", removed, observers())
	}
	if _, ok, err := l.server(2); ok || err != nil {
		t.Fatalf("node 2 still in the Raft configuration (%v)", err)
	}

	open(1) // as a node that comes back and announces itself
	if err := l.AddObserver(2, addrs[1], 2*time.Second); err != nil {
		t.Fatalf("AddObserver 2 again: %v", err)
	}
	if _, err := l.Propose(&SetVoterDirectory{ID: 9, Directory: tid(9)}, ProposeTimeout); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the returned observer to replicate", func() bool {
		_, obs := nodes[1].Member()
		_, ok := nodes[1].State().VoterDirs[9]
		return obs && ok && nodes[1].LeaderContact().After(time.Now().Add(-time.Second))
	})
	if got := observers(); !slices.Equal(got, []int32{2}) {
		t.Fatalf("observers %v after the return, want [2]", got)
	}
}
