package groupcommit

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// ErrLogDirOffline is wrapped by every error of a failed committer: an fsync of the log
// directory failed and the directory must be taken offline.
var ErrLogDirOffline = errors.New("groupcommit: log directory offline")

// ErrClosed is returned by MarkDirty, MarkDirDirty, Wait and Notify after Close.
var ErrClosed = errors.New("groupcommit: committer closed")

// errFutureSeq is returned for a sequence number that MarkDirty never handed out.
var errFutureSeq = errors.New("groupcommit: wait for a sequence number not yet assigned")

// DefaultParallelism is the default number of fdatasyncs one round runs at once.
const DefaultParallelism = 8

// Config configures a Committer.
type Config struct {
	// FS is used for SyncDir. Nil means vfs.Default.
	FS vfs.FS
	// Dir names the log directory in error messages.
	Dir string
	// Parallelism caps the fdatasyncs (and SyncDirs) one round runs concurrently; the flusher
	// itself runs one and starts at most Parallelism-1 helpers. Zero means DefaultParallelism.
	Parallelism int
	// OnSync, if set, is called by the flusher after each round that synced at least one file
	// or directory, with the duration of its sync phase and the number of files it synced.
	// It must not block: the next round waits for it.
	OnSync func(dur time.Duration, files int)
	// OnFailure, if set, is called once by the flusher with the error that failed the
	// committer, after every pending waiter has been released with it. The engine takes the
	// log directory offline here. It must not call Close (Close waits for the flusher).
	OnFailure func(err error)
}

// Stats are cumulative counters of a Committer.
type Stats struct {
	// Rounds is the number of completed rounds (one group fsync each).
	Rounds uint64
	// Appends is the number of sequence numbers (MarkDirty and MarkDirDirty calls) covered
	// by completed rounds. Appends/Rounds is the "appends released per fsync" metric.
	Appends uint64
	// FilesSynced and DirsSynced count the fdatasyncs and SyncDirs issued.
	FilesSynced uint64
	DirsSynced  uint64
	// WaitersReleased counts blocked Wait calls and queued Notify callbacks released by a
	// round (waiters already covered when they arrived are not counted).
	WaitersReleased uint64
	// LastRoundWaiters is WaitersReleased of the last completed round.
	LastRoundWaiters int
}

type notifier struct {
	seq uint64
	fn  func(error)
}

// Committer is the group committer of one log directory. All methods are safe for
// concurrent use.
type Committer struct {
	fs          vfs.FS
	dir         string
	parallelism int
	onSync      func(time.Duration, int)
	onFailure   func(error)

	mu sync.Mutex
	// seq is the last sequence number handed out. Guarded by mu.
	seq uint64
	// startedSeq is the roundSeq of the latest started round. Guarded by mu.
	startedSeq uint64
	// syncedSeq is the roundSeq of the latest completed round: every seq ≤ syncedSeq is
	// durable. Guarded by mu.
	syncedSeq uint64
	// round numbers the latest started round (0: none yet). Guarded by mu.
	round uint64
	// syncing is true while the flusher is in a round's sync phase. Guarded by mu.
	syncing bool
	// dirty and dirtyDirs collect what the next round must sync; inflight and inflightDirs
	// hold what the current round is syncing. The two pairs swap at each round start and are
	// cleared (keeping their storage) at its end. Guarded by mu; the flusher also reads
	// inflight and inflightDirs without mu during the sync phase, when nobody writes them.
	dirty, inflight         map[vfs.File]struct{}
	dirtyDirs, inflightDirs map[string]struct{}
	// notifiers are the pending Notify callbacks, in call order. Guarded by mu.
	notifiers []notifier
	// blocked[p] counts Wait calls blocked on covered[p]. Guarded by mu.
	blocked [2]int
	// forgetWaiters counts Forget calls blocked on syncDone. Guarded by mu.
	forgetWaiters int
	// flusherIdle is true while the flusher waits on work with nothing to do. Guarded by mu.
	flusherIdle bool
	// requested is the highest seq a Wait, Notify or Flush asked for; a round starts only
	// while requested > startedSeq. Guarded by mu.
	requested uint64
	// err is the failure that took the directory offline, nil while healthy. Guarded by mu.
	err error
	// closing is set by Close; closed once the flusher has stopped. Guarded by mu.
	closing, closed bool
	// stats are the cumulative counters. Guarded by mu.
	stats Stats

	// work wakes the idle flusher. covered[r&1] wakes the Wait calls covered by round r; a
	// waiter for round r+1 sleeps on the other Cond, so a round end wakes only the goroutines
	// it releases. syncDone wakes Forget calls when a sync phase ends. All use mu.
	work     sync.Cond
	covered  [2]sync.Cond
	syncDone sync.Cond

	// Owned by the flusher goroutine, no lock: the round's jobs and the callbacks to run.
	// Sync workers read files and dirs, and write firstErr under errMu, between receiving a
	// start token and wg.Done.
	files    []vfs.File
	dirs     []string
	dirPhase bool // the jobs being run are dirs, not files
	released []notifier
	next     atomic.Int64
	errMu    sync.Mutex
	firstErr error // guarded by errMu
	start    chan struct{}
	wg       sync.WaitGroup
	done     chan struct{}
}

