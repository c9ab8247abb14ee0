package replication

import "time"

// Observer receives replication's own measurements, for the broker's metrics (package
// metrics implements it). Its methods are called on the goroutine doing the work, holding no
// lock of this package, and must not block.
type Observer interface {
	// Committed reports, on a leader, that an append became committed (the high watermark
	// passed its last offset) d after it was appended: the time acks=all adds to the
	// leader's own append, whatever the leader's fsync took meanwhile.
	Committed(d time.Duration)
	// ReplicaFetched reports, on a follower, one fetch round trip to a leader that took d and
	// brought bytes of record batches (0: the leader had nothing for any of the round's
	// partitions and answered when its long poll, MaxWait, expired).
	ReplicaFetched(bytes int, d time.Duration)
}

// maxPendingCommits bounds the appends a LeaderPartition times until they commit; beyond it
// (followers far behind) appends are not timed, and the ones timed are the oldest.
const maxPendingCommits = 4096

// pendingCommit is an append being timed until the high watermark passes it.
type pendingCommit struct {
	end int64     // the log end offset after the append
	at  time.Time // when the append was in the log
}

// commitTimer times appends from the log until the high watermark passes them. Not safe for
// concurrent use (LeaderPartition guards it with its mu).
type commitTimer struct {
	pending []pendingCommit // ascending end offsets
	head    int             // pending[:head] are committed and observed
}

// appended starts timing an append that ended the log at end.
func (t *commitTimer) appended(end int64, at time.Time) {
	if len(t.pending)-t.head >= maxPendingCommits {
		return
	}
	if t.head > 0 && t.head == len(t.pending) {
		t.pending, t.head = t.pending[:0], 0
	}
	// Concurrent appends may report out of order: keep the end offsets ascending.
	i := len(t.pending)
	for i > t.head && t.pending[i-1].end > end {
		i--
	}
	t.pending = append(t.pending, pendingCommit{})
	copy(t.pending[i+1:], t.pending[i:])
	t.pending[i] = pendingCommit{end: end, at: at}
}

// committed returns how long each timed append the high watermark hw now passes took to
// commit, in append order, and stops timing them. out is reused.
func (t *commitTimer) committed(hw int64, now time.Time, out []time.Duration) []time.Duration {
	for t.head < len(t.pending) && t.pending[t.head].end <= hw {
		out = append(out, now.Sub(t.pending[t.head].at))
		t.head++
	}
	if t.head > len(t.pending)/2 && t.head >= 64 { // reclaim the committed prefix
		n := copy(t.pending, t.pending[t.head:])
		t.pending, t.head = t.pending[:n], 0
	}
	return out
}
