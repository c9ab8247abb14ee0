// Package index implements a segment's sparse, memory-mapped indexes in Kafka's on-disk
// format: the offset index (<20-digit base offset>.index) and the time index
// (<20-digit base offset>.timeindex), and the codec of the aborted-transaction index
// (<20-digit base offset>.txnindex, not mapped: read whole, appended by the engine). Kafka's tools (kafka-dump-log --index-sanity-check) and
// Kafka itself read the files this package writes, and the reverse.
//
// # Formats
//
// All three files are arrays of fixed-size big-endian entries, no header, no checksum. Offsets are
// stored relative to the segment's base offset (the number in the file name), except in the
// transaction index, whose offsets are absolute.
//
//	offset index, 8 bytes per entry
//	+--------------------------+--------------------------+
//	| relative offset (int32)  | position in .log (int32) |  entry 0
//	+--------------------------+--------------------------+
//	| relative offset (int32)  | position in .log (int32) |  entry 1
//	+--------------------------+--------------------------+
//	| ...  both fields strictly increasing                 |
//	+--------------------------+--------------------------+
//	| 0                        | 0                        |  preallocated tail (active index
//	| 0                        | 0                        |  only; trimmed away on seal)
//	+--------------------------+--------------------------+
//
//	time index, 12 bytes per entry
//	+---------------------------------------+--------------------------+
//	| timestamp, ms (int64)                 | relative offset (int32)  |  entry 0
//	+---------------------------------------+--------------------------+
//	| ...  timestamps strictly increasing,  | offsets non-decreasing   |
//	+---------------------------------------+--------------------------+
//	| 0                                     | 0                        |  preallocated tail
//	+---------------------------------------+--------------------------+
//
//	transaction index (.txnindex), 34 bytes per entry, one per aborted transaction whose
//	ABORT marker is in the segment, ordered by marker offset (txn_index.go; written by the
//	engine, which owns the file)
//	+---------+-------------+--------------+-------------+--------------------+
//	| version | producer id | first offset | last offset | last stable offset |
//	| int16 0 | int64       | int64        | int64       | int64              |
//	+---------+-------------+--------------+-------------+--------------------+
//
// These layouts are part of Kafka's disk format: never change them.
//
// Meaning of an entry. Offset index (O, P): the batch starting at byte P of the .log holds
// offset O; Kafka writes the batch's last offset, and kafka-dump-log --verify-index-only
// checks exactly that. Time index (T, O): T is the largest timestamp of the records with an
// offset <= O, so every record before O has a timestamp <= T.
//
// Lookups. OffsetIndex.Lookup(o) returns the last entry with offset <= o; the batch holding o
// starts at or after its position. TimeIndex.Lookup(t) returns the last entry with timestamp
// STRICTLY below t (Kafka uses <=; see TimeIndex.Lookup for why < is the correct choice): no
// record before its offset can have a timestamp >= t, so scanning the log from
// OffsetIndex.Lookup(entry.Offset).Position finds the earliest record with timestamp >= t.
// With no such entry, lookups return the base offset at position 0 (and NoTimestamp).
//
// # Life cycle and the end-of-entries rule
//
// A new index is preallocated to maxIndexSize (rounded down to a whole number of entries)
// and mapped; appends fill it from the front. When the segment rolls, TrimToValidSize (or
// Close) truncates the file to exactly entries*entrySize bytes: a sealed index opens full.
// A preallocated file left by a crash (or kill -9) has a zero-filled tail, which Open must
// not count. Open counts entries with this rule:
//
//  1. capacity = file size / entry size. If the last slot is not all zeros, the file is
//     trimmed or full: entries = capacity.
//  2. Otherwise the file has a zero tail: entries = the index of the first all-zero slot
//     among slots 1..capacity-1, found by binary search. Slot 0 is excluded because
//     (relative offset 0, position 0) is a legitimate first entry; any later valid entry is
//     strictly greater than entry 0 and so is never all zeros, which makes "slot i is zero"
//     monotone over slots 1.. in a well-formed file.
//  3. Trailing entries that do not follow their predecessor in order are dropped: a torn
//     last append.
//  4. An all-zero entry 0 standing alone is dropped: it cannot be told from an empty
//     preallocated file, and dropping it loses nothing, since an empty index gives the same
//     lookup answers ({baseOffset, 0}).
//
// Open thus touches O(log n) slots (a few pages) instead of reading the whole file, like
// Kafka's lazy index loading. It does not prove the file well formed: SanityCheck reads every
// entry and reports the first violation (file name, entry number); the engine rebuilds an index
// from the log when SanityCheck fails or the file is missing. Whatever the bytes, Open and every
// lookup stay in bounds and never panic; on a corrupt file lookups return some in-range entry.
//
// TruncateTo zeroes the slots it drops, so the rule above never resurrects them after a crash.
// Only a file that Open creates is preallocated; an existing file keeps its size, so a trimmed
// index (zero-length included) opens full. To append to the active segment's index after a
// restart, call Resize(maxIndexSize), as Kafka's LogSegment.resizeIndexes does. Files over
// 2 GiB are refused with ErrCorrupt.
//
// # Concurrency
//
// One writer and many readers per index:
//   - The writer (Append, TruncateTo, TrimToValidSize, Resize, Close) is serialized by the
//     caller (the engine's partition lock).
//   - Lookups, At, LastEntry, Entries, IsFull and SanityCheck may run from any goroutine at any
//     time, including during Append. Append writes the entry's bytes and only then publishes
//     the new entry count with an atomic store; readers load the count first and read only
//     the slots below it, so they never observe a half-written entry. Append takes no lock.
//   - Readers hold a read lock only to keep the mapping alive; TrimToValidSize, Resize, Close
//     and TruncateTo take it exclusively, so they briefly wait for in-flight lookups.
//   - Sync may run from any goroutine (a group-commit flusher). It does not block lookups or
//     Append; TrimToValidSize, Resize, Close and TruncateTo wait for it. On the OS filesystem,
//     Sync concurrent with Append is fine: entries published before Sync started are durable.
//     MemFS implements Sync by copying the mapped bytes, so a Sync concurrent with Append is a
//     data race there: in MemFS tests, serialize index Sync with Append.
//
// Durability: entries reach the disk on Sync. Neither TrimToValidSize nor Close syncs (both
// run under the partition lock, and no lock is held across an fsync): the trimmed size becomes
// durable with a later Sync or the kernel's writeback. A crash before that leaves an untrimmed
// file, which the rule above reopens with the same entries.
package index
