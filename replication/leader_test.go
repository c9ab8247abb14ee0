package replication

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func newTestLeader(t *testing.T) (*Leader, time.Time) {
	t.Helper()
	now := time.Unix(100, 0)
	l, err := NewLeader(Config{ReplicaLagTime: time.Second, MinInsyncReplicas: 2},
		PartitionState{Leader: 1, LeaderEpoch: 3, PartitionEpoch: 7, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}}, 10, 10, now)
	if err != nil {
		t.Fatal(err)
	}
	return l, now
}

func TestLeaderRejectsBadInput(t *testing.T) {
	if _, err := NewLeader(DefaultConfig, PartitionState{Leader: 4, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, 0, 0, time.Now()); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("leader outside replicas: %v", err)
	}
	if _, err := NewLeader(DefaultConfig, PartitionState{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}, 3, 4, time.Now()); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("hw beyond leo: %v", err)
	}
	l, now := newTestLeader(t)
	if _, err := l.FollowerFetch(9, 0, now); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("fetch from a stranger: %v", err)
	}
	if _, err := l.FollowerFetch(2, 11, now); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("fetch beyond the end: %v", err)
	}
}

func TestLeaderApplyState(t *testing.T) {
	l, now := newTestLeader(t)
	st := PartitionState{Leader: 1, LeaderEpoch: 3, PartitionEpoch: 7, Replicas: []int32{1, 2, 3}, ISR: []int32{1}}
	if _, err := l.ApplyState(st, now); err != nil || !slices.Equal(l.ISR(), []int32{1, 2}) {
		t.Fatalf("a state of the same partition epoch must be ignored: %v %v", err, l.ISR())
	}
	st.PartitionEpoch = 8
	if _, err := l.ApplyState(st, now); err != nil || !slices.Equal(l.ISR(), []int32{1}) {
		t.Fatalf("newer state: %v %v", err, l.ISR())
	}
	st.PartitionEpoch, st.LeaderEpoch = 9, 4
	if _, err := l.ApplyState(st, now); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("another leader epoch: %v", err)
	}
	// Reassignment: replica 3 leaves, 4 joins and starts unknown.
	st = PartitionState{Leader: 1, LeaderEpoch: 3, PartitionEpoch: 10, Replicas: []int32{1, 2, 4}, ISR: []int32{1, 2}}
	if _, err := l.ApplyState(st, now); err != nil || l.FollowerLEO(4) != -1 {
		t.Fatalf("reassignment: %v", err)
	}
	if _, err := l.FollowerFetch(3, 0, now); !errors.Is(err, ErrUnknownReplica) {
		t.Fatalf("removed replica still fetches: %v", err)
	}
}

func TestLeaderResignAnswersWaitersUnknown(t *testing.T) {
	l, now := newTestLeader(t)
	if err := l.CheckAppend(-1); err != nil {
		t.Fatal(err)
	}
	l.Appended(12, now)
	l.Wait(1, 12, now.Add(time.Minute), now)
	r := l.Resign()
	if len(r.Completed) != 1 || !errors.Is(r.Completed[0].Err, ErrNotLeader) {
		t.Fatalf("resign: %+v", r)
	}
	if err := l.CheckAppend(1); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("append after resign: %v", err)
	}
	if r := l.Wait(2, 12, now.Add(time.Minute), now); !errors.Is(r.Completed[0].Err, ErrNotLeader) {
		t.Fatalf("wait after resign: %+v", r)
	}
	if r, _ := l.FollowerFetch(2, 12, now); r.HWAdvanced || r.Propose != nil {
		t.Fatalf("a resigned leader moved: %+v", r)
	}
}

func TestLeaderNeverAddsIneligibleReplica(t *testing.T) {
	l, now := newTestLeader(t)
	l.SetIneligible([]int32{3})
	if r, _ := l.FollowerFetch(3, 10, now); r.Propose != nil {
		t.Fatalf("fenced broker proposed into the ISR: %+v", r.Propose)
	}
	l.SetIneligible(nil)
	if r := l.Tick(now); r.Propose == nil || !slices.Equal(r.Propose.ISR, []int32{1, 2, 3}) || r.Propose.PartitionEpoch != 7 {
		t.Fatalf("eligible again: %+v", r.Propose)
	}
}

// TestFencedFollowerReleasesHighWatermark: a follower the controller takes out of the ISR
// (fenced: it died) no longer holds the high watermark back, even though it was caught up
// within replica.lag.time.max.ms — otherwise acks=all writes would wait that long.
func TestFencedFollowerReleasesHighWatermark(t *testing.T) {
	now := time.Unix(100, 0)
	l, err := NewLeader(Config{ReplicaLagTime: 30 * time.Second, MinInsyncReplicas: 1},
		PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, 10, 10, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []int32{2, 3} {
		if _, err := l.FollowerFetch(r, 10, now); err != nil {
			t.Fatal(err)
		}
	}
	l.Appended(15, now) // replica 2 dies here
	now = now.Add(time.Second)
	if _, err := l.FollowerFetch(3, 15, now); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 10 {
		t.Fatalf("hw %d while replica 2 is still in the ISR, want 10", hw)
	}
	st := PartitionState{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}}
	if _, err := l.ApplyState(st, now); err != nil {
		t.Fatal(err)
	}
	if hw := l.HighWatermark(); hw != 15 {
		t.Fatalf("hw %d after the controller fenced replica 2, want 15", hw)
	}
}
