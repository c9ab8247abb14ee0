package replication_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// commitObserver records what a LeaderPartition reports to its Observer.
type commitObserver struct {
	mu        sync.Mutex
	committed []time.Duration
}

func (o *commitObserver) Committed(d time.Duration) {
	o.mu.Lock()
	o.committed = append(o.committed, d)
	o.mu.Unlock()
}

func (o *commitObserver) ReplicaFetched(int, time.Duration) {}

func (o *commitObserver) got() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.committed)
}

// TestCommitTimeObserved checks the leader's append-to-commit time on the manual clock: each
// append is reported once, when the high watermark passes it, with the time since it was in
// the log — also when a follower's fetch inside the append moved the high watermark before
// the append told the Leader its end.
func TestCommitTimeObserved(t *testing.T) {
	c := newMemCluster(t, 3)
	obs := &commitObserver{}
	c.obs = obs
	c.elect()

	a := c.produce(-1, 'a')
	c.advance(7 * time.Millisecond)
	b := c.produce(-1, 'b')
	c.advance(5 * time.Millisecond)
	c.step(2, 3)
	if got := obs.got(); len(got) != 0 {
		t.Fatalf("committed before the followers reported having anything: %v", got)
	}
	c.step(2, 3) // reports both appends
	for _, ch := range []<-chan error{a, b} {
		if err := outcome(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := obs.got(), []time.Duration{12 * time.Millisecond, 5 * time.Millisecond}; !slices.Equal(got, want) {
		t.Fatalf("commit times %v, want %v", got, want)
	}

	// The followers copy each batch and report it inside the append (where the broker wakes
	// parked follower fetches): committed as soon as it is appended.
	var errs []error
	c.logs[c.leaderB].SetAppendListener(func() {
		for range 2 {
			for _, id := range []int32{2, 3} {
				if _, err := c.follow[id].Step(context.Background()); err != nil {
					errs = append(errs, err)
				}
			}
		}
	})
	if err := outcome(t, c.produce(-1, 'c')); err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got, want := obs.got(), []time.Duration{12 * time.Millisecond, 5 * time.Millisecond, 0}; !slices.Equal(got, want) {
		t.Fatalf("commit times %v, want %v", got, want)
	}
}
