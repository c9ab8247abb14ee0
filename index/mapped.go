package index

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/logd/logd/internal/vfs"
)

// Sizes, suffixes and sentinel values. These constants are part of Kafka's on-disk format.
const (
	// OffsetEntrySize is the size of one offset index entry: int32 relative offset, int32
	// position.
	OffsetEntrySize = 8
	// TimeEntrySize is the size of one time index entry: int64 timestamp, int32 relative offset.
	TimeEntrySize = 12
	// DefaultMaxIndexSize is Kafka's log.index.size.max.bytes default: the size an active index
	// is preallocated to.
	DefaultMaxIndexSize = 10 << 20
	// NoTimestamp is Kafka's RecordBatch.NO_TIMESTAMP: the timestamp of "no entry".
	NoTimestamp int64 = -1
	// OffsetIndexSuffix is the file name suffix of an offset index.
	OffsetIndexSuffix = ".index"
	// TimeIndexSuffix is the file name suffix of a time index.
	TimeIndexSuffix = ".timeindex"
)

// Errors returned by the index types. Errors carry context and wrap one of these; test with
// errors.Is.
var (
	// ErrCorrupt means an index file violates the format; the engine rebuilds it from the log.
	ErrCorrupt = errors.New("index: corrupt index file")
	// ErrFull means the index has no free slot; the segment must roll.
	ErrFull = errors.New("index: index is full")
	// ErrNotIncreasing means an append would break the index order: a bug in the caller.
	ErrNotIncreasing = errors.New("index: entry does not increase")
	// ErrOffsetOverflow means offset-baseOffset does not fit the int32 relative offset (or the
	// offset is below baseOffset); the segment must roll.
	ErrOffsetOverflow = errors.New("index: relative offset out of range")
	// ErrClosed means the index was closed.
	ErrClosed = errors.New("index: index is closed")
)

// OffsetIndexPath returns dir/<20-digit baseOffset>.index.
func OffsetIndexPath(dir string, baseOffset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, OffsetIndexSuffix))
}

// TimeIndexPath returns dir/<20-digit baseOffset>.timeindex.
func TimeIndexPath(dir string, baseOffset int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, TimeIndexSuffix))
}

// warmBytes is the tail of the index searched first. Kafka's AbstractIndex does the same
// (KAFKA-6432): lookups cluster at the tail (consumers near the head of the log), so probing the
// tail first keeps a binary search inside the few hot pages instead of faulting in cold pages
// of the mapping, and a page fault stalls the Go scheduler's P. 8 KiB = two 4 KiB pages.
const warmBytes = 8192

// validFunc reports whether entry cur may follow entry prev (prev < 0: cur is the first
// entry). It is the per-format ordering rule used by Open and SanityCheck.
type validFunc func(m []byte, prev, cur int) bool

// mappedIndex is the format-independent part of an index: a file of fixed-size entries mapped
// into memory, with an atomically published entry count.
//
// Concurrency. One writer (Append, TruncateTo, TrimToValidSize, Resize, Close; the engine
// serializes them under its partition lock) and any number of readers (lookups, At, LastEntry, Entries,
// SanityCheck), plus Sync from any goroutine.
//   - Append writes the entry bytes into slot n, then stores n+1 into entries. Readers load
//     entries first and read only slots below it, so they never see a half-written entry.
//     Append takes no lock.
//   - Readers hold mu shared while they touch mmap, only to keep the mapping alive.
//   - Operations that replace the mapping or rewrite published slots (TrimToValidSize, Resize,
//     Close, TruncateTo) hold mu exclusively, after syncMu.
//   - Sync holds syncMu so the file is not unmapped or closed under it; it does not hold mu,
//     so lookups never wait behind an fsync.
//
// Lock order: syncMu, then mu.
type mappedIndex struct {
	f          vfs.File
	path       string
	baseOffset int64
	entrySize  int
	valid      validFunc

	syncMu sync.Mutex   // held across File.Sync and around every unmap/remap/close
	mu     sync.RWMutex // shared: readers touching mmap; exclusive: mapping changes, TruncateTo

	mmap     []byte       // capacity*entrySize bytes, nil when capacity is 0; changed under mu+syncMu
	capacity atomic.Int64 // slots in mmap
	entries  atomic.Int64 // published entries; slots [0, entries) are complete
	closed   bool         // set under syncMu and mu
}