// New starts a Committer and its flusher goroutine. Close stops it.
func New(cfg Config) *Committer {
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = DefaultParallelism
	}
	c := &Committer{
		fs:           cfg.FS,
		dir:          cfg.Dir,
		parallelism:  cfg.Parallelism,
		onSync:       cfg.OnSync,
		onFailure:    cfg.OnFailure,
		dirty:        make(map[vfs.File]struct{}),
		inflight:     make(map[vfs.File]struct{}),
		dirtyDirs:    make(map[string]struct{}),
		inflightDirs: make(map[string]struct{}),
		start:        make(chan struct{}, cfg.Parallelism),
		done:         make(chan struct{}),
	}
	c.work.L = &c.mu
	c.covered[0].L = &c.mu
	c.covered[1].L = &c.mu
	c.syncDone.L = &c.mu
	for i := 1; i < cfg.Parallelism; i++ {
		go c.syncWorker()
	}
	go c.flushLoop()
	return c
}

// MarkDirty records that f was just written and returns the sequence number covering that
// write: once Wait(seq) returns nil, the write is durable. Call it after the write completes
// (it may be called under the caller's partition lock: it only takes c.mu briefly).
// f must be comparable (a pointer type, as every vfs File is). Allocation-free once f's
// dirty-set slot exists. After a failure it returns the failure error, after Close ErrClosed.
func (c *Committer) MarkDirty(f vfs.File) (uint64, error) {
	c.mu.Lock()
	if err := c.refuseLocked(); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.dirty[f] = struct{}{}
	seq := c.nextSeqLocked()
	c.mu.Unlock()
	return seq, nil
}

// MarkDirDirty records that dir's entries changed (a file created, removed or renamed in it)
// and returns the sequence number whose round will SyncDir it. A round syncs directories
// after its files.
func (c *Committer) MarkDirDirty(dir string) (uint64, error) {
	c.mu.Lock()
	if err := c.refuseLocked(); err != nil {
		c.mu.Unlock()
		return 0, err
	}
	c.dirtyDirs[dir] = struct{}{}
	seq := c.nextSeqLocked()
	c.mu.Unlock()
	return seq, nil
}

// refuseLocked returns why no new sequence number may be handed out. REQUIRES: c.mu.
func (c *Committer) refuseLocked() error {
	if c.err != nil {
		return c.err
	}
	if c.closing {
		return ErrClosed
	}
	return nil
}

// nextSeqLocked hands out the next sequence number and wakes an idle flusher.
// REQUIRES: c.mu.
func (c *Committer) nextSeqLocked() uint64 {
	c.seq++
	return c.seq
}

