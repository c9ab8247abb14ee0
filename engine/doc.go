// Package engine is logd's storage engine: one Engine per log directory, one Log per partition.
//
// # Log directories (JBOD)
//
// LogDirs holds a broker's log directories (Kafka's log.dirs), one Engine each. Every
// directory has a meta.properties as Kafka writes it (version=1, node.id, and KIP-858's
// directory.id, a random Kafka Uuid outside the 100 reserved ones), written atomically when
// missing and kept afterwards; cluster.id is added once the node knows its cluster
// (LogDirs.SetClusterID: a directory naming another cluster goes offline). A directory of
// another node.id, two directories with the same
// id (a copy), the same path twice, or a partition found in two directories refuse the start
// with a message naming both. A new partition goes to the online directory holding the
// fewest partitions (the first listed on a tie); one found on disk stays where it is. A
// directory fails alone: an fsync or write error (the group committer), or the directory or
// its meta.properties vanishing (checked every LogDirsConfig.WatchInterval), takes it offline
// (ErrLogDirOffline for its partitions, KAFKA_STORAGE_ERROR to clients; Log.Offline for
// reads); the others serve. A directory that cannot be opened at start (an I/O error) starts
// offline, unless every directory does; what it holds is unknown, so a partition found in
// no directory is not created meanwhile (Kafka's rule for a log that is not new).
//
// A partition moves to another directory with LogDirs.MoveLog (Kafka's AlterReplicaLogDirs):
// a "<topic>-<partition>.<uid>-future" log in the destination is filled by copying the
// current log's batches while the partition serves, the rest is copied under the partition's
// locks, and the future log takes the current one's place in four crash-safe steps (move.go:
// sync the future; rename the current to "-delete"; rename the future into place; reopen).
// The *Log callers hold stays the same: it takes the destination's files, directory and
// group committer. OpenLogDirs finishes a move a crash interrupted after the current log was
// renamed away, and discards one interrupted before.
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
// a roll's snapshot, shutdown), two may be in flight at once, and they release in order. An fsync or write error takes the directory offline for good
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
// A hole is a segment that does not start where the previous one ends: its directory entry
// became durable, the previous segment's tail did not, so nothing after it was acknowledged.
// Offset gaps are legal inside the log (a compacted log has them), so the segment boundaries
// recovery examines must never have one otherwise:
//
//   - a roll starts the new segment at the log end offset, also for a follower copying a
//     compacted leader (KeepOffsets), whose next batch may start past it: a segment's base may
//     be below its first batch's offset, as in Kafka;
//   - only a batch whose last offset is over 2³¹-1 past the log end (one segment cannot span
//     it) starts a segment at itself, after syncing the active one; such segments lie over
//     2³¹ apart, more than a segment's own offsets span, and recovery keeps the gap on that
//     sign. A batch that cannot be placed that way is refused (ErrInvalidRecord);
//   - the cleaner, which leaves gaps at the end of cleaned segments, cleans only below the
//     checkpointed recovery point (see Compaction), where recovery does not look.
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
// # Transactions
//
// The partition side of Kafka's transactions (txn.go, the producer state's transaction half
// in internal/producer). A transactional data batch opens its producer's transaction at its
// offset; a control batch with a COMMIT or ABORT marker (Kafka's control record schemas: key
// version 0 and type 0 ABORT / 1 COMMIT, value version 0 and the coordinator epoch) ends it.
// The leader appends markers with AppendTxnMarker (MarkerBatch, then Append: the same group
// commit, durability and listeners), after Kafka's checks: a producer epoch below the
// producer's is ErrInvalidProducerEpoch, a coordinator epoch below its last marker's
// ErrCoordinatorFenced; a marker with a higher epoch fences the old one. A transaction
// version 2 marker (TxnMarker.TxnVersion, WriteTxnMarkers v2, KIP-1228) must be above the
// producer's epoch while its transaction is open (else ErrInvalidProducerEpoch): checked
// under Log.mu with the append, like every producer check, so nothing comes in between. A coordinator
// writing on a producer's behalf (the group coordinator's transactional offset commits,
// Kafka's AppendOrigin.COORDINATOR) appends with AppendOptions.Coordinator: a transactional
// batch with no sequence, only its epoch checked, opening the transaction like a client's.
// Followers and recovery apply the same batches without checks, so every replica has the
// same state.
//
// KIP-890 part 1's guard (Kafka's VerificationGuard): before the leader asks the coordinator
// whether a producer with no open transaction here may start one, BeginTxnVerification hands
// out a guard (in memory, under Log.mu, never persisted); the append presents it
// (AppendOptions.TxnGuard) and is refused with ErrTxnNotVerified if any batch or marker of
// that producer was appended in between, which spends it. So a batch delayed past the end of
// its transaction cannot open a new one that no coordinator will ever end. An open
// transaction counts only at the batch's epoch: under transaction version 2 (KIP-890 part 2)
// every EndTxn bumps the epoch, so one at an older epoch is the previous transaction, its
// marker still to come, and the batch is verified (added by its coordinator) like a first one.
//
//	LastStableOffset = min(high watermark, first offset of every open transaction,
//	                       first offset of every ended one whose marker is >= HW)
//
// Reads take no lock: the open transactions are published as an immutable value under
// Log.mu. An aborted transaction (producer id, first offset, marker offset, LSO after it) is
// kept in memory (AbortedTxns answers read_committed fetches) and in the .txnindex of the
// segment holding its marker — Kafka's file, 34-byte entries (package index), created on the
// first abort, synced by the group committer with the log, then at the roll. Recovery loads
// the .txnindex files (a corrupt one is rebuilt from the whole log) and, like producer
// state, replays the log from the newest producer snapshot (version 2 carries each
// producer's open transaction), rewriting the files from there; truncation does the same
// from its snapshot, so a follower's truncated marker reopens its transaction. Retention
// deletes the .txnindex with its segment, the cleaner writes the group's into the cleaned
// segment and swaps it in with the rest.
//
// # Compaction (the log cleaner)
//
// A log with cleanup.policy=compact (or compact,delete) is compacted by the directory's cleaner
// threads (log.cleaner.threads, CleanerConfig), in the shape of Kafka's LogCleaner (files
// cleaner*.go). Each round a thread picks the log whose dirty ratio — bytes after the
// cleaner-offset-checkpoint over the cleanable bytes — is highest and at or over
// min.cleanable.dirty.ratio, or one whose dirty records passed max.compaction.lag.ms, or one
// holding a tombstone past its delete horizon; with none it sleeps log.cleaner.backoff.ms.
//
//	log start                first dirty            end of cleanable            LEO
//	| clean (compacted before) | dirty (mapped now)   | active segment, ≥ the last stable
//	|                          |                      | offset,
//	|<-------- recopied, group by group ------------->| or younger than min.compaction.lag.ms
//
// A clean maps each key's MD5 to its last offset over the dirty section (at most
// log.cleaner.dedupe.buffer.size / 24 × 0.9 keys, as Kafka; when the map fills it stops at a
// batch boundary and the clean covers only what was mapped), then recopies every cleanable
// segment from the log start in groups of consecutive segments adding up to segment.bytes
// (small segments merge). A record stays unless a later offset of its key is mapped, it has
// no key, or it is a tombstone past its delete horizon. Offsets never change: a batch keeps
// its base offset, last offset delta, partition leader epoch and producer fields, so gaps
// appear between batches, never inside the offsets a batch spans. Batches are copied byte for
// byte when nothing in them changes; otherwise re-encoded (segment.AppendBatch, the same
// codec through internal/compress, decompression capped at 64 MiB: a batch over the cap is
// kept whole) with a new CRC. A batch whose every record goes is dropped, except where Kafka
// keeps it empty (no records, the same offsets): when it is its producer's last — so
// idempotent sequences survive — or the round's last, ending where the first segment it
// cannot clean begins (KAFKA-17076: the log end offset survives). Empty batches elsewhere
// would be what a fetch from there returns first, and clients choke on that (kafkajs reads
// no record from such a response, librdkafka reports MSG_SIZE_TOO_LARGE for one made only
// of them). A cleaned segment thus may end before the next one begins, even be empty: the
// clean covers only segments below the log's checkpointed recovery point, so recovery after
// a crash never examines their boundaries (Engine.checkpointForClean syncs the directory and
// writes the recovery-point checkpoint first when it lags). A tombstone
// reached by a clean gets the KIP-534 delete horizon (attributes bit 6, base timestamp = now
// + delete.retention.ms, record timestamp deltas rebased) and goes at the first clean after
// it. Transactions (Kafka's CleanedTransactionMetadata, cleanTxns): walking from the log
// start, a clean drops aborted data batches whole whatever their keys (kept empty when they
// are their producer's last); a marker whose transaction left no batch it could see (ABORT:
// no data of it; COMMIT: no batch of it since the producer's previous marker) gets the
// KIP-534 delete horizon like a tombstone and goes at the first clean after it, an ABORT
// marker taking its aborted-transaction entry with it (memory and .txnindex, in the swap) —
// emptied instead when it is the round's last batch, to hold the log end; nothing at or past the last
// stable offset is cleaned. The cleaner's reads and writes are throttled together to
// log.cleaner.io.max.bytes.per.second (32 MiB/s by default, where Kafka has no limit: see
// DefaultCleanerConfig). Produce into a compacted log refuses keyless records
// (ErrInvalidRecord, INVALID_RECORD), decompressing within the same cap.
//
// The swap protocol (Kafka's), per group with first base B: the cleaned copy is written as
// B.log.cleaned (with .index.cleaned, .timeindex.cleaned) and synced, without any log lock.
// Then under Log.mu, after checking the group is still in the log unchanged (else the copy
// is dropped): .cleaned renamed to .swap and the directory synced — the commit point —; the
// group's files renamed to .deleted, .swap renamed to the log's names, the directory synced;
// the copy-on-write segment list swapped. The old handles are dropped: their .deleted files
// go when the last reader's reference does, so a fetch holding an old segment keeps reading
// it (Read reloads the list when it meets a segment the cleaner replaced). On open, .cleaned
// and .deleted files are removed, and a .swap log — complete, since it was synced before its
// rename — replaces every segment whose base falls within its offsets (its own base's at
// least), then takes its name (its indexes are rebuilt); a segment of the group past its last
// batch may stay, holding only records the clean drops. A crash at any write or sync of a
// clean leaves the old segments or the new ones, never a mix (TestCleanCrashAtEveryOp).
//
// # Locks
//
// Lock order: Log.cleanMu → Engine.ckptMu → Engine.mu → Log.mu → segHandle.mu → (index and
// committer internals). cleanMu serializes cleans of one log and is held across the whole
// clean; no writer takes it. ckptMu serializes the recovery-point checkpoint's writes (a clean
// may write it first). The cleaner takes Engine.mu only to choose a log and record progress,
// and Log.mu only to snapshot the config and producers at the start and for the swap (renames
// and two directory syncs, no data copied). No lock is held across an fsync of log data,
// network I/O or a caller's callback, with five documented exceptions that only happen on
// rare events: the leader-epoch checkpoint is written under Log.mu when the epoch changes, an
// idle segment is synced under its segHandle.mu before it is closed, the cleaner's swap syncs
// the partition directory twice under Log.mu, a segment's .txnindex (small, present only when
// a transaction aborted in it) is synced under Log.mu when the segment rolls and rewritten
// atomically by a truncation, and a follower's roll over an offset gap longer than 2³¹-1
// syncs the active segment under Log.mu. A move's swap (LogDirs.openMu → Log.cleanMu →
// Log.mu → Log.snapMu → the future log's Log.mu) syncs the future log and three directories
// and renames two under them, once per move. See LOCK_ORDER.md for the whole repository.
package engine