func openMapped(fs vfs.FS, path string, baseOffset int64, maxIndexSize, entrySize int, valid validFunc) (*mappedIndex, error) {
	if baseOffset < 0 {
		return nil, fmt.Errorf("index: %s: negative base offset %d", path, baseOffset)
	}
	if maxIndexSize < entrySize || maxIndexSize > math.MaxInt32 {
		return nil, fmt.Errorf("index: %s: invalid max index size %d", path, maxIndexSize)
	}
	_, err := fs.Stat(path)
	created := errors.Is(err, iofs.ErrNotExist)
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	if created && size == 0 {
		size = int64(maxIndexSize / entrySize * entrySize)
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, err
		}
	}
	if size > math.MaxInt32 {
		f.Close()
		return nil, fmt.Errorf("%w: %s: size %d exceeds 2 GiB", ErrCorrupt, path, size)
	}
	x := &mappedIndex{f: f, path: path, baseOffset: baseOffset, entrySize: entrySize, valid: valid}
	capacity := int(size) / entrySize
	if capacity > 0 {
		m, err := f.Map(capacity * entrySize)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("index: %s: map: %w", path, err)
		}
		x.mmap = m
	}
	x.capacity.Store(int64(capacity))
	x.entries.Store(int64(countEntries(x.mmap, entrySize, capacity, valid)))
	return x, nil
}

// countEntries applies the end-of-entries rule documented in doc.go. It touches O(log n) slots
// for a well-formed file.
func countEntries(m []byte, es, capacity int, valid validFunc) int {
	if capacity == 0 {
		return 0
	}
	n := capacity
	if slotIsZero(m, es, capacity-1) {
		// Preallocated tail. For a well-formed file, slots 1.. are non-zero up to the end of
		// the entries and zero after it, so the first zero slot in [1, capacity) is found by
		// binary search.
		lo, hi := 1, capacity-1
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if slotIsZero(m, es, mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		n = lo
	}
	// Drop trailing entries out of order: a torn last append.
	for n > 0 && !valid(m, n-2, n-1) {
		n--
	}
	// An all-zero entry 0 alone cannot be told from an empty preallocated file. Dropping it
	// loses nothing: its answers are the ones an empty index gives.
	if n == 1 && slotIsZero(m, es, 0) {
		n = 0
	}
	return n
}

func slotIsZero(m []byte, es, i int) bool {
	for _, b := range m[i*es : (i+1)*es] {
		if b != 0 {
			return false
		}
	}
	return true
}

// nextSlot returns the slot for the next append, or an error when there is none.
// REQUIRES: the caller is the writer.
func (x *mappedIndex) nextSlot() (int, error) {
	if x.closed {
		return 0, ErrClosed
	}
	n := x.entries.Load()
	if n >= x.capacity.Load() {
		return 0, fmt.Errorf("%w: %s: %d entries", ErrFull, x.path, n)
	}
	return int(n), nil
}

// relative converts offset to a relative offset, or fails if it does not fit.
func (x *mappedIndex) relative(offset int64) (int32, error) {
	d := offset - x.baseOffset
	if offset < x.baseOffset || d > math.MaxInt32 {
		return 0, fmt.Errorf("%w: %s: offset %d, base offset %d", ErrOffsetOverflow, x.path, offset, x.baseOffset)
	}
	return int32(d), nil
}

// relativeTarget converts a lookup target to a relative offset, clamped to the int32 range;
// ok is false when target is below baseOffset.
func (x *mappedIndex) relativeTarget(target int64) (rel int32, ok bool) {
	if target < x.baseOffset {
		return 0, false
	}
	d := target - x.baseOffset
	if d > math.MaxInt32 || d < 0 { // d < 0: overflow for huge targets
		return math.MaxInt32, true
	}
	return int32(d), true
}

// truncateToLocked keeps the first n entries and zeroes the dropped slots, so that the
// end-of-entries rule does not count them again after a crash. REQUIRES: mu held exclusively.
func (x *mappedIndex) truncateToLocked(n int) {
	old := int(x.entries.Load())
	if n >= old {
		return
	}
	x.entries.Store(int64(n))
	clear(x.mmap[n*x.entrySize : old*x.entrySize])
}

// dropMappingLocked leaves the index empty and unmapped. REQUIRES: syncMu and mu held.
func (x *mappedIndex) dropMappingLocked() error {
	x.entries.Store(0)
	x.capacity.Store(0)
	x.mmap = nil
	return x.f.Unmap()
}

// resizeLocked sets the file size to size bytes (at least the valid entries) and remaps it.
// REQUIRES: syncMu and mu held.
func (x *mappedIndex) resizeLocked(size int64) error {
	n := int(x.entries.Load())
	capacity := int(size) / x.entrySize
	cur, err := x.f.Size()
	if err != nil {
		return err
	}
	if cur == size && int(x.capacity.Load()) == capacity {
		return nil
	}
	if err := x.f.Unmap(); err != nil {
		x.dropMappingLocked()
		return fmt.Errorf("index: %s: unmap: %w", x.path, err)
	}
	x.mmap = nil
	x.capacity.Store(0)
	if err := x.f.Truncate(size); err != nil {
		x.dropMappingLocked()
		return fmt.Errorf("index: %s: truncate: %w", x.path, err)
	}
	if capacity == 0 {
		x.entries.Store(0)
		return nil
	}
	m, err := x.f.Map(capacity * x.entrySize)
	if err != nil {
		x.dropMappingLocked()
		return fmt.Errorf("index: %s: map: %w", x.path, err)
	}
	if n > capacity { // cannot happen: callers never shrink below the entries
		n = capacity
	}
	x.mmap = m
	x.capacity.Store(int64(capacity))
	x.entries.Store(int64(n))
	return nil
}

// trimLocked shrinks the file to the valid entries. REQUIRES: syncMu and mu held.
func (x *mappedIndex) trimLocked() error {
	return x.resizeLocked(x.entries.Load() * int64(x.entrySize))
}

// Resize makes the file maxIndexSize bytes rounded down to whole entries (never fewer slots
// than the entries) and remaps it. The engine calls it to make a reopened, trimmed index of the
// active segment writable again, as Kafka's LogSegment.resizeIndexes does. On error the index is
// left empty and unmapped, like TrimToValidSize. REQUIRES: the caller is the index's only writer.
func (x *mappedIndex) Resize(maxIndexSize int) error {
	if maxIndexSize < 0 || maxIndexSize > math.MaxInt32 {
		return fmt.Errorf("index: %s: invalid max index size %d", x.path, maxIndexSize)
	}
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	capacity := max(maxIndexSize/x.entrySize, int(x.entries.Load()))
	return x.resizeLocked(int64(capacity * x.entrySize))
}

// TrimToValidSize truncates the file to its entries and remaps it, so the index is full
// (read-only) afterwards. Call it when the segment stops being active. It waits for readers and
// an in-flight Sync. On error the index is left empty and unmapped: lookups answer
// {BaseOffset, 0}, which is still a correct (if slow) starting point.
// REQUIRES: the caller is the index's only writer.
func (x *mappedIndex) TrimToValidSize() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	return x.trimLocked()
}

