package segment

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/logd/logd/index"
	"github.com/logd/logd/internal/vfs"
)

// File name suffixes of a segment's files.
const (
	LogSuffix       = ".log"
	IndexSuffix     = ".index"
	TimeIndexSuffix = ".timeindex"
	// TxnIndexSuffix names the aborted-transaction index, written by the engine (the segment
	// only removes and renames it with its other files; it exists only when non-empty).
	TxnIndexSuffix = ".txnindex"
)

// FileName returns the name of a segment file: the base offset as 20 zero-padded digits plus
// suffix, as Kafka names them.
func FileName(baseOffset int64, suffix string) string {
	return fmt.Sprintf("%020d%s", baseOffset, suffix)
}

// Config holds the per-segment settings (Kafka's topic configs of the same meaning).
type Config struct {
	// IndexIntervalBytes is the number of log bytes between offset index entries
	// (index.interval.bytes).
	IndexIntervalBytes int
	// MaxIndexBytes is the preallocated size of an active segment's indexes
	// (segment.index.bytes).
	MaxIndexBytes int
}

// DefaultConfig matches Kafka's defaults.
var DefaultConfig = Config{IndexIntervalBytes: 4096, MaxIndexBytes: 10 << 20}

// ErrIndexCorrupt means a segment's index file is missing or inconsistent; it can be rebuilt
// from the log.
var ErrIndexCorrupt = errors.New("segment index missing or corrupt")

// BatchMeta describes one batch of a batch set handed to Append.
type BatchMeta struct {
	RelPos       int32 // position of the batch within the appended bytes
	LastOffset   int64
	MaxTimestamp int64
}

// Segment is one log segment: a .log file of record batches and its offset and time indexes.
//
// Concurrency: one writer (the partition, under its lock) calls Append, Truncate, Seal and
// Close; any number of readers call the read methods concurrently. Size and NextOffset are
// published atomically after the bytes are written, so a reader never sees a torn batch.
type Segment struct {
	fs         vfs.FS
	dir        string
	baseOffset int64
	cfg        Config
	// tmp is appended to every file name of a segment being built under a temporary name
	// (CreateTemp); empty for a segment of the log.
	tmp string

	log       vfs.File
	offsetIdx *index.OffsetIndex
	timeIdx   *index.TimeIndex

	size       atomic.Int64 // bytes of complete batches in the .log file
	nextOffset atomic.Int64 // offset after the last batch (baseOffset when empty)
	maxTime    atomic.Int64 // largest MaxTimestamp of any batch, -1 when none

	// Writer state, touched only by the single writer.
	bytesSinceIndex int
	maxTimeOffset   int64 // offset of the batch holding maxTime
	sealed          bool
}

// Create creates a new, empty segment in dir.
func Create(fs vfs.FS, dir string, baseOffset int64, cfg Config) (*Segment, error) {
	return CreateTemp(fs, dir, baseOffset, cfg, "")
}

// CreateTemp creates a new, empty segment whose three files carry tmp after their usual names
// ("00000000000000000042.log.cleaned"): the log cleaner builds a segment there, then renames
// it into the log (RenameFiles).
func CreateTemp(fs vfs.FS, dir string, baseOffset int64, cfg Config, tmp string) (*Segment, error) {
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix)+tmp)
	f, err := fs.OpenFile(logPath, osCreateExcl, 0o644)
	if err != nil {
		return nil, err
	}
	s := &Segment{fs: fs, dir: dir, baseOffset: baseOffset, cfg: cfg, log: f, tmp: tmp}
	s.nextOffset.Store(baseOffset)
	s.maxTime.Store(-1)
	s.maxTimeOffset = baseOffset
	if err := s.openIndexes(true); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// Open opens an existing segment. Its size is taken from the file and its next offset from the
