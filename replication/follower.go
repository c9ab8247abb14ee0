package replication

import (
	"context"
	"errors"
	"fmt"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/segment"
)

// LeaderClient is how a follower reaches a partition's leader: OffsetForLeaderEpoch, Fetch
// and ListOffsets with its replica id. Errors wrap this package's sentinels
// (ErrFencedLeaderEpoch, ErrNotLeader, ErrOffsetOutOfRange) where the leader answered one.
type LeaderClient interface {
	// LogStartOffset asks for the leader's log start offset (ListOffsets earliest).
	LogStartOffset(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch int32) (int64, error)
	// OffsetForLeaderEpoch asks where epoch ended in the leader's log. currentLeaderEpoch
	// fences a leader that has moved on (or not yet caught up with the metadata).
	OffsetForLeaderEpoch(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch, epoch int32) (engine.EpochEndOffset, error)
	// Fetch reads the leader's log from offset, at most maxBytes (at least one whole batch).
	Fetch(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch int32, offset int64, maxBytes int32) (FetchResult, error)
}

// FetchResult is a leader's answer to a follower fetch.
type FetchResult struct {
	Records        []byte // whole record batches, possibly followed by a partial one
	HighWatermark  int64
	LogStartOffset int64
}

// ReplicaLog is the follower's local log; *engine.Log, opened with
// engine.OpenOptions.Replicated, implements it.
type ReplicaLog interface {
	Replicated() bool
	LogEndOffset() int64
	HighWatermark() int64
	EpochEntries() []engine.EpochEntry
	TruncateTo(offset int64) error
	TruncateFullyAndStartAt(offset int64) error
	Append(data []byte, opts engine.AppendOptions) (engine.AppendResult, error)
	SetHighWatermark(hw int64)
	LogStartOffset() int64
	DeleteRecordsBefore(offset int64) (int64, error)
	WaitDurable(seq uint64) error
}

// ErrNotReplicated is returned for a log opened without engine.OpenOptions.Replicated: its
// high watermark follows its own end offset, which a replica's must not.
var ErrNotReplicated = errors.New("log not opened as replicated")

// maxTruncationRounds bounds the OffsetForLeaderEpoch rounds of one truncation: each round
// that is not the last removes at least one epoch from the follower's history, so a longer
// search means a leader answering nonsense.
const maxTruncationRounds = 64

// ErrTruncationDiverges is returned when the truncation search does not end.
var ErrTruncationDiverges = errors.New("leader-epoch truncation does not converge")

// Follower replicates one partition from its leader during one leader epoch: first it finds
// where its log diverged from the leader's (DecideTruncation, as many OffsetForLeaderEpoch
// rounds as KIP-279 needs), then each Step fetches from its log end and appends the leader's
// batches as they are, offsets and epochs kept. It is not safe for concurrent use. The
// follower's own high watermark follows the leader's, capped at its log end.
type Follower struct {
	tp          engine.TopicPartition
	leaderEpoch int32
	log         ReplicaLog
	leader      LeaderClient
	maxBytes    int32
	truncated   bool
	// unsynced is the sync sequence of the last append not yet waited for (syncAppended);
	// 0 when none.
	unsynced uint64
	// guard, if set, runs every change to the log (truncation, append, high watermark); a
	// Fetcher uses it to drop the changes of a partition it no longer follows.
	guard func(change func() error) error
}

// NewFollower starts following tp's leader in leaderEpoch. maxBytes bounds each fetch
// (replica.fetch.max.bytes). The log must be replicated (ErrNotReplicated): its high
// watermark follows the leader's.
func NewFollower(tp engine.TopicPartition, leaderEpoch int32, log ReplicaLog, leader LeaderClient, maxBytes int32) (*Follower, error) {
	if !log.Replicated() {
		return nil, fmt.Errorf("%s: %w", tp, ErrNotReplicated)
	}
	return &Follower{tp: tp, leaderEpoch: leaderEpoch, log: log, leader: leader, maxBytes: maxBytes}, nil
}

// Truncated reports whether the divergence search is done.
func (f *Follower) Truncated() bool { return f.truncated }

// Step runs one round: the truncation if not done yet, then one fetch. It returns the number
// of bytes appended. An ErrOffsetOutOfRange answer is handled as Kafka's fetcher does: a
// follower whose log ends below the leader's log start (retention or DeleteRecords removed
// what it misses) empties its log and restarts at the leader's log start; otherwise the
// leader's log no longer matches what the follower assumed, and the truncation runs again at
// the next Step (the error is returned).
func (f *Follower) Step(ctx context.Context) (int, error) {
	if err := f.prepare(ctx); err != nil {
		return 0, err
	}
	res, err := f.leader.Fetch(ctx, f.tp, f.leaderEpoch, f.log.LogEndOffset(), f.maxBytes)
	return f.apply(ctx, res, err)
}

