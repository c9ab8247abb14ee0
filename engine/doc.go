// Package engine is logd's storage engine: one Engine per log directory, one Log per partition.
//
// A Log is an ordered list of segments (package segment) with the offsets a partition needs:
//
//	log start offset ≤ high watermark ≤ log end offset      recovery point ≤ log end offset
//	└ first readable   └ last committed + 1 └ next to assign  └ everything below is on disk
//
// # Append
//
// Append takes the bytes of one produce request's record batches. It validates every batch
// (length, magic 2, CRC-32C) before taking the partition lock, then under the lock: checks
// idempotent producers (duplicates answer with their original offsets and append nothing),
// rolls the segment if needed, stamps BaseOffset and PartitionLeaderEpoch in place (both outside
// the CRC; LogAppendTime topics also get MaxTimestamp and a new CRC), writes the whole set with
// one write, and marks the file dirty in the directory's group committer. No per-record work.
//
// # Durability
//
// The caller decides whether to wait: AppendResult.SyncSeq is the group-commit sequence that
// covers the append; Log.WaitDurable or Log.NotifyDurable wait for the sync that covers it.
// One flusher per directory syncs every dirty file in one round, outside every lock, releasing
// all waiters the round covers; rounds are demand-driven (a waiter, flush.messages, flush.ms,
// a roll's snapshot, shutdown). An fsync or write error takes the directory offline for good
// (ErrLogDirOffline): the kernel may have dropped the dirty pages, so nothing is retried.
//
// # Reads
//
// Read returns a Region (file, position, length) of whole batches for a zero-copy send,
// bounded by maxBytes (the first batch is whole even if larger) and by an upper offset (the
// high watermark for consumers). Reads take no log lock: the segment list is copy-on-write and
// the offsets are published atomically after the bytes are written. A Region holds a reference
// that keeps its segment open (and its files present) until Release.
//
// # Recovery
//
// Engine.Close writes the recovery-point, log-start-offset and high-watermark checkpoints and
// then the clean-shutdown marker (.kafka_cleanshutdown); Open removes the marker. After a clean
// shutdown nothing is scanned. After a crash, each partition, when opened, recovers every
// segment from the one holding its checkpointed recovery point: each batch is verified, the log
// is cut at the first invalid byte, later segments (and segments after a hole) are deleted, the
// result is synced, and leader epochs and producer state are rebuilt (from the newest producer
// snapshot plus a replay of batch headers). Partitions open lazily and idle segments close, so
// a directory with many partitions holds few descriptors and mappings.
//
// # High watermark
//
// A log opened single-replica (OpenLog, or OpenLogWith without Replicated) has HW = LEO after
// every append, and no high watermark is checkpointed (the broker opens every log replicated:
// a single node is a cluster of one, whose leader sets HW = LEO itself). A log
// opened with OpenOptions.Replicated has its high watermark set by replication
// (SetHighWatermark, never backwards, never past LEO); the directory's
// replication-offset-checkpoint (Kafka's format and name) holds every replicated log's high
// watermark, written every HighWatermarkCheckpointInterval (5 s, Kafka's
// replica.high.watermark.checkpoint.interval.ms) and at Close. On open a replicated log's high
// watermark is the checkpointed one clamped to [log start, LEO] (0 when missing, as Kafka): it
// may go back to the last checkpoint after a crash, never further, and LEO may be below it
// when the crash lost an unsynced tail that followers had.
//
// # Replica operations
//
// TruncateTo cuts a follower's diverged tail and the epochs starting at or after the new end
// (also when no record goes: a leader records its epoch when elected, AssignEpochStartOffset).
// TruncateFullyAndStartAt empties a follower that fell below its leader's log start and
// restarts it there. EndOffsetForEpoch is Kafka's LeaderEpochFileCache.endOffsetFor, the one
// implementation behind the broker's OffsetForLeaderEpoch and the follower's truncation.
//
// # Locks
//
// Lock order: Engine.mu → Log.mu → segHandle.mu → (index and committer internals). No lock is
// held across an fsync of log data, network I/O or a caller's callback, with two documented
// exceptions that only happen on rare events: the leader-epoch checkpoint is written under
// Log.mu when the epoch changes, and an idle segment is synced under its segHandle.mu before
// it is closed. See LOCK_ORDER.md for the whole repository.
package engine
