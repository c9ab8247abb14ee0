package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/logd/logd/internal/vfs"
)

// TimestampOffset is a time index entry: Timestamp is the largest timestamp of any record with
// an offset <= Offset (Kafka: "the biggest timestamp seen before OFFSET"), so every record
// whose offset is < Offset has a timestamp <= Timestamp.
type TimestampOffset struct {
	// Timestamp is in milliseconds since the epoch; NoTimestamp for "no entry".
	Timestamp int64
	// Offset is the absolute offset (baseOffset + relative offset).
	Offset int64
}

// TimeIndex is a segment's sparse time index (<base offset>.timeindex): entries with strictly
// increasing timestamps and non-decreasing offsets. See the package documentation for the
// format, the open rule and the concurrency rules.
type TimeIndex struct {
	*mappedIndex
}

// OpenTimeIndex opens the time index at path, creating it when missing. A created file is
// preallocated to maxIndexSize rounded down to a multiple of TimeEntrySize; it stays writable
// until TrimToValidSize or Close. An existing file keeps its size (Resize changes it): a
// trimmed index opens full (read-only), a preallocated one opens with its free slots. Open does not validate
// the entries beyond the end-of-entries rule; call SanityCheck.
func OpenTimeIndex(fs vfs.FS, path string, baseOffset int64, maxIndexSize int) (*TimeIndex, error) {
	m, err := openMapped(fs, path, baseOffset, maxIndexSize, TimeEntrySize, validTimeEntry)
	if err != nil {
		return nil, err
	}
	return &TimeIndex{mappedIndex: m}, nil
}

func tsAt(m []byte, i int) int64 { return int64(binary.BigEndian.Uint64(m[i*TimeEntrySize:])) }
func tsRelAt(m []byte, i int) int32 {
	return int32(binary.BigEndian.Uint32(m[i*TimeEntrySize+8:]))
}

func validTimeEntry(m []byte, prev, cur int) bool {
	ts, r := tsAt(m, cur), tsRelAt(m, cur)
	if prev < 0 {
		return ts >= 0 && r >= 0
	}
	return ts > tsAt(m, prev) && r >= tsRelAt(m, prev)
}

func describeTimeEntry(m []byte, i int) string {
	return fmt.Sprintf("timestamp %d, relative offset %d", tsAt(m, i), tsRelAt(m, i))
}

// Append adds the entry (timestamp, offset) when timestamp is larger than the last entry's
// timestamp (NoTimestamp when empty) and otherwise does nothing and returns nil: Kafka's
// maybeAppend rule, so the caller may pass either each batch's max timestamp or the running
// maximum. timestamp must be the largest timestamp of the records up to offset. Errors: ErrFull
// (checked first, as Kafka does: roll the segment), ErrOffsetOverflow, and ErrNotIncreasing when
// offset is below the last entry's offset (a bug in the caller). Append does not allocate on
// success. REQUIRES: the caller is the index's only writer.
func (x *TimeIndex) Append(timestamp, offset int64) error {
	i, err := x.nextSlot()
	if err != nil {
		return err
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	m := x.mmap
	lastTs := NoTimestamp
	if i > 0 {
		lastTs = tsAt(m, i-1)
		if lr := tsRelAt(m, i-1); rel < lr {
			return fmt.Errorf("%w: %s: append offset %d after offset %d",
				ErrNotIncreasing, x.path, offset, x.baseOffset+int64(lr))
		}
	}
	if timestamp <= lastTs {
		return nil
	}
	binary.BigEndian.PutUint64(m[i*TimeEntrySize:], uint64(timestamp))
	binary.BigEndian.PutUint32(m[i*TimeEntrySize+8:], uint32(rel))
	x.entries.Store(int64(i + 1)) // publish after the bytes: readers see whole entries only
	return nil
}

// Lookup returns the entry with the largest timestamp strictly below timestamp, or
// {NoTimestamp, BaseOffset} when there is none. Every record before the returned Offset has a
// timestamp < timestamp, so the earliest record with a timestamp >= timestamp is found by
// scanning the log from the batch holding the returned Offset (OffsetIndex.Lookup(Offset)).
//
// Kafka's TimeIndex.lookup returns the largest entry with timestamp <= target instead; that is
// only correct when each entry's offset is the first record reaching its timestamp, which Kafka
// does not guarantee at batch granularity (a record before Offset may carry the same
// timestamp). The strict comparison costs at most one extra index interval of scanning.
// O(log n), no allocation.
func (x *TimeIndex) Lookup(timestamp int64) TimestampOffset {
	e := TimestampOffset{Timestamp: NoTimestamp, Offset: x.baseOffset}
	x.mu.RLock()
	m, n := x.mmap, int(x.entries.Load())
	lo, hi := 0, n
	if w := warmBytes / TimeEntrySize; n > w && tsAt(m, n-w) < timestamp {
		lo = n - w
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if tsAt(m, mid) < timestamp {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 {
		e = TimestampOffset{Timestamp: tsAt(m, lo-1), Offset: x.baseOffset + int64(tsRelAt(m, lo-1))}
	}
	x.mu.RUnlock()
	return e
}

// LastEntry returns the last entry, or {NoTimestamp, BaseOffset} when the index is empty. Its
// Timestamp is the segment's largest indexed timestamp.
func (x *TimeIndex) LastEntry() TimestampOffset {
	e := TimestampOffset{Timestamp: NoTimestamp, Offset: x.baseOffset}
	x.mu.RLock()
	if n := int(x.entries.Load()); n > 0 {
		e = TimestampOffset{Timestamp: tsAt(x.mmap, n-1), Offset: x.baseOffset + int64(tsRelAt(x.mmap, n-1))}
	}
	x.mu.RUnlock()
	return e
}

// At returns entry i; ok is false when i is not in [0, Entries()).
func (x *TimeIndex) At(i int) (e TimestampOffset, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if i < 0 || i >= int(x.entries.Load()) {
		return TimestampOffset{}, false
	}
	return TimestampOffset{Timestamp: tsAt(x.mmap, i), Offset: x.baseOffset + int64(tsRelAt(x.mmap, i))}, true
}

// TruncateTo drops every entry whose offset is >= offset, zeroing the freed slots. It waits for
// readers and an in-flight Sync. REQUIRES: the caller is the index's only writer.
func (x *TimeIndex) TruncateTo(offset int64) error {
	return x.truncateEntries(func(m []byte, n int) int {
		if offset <= x.baseOffset {
			return 0
		}
		d := offset - x.baseOffset
		if d > math.MaxInt32 || d < 0 { // d < 0: overflow
			return n
		}
		t := int32(d)
		lo, hi := 0, n // first entry with relative offset >= t; offsets are non-decreasing
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if tsRelAt(m, mid) < t {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo
	})
}

// SanityCheck verifies that the file size is a multiple of TimeEntrySize and that every entry
// is non-negative, with strictly increasing timestamps and non-decreasing offsets. It reads
// every entry: O(n). Errors wrap ErrCorrupt and name the file and the entry.
func (x *TimeIndex) SanityCheck() error { return x.sanityCheck(describeTimeEntry) }