// prepare runs the truncation if it is not done yet: the next fetch starts at the log end.
func (f *Follower) prepare(ctx context.Context) error {
	if f.truncated {
		return nil
	}
	return f.truncate(ctx)
}

// apply handles the leader's answer to a fetch from the log end: the batches are appended and
// the high watermark follows, or the error is handled (see Step). It returns the bytes
// appended.
func (f *Follower) apply(ctx context.Context, res FetchResult, err error) (int, error) {
	if errors.Is(err, ErrOffsetOutOfRange) {
		return 0, f.handleOutOfRange(ctx, err)
	}
	if err != nil {
		return 0, err
	}
	records := wholeBatches(res.Records)
	err = f.change(func() error {
		if len(records) > 0 {
			res, err := f.log.Append(records, engine.AppendOptions{KeepOffsets: true, SkipProducerChecks: true})
			if err != nil {
				return fmt.Errorf("%s: append from the leader: %w", f.tp, err)
			}
			f.unsynced = res.SyncSeq
		}
		f.log.SetHighWatermark(min(res.HighWatermark, f.log.LogEndOffset()))
		// The leader's log start offset moves with DeleteRecords and retention: follow it
		// (Kafka's maybeIncrementLogStartOffset), so a later leader does not resurrect
		// deleted records.
		if start := min(res.LogStartOffset, f.log.HighWatermark()); start > f.log.LogStartOffset() {
			if _, err := f.log.DeleteRecordsBefore(start); err != nil {
				return fmt.Errorf("%s: follow the leader's log start offset %d: %w", f.tp, start, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(records), nil
}

// syncAppended waits until what the fetches since the last call appended is durable
// (FetcherConfig.Fsync): the next fetch then reports only a durable log end to the leader.
func (f *Follower) syncAppended() error {
	if f.unsynced == 0 {
		return nil
	}
	seq := f.unsynced
	f.unsynced = 0
	if err := f.log.WaitDurable(seq); err != nil {
		return fmt.Errorf("%s: sync of the appended batches: %w", f.tp, err)
	}
	return nil
}

// change runs a change to the log, through the guard if there is one.
func (f *Follower) change(fn func() error) error {
	if f.guard != nil {
		return f.guard(fn)
	}
	return fn()
}

// handleOutOfRange answers a fetch's ErrOffsetOutOfRange (fetchErr): below the leader's log
// start, restart there; otherwise search for the divergence again.
func (f *Follower) handleOutOfRange(ctx context.Context, fetchErr error) error {
	start, err := f.leader.LogStartOffset(ctx, f.tp, f.leaderEpoch)
	if err != nil {
		return err
	}
	if end := f.log.LogEndOffset(); end < start {
		if err := f.change(func() error { return f.log.TruncateFullyAndStartAt(start) }); err != nil {
			return fmt.Errorf("%s: restart at the leader's log start %d: %w", f.tp, start, err)
		}
		return nil
	}
	f.truncated = false
	return fetchErr
}

// truncate finds the divergence point and cuts the log there.
func (f *Follower) truncate(ctx context.Context) error {
	for round := 0; round < maxTruncationRounds; round++ {
		local := f.log.EpochEntries()
		asked := LatestEpoch(local)
		answer := engine.EpochEndOffset{Epoch: engine.UndefinedEpoch, EndOffset: engine.UndefinedOffset}
		if asked != engine.UndefinedEpoch {
			var err error
			if answer, err = f.leader.OffsetForLeaderEpoch(ctx, f.tp, f.leaderEpoch, asked); err != nil {
				return err
			}
		}
		d := DecideTruncation(local, f.log.LogEndOffset(), f.log.HighWatermark(), answer)
		if err := f.change(func() error { return f.log.TruncateTo(d.Offset) }); err != nil {
			return fmt.Errorf("%s: truncate to %d: %w", f.tp, d.Offset, err)
		}
		if d.Done {
			f.truncated = true
			return nil
		}
	}
	return fmt.Errorf("%s: %w after %d rounds", f.tp, ErrTruncationDiverges, maxTruncationRounds)
}

// wholeBatches cuts a trailing partial batch (a leader may end a fetch response inside one).
func wholeBatches(b []byte) []byte {
	n := 0
	for n < len(b) {
		h, err := segment.ParseHeader(b[n:])
		if err != nil || h.Size() > len(b)-n {
			break
		}
		n += h.Size()
	}
	return b[:n]
}
