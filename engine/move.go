package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"sync"

	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// Moving a partition to another log directory (Kafka's AlterReplicaLogDirs, KIP-113): a
// future log "<topic>-<partition>.<uid>-future" is created in the destination and filled by
// copying the current log's batches while the partition keeps serving; once it has caught up,
// the rest is copied and the future log takes the current one's place under the partition's
// locks (Log.cleanMu, Log.mu, Log.snapMu, in that order). The swap, crash-safe at every step:
//
//  1. the future log is synced (data, indexes, leader epochs, producer snapshot) and closed,
//     and its directory entry synced in the destination;
//  2. the current directory is renamed "<topic>-<partition>.<uid>-delete", source synced;
//  3. the future directory is renamed "<topic>-<partition>", destination synced;
//  4. the Log takes the reopened files, directory and group committer of the destination
//     (the *Log callers hold stays the same); the old segments are closed, never removed by
//     name, and the "-delete" directory is removed.
//
// OpenLogDirs resolves what a crash leaves: a future log whose partition still has its
// current directory is discarded (the move had not swapped: no data was only there); one
// whose current directory was renamed to "-delete" with the same uid is complete (step 1
// came before step 2) and is renamed into place; every "-delete" directory is then removed.
const (
	futureSuffix = "-future"
	deleteSuffix = "-delete"
)

var (
	// ErrLogDirNotFound: a directory that is not one of the broker's log directories
	// (AlterReplicaLogDirs' LOG_DIR_NOT_FOUND).
	ErrLogDirNotFound = errors.New("not a log directory of this broker")
	// ErrTopicNameTooLong: a partition whose future log's directory name would pass 255
	// bytes cannot move (Kafka's INVALID_TOPIC_EXCEPTION, KAFKA-4893).
	ErrTopicNameTooLong = errors.New("topic name too long to move between log directories")
)

// errMoveRestart: the current log was truncated, or its start moved past the copy, while it
// was being copied.
var errMoveRestart = errors.New("log truncated or its start moved during the copy")

// moveCopyBytes is how much one copy step reads from the current log.
const moveCopyBytes = 1 << 20

// move is a partition's move in progress to another log directory, listed in LogDirs.moves
// until its mover returns (Close waits for it).
type move struct {
	tp       TopicPartition
	dest     *LogDir
	future   *Log          // the log being filled; nil before it is created. Guarded by LogDirs.mu.
	swapped  bool          // the future log took the current one's place. Guarded by LogDirs.mu.
	cancel   chan struct{} // closed to stop the move
	stopOnce sync.Once
	done     chan struct{} // closed when the mover has returned
}

// stop cancels the move and waits for its mover. REQUIRES: LogDirs.openMu not held (the
// mover's swap takes it).
func (m *move) stop() {
	m.stopOnce.Do(func() { close(m.cancel) })
	<-m.done
}

// moveStep names a durable step of the swap, for tests that crash after each.
type moveStep int

const (
	moveCaughtUp moveStep = iota + 1 // the future log caught up, not yet synced
	moveFutureSynced
	moveCurrentRenamed
	moveFutureRenamed
	moveDone
)

// FutureLog describes a partition's move in progress (DescribeLogDirs' future replica).
type FutureLog struct {
	// Dir is the destination directory.
	Dir *LogDir
	// Size is the future log's segment bytes so far.
	Size int64
	// Lag is how far its end is below the current log's end.
	Lag int64
}

// Futures lists the moves in progress, by partition.
func (d *LogDirs) Futures() map[TopicPartition]FutureLog {
	d.mu.Lock()
	moves := make([]*move, 0, len(d.moves))
	futures := make([]*Log, 0, len(d.moves))
	for _, m := range d.moves {
		if !m.swapped {
			moves = append(moves, m)
			futures = append(futures, m.future)
		}
	}
	d.mu.Unlock()
	out := make(map[TopicPartition]FutureLog, len(moves))
	for i, m := range moves {
		fl := FutureLog{Dir: m.dest}
		var cur int64
		if l := d.Log(m.tp); l != nil {
			cur = l.LogEndOffset()
		}
		if f := futures[i]; f != nil {
			fl.Size, fl.Lag = f.Size(), max(cur-f.LogEndOffset(), 0)
		} else {
			fl.Lag = cur
		}
		out[m.tp] = fl
	}
	return out
}

