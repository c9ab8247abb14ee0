package replication

import (
	"slices"
	"testing"
	"time"
)

// TestCommitTimerOrder feeds appends out of order (concurrent appends reporting in the other
// order) and past the bound: each is reported once, when the high watermark passes its end,
// and appends beyond maxPendingCommits are not timed.
func TestCommitTimerOrder(t *testing.T) {
	var ct commitTimer
	t0 := time.Unix(0, 0)
	ct.appended(20, t0.Add(2*time.Millisecond))
	ct.appended(10, t0.Add(1*time.Millisecond))
	now := t0.Add(10 * time.Millisecond)
	if got := ct.committed(15, now, nil); !slices.Equal(got, []time.Duration{9 * time.Millisecond}) {
		t.Fatalf("hw 15: %v", got)
	}
	if got := ct.committed(15, now, nil); len(got) != 0 {
		t.Fatalf("reported twice: %v", got)
	}
	if got := ct.committed(20, now, nil); !slices.Equal(got, []time.Duration{8 * time.Millisecond}) {
		t.Fatalf("hw 20: %v", got)
	}
	for i := range maxPendingCommits + 10 {
		ct.appended(int64(100+i), now)
	}
	if got := ct.committed(1<<40, now, nil); len(got) != maxPendingCommits {
		t.Fatalf("%d reported, want the bound %d", len(got), maxPendingCommits)
	}
}
