// Package producer keeps the per-partition state Kafka keeps for idempotent producers
// (Kafka's ProducerStateManager, ProducerStateEntry and ProducerAppendInfo): for each
// producer id, its epoch and its last RetainedBatches appended batches, so that a retried
// batch is answered with its original offsets and a gap or a zombie is refused.
//
// State is a pure in-memory state machine plus a snapshot codec. It does no I/O and holds no
// lock: the partition owns one State and calls every method under its own lock (the same lock
// that serializes appends), so offsets, Check and Update see one order.
//
// # Append protocol
//
// A produce request carries exactly one record batch per partition (Kafka rejects more for
// magic 2), so under the partition lock:
//
//	v, err := st.Check(b)          // b without offsets: FirstOffset/LastOffset are ignored
//	if err != nil { answer the Kafka code of err; append nothing }
//	if v.Duplicate { answer success with v.FirstOffset (the ORIGINAL base offset); append nothing }
//	assign offsets, write the batch
//	b.FirstOffset, b.LastOffset = base, base+lastOffsetDelta
//	st.Update(b)                   // only once the batch is in the log
//
// Followers and recovery replay call Update alone: the leader already validated the batch, and
// Update never refuses one (Kafka's AppendOrigin.REPLICATION). Update is also how a State is
// rebuilt: replay every batch, in offset order, from a snapshot's offset to the log end.
//
// # Rules (Check)
//
//   - ProducerID < 0: not idempotent, no checks, nothing recorded.
//   - ProducerEpoch < 0 or a negative sequence with a producer id: ErrInvalidRecord (Kafka's
//     LogValidator refuses a batch with a producer id and no sequence).
//   - Unknown producer id (never seen, expired, or removed with the records below the log start
//     offset): any epoch and any sequence are accepted.
//   - Epoch lower than the stored one: ErrInvalidProducerEpoch. Kafka answers
//     INVALID_PRODUCER_EPOCH on the produce path for transactional producers too since 2.7
//     (PRODUCER_FENCED comes from the transaction coordinator, not from here).
//   - Epoch higher than the stored one: the first sequence must be 0, else ErrOutOfOrderSequence.
//   - Same epoch: a batch whose first and last sequence equal those of one of the retained
//     batches is a duplicate (Verdict.Duplicate, with the original offsets and timestamp).
//     Otherwise its first sequence must follow the last one (MaxInt32 is followed by 0), else
//     ErrOutOfOrderSequence — including a retry of a batch older than the retained window.
//
// Errors are the bare sentinels (no wrapping, so the refusal path does not allocate); the
// caller has the batch at hand to log.
//
// # Invariants
//
//   - Every stored producer has 1..RetainedBatches batches, all of the stored epoch, oldest
//     first. An epoch change recorded by Update forgets the previous epoch's batches.
//   - A producer's last offset and last timestamp are those of its newest batch. The timestamp
//     is BatchInfo.MaxTimestamp, as in Kafka (it drives RemoveExpired); a partition that prefers
//     expiry by append time passes the append time there.
//   - Check and Update of a known producer do not allocate (pinned by a test).
//
// # Transactions
//
// A transactional batch (BatchInfo.Transactional) opens its producer's transaction at its
// first offset, unless one is open; Check refuses a non-transactional batch of the same epoch
// while it is open (ErrInvalidTxnState). A coordinator's batch written on a producer's behalf
// carries no sequence: CheckCoordinator checks only its epoch, and Update opens the
// transaction the same way. A marker ends it: CheckMarker refuses a marker of an
// older producer epoch (ErrInvalidProducerEpoch) or coordinator epoch (ErrCoordinatorFenced),
// and a marker of transaction version 2 or more (Marker.TxnVersion, KIP-1228) whose epoch is
// not above the producer's while its transaction is open (ErrInvalidProducerEpoch: under
// version 2 the coordinator writes the markers at the epoch it bumped to, so an equal epoch
// is a late marker of the previous transaction; equal with no transaction open is a retry,
// accepted, as is the last epoch, MaxInt16, which cannot be bumped);
// EndTxn returns the CompletedTxn (from the open transaction's first offset, or the marker's
// own offset when none is open, as Kafka) and, for a higher epoch, fences the old one: the
// retained batches are forgotten but the newest, kept without sequences, so the new epoch
// starts at sequence 0. FirstUnstableOffset is the oldest open transaction's first offset (the
// partition's last stable offset). Producers with an open transaction do not expire.
//
// # Truncation
//
// The exact way (Kafka's): load the newest snapshot whose offset is <= the truncation offset
// and replay, with Update, the batches from the snapshot's offset up to the truncation offset.
// TruncateFrom is the cheap way for the common case (a follower or a failed write dropping a
// few batches at the tail): it drops the batches at or above the offset and reports whether the
// result is exact for every producer's epoch and last sequence. When it reports false, some
// producer that existed below the offset is now unknown (it would accept any sequence and any
// epoch); the partition should then rebuild from a snapshot if it wants fencing preserved. Even
// when exact, the duplicate window of a producer may have shrunk below RetainedBatches (as it
// does after a Kafka snapshot reload, which keeps one batch).
//
// # Snapshot format
//
// The engine stores a snapshot as "<20-digit offset>.snapshot": the state after applying every
// batch below that offset. This package only produces and parses the bytes. All integers are
// big-endian; the layout (these constants are part of the on-disk format):
//
//	+--------+---------+--------+----------+=========================+
//	| magic  | version | crc    | count N  | N entries, ascending id |
//	| "LDPS" | uint16  | uint32 | uint32   |                         |
//	+--------+---------+--------+----------+=========================+
//	  0        4         6        10         14
//
//	crc: CRC-32C (Castagnoli) of every byte from offset 10 to the end.
//
//	entry (31 + 32*n bytes):
//	+-------------+-------+--------------+-----------+-------------+------+===============+
//	| producer id | epoch | since offset | txn first | coordinator | n    | n batches,    |
//	| int64 >= 0  | int16 | int64        | int64 ≥-1 | epoch int32 | 1..5 | oldest first  |
//	+-------------+-------+--------------+-----------+-------------+------+===============+
//
//	txn first: the first offset of the producer's open transaction, -1 for none (Kafka's
//	currentTxnFirstOffset); coordinator epoch: its last marker's, -1 for none.
//
//	batch (32 bytes):
//	+-----------+----------+--------------+-------------+---------------+
//	| first seq | last seq | first offset | last offset | max timestamp |
//	| int32     | int32    | int64        | int64       | int64         |
//	+-----------+----------+--------------+-------------+---------------+
//
// "since offset" is the first offset recorded for the producer in this State's history; it
// lets TruncateFrom tell a producer born above the truncation point (forgetting it is exact)
// from one that existed below it.
//
// The encoding is canonical: producer ids strictly ascend, there are no trailing bytes, and
// UnmarshalSnapshot followed by MarshalSnapshot reproduces the input exactly. A decoder checks
// every count against the bytes that remain before allocating, so garbage or a truncated file
// yields an error wrapping ErrCorruptSnapshot, never a panic or an outsized allocation.
// This is version 2. Version 1 (written before transactions) lacks the two transaction
// fields (entries of 19 + 32*n bytes) and is still read, as producers with no transaction.
package producer