// DirByPath returns the log directory whose absolute path is path's, or nil.
func (d *LogDirs) DirByPath(path string) *LogDir {
	want := absDir(path)
	for _, ld := range d.dirs {
		if absDir(ld.Path) == want {
			return ld
		}
	}
	return nil
}

// absDir is path made absolute and clean (Kafka compares log directories by absolute path).
func absDir(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

// MoveLog starts moving a partition's log to the log directory at path (Kafka's
// AlterReplicaLogDirs for one partition) and returns without waiting for the copy. Moving to
// the directory the log is in, or to where it is already moving, does nothing; a move to
// another destination replaces the one in progress. A partition without a log here is
// placed in that directory when it is created (ErrUnknownPartition is still returned, as
// Kafka answers REPLICA_NOT_AVAILABLE). Errors: ErrLogDirNotFound for an unknown path,
// ErrLogDirOffline when the destination or the partition's directory is offline.
func (d *LogDirs) MoveLog(tp TopicPartition, path string) error {
	dest := d.DirByPath(path)
	if dest == nil {
		return fmt.Errorf("%s: %w", path, ErrLogDirNotFound)
	}
	if err := dest.Engine.Offline(); err != nil {
		return fmt.Errorf("log directory %s: %w: %v", dest.Path, ErrLogDirOffline, err)
	}
	if len(tp.dirName())+len(".")+32+len(futureSuffix) > 255 {
		return fmt.Errorf("%s: %w", tp, ErrTopicNameTooLong)
	}
	d.mu.Lock()
	old := d.moves[tp]
	d.mu.Unlock()
	if old != nil {
		if old.dest == dest {
			return nil
		}
		old.stop() // without openMu: its swap takes it
	}
	d.openMu.Lock()
	defer d.openMu.Unlock()
	d.mu.Lock()
	src, racing := d.where[tp], d.moves[tp]
	if src == nil {
		d.preferred[tp] = dest
		d.mu.Unlock()
		return fmt.Errorf("%s: %w: no replica on this broker yet; it will be created in %s", tp, ErrUnknownPartition, dest.Path)
	}
	d.mu.Unlock()
	if err := src.Engine.Offline(); err != nil {
		return fmt.Errorf("%s in %s: %w: %v", tp, src.Path, ErrLogDirOffline, err)
	}
	if racing != nil || src == dest {
		return nil // already there, or a concurrent request started a move meanwhile
	}
	l := src.Engine.Log(tp)
	if l == nil {
		return fmt.Errorf("%s: %w: its log is not open", tp, ErrUnknownPartition)
	}
	m := &move{tp: tp, dest: dest, cancel: make(chan struct{}), done: make(chan struct{})}
	d.mu.Lock()
	d.moves[tp] = m
	d.mu.Unlock()
	go d.runMove(m, src, l)
	return nil
}

// runMove copies and swaps until done, cancelled, or failed (logged; the future is
// discarded and the partition stays where it is).
func (d *LogDirs) runMove(m *move, src *LogDir, l *Log) {
	defer close(m.done)
	defer func() {
		d.mu.Lock()
		if d.moves[m.tp] == m {
			delete(d.moves, m.tp)
		}
		d.mu.Unlock()
	}()
	for {
		err := d.moveOnce(m, src, l)
		if errors.Is(err, errMoveRestart) {
			continue
		}
		if err != nil && !errors.Is(err, ErrClosed) {
			d.log.Warn("moving a partition to another log directory failed; it stays where it is",
				"partition", m.tp.String(), "from", src.Path, "to", m.dest.Path, "err", err)
		}
		return
	}
}

// newMoveID is a future log's unique id: 32 hex digits, as Kafka's (a Uuid without dashes).
func newMoveID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// moveOnce creates the future log, fills it and swaps it in. A truncation of the current log
// during the copy returns errMoveRestart (the future is discarded).
func (d *LogDirs) moveOnce(m *move, src *LogDir, l *Log) (err error) {
	uid := newMoveID()
	futureDir := filepath.Join(m.dest.Path, tp2future(m.tp, uid))
	dest := m.dest.Engine
	l.mu.Lock()
	gen, cfg, replicated := l.resets, l.cfg, l.replicated
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return ErrClosed
	}
	first, err := firstBatchBase(l)
	if err != nil {
		return err
	}
	if err := d.cfg.Engine.FS.MkdirAll(futureDir, 0o755); err != nil {
		dest.gc.Fail(err)
		return err
	}
	cfg.MaxMessageBytes = math.MaxInt32 // copy what the log holds, whatever the limit now
	f, err := openLog(openParams{fs: dest.fs, dir: futureDir, tp: m.tp, cfg: cfg, gc: dest.gc,
		logger: dest.log, now: dest.cfg.Now, logStartOffset: first, replicated: replicated})
	if err != nil {
		d.cfg.Engine.FS.RemoveAll(futureDir)
		return err
	}
	d.mu.Lock()
	m.future = f
	d.mu.Unlock()
	var swapped bool // past step 2: the future log is the partition's data
	defer func() {
		if swapped {
			return
		}
		d.mu.Lock()
		m.future = nil
		d.mu.Unlock()
		f.close()
		d.cfg.Engine.FS.RemoveAll(futureDir)
	}()
	// Catch up without the partition's lock; appends go on meanwhile.
	for {
		select {
		case <-m.cancel:
			return ErrClosed
		default:
		}
		n, err := copyBatches(l, f)
		if err != nil {
			l.mu.Lock()
			err = copyFailed(l, f, gen, err)
			l.mu.Unlock()
			return err
		}
		if n == 0 {
			break
		}
		d.moveThrottle.wait(n)
	}
	d.moveHook(moveCaughtUp)
	swapped, err = d.swap(m, src, l, f, uid, gen)
	return err
}

