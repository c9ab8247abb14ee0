// Package segment stores a partition's records as Kafka does: log segments of record batches
// (magic v2) with sparse offset and time indexes, in Kafka's on-disk format, so that Kafka's
// tools read our files and we read theirs.
//
// # Record batch v2
//
// A batch is a 61-byte header followed by its records (possibly compressed as one block).
// All integers are big-endian. These offsets are part of Kafka's wire and disk format: never
// change them (see the off* constants in batch.go).
//
//	 offset  size  field
//	+------+-----+----------------------+  -+
//	|    0 |   8 | BaseOffset           |   | LogOverhead (12 bytes): Length counts
//	|    8 |   4 | Length               |   | the bytes after it, Size = Length + 12
//	+------+-----+----------------------+  -+
//	|   12 |   4 | PartitionLeaderEpoch |     stamped by the broker, outside the CRC
//	|   16 |   1 | Magic (= 2)          |
//	|   17 |   4 | CRC (CRC-32C)        |     checksum of bytes 21 .. Size-1
//	+------+-----+----------------------+  -+
//	|   21 |   2 | Attributes           |   |
//	|   23 |   4 | LastOffsetDelta      |   |
//	|   27 |   8 | BaseTimestamp        |   |
//	|   35 |   8 | MaxTimestamp         |   | covered by the CRC
//	|   43 |   8 | ProducerID           |   |
//	|   51 |   2 | ProducerEpoch        |   |
//	|   53 |   4 | BaseSequence         |   |
//	|   57 |   4 | RecordCount          |   |
//	+------+-----+----------------------+   |
//	|   61 | ... | records              |   |
//	+------+-----+----------------------+  -+
//
// The CRC covers Attributes to the end of the batch and nothing before it, so the broker can
// assign BaseOffset and PartitionLeaderEpoch without recomputing it. Attributes bits 0-2 are
// the compression codec, bit 3 LogAppendTime, bit 4 transactional, bit 5 control. Only a
// LogAppendTime topic rewrites a covered field (MaxTimestamp), and then recomputes the CRC
// (SetLogAppendTime).
//
// ParseHeader and ValidateBatch decode; encode.go is logd's one batch encoder (AppendRecord,
// kmsg's record encoding with its Length computed in one pass; AppendBatch, ParseHeader's
// inverse with Length and CRC computed; EncodeBatch for an uncompressed batch of records),
// used by the group coordinator's offsets journal, the load generator and every test.
//
// # Files
//
// A segment is three files in the partition's directory, named after the segment's base offset
// (the first offset it may hold) as 20 zero-padded decimal digits:
//
//	00000000000000368769.log        batches, back to back, nothing else (no file header)
//	00000000000000368769.index      offset index: 8-byte entries
//	                                (int32 offset - base, int32 byte position in the .log)
//	00000000000000368769.timeindex  time index: 12-byte entries
//	                                (int64 timestamp ms, int32 offset - base)
//
// plus, only when a transaction aborted in it, a fourth the engine writes (package index has
// its format): 00000000000000368769.txnindex, which RemoveFiles and RenameFiles remove and
// rename with the others.
//
// The indexes are sparse: Append adds an entry about every Config.IndexIntervalBytes of log.
// An offset entry (O, P) says the batch starting at byte P has last offset O; a time entry
// (T, O) says no record at or before offset O has a timestamp above T. The index files of the
// active segment are preallocated and memory-mapped; sealing trims them to their entries. The
// package github.com/logd/logd/index documents the formats, the end-of-entries rule used to
// reopen a preallocated file after a crash, and the lookup semantics in detail. Positions are
// int32, so a segment never passes 2 GiB. A lookup walks the batch headers from the entry at
// or before its target; the walk reads the .log a window (8 KiB) at a time once it meets
// small batches (headers.go), so a sparse index costs reads per window, not per batch.
//
// # Invariants
//
//   - Batches are stored byte for byte as the producer (or the leader) sent them. The broker
//     only stamps BaseOffset and PartitionLeaderEpoch, both outside the CRC, so the stored CRC
//     is the client's and a batch can be verified end to end.
//   - Offsets strictly increase: every batch's BaseOffset is above the previous batch's last
//     offset (gaps are allowed, as compaction or a transaction's aborted range leaves them),
//     and LastOffset - base fits an int32.
//   - The .log holds only whole batches below Size. Append writes the bytes first and only
//     then publishes Size, then NextOffset (atomics), so a concurrent reader that loads Size
//     and reads below it never sees a torn or unwritten batch, and a reader that loaded
//     NextOffset finds every offset below it within Size.
//   - Every index entry points into the log: offset entries at batch starts below Size, time
//     entries at offsets below NextOffset. Indexes are a cache that can always be rebuilt from
//     the log (Rebuild), so they are synced lazily; Open reports a missing index of a non-empty
//     log, or one that fails these checks, as ErrIndexCorrupt instead of trusting it.
//
// # Recovery
//
// Open trusts the files (a clean shutdown). After a crash the engine calls Segment.Recover on
// every segment past the recovery point: it reads the log from byte 0, checks every batch
// (length, magic, CRC, offsets increasing), rebuilds both indexes, and truncates the log at
// the first invalid byte — a torn write, a zero-filled tail left by the filesystem, or
// corruption — then syncs the truncation, so a second crash cannot bring the bad tail back.
// Nothing before the first invalid byte is ever dropped, and the cut is reported
// (RecoveryReport: the segment's path, the byte position and the reason in Cause, the bytes
// cut in TruncatedBytes), never silent. An I/O error aborts Recover without truncating.
// Recovering a recovered segment is a no-op.
package segment