// last batch found through the index; call Recover instead when the tail may be invalid.
// active says whether the segment will be appended to (its indexes are then preallocated).
func Open(fs vfs.FS, dir string, baseOffset int64, cfg Config, active bool) (*Segment, error) {
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix))
	f, err := fs.OpenFile(logPath, osReadWrite, 0)
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &Segment{fs: fs, dir: dir, baseOffset: baseOffset, cfg: cfg, log: f, sealed: !active}
	s.size.Store(size)
	s.nextOffset.Store(baseOffset)
	s.maxTime.Store(-1)
	s.maxTimeOffset = baseOffset
	if size > 0 {
		for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
			if _, err := fs.Stat(filepath.Join(dir, FileName(baseOffset, suffix))); err != nil {
				f.Close()
				if isNotExist(err) {
					return nil, fmt.Errorf("segment %s: %w: %s missing", logPath, ErrIndexCorrupt, suffix)
				}
				return nil, err
			}
		}
	}
	if err := s.openIndexes(active); err != nil {
		f.Close()
		return nil, err
	}
	if err := s.checkIndexes(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.loadTail(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// Rebuild recreates a segment's indexes from its log, verifying every batch (Recover) and
// truncating an invalid tail. The engine calls it when Open reports unusable indexes.
func Rebuild(fs vfs.FS, dir string, baseOffset int64, cfg Config, active bool) (*Segment, RecoveryReport, error) {
	for _, suffix := range []string{IndexSuffix, TimeIndexSuffix} {
		if err := fs.Remove(filepath.Join(dir, FileName(baseOffset, suffix))); err != nil && !isNotExist(err) {
			return nil, RecoveryReport{}, err
		}
	}
	logPath := filepath.Join(dir, FileName(baseOffset, LogSuffix))
	f, err := fs.OpenFile(logPath, osReadWrite, 0)
	if err != nil {
		return nil, RecoveryReport{}, err
	}
	s := &Segment{fs: fs, dir: dir, baseOffset: baseOffset, cfg: cfg, log: f}
	if err := s.openIndexes(true); err != nil {
		f.Close()
		return nil, RecoveryReport{}, err
	}
	rep, err := s.Recover(nil)
	if err != nil {
		s.closeFiles()
		return nil, rep, err
	}
	if !active {
		if err := s.Seal(); err != nil {
			s.closeFiles()
			return nil, rep, err
		}
	}
	return s, rep, nil
}

// checkIndexes runs the indexes' sanity checks and makes sure no entry points past the log.
func (s *Segment) checkIndexes() error {
	for _, err := range []error{s.offsetIdx.SanityCheck(), s.timeIdx.SanityCheck()} {
		if err != nil {
			return fmt.Errorf("segment %s: %w: %v", s.logName(), ErrIndexCorrupt, err)
		}
	}
	// An entry names the start of a batch, so it lies strictly below the log's size.
	if last := s.offsetIdx.LastEntry(); s.offsetIdx.Entries() > 0 && int64(last.Position) >= s.size.Load() {
		return fmt.Errorf("segment %s: %w: entry position %d beyond log size %d", s.logName(), ErrIndexCorrupt, last.Position, s.size.Load())
	}
	return nil
}

func (s *Segment) closeFiles() {
	s.offsetIdx.Close()
	s.timeIdx.Close()
	s.log.Close()
}

// openIndexes opens (or creates, preallocated) both indexes. Existing index files keep their
// size; an active segment's are resized to the preallocated size so they can grow again.
func (s *Segment) openIndexes(active bool) error {
	max := s.cfg.MaxIndexBytes
	oi, err := index.OpenOffsetIndex(s.fs, filepath.Join(s.dir, FileName(s.baseOffset, IndexSuffix)+s.tmp), s.baseOffset, max)
	if err != nil {
		return indexErr(s.logName(), err)
	}
	ti, err := index.OpenTimeIndex(s.fs, filepath.Join(s.dir, FileName(s.baseOffset, TimeIndexSuffix)+s.tmp), s.baseOffset, max)
	if err != nil {
		oi.Close()
		return indexErr(s.logName(), err)
	}
	s.offsetIdx, s.timeIdx = oi, ti
	if active {
		if err := oi.Resize(max); err != nil {
			s.offsetIdx.Close()
			s.timeIdx.Close()
			return err
		}
		if err := ti.Resize(max); err != nil {
			s.offsetIdx.Close()
			s.timeIdx.Close()
			return err
		}
	}
	return nil
}

// indexErr marks an index's corruption as repairable (ErrIndexCorrupt); other errors pass.
func indexErr(logName string, err error) error {
	if errors.Is(err, index.ErrCorrupt) {
		return fmt.Errorf("segment %s: %w: %v", logName, ErrIndexCorrupt, err)
	}
	return err
}

// loadTail finds the last batch by scanning headers from the last offset index entry, setting
// nextOffset and the writer's index bookkeeping. It trusts the bytes (clean shutdown).
func (s *Segment) loadTail() error {
	size := s.size.Load()
	if size == 0 {
		return nil
	}
	last := s.offsetIdx.LastEntry()
	pos := int64(last.Position)
	if pos > size {
		return fmt.Errorf("segment %s: index entry position %d beyond log size %d", s.logName(), pos, size)
	}
	w := newWalker(s.log, size)
	defer w.put()
	for pos < size {
		h, err := w.header(pos)
		if err != nil {
			return err
		}
		if pos+int64(h.Size()) > size {
			return fmt.Errorf("segment %s: batch at position %d extends past the end: %w", s.logName(), pos, ErrTruncated)
		}
		s.nextOffset.Store(h.NextOffset())
		s.bytesSinceIndex += h.Size()
		pos += int64(h.Size())
	}
	if te := s.timeIdx.LastEntry(); te.Timestamp >= 0 {
		if te.Offset >= s.nextOffset.Load() {
			return fmt.Errorf("segment %s: %w: time index entry offset %d beyond next offset %d", s.logName(), ErrIndexCorrupt, te.Offset, s.nextOffset.Load())
		}
		s.maxTime.Store(te.Timestamp)
		s.maxTimeOffset = te.Offset
	}
	return nil
}

// BaseOffset is the offset of the segment's first batch.
func (s *Segment) BaseOffset() int64 { return s.baseOffset }

// Size is the number of bytes of complete batches in the .log file.
func (s *Segment) Size() int64 { return s.size.Load() }

// NextOffset is the offset after the segment's last batch.
func (s *Segment) NextOffset() int64 { return s.nextOffset.Load() }

// MaxTimestamp is the largest batch MaxTimestamp in the segment, or -1 when it has none.
func (s *Segment) MaxTimestamp() int64 { return s.maxTime.Load() }

// File is the segment's .log file, for reads of regions and for syncing.
func (s *Segment) File() vfs.File { return s.log }

// Dir is the directory holding the segment's files.
func (s *Segment) Dir() string { return s.dir }

func (s *Segment) logName() string {
	return filepath.Join(s.dir, FileName(s.baseOffset, LogSuffix)+s.tmp)
}

// IndexFull reports whether an index has no room for another entry: the caller rolls.
func (s *Segment) IndexFull() bool { return s.offsetIdx.IsFull() || s.timeIdx.IsFull() }

// Append writes a set of batches already validated and stamped with their offsets, with one
// write, and adds index entries every IndexIntervalBytes. metas describe each batch in data.
// The caller guarantees offsets increase and that the result fits int32 positions.
func (s *Segment) Append(data []byte, metas []BatchMeta) error {
	if s.sealed {
		return fmt.Errorf("segment %s: append to a sealed segment", s.logName())
	}
	pos := s.size.Load()
	if pos+int64(len(data)) > maxSegmentBytes {
		return fmt.Errorf("segment %s: %d bytes would pass the 2 GiB position limit", s.logName(), len(data))
	}
	if _, err := s.log.WriteAt(data, pos); err != nil {
		return err
	}
	for i := range metas {
		m := &metas[i]
		if m.MaxTimestamp > s.maxTime.Load() {
			s.maxTime.Store(m.MaxTimestamp)
			s.maxTimeOffset = m.LastOffset
		}
		if s.bytesSinceIndex > s.cfg.IndexIntervalBytes {
			if err := s.addIndexEntries(m.LastOffset, int32(pos)+m.RelPos); err != nil {
				return err
			}
			s.bytesSinceIndex = 0
		}
		next := int(int32(len(data)))
		if i+1 < len(metas) {
			next = int(metas[i+1].RelPos)
		}
		s.bytesSinceIndex += next - int(m.RelPos)
	}
	s.size.Store(pos + int64(len(data)))
	s.nextOffset.Store(metas[len(metas)-1].LastOffset + 1)
	return nil
}

// maxSegmentBytes keeps positions within the int32 the index stores.
const maxSegmentBytes = 1<<31 - 1

const (
	osCreateExcl = os.O_RDWR | os.O_CREATE | os.O_EXCL
	osReadWrite  = os.O_RDWR
)

func isNotExist(err error) bool { return errors.Is(err, iofs.ErrNotExist) }

// addIndexEntries adds an offset index entry for the batch at pos and a time index entry for
// the largest timestamp so far. A full index just stops growing: lookups stay correct, only
// slower, and the partition rolls the segment before its next append.
func (s *Segment) addIndexEntries(lastOffset int64, pos int32) error {
	if s.offsetIdx.IsFull() {
		return nil
	}
	if err := s.offsetIdx.Append(lastOffset, pos); err != nil {
		return err
	}
	if mt := s.maxTime.Load(); mt > s.timeIdx.LastEntry().Timestamp && !s.timeIdx.IsFull() {
		if err := s.timeIdx.Append(mt, s.maxTimeOffset); err != nil {
			return err
		}
	}
	return nil
}

// Find returns the position and header of the first batch whose last offset is >= offset, or
// found=false when the segment holds no such batch below its published size.
func (s *Segment) Find(offset int64) (pos int64, h Header, found bool, err error) {
	size := s.size.Load()
	if offset >= s.nextOffset.Load() {
		return size, Header{}, false, nil
	}
	pos = int64(s.offsetIdx.Lookup(offset).Position)
	w := newWalker(s.log, size)
	defer w.put()
	for pos < size {
		h, err = w.header(pos)
		if err != nil {
			return pos, h, false, err
		}
		if h.LastOffset() >= offset {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return size, Header{}, false, nil
}

// BoundaryAtOrBefore returns the largest batch boundary <= limit among positions >= from,
// where from is itself a boundary; it scans at most IndexIntervalBytes of headers after the
// nearest index entry. The result is from when no whole batch ends by limit.
func (s *Segment) BoundaryAtOrBefore(from, limit int64) (int64, error) {
	size := s.size.Load()
	if limit >= size {
		return size, nil
	}
	pos := from
	if e := s.offsetIdx.LookupPosition(int32(limit)); int64(e.Position) > pos {
		pos = int64(e.Position)
	}
	w := newWalker(s.log, size)
	defer w.put()
	for pos < size {
		h, err := w.header(pos)
		if err != nil {
			return pos, err
		}
		end := pos + int64(h.Size())
		if end > limit {
			return pos, nil
		}
		pos = end
	}
	return pos, nil
}

// FindTimestamp returns the offset of the first batch whose MaxTimestamp is >= ts, or
// found=false when no batch in the segment qualifies.
func (s *Segment) FindTimestamp(ts int64) (offset int64, found bool, err error) {
	if s.maxTime.Load() < ts {
		return 0, false, nil
	}
	e := s.timeIdx.Lookup(ts)
	pos := int64(s.offsetIdx.Lookup(e.Offset).Position)
	size := s.size.Load()
	w := newWalker(s.log, size)
	defer w.put()
	for pos < size {
		h, err := w.header(pos)
		if err != nil {
			return 0, false, err
		}
		if h.MaxTimestamp >= ts {
			return h.BaseOffset, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, false, nil
}

// TruncateTo removes every batch whose last offset is >= offset (a batch containing offset is
// removed whole, as Kafka does) and returns the number of bytes removed.
func (s *Segment) TruncateTo(offset int64) (int64, error) {
	pos, _, found, err := s.Find(offset)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, nil
	}
	cut := s.size.Load() - pos
	if err := s.truncateAt(pos); err != nil {
		return 0, err
	}
	return cut, nil
}

// truncateAt cuts the log at pos (a batch boundary) and rebuilds the writer state.
func (s *Segment) truncateAt(pos int64) error {
	if err := s.log.Truncate(pos); err != nil {
		return err
	}
	s.size.Store(pos)
	next, err := s.offsetAfter(pos)
	if err != nil {
		return err
	}
	s.nextOffset.Store(next)
	if err := s.offsetIdx.TruncateTo(next); err != nil {
		return err
	}
	if err := s.timeIdx.TruncateTo(next); err != nil {
		return err
	}
	s.bytesSinceIndex = int(pos) - int(s.offsetIdx.LastEntry().Position)
	s.sealed = false
	// The largest timestamp may have been cut: rescan the rest for it.
	return s.rescanMaxTime()
}

// offsetAfter returns the offset after the last batch that ends at or before pos.
func (s *Segment) offsetAfter(pos int64) (int64, error) {
	next := s.baseOffset
	start := int64(0)
	if pos > 0 {
		start = int64(s.offsetIdx.LookupPosition(int32(pos - 1)).Position) // a batch before pos
	}
	w := newWalker(s.log, pos)
	defer w.put()
	for p := start; p < pos; {
		h, err := w.header(p)
		if err != nil {
			return 0, err
		}
		next = h.NextOffset()
		p += int64(h.Size())
	}
	return next, nil
}

func (s *Segment) rescanMaxTime() error {
	s.maxTime.Store(-1)
	s.maxTimeOffset = s.baseOffset
	size := s.size.Load()
	w := newWalker(s.log, size)
	defer w.put()
	for p := int64(0); p < size; {
		h, err := w.header(p)
		if err != nil {
			return err
		}
		if h.MaxTimestamp > s.maxTime.Load() {
			s.maxTime.Store(h.MaxTimestamp)
			s.maxTimeOffset = h.LastOffset()
		}
		p += int64(h.Size())
	}
	return nil
}

// Seal marks the segment inactive after a roll: a final time index entry for the largest
// timestamp, indexes trimmed to their entries, everything flushed to the OS.
func (s *Segment) Seal() error {
	if s.sealed {
		return nil
	}
	if mt := s.maxTime.Load(); mt >= 0 && mt > s.timeIdx.LastEntry().Timestamp && !s.timeIdx.IsFull() {
		if err := s.timeIdx.Append(mt, s.maxTimeOffset); err != nil {
			return err
		}
	}
	if err := s.offsetIdx.TrimToValidSize(); err != nil {
		return err
	}
	if err := s.timeIdx.TrimToValidSize(); err != nil {
		return err
	}
	s.sealed = true
	return nil
}

// SyncIndexes makes the index files durable (the .log file is synced by the group committer).
// Indexes can always be rebuilt from the log, so the partition syncs them off its lock, after a
// roll and at close. It must not run concurrently with Append.
func (s *Segment) SyncIndexes() error {
	if err := s.offsetIdx.Sync(); err != nil {
		return err
	}
	return s.timeIdx.Sync()
}

// Close trims and closes the indexes and closes the log file.
func (s *Segment) Close() error {
	err := s.Seal()
	for _, e := range []error{s.offsetIdx.Close(), s.timeIdx.Close(), s.log.Close()} {
		if err == nil {
			err = e
		}
	}
	return err
}

// Remove closes the segment and deletes its files.
func (s *Segment) Remove() error {
	s.closeFiles()
	return RemoveTempFiles(s.fs, s.dir, s.baseOffset, s.tmp)
}

// ScanHeaders calls fn with the header of every batch whose last offset is >= from, in order.
func (s *Segment) ScanHeaders(from int64, fn func(h *Header)) error {
	return s.ScanHeadersAt(from, func(h *Header, _ int64) { fn(h) })
}

// ScanHeadersAt is ScanHeaders also passing each batch's position in the .log (to read the
// records of the few batches whose header is not enough, such as transaction markers).
func (s *Segment) ScanHeadersAt(from int64, fn func(h *Header, pos int64)) error {
	pos, _, found, err := s.Find(from)
	if err != nil || !found {
		return err
	}
	size := s.size.Load()
	w := newWalker(s.log, size)
	defer w.put()
	for pos < size {
		h, err := w.header(pos)
		if err != nil {
			return err
		}
		fn(&h, pos)
		pos += int64(h.Size())
	}
	return nil
}

// RemoveFiles deletes a segment's files without opening it.
func RemoveFiles(fs vfs.FS, dir string, baseOffset int64) error {
	return RemoveTempFiles(fs, dir, baseOffset, "")
}

// RemoveTempFiles deletes a segment's files named with tmp appended (CreateTemp, RenameFiles);
// missing files are not an error.
func RemoveTempFiles(fs vfs.FS, dir string, baseOffset int64, tmp string) error {
	var first error
	for _, suffix := range []string{LogSuffix, IndexSuffix, TimeIndexSuffix, TxnIndexSuffix} {
		if err := fs.Remove(filepath.Join(dir, FileName(baseOffset, suffix)+tmp)); err != nil && first == nil && !isNotExist(err) {
			first = err
		}
	}
	return first
}

// RenameFiles renames a segment's files from their names with from appended to their names
// with to appended (either may be empty: the log's own names), indexes first and the .log
// last, so the .log's name always says how far the rename went. Missing index files are
// skipped (they are rebuilt from the log). The caller syncs the directory.
func RenameFiles(fs vfs.FS, dir string, baseOffset int64, from, to string) error {
	for _, suffix := range []string{IndexSuffix, TimeIndexSuffix, TxnIndexSuffix, LogSuffix} {
		name := FileName(baseOffset, suffix)
		err := fs.Rename(filepath.Join(dir, name+from), filepath.Join(dir, name+to))
		if err != nil && (suffix == LogSuffix || !isNotExist(err)) {
			return err
		}
	}
	return nil
}