// tp2future is the future log's directory name.
func tp2future(tp TopicPartition, uid string) string { return tp.dirName() + "." + uid + futureSuffix }

// firstBatchBase is the base offset of the batch holding the log start offset (the future
// log starts there), or the end offset of an empty log.
func firstBatchBase(l *Log) (int64, error) {
	start := l.LogStartOffset()
	r, err := l.Read(start, 1, l.LogEndOffset())
	if err != nil {
		return 0, err
	}
	defer r.Release()
	if r.Len == 0 {
		return l.LogEndOffset(), nil
	}
	var hdr [segment.HeaderSize]byte
	if _, err := r.File.ReadAt(hdr[:], r.Pos); err != nil {
		return 0, err
	}
	h, err := segment.ParseHeader(hdr[:])
	if err != nil {
		return 0, err
	}
	return h.BaseOffset, nil
}

// copyFailed is what a failed copy step means: the current log was truncated, or its start
// moved past the copy (DeleteRecords, retention), and the move starts over; or err.
// REQUIRES: l.mu held.
func copyFailed(l, f *Log, gen uint64, err error) error {
	if l.closed {
		return ErrClosed
	}
	if l.resets != gen || l.logStartOffset.Load() > f.LogEndOffset() {
		return errMoveRestart
	}
	return err
}

// copyBatches appends to f the batches of l from f's end (at most moveCopyBytes) and returns
// how many bytes it copied.
func copyBatches(l, f *Log) (int, error) {
	end := l.LogEndOffset()
	next := f.LogEndOffset()
	if next >= end {
		return 0, nil
	}
	r, err := l.Read(next, moveCopyBytes, end)
	if err != nil {
		return 0, err
	}
	if r.Len == 0 {
		r.Release()
		return 0, nil
	}
	buf := make([]byte, r.Len)
	_, err = r.File.ReadAt(buf, r.Pos)
	r.Release()
	if err != nil {
		return 0, err
	}
	if _, err := f.Append(buf, AppendOptions{KeepOffsets: true, SkipProducerChecks: true}); err != nil {
		return 0, err
	}
	return len(buf), nil
}

