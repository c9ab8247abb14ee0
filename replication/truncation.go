package replication

import "github.com/logd/logd/engine"

// LatestEpoch is the epoch a follower asks the leader about: its newest, or engine.UndefinedEpoch
// for a log without epochs (which then truncates to its high watermark without asking).
func LatestEpoch(entries []engine.EpochEntry) int32 {
	if len(entries) == 0 {
		return engine.UndefinedEpoch
	}
	return entries[len(entries)-1].Epoch
}

// Truncation is one step of a follower's search for the point where its log diverged.
type Truncation struct {
	// Offset is where to truncate the local log (records at and after it go); it is never
	// beyond the local log end offset, which means "truncate nothing".
	Offset int64
	// Done is false when the follower must ask the leader again about its (new) latest epoch
	// after truncating (KIP-279); true when fetching can start at Offset.
	Done bool
}

// DecideTruncation decides a follower's truncation from its own epoch history, log end offset
// and high watermark and the leader's answer to OffsetForLeaderEpoch(LatestEpoch(local)),
// as Kafka's AbstractFetcherThread does:
//   - no epochs locally: truncate to the high watermark (the follower never asked);
//   - an undefined answer (the leader has no epoch at or below ours): truncate to the high
//     watermark, the only offset known to be committed;
//   - the leader's epoch is one we have: truncate to min(our end of it, the leader's end of it);
//   - the leader's epoch is one we do not have (we had leaders the leader never saw): truncate
//     to the end of our largest epoch below it, then ask again;
//   - nothing of ours is at or below the leader's epoch: truncate to the leader's end offset.
//
// A result below the high watermark is legitimate only after an unclean election; the driver
// logs it.
func DecideTruncation(local []engine.EpochEntry, logEnd, highWatermark int64, leader engine.EpochEndOffset) Truncation {
	clamp := func(o int64) int64 { return max(min(o, logEnd), 0) }
	if len(local) == 0 || leader.EndOffset == engine.UndefinedOffset {
		return Truncation{Offset: clamp(highWatermark), Done: true}
	}
	if leader.Epoch == engine.UndefinedEpoch {
		// An answer from a leader without epoch tracking: its end offset is all there is.
		return Truncation{Offset: clamp(leader.EndOffset), Done: true}
	}
	ours := engine.EndOffsetForEpoch(local, leader.Epoch, logEnd)
	switch {
	case ours.EndOffset == engine.UndefinedOffset:
		return Truncation{Offset: clamp(leader.EndOffset), Done: true}
	case ours.Epoch != leader.Epoch:
		return Truncation{Offset: clamp(ours.EndOffset), Done: false}
	default:
		return Truncation{Offset: clamp(min(ours.EndOffset, leader.EndOffset)), Done: true}
	}
}
