package metadata

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestQuorumStatus: the leader describes three voters with the log end offsets and reply
// times their AppendEntries answers report, every follower catching up to the leader's last
// index; a follower refuses with ErrNotController.
func TestQuorumStatus(t *testing.T) {
	addrs := freePorts(t, 3)
	var voters []Voter
	for i, a := range addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	base := t.TempDir()
	var nodes []*Quorum
	for i := range addrs {
		q, err := OpenQuorum(testQuorumConfig(int32(i+1), addrs[i], filepath.Join(base, fmt.Sprint(i+1)), voters))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, q)
		defer q.Close()
	}
	var leader *Quorum
	waitFor(t, "a leader", func() bool {
		for _, q := range nodes {
			if q.IsController() {
				leader = q
				return true
			}
		}
		return false
	})
	start := time.Now()
	if _, err := leader.Propose(&RegisterBroker{ID: 1, Incarnation: "x", Host: "127.0.0.1", Port: 9092}, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	var st QuorumStatus
	waitFor(t, "every voter caught up", func() bool {
		var err error
		if st, err = leader.Status(); err != nil {
			t.Fatal(err)
		}
		for _, v := range st.Voters {
			if v.LogEnd < st.HighWatermark || v.LastCaughtUp.Before(start) {
				return false
			}
		}
		return len(st.Voters) == 3
	})
	if st.LeaderID != leader.cfg.NodeID || st.LeaderEpoch < 1 || st.HighWatermark < 2 {
		t.Fatalf("status %+v", st)
	}
	for i, v := range st.Voters {
		if v.ID != int32(i+1) || v.Addr != addrs[i] || v.LastFetch.IsZero() {
			t.Errorf("voter %d: %+v, want id %d at %s", i, v, i+1, addrs[i])
		}
	}
	for _, q := range nodes {
		if q != leader {
			if _, err := q.Status(); !errors.Is(err, ErrNotController) {
				t.Errorf("follower %d: %v, want ErrNotController", q.cfg.NodeID, err)
			}
		}
	}
}