// swap copies the rest under the partition's locks and puts the future log in the current
// one's place (the steps in the comment at the top). committed is true once step 2 is done:
// from then on the future log is the partition's only complete copy and must never be
// discarded; a failure after it takes the source directory offline, and the next start
// finishes the move.
func (d *LogDirs) swap(m *move, src *LogDir, l, f *Log, uid string, gen uint64) (committed bool, err error) {
	fs := d.cfg.Engine.FS
	dest := m.dest
	d.openMu.Lock()
	defer d.openMu.Unlock()
	select {
	case <-m.cancel:
		return false, ErrClosed
	default:
	}
	if d.DirOf(m.tp) != src {
		return false, ErrClosed // deleted meanwhile
	}
	l.cleanMu.Lock()
	l.mu.Lock()
	l.snapMu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			l.snapMu.Unlock()
			l.mu.Unlock()
			l.cleanMu.Unlock()
		}
	}
	defer unlock()
	if l.closed {
		return false, ErrClosed
	}
	if l.resets != gen {
		return false, errMoveRestart
	}
	for {
		n, err := copyBatches(l, f)
		if err != nil {
			return false, copyFailed(l, f, gen, err)
		}
		if n == 0 {
			break
		}
	}
	// Step 1: the future log, complete and durable, with the current log's leader epochs
	// (an epoch assigned without records is in no batch) and producer state.
	f.mu.Lock()
	f.epochs.entries = append([]EpochEntry(nil), l.epochs.entries...)
	err = f.epochs.persist()
	f.producers = l.producers
	f.mu.Unlock()
	if err == nil {
		err = dest.Engine.gc.Flush()
	}
	if err == nil {
		err = f.close()
	}
	futureDir := f.dir
	if err == nil {
		err = fs.SyncDir(futureDir)
	}
	if err == nil {
		err = fs.SyncDir(dest.Path)
	}
	if err != nil {
		dest.Engine.gc.Fail(err)
		return false, err
	}
	d.moveHook(moveFutureSynced)
	// Step 2.
	current := filepath.Join(src.Path, m.tp.dirName())
	trash := current + "." + uid + deleteSuffix
	if err := fs.Rename(current, trash); err != nil {
		return false, err // nothing changed
	}
	if err := fs.SyncDir(src.Path); err != nil {
		src.Engine.gc.Fail(err)
		return true, err
	}
	d.moveHook(moveCurrentRenamed)
	// Step 3.
	final := filepath.Join(dest.Path, m.tp.dirName())
	err = fs.Rename(futureDir, final)
	if err == nil {
		err = fs.SyncDir(dest.Path)
	}
	if err != nil {
		src.Engine.gc.Fail(fmt.Errorf("%s: move to %s interrupted (the next start finishes it): %w", m.tp, dest.Path, err))
		return true, err
	}
	d.moveHook(moveFutureRenamed)
	// Step 4.
	end := l.logEndOffset.Load()
	g, err := openLog(openParams{fs: fs, dir: final, tp: m.tp, cfg: l.cfg, gc: dest.Engine.gc,
		logger: dest.Engine.log, now: dest.Engine.cfg.Now, clean: true, recoveryPoint: end,
		logStartOffset: l.logStartOffset.Load(), replicated: l.replicated, highWatermark: l.highWatermark.Load()})
	if err != nil {
		src.Engine.gc.Fail(fmt.Errorf("%s: reopen after the move to %s (the next start finishes it): %w", m.tp, dest.Path, err))
		return true, err
	}
	l.closeTxnFileLocked()
	old := l.segments()
	// Waits on the old committer's sequence numbers, up to this log's last, may come here.
	dest.Engine.gc.Reserve(l.pendingSeq)
	l.dir = final
	l.gc.Store(dest.Engine.gc)
	l.active = g.active
	l.setSegments(g.segments())
	l.epochs = g.epochs
	l.activeCreatedAt = g.activeCreatedAt
	l.pendingSeq, l.pendingEnd = 0, 0
	l.recoveryPoint.Store(end)
	l.checkpointedRecoveryPoint.Store(0) // the destination's checkpoint does not list it yet
	for _, h := range old {
		h.movedAway()
		h.drop()
	}
	l.deleteBelowStartLocked()
	unlock()

	if err := fs.RemoveAll(trash); err != nil {
		d.log.Warn("removing a moved partition's old directory failed", "dir", trash, "err", err)
	}
	src.Engine.forget(m.tp)
	dest.Engine.adopt(m.tp, l)
	d.mu.Lock()
	d.where[m.tp] = dest
	m.swapped, m.future = true, nil // DescribeLogDirs shows no future from now
	d.mu.Unlock()
	if err := dest.Engine.Checkpoint(); err != nil {
		d.log.Warn("checkpoint after a move failed", "log_dir", dest.Path, "err", err)
	}
	if err := src.Engine.Checkpoint(); err != nil {
		d.log.Warn("checkpoint after a move failed", "log_dir", src.Path, "err", err)
	}
	d.moveHook(moveDone)
	d.log.Info("moved partition to another log directory", "partition", m.tp.String(),
		"from", src.Path, "to", dest.Path, "log_end_offset", end)
	return true, nil
}