// requestLocked records that someone waits for seq and wakes the idle flusher if that needs a
// new round. Rounds are demand-driven: dirty data nobody waits for is synced by the next round
// someone asks for (or Flush, or Close), not eagerly. REQUIRES: c.mu.
func (c *Committer) requestLocked(seq uint64) {
	if seq > c.requested {
		c.requested = seq
	}
	if c.flusherIdle && c.requested > c.startedSeq {
		c.flusherIdle = false
		c.work.Signal()
	}
}

// Wait blocks until seq is covered by a completed sync and returns nil, or returns the
// failure error (wrapping ErrLogDirOffline) if the committer fails first. A seq covered before
// a failure still returns nil. Allocation-free. Do not call it under a lock a Notify
// callback, OnSync or OnFailure takes.
func (c *Committer) Wait(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if seq <= c.syncedSeq {
			return nil
		}
		if c.err != nil {
			return c.err
		}
		if c.closed {
			return ErrClosed
		}
		if seq > c.seq {
			return errFutureSeq
		}
		c.requestLocked(seq)
		r := c.round // the round in flight covers seq …
		if seq > c.startedSeq {
			r++ // … or else the next one will.
		}
		p := r & 1
		c.blocked[p]++
		c.covered[p].Wait()
	}
}

// Notify arranges for fn to be called exactly once with Wait(seq)'s result. Normally the
// flusher goroutine calls fn(nil) right after the round that covers seq, in ascending seq
// order with the round's other callbacks. If seq is already covered, or the committer has
// already failed or closed, fn runs on the calling goroutine before Notify returns.
//
// fn must not block and must not call Close or Forget: the flusher runs callbacks one after
// another and the next round waits for them. Hand slow work to another goroutine.
// Allocation-free in steady state (the pending list is reused between rounds), provided fn
// itself is not a freshly allocated closure.
func (c *Committer) Notify(seq uint64, fn func(error)) {
	c.mu.Lock()
	var err error
	switch {
	case seq <= c.syncedSeq:
	case c.err != nil:
		err = c.err
	case c.closed:
		err = ErrClosed
	case seq > c.seq:
		err = errFutureSeq
	default:
		c.notifiers = append(c.notifiers, notifier{seq: seq, fn: fn})
		c.requestLocked(seq)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	fn(err)
}

// NotifyFlush is Flush without the wait: fn gets Flush's result, exactly once, on the flusher
// goroutine or (when nothing is pending, or the committer failed) on the caller's. Notify's
// rules for fn apply.
func (c *Committer) NotifyFlush(fn func(error)) {
	c.mu.Lock()
	seq, err := c.seq, c.err
	c.mu.Unlock()
	if err != nil {
		fn(err)
		return
	}
	c.Notify(seq, fn)
}

// Reserve raises the sequence counter to at least seq. A log moved here from another
// directory had every write its callers may still wait on (sequence numbers up to seq of that
// directory's committer) synced before the move; after Reserve their Wait and Notify calls
// here end with this committer's next round instead of failing as sequence numbers from the
// future.
func (c *Committer) Reserve(seq uint64) {
	c.mu.Lock()
	if seq > c.seq {
		c.seq = seq
	}
	c.mu.Unlock()
}

// Flush waits for a round covering everything marked dirty so far (used on clean shutdown
// and for flush.ms). It returns the failure error if the committer has failed, even when
// nothing was pending.
func (c *Committer) Flush() error {
	c.mu.Lock()
	seq, err := c.seq, c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Wait(seq)
}

// Forget removes f from the dirty set, so that the caller may close it (a segment deleted by
// retention or replaced by compaction). If the round in flight is syncing f, Forget waits for
// that round's sync phase to end (never for its callbacks), so f is never closed under an
// fdatasync. Writes to f marked before Forget are then considered covered without being
// synced. The caller must not write or MarkDirty f after Forget.
func (c *Committer) Forget(f vfs.File) {
	c.mu.Lock()
	delete(c.dirty, f)
	for c.syncing {
		if _, ok := c.inflight[f]; !ok {
			break
		}
		c.forgetWaiters++
		c.syncDone.Wait()
		c.forgetWaiters--
	}
	c.mu.Unlock()
}

// Stats returns the cumulative counters.
func (c *Committer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Close stops the committer. Every sequence number handed out before Close is covered by a
// final round, so pending Wait and Notify calls are released by that sync (with nil, or with
// the failure error if it fails); Close waits for it and returns the failure error, if any.
// Afterwards MarkDirty and MarkDirDirty return ErrClosed. Close is idempotent.
func (c *Committer) Close() error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		if c.flusherIdle {
			c.flusherIdle = false
			c.work.Signal()
		}
	}
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.err
}