// Close trims the file to its valid entries, unmaps and closes it. It does not sync: call Sync
// first when the entries must be durable. Lookups after Close answer {BaseOffset, 0}.
// REQUIRES: the caller is the index's only writer.
func (x *mappedIndex) Close() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	err := x.trimLocked()
	if uerr := x.dropMappingLocked(); err == nil {
		err = uerr
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	x.closed = true
	return err
}

// Sync makes the entries appended before the call durable. It may run concurrently with
// lookups, and on the OS filesystem with Append; see the package documentation for MemFS.
func (x *mappedIndex) Sync() error {
	x.syncMu.Lock()
	defer x.syncMu.Unlock()
	if x.closed {
		return ErrClosed
	}
	return x.f.Sync()
}

func (x *mappedIndex) truncateEntries(keep func(m []byte, n int) int) error {
	x.syncMu.Lock() // MemFS's Sync reads the mapped bytes being zeroed
	defer x.syncMu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return ErrClosed
	}
	x.truncateToLocked(keep(x.mmap, int(x.entries.Load())))
	return nil
}

// sanityCheck verifies the file size and the order of every entry.
func (x *mappedIndex) sanityCheck(describe func(m []byte, i int) string) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.closed {
		return ErrClosed
	}
	size, err := x.f.Size()
	if err != nil {
		return err
	}
	if size%int64(x.entrySize) != 0 {
		return fmt.Errorf("%w: %s: size %d is not a multiple of the entry size %d", ErrCorrupt, x.path, size, x.entrySize)
	}
	if mapped := int64(len(x.mmap)); size < mapped {
		return fmt.Errorf("%w: %s: size %d is below the mapped size %d", ErrCorrupt, x.path, size, mapped)
	}
	n := int(x.entries.Load())
	for i := 0; i < n; i++ {
		if !x.valid(x.mmap, i-1, i) {
			if i == 0 {
				return fmt.Errorf("%w: %s: entry 0 (%s) is invalid", ErrCorrupt, x.path, describe(x.mmap, 0))
			}
			return fmt.Errorf("%w: %s: entry %d (%s) does not follow entry %d (%s)",
				ErrCorrupt, x.path, i, describe(x.mmap, i), i-1, describe(x.mmap, i-1))
		}
	}
	return nil
}

// Entries returns the number of entries.
func (x *mappedIndex) Entries() int { return int(x.entries.Load()) }

// MaxEntries returns the number of slots in the mapped file.
func (x *mappedIndex) MaxEntries() int { return int(x.capacity.Load()) }

// IsFull reports whether no slot is free; Append fails with ErrFull then.
func (x *mappedIndex) IsFull() bool { return x.entries.Load() >= x.capacity.Load() }

// BaseOffset returns the segment's base offset.
func (x *mappedIndex) BaseOffset() int64 { return x.baseOffset }

// Path returns the index file's path.
func (x *mappedIndex) Path() string { return x.path }