// moveHook calls the test hook after a step of a move.
func (d *LogDirs) moveHook(step moveStep) {
	if d.afterMoveStep != nil {
		d.afterMoveStep(step)
	}
}

// forget drops a partition from the directory's maps (deleted, or moved to another
// directory) and returns its open log, if any, and whether it was on disk unopened.
func (e *Engine) forget(tp TopicPartition) (l *Log, onDisk bool) {
	e.mu.Lock()
	l, onDisk = e.logs[tp], e.onDisk[tp]
	delete(e.logs, tp)
	delete(e.onDisk, tp)
	delete(e.recPts, tp)
	delete(e.starts, tp)
	delete(e.hws, tp)
	delete(e.cleaner.cleanedTo, tp)
	e.mu.Unlock()
	return l, onDisk
}

// adopt registers an open log that moved into this directory.
func (e *Engine) adopt(tp TopicPartition, l *Log) {
	e.mu.Lock()
	e.logs[tp] = l
	e.mu.Unlock()
}

// stopMoves cancels the moves in progress and waits for their movers (Close).
func (d *LogDirs) stopMoves() {
	d.mu.Lock()
	moves := make([]*move, 0, len(d.moves))
	for _, m := range d.moves {
		moves = append(moves, m)
	}
	d.mu.Unlock()
	for _, m := range moves {
		m.stop()
	}
}

// cancelMove stops a partition's move, if any, and waits for its mover. REQUIRES: openMu
// not held.
func (d *LogDirs) cancelMove(tp TopicPartition) {
	d.mu.Lock()
	m := d.moves[tp]
	d.mu.Unlock()
	if m != nil {
		m.stop()
	}
}

// moveName parses "<topic>-<partition>.<uid><suffix>".
func moveName(name, suffix string) (TopicPartition, string, bool) {
	if !strings.HasSuffix(name, suffix) {
		return TopicPartition{}, "", false
	}
	rest := strings.TrimSuffix(name, suffix)
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return TopicPartition{}, "", false
	}
	tp, ok := parseDirName(rest[:i])
	return tp, rest[i+1:], ok
}

// recoverMoves resolves what an interrupted move left in the log directories (see the
// comment at the top), before their engines open.
func recoverMoves(fsys vfs.FS, dirs []string) error {
	type entry struct {
		dir, name string
		tp        TopicPartition
		uid       string
	}
	current := map[TopicPartition]bool{}
	deleted := map[string]entry{} // by uid
	var futures, trash []entry
	for _, dir := range dirs {
		names, err := fsys.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a new directory
		}
		if err != nil {
			// A directory that fails (it starts offline) may hold the other half of a move:
			// touch nothing until every directory can be read.
			return nil
		}
		for _, n := range names {
			if tp, ok := parseDirName(n); ok {
				current[tp] = true
			} else if tp, uid, ok := moveName(n, futureSuffix); ok {
				futures = append(futures, entry{dir, n, tp, uid})
			} else if tp, uid, ok := moveName(n, deleteSuffix); ok {
				e := entry{dir, n, tp, uid}
				trash = append(trash, e)
				deleted[uid] = e
			}
		}
	}
	for _, f := range futures {
		path := filepath.Join(f.dir, f.name)
		if del, ok := deleted[f.uid]; ok && del.tp == f.tp && !current[f.tp] {
			// Interrupted between steps 2 and 3: the future log is complete.
			if err := fsys.Rename(path, filepath.Join(f.dir, f.tp.dirName())); err != nil {
				return fmt.Errorf("finish moving %s to %s: %w", f.tp, f.dir, err)
			}
			if err := fsys.SyncDir(f.dir); err != nil {
				return fmt.Errorf("finish moving %s to %s: %w", f.tp, f.dir, err)
			}
			current[f.tp] = true
			continue
		}
		if err := fsys.RemoveAll(path); err != nil {
			return fmt.Errorf("discard the unfinished future log %s: %w", path, err)
		}
	}
	for _, t := range trash {
		if err := fsys.RemoveAll(filepath.Join(t.dir, t.name)); err != nil {
			return fmt.Errorf("remove %s: %w", filepath.Join(t.dir, t.name), err)
		}
	}
	return nil
}
