package index

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/logd/logd/internal/vfs"
)

// Entry is an offset index entry: the batch at byte Position of the segment's .log file holds
// Offset (by Kafka's convention, Offset is that batch's last offset).
type Entry struct {
	// Offset is the absolute offset (baseOffset + relative offset).
	Offset int64
	// Position is the byte position in the .log file.
	Position int32
}

// OffsetIndex is a segment's sparse offset index (<base offset>.index): entries map an offset
// to a byte position in the segment's log, strictly increasing in both fields. See the
// package documentation for the format, the open rule and the concurrency rules.
type OffsetIndex struct {
	*mappedIndex
}

// OpenOffsetIndex opens the offset index at path, creating it when missing. A created file is
// preallocated to maxIndexSize rounded down to a multiple of OffsetEntrySize; it stays writable
// until TrimToValidSize or Close. An existing file keeps its size (Resize changes it): a
// trimmed index opens full (read-only), a preallocated one opens with its free slots. Open does not
// validate the entries beyond the end-of-entries rule; call SanityCheck.
func OpenOffsetIndex(fs vfs.FS, path string, baseOffset int64, maxIndexSize int) (*OffsetIndex, error) {
	m, err := openMapped(fs, path, baseOffset, maxIndexSize, OffsetEntrySize, validOffsetEntry)
	if err != nil {
		return nil, err
	}
	return &OffsetIndex{mappedIndex: m}, nil
}

func relAt(m []byte, i int) int32 { return int32(binary.BigEndian.Uint32(m[i*OffsetEntrySize:])) }
func posAt(m []byte, i int) int32 { return int32(binary.BigEndian.Uint32(m[i*OffsetEntrySize+4:])) }

func validOffsetEntry(m []byte, prev, cur int) bool {
	r, p := relAt(m, cur), posAt(m, cur)
	if prev < 0 {
		return r >= 0 && p >= 0
	}
	return r > relAt(m, prev) && p > posAt(m, prev)
}

func describeOffsetEntry(m []byte, i int) string {
	return fmt.Sprintf("relative offset %d, position %d", relAt(m, i), posAt(m, i))
}

// lastRelAtMost returns the largest i < n with relative offset <= t, or -1. O(log n).
func lastRelAtMost(m []byte, n int, t int32) int {
	lo, hi := 0, n
	if w := warmBytes / OffsetEntrySize; n > w && relAt(m, n-w) <= t {
		lo = n - w
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if relAt(m, mid) <= t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// lastPosAtMost returns the largest i < n with position <= t, or -1. O(log n).
func lastPosAtMost(m []byte, n int, t int32) int {
	lo, hi := 0, n
	if w := warmBytes / OffsetEntrySize; n > w && posAt(m, n-w) <= t {
		lo = n - w
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if posAt(m, mid) <= t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// Append adds the entry (offset, position). offset must exceed the last entry's offset and fit
// a relative offset (ErrOffsetOverflow: roll the segment); position must exceed the last
// entry's position (ErrNotIncreasing: a bug in the caller); the index must not be full
// (ErrFull: roll the segment). Append does not allocate on success.
// REQUIRES: the caller is the index's only writer.
func (x *OffsetIndex) Append(offset int64, position int32) error {
	i, err := x.nextSlot()
	if err != nil {
		return err
	}
	rel, err := x.relative(offset)
	if err != nil {
		return err
	}
	m := x.mmap
	if i > 0 {
		if lr, lp := relAt(m, i-1), posAt(m, i-1); rel <= lr || position <= lp {
			return fmt.Errorf("%w: %s: append (offset %d, position %d) after (offset %d, position %d)",
				ErrNotIncreasing, x.path, offset, position, x.baseOffset+int64(lr), lp)
		}
	} else if position < 0 {
		return fmt.Errorf("%w: %s: negative position %d", ErrNotIncreasing, x.path, position)
	}
	binary.BigEndian.PutUint32(m[i*OffsetEntrySize:], uint32(rel))
	binary.BigEndian.PutUint32(m[i*OffsetEntrySize+4:], uint32(position))
	x.entries.Store(int64(i + 1)) // publish after the bytes: readers see whole entries only
	return nil
}

// Lookup returns the entry with the largest offset <= offset, or {BaseOffset, 0} when there is
// none: the position to start scanning the log for offset. O(log n), no allocation.
func (x *OffsetIndex) Lookup(offset int64) Entry {
	e := Entry{Offset: x.baseOffset}
	t, ok := x.relativeTarget(offset)
	if !ok {
		return e
	}
	x.mu.RLock()
	m, n := x.mmap, int(x.entries.Load())
	if i := lastRelAtMost(m, n, t); i >= 0 {
		e = Entry{Offset: x.baseOffset + int64(relAt(m, i)), Position: posAt(m, i)}
	}
	x.mu.RUnlock()
	return e
}

// LookupPosition returns the entry with the largest position <= pos, or {BaseOffset, 0} when
// there is none: a batch boundary at or before a byte position. O(log n), no allocation.
func (x *OffsetIndex) LookupPosition(pos int32) Entry {
	e := Entry{Offset: x.baseOffset}
	x.mu.RLock()
	m, n := x.mmap, int(x.entries.Load())
	if i := lastPosAtMost(m, n, pos); i >= 0 {
		e = Entry{Offset: x.baseOffset + int64(relAt(m, i)), Position: posAt(m, i)}
	}
	x.mu.RUnlock()
	return e
}

// LastEntry returns the last entry, or {BaseOffset, 0} when the index is empty.
func (x *OffsetIndex) LastEntry() Entry {
	e := Entry{Offset: x.baseOffset}
	x.mu.RLock()
	if n := int(x.entries.Load()); n > 0 {
		e = Entry{Offset: x.baseOffset + int64(relAt(x.mmap, n-1)), Position: posAt(x.mmap, n-1)}
	}
	x.mu.RUnlock()
	return e
}

// At returns entry i; ok is false when i is not in [0, Entries()).
func (x *OffsetIndex) At(i int) (e Entry, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if i < 0 || i >= int(x.entries.Load()) {
		return Entry{}, false
	}
	return Entry{Offset: x.baseOffset + int64(relAt(x.mmap, i)), Position: posAt(x.mmap, i)}, true
}

// TruncateTo drops every entry whose offset is >= offset, zeroing the freed slots. It waits for
// readers and an in-flight Sync. REQUIRES: the caller is the index's only writer.
func (x *OffsetIndex) TruncateTo(offset int64) error {
	return x.truncateEntries(func(m []byte, n int) int {
		if offset <= x.baseOffset {
			return 0
		}
		d := offset - x.baseOffset
		if d > math.MaxInt32 || d < 0 { // d < 0: overflow
			return n
		}
		return lastRelAtMost(m, n, int32(d)-1) + 1
	})
}

// SanityCheck verifies that the file size is a multiple of OffsetEntrySize and that every entry
// is non-negative and strictly increasing in offset and position. It reads every entry: O(n).
// Errors wrap ErrCorrupt and name the file and the entry.
func (x *OffsetIndex) SanityCheck() error { return x.sanityCheck(describeOffsetEntry) }