// flushLoop is the flusher goroutine: one round after another while sequence numbers are
// pending.
func (c *Committer) flushLoop() {
	defer close(c.done)
	defer close(c.start) // stops the sync workers
	c.mu.Lock()
	for {
		for c.requested <= c.startedSeq && !c.closing {
			c.flusherIdle = true
			c.work.Wait()
		}
		c.flusherIdle = false
		if c.seq == c.startedSeq { // closing, nothing pending
			c.closed = true
			c.covered[0].Broadcast()
			c.covered[1].Broadcast()
			c.mu.Unlock()
			return
		}

		c.round++
		prevSeq, roundSeq := c.startedSeq, c.seq
		c.startedSeq = roundSeq
		c.dirty, c.inflight = c.inflight, c.dirty
		c.dirtyDirs, c.inflightDirs = c.inflightDirs, c.dirtyDirs
		c.syncing = true
		c.mu.Unlock()

		nfiles, ndirs, dur, err := c.syncRound()

		c.mu.Lock()
		clear(c.inflight)
		clear(c.inflightDirs)
		c.syncing = false
		if c.forgetWaiters > 0 {
			c.syncDone.Broadcast()
		}
		c.stats.FilesSynced += uint64(nfiles)
		c.stats.DirsSynced += uint64(ndirs)
		if err != nil {
			c.failLocked(err)
			return
		}
		c.syncedSeq = roundSeq
		c.stats.Rounds++
		c.stats.Appends += roundSeq - prevSeq
		rel := c.collectLocked(roundSeq)
		p := c.round & 1
		waiters := c.blocked[p] + len(rel)
		c.blocked[p] = 0
		c.covered[p].Broadcast()
		c.stats.WaitersReleased += uint64(waiters)
		c.stats.LastRoundWaiters = waiters
		c.mu.Unlock()

		c.runCallbacks(rel, nil)
		if c.onSync != nil && nfiles+ndirs > 0 {
			c.onSync(dur, nfiles)
		}
		c.mu.Lock()
	}
}

