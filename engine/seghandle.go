package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/engine/internal/groupcommit"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// segHandle is one segment of a partition, opened lazily on first use and closed again when
// idle, so a broker with many partitions and segments holds few file descriptors and mmaps.
//
// References: the log holds one reference while the segment is part of it; every reader (a
// Region) holds one until it releases. When the last reference goes after the log dropped the
// segment, its files are removed. Lock order: Log.mu before segHandle.mu.
type segHandle struct {
	base   int64
	fs     vfs.FS
	dir    string
	cfg    segment.Config
	gc     *groupcommit.Committer // forgets the .log file before it is closed
	logger *slog.Logger

	mu      sync.Mutex       // guards seg, refs, removed
	seg     *segment.Segment // nil while closed
	refs    int              // readers plus one for the log while not dropped
	dropped bool             // the log no longer lists this segment
	active  bool             // the segment being appended to: never closed when idle
	// tmp is appended to the file names once the cleaner renamed the files away (".deleted")
	// to put a cleaned segment in their place; guarded by mu.
	tmp string
	// moved is set when the segment's directory moved away with its files (a partition
	// moved to another log directory): dropping it closes the files and removes none.
	// Guarded by mu.
	moved    bool
	lastUsed atomic.Int64 // unix nanoseconds of the last acquire
	sizeHint atomic.Int64 // size when last known, for retention while closed
}

func newSegHandle(fs vfs.FS, gc *groupcommit.Committer, logger *slog.Logger, dir string, base int64, cfg segment.Config, seg *segment.Segment) *segHandle {
	h := &segHandle{base: base, fs: fs, gc: gc, logger: logger, dir: dir, cfg: cfg, seg: seg, refs: 1}
	h.lastUsed.Store(time.Now().UnixNano())
	if seg != nil {
		h.sizeHint.Store(seg.Size())
	}
	return h
}

var errSegmentDropped = errors.New("segment deleted")

// acquire opens the segment if needed and takes a reference. The caller must release it.
func (h *segHandle) acquire() (*segment.Segment, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropped {
		return nil, errSegmentDropped
	}
	if h.seg == nil {
		s, err := openSegment(h.fs, h.dir, h.base, h.cfg, false, h.logger)
		if err != nil {
			return nil, err
		}
		h.seg = s
	}
	h.refs++
	h.lastUsed.Store(time.Now().UnixNano())
	return h.seg, nil
}

// release drops a reader's reference.
func (h *segHandle) release() {
	h.mu.Lock()
	h.refs--
	last := h.refs == 0
	h.mu.Unlock()
	if last {
		h.destroy()
	}
}

// drop removes the log's own reference: the segment's files go when no reader holds it.
func (h *segHandle) drop() {
	h.mu.Lock()
	if h.dropped {
		h.mu.Unlock()
		return
	}
	h.dropped = true
	h.refs--
	last := h.refs == 0
	h.mu.Unlock()
	if last {
		h.destroy()
	}
}

// destroy removes the segment's files. Called once, with no references left.
func (h *segHandle) destroy() {
	h.mu.Lock()
	s, tmp, moved := h.seg, h.tmp, h.moved
	h.seg = nil
	h.mu.Unlock()
	if moved {
		if s != nil {
			h.gc.Forget(s.File())
			s.Close()
		}
		return
	}
	if s != nil {
		h.gc.Forget(s.File())
		if tmp == "" {
			s.Remove()
			return
		}
		s.Close() // its files were renamed: Remove would delete the cleaned segment's
	}
	segment.RemoveTempFiles(h.fs, h.dir, h.base, tmp)
}

// movedAway records that the segment's directory was renamed away with its files.
func (h *segHandle) movedAway() {
	h.mu.Lock()
	h.moved = true
	h.mu.Unlock()
}

// renamedTo records that the cleaner renamed the segment's files to their names plus tmp.
func (h *segHandle) renamedTo(tmp string) {
	h.mu.Lock()
	h.tmp = tmp
	h.mu.Unlock()
}

// closeIfIdle closes the segment's files when no reader holds it and it was unused since
// before idleSince. It reports whether it closed.
func (h *segHandle) closeIfIdle(idleSince time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seg == nil || h.active || h.dropped || h.refs > 1 || h.lastUsed.Load() > idleSince.UnixNano() {
		return false
	}
	// Make its data durable first: forgetting a dirty file would let a later sync "cover" it.
	// Through the committer, so this sync never races one of its own on the same descriptor.
	if err := h.gc.SyncAndForget(h.seg.File()); err != nil {
		h.gc.Fail(fmt.Errorf("sync idle segment: %w", err))
		return false
	}
	h.sizeHint.Store(h.seg.Size())
	h.seg.Close()
	h.seg = nil
	return true
}

// close closes the segment for good (log close).
func (h *segHandle) close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seg == nil {
		return nil
	}
	h.gc.Forget(h.seg.File())
	err := h.seg.Close()
	h.seg = nil
	return err
}

// Region is a part of a segment file holding whole record batches, for a zero-copy send. The
// holder must call Release exactly once when done with it; until then the file stays open.
type Region struct {
	File vfs.File // the segment's .log file
	Pos  int64    // byte position of the first batch
	Len  int64    // length in bytes; 0 when there is nothing to read
	h    *segHandle
}

// Release lets the segment be closed or deleted again. Safe on an empty Region.
func (r *Region) Release() {
	if r.h != nil {
		r.h.release()
		r.h = nil
	}
}

func (h *segHandle) setActive(on bool) {
	h.mu.Lock()
	h.active = on
	h.mu.Unlock()
}

// size returns the segment's size, from the open segment or the last known value.
func (h *segHandle) size() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seg != nil {
		h.sizeHint.Store(h.seg.Size())
	}
	return h.sizeHint.Load()
}

// file returns the open segment's .log file, or nil (to forget it in the group committer).
func (h *segHandle) file() vfs.File {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seg == nil {
		return nil
	}
	return h.seg.File()
}