// collectLocked moves the pending notifiers with seq ≤ upTo into c.released, in seq order,
// and returns them. REQUIRES: c.mu.
func (c *Committer) collectLocked(upTo uint64) []notifier {
	rel, keep := c.released[:0], c.notifiers[:0]
	for _, n := range c.notifiers {
		if n.seq <= upTo {
			rel = append(rel, n)
		} else {
			keep = append(keep, n)
		}
	}
	clear(c.notifiers[len(keep):]) // drop the moved callbacks' references
	c.notifiers, c.released = keep, rel
	// Writers call Notify in nearly seq order; a stable sort keeps equal seqs in call order.
	slices.SortStableFunc(rel, func(a, b notifier) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return rel
}

// runCallbacks calls the released notifiers without any lock held.
func (c *Committer) runCallbacks(rel []notifier, err error) {
	for i := range rel {
		rel[i].fn(err)
		rel[i].fn = nil
	}
}

// failLocked makes the committer permanently failed with err, releases every waiter with it
// and calls OnFailure. REQUIRES: c.mu; returns with c.mu released.
func (c *Committer) failLocked(err error) {
	c.err = err
	rel := c.collectLocked(^uint64(0))
	c.covered[0].Broadcast()
	c.covered[1].Broadcast()
	c.mu.Unlock()
	c.runCallbacks(rel, err)
	if c.onFailure != nil {
		c.onFailure(err)
	}
}

// syncRound syncs the in-flight files, then the in-flight directories, with up to
// c.parallelism syncs at once. It runs on the flusher without c.mu: nobody writes the
// in-flight sets during the sync phase.
func (c *Committer) syncRound() (nfiles, ndirs int, dur time.Duration, err error) {
	c.files = c.files[:0]
	for f := range c.inflight {
		c.files = append(c.files, f)
	}
	c.dirs = c.dirs[:0]
	for d := range c.inflightDirs {
		c.dirs = append(c.dirs, d)
	}
	nfiles, ndirs = len(c.files), len(c.dirs)
	if nfiles+ndirs == 0 {
		return 0, 0, 0, nil // every dirty file was forgotten
	}
	begin := time.Now()
	c.firstErr = nil
	if nfiles > 0 {
		c.dirPhase = false
		c.runParallel(nfiles)
	}
	// Directories after files: a new segment's entry is made durable once its first bytes
	// are (either order is correct since nothing is released before both, this one keeps the
	// two kinds of sync from competing for the device).
	if c.firstErr == nil && ndirs > 0 {
		c.dirPhase = true
		c.runParallel(ndirs)
	}
	dur = time.Since(begin)
	clear(c.files) // drop references to files that may be closed before the next round
	return nfiles, ndirs, dur, c.firstErr
}

// runParallel runs jobs 0..n-1 of the current phase (c.files, or c.dirs if c.dirPhase) on
// the flusher and up to c.parallelism-1 workers, and waits for them. A single job runs inline.
func (c *Committer) runParallel(n int) {
	c.next.Store(0)
	helpers := min(c.parallelism, n) - 1
	c.wg.Add(helpers)
	for range helpers {
		c.start <- struct{}{}
	}
	c.runJobs()
	c.wg.Wait()
}

// syncError is the failure error: it wraps ErrLogDirOffline and the cause, and names the
// directory and the file whose sync failed.
func (c *Committer) syncError(name string, cause error) error {
	if c.dir == "" {
		return fmt.Errorf("%w: sync %s: %w", ErrLogDirOffline, name, cause)
	}
	return fmt.Errorf("%w: %s: sync %s: %w", ErrLogDirOffline, c.dir, name, cause)
}

func (c *Committer) syncWorker() {
	for range c.start {
		c.runJobs()
		c.wg.Done()
	}
}

// runJobs syncs jobs until none is left or one has failed.
func (c *Committer) runJobs() {
	files, dirs, dirPhase := c.files, c.dirs, c.dirPhase
	for {
		i := int(c.next.Add(1) - 1)
		var name string
		var err error
		if !dirPhase {
			if i >= len(files) {
				return
			}
			f := files[i]
			if err = f.Sync(); err != nil {
				name = f.Name()
			}
		} else {
			if i >= len(dirs) {
				return
			}
			name = dirs[i]
			err = c.fs.SyncDir(name)
			if errors.Is(err, iofs.ErrNotExist) {
				// Removed since it was marked (a deleted partition): nothing left to sync,
				// and the removal is made durable by a sync of its parent.
				err = nil
			}
		}
		if err != nil {
			c.errMu.Lock()
			if c.firstErr == nil {
				c.firstErr = c.syncError(name, err)
			}
			c.errMu.Unlock()
			c.next.Store(1 << 40) // no new job: the round has failed
			return
		}
	}
}

// SyncedSeq returns the highest sequence number known durable: every MarkDirty or
// MarkDirDirty that returned a seq at or below it is on disk.
func (c *Committer) SyncedSeq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.syncedSeq
}

// Fail takes the committer offline with err (wrapped with ErrLogDirOffline), as an fsync
// error would: the engine calls it when a write to the log directory fails, since the file's
// state is then unknown. Only the first failure counts.
func (c *Committer) Fail(err error) {
	c.mu.Lock()
	if c.err != nil || c.closed {
		c.mu.Unlock()
		return
	}
	c.failLocked(fmt.Errorf("%w: %s: %w", ErrLogDirOffline, c.dir, err))
}
