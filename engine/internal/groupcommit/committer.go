package groupcommit

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"runtime"
	"slices"
	"sync"
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

// DefaultParallelism is the default number of fdatasyncs (and SyncDirs) run at once.
const DefaultParallelism = 8

// MaxDepth is the largest Config.Depth: the most rounds that may be in flight at once.
const MaxDepth = 4

// DefaultDepth is the default number of rounds in flight: a request that arrives while a
// round syncs starts the next round at once instead of waiting for the current one to end.
const DefaultDepth = 2

// Config configures a Committer.
type Config struct {
	// FS is used for SyncDir. Nil means vfs.Default.
	FS vfs.FS
	// Dir names the log directory in error messages.
	Dir string
	// Parallelism is the number of sync workers: the fdatasyncs and SyncDirs run at once,
	// over all rounds in flight. Zero means DefaultParallelism.
	Parallelism int
	// Depth caps the rounds in flight (1 … MaxDepth): a round may start while up to Depth-1
	// earlier ones still sync. Rounds still release in order, and one file never has two
	// fdatasyncs in flight (see doc.go). Zero means DefaultDepth; 1 is one round at a time.
	Depth int
	// OnSync, if set, is called by the flusher after each round that synced at least one file
	// or directory, with the duration of its sync phase (from its start until its last sync
	// returned, a wait behind an earlier round's sync of a file included) and the number of
	// files it synced.
	// It must not block: the release of the next round waits for it.
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
	// FilesSynced and DirsSynced count the fdatasyncs and SyncDirs of completed rounds.
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

// round is one group commit: it covers sequence numbers prevSeq+1 … seq and syncs the files
// and directories dirty when it started, files first. All fields are guarded by Committer.mu.
type round struct {
	num      uint64 // round number, from 1
	prevSeq  uint64
	seq      uint64
	files    []vfs.File
	dirs     []string
	dirPhase bool // the directory jobs have been queued
	pending  int  // jobs of the current phase not yet finished (queued, running or parked)
	synced   int  // file syncs issued
	dirsDone int  // directory syncs issued
	err      error
	done     bool // every job has finished
	begin    time.Time
	dur      time.Duration
}

// job is one sync of a round: a file, or a directory when file is nil.
type job struct {
	r    *round
	file vfs.File
	dir  string
}

// fileState is a file with a sync queued or running (busy) and the later rounds waiting to
// sync it after that one, oldest first.
type fileState struct {
	busy   bool
	n      int
	parked [MaxDepth - 1]*round
}

// Committer is the group committer of one log directory. All methods are safe for
// concurrent use.
type Committer struct {
	fs          vfs.FS
	dir         string
	parallelism int
	depth       int
	onSync      func(time.Duration, int)
	onFailure   func(error)

	mu sync.Mutex
	// seq is the last sequence number handed out. Guarded by mu.
	seq uint64
	// startedSeq is the seq of the latest started round. Guarded by mu.
	startedSeq uint64
	// syncedSeq is the seq of the latest released round: every seq ≤ syncedSeq is durable.
	// Guarded by mu.
	syncedSeq uint64
	// round numbers the latest started round (0: none yet). Guarded by mu.
	round uint64
	// dirty and dirtyDirs collect what the next round must sync. Guarded by mu.
	dirty     map[vfs.File]struct{}
	dirtyDirs map[string]struct{}
	// rounds are the rounds in flight (started, not yet released), oldest first; spare are
	// released rounds kept for reuse. Guarded by mu.
	rounds, spare []*round
	// files holds every file with a sync queued or running: at most one per file, later
	// rounds park behind it. Guarded by mu.
	files map[vfs.File]fileState
	// queue[qhead:] are the jobs ready for a worker, in order. Guarded by mu.
	queue []job
	qhead int
	// stopping tells the workers to exit once the queue is empty. Guarded by mu.
	stopping bool
	// notifiers are the pending Notify callbacks, in call order. Guarded by mu.
	notifiers []notifier
	// released is the flusher's buffer for the callbacks of the round it releases; only the
	// flusher uses it. Guarded by mu while being filled.
	released []notifier
	// blocked[p] counts Wait calls blocked on covered[p]. Guarded by mu.
	blocked [MaxDepth + 1]int
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

	// work wakes the idle flusher. covered[r%len(covered)] wakes the Wait calls covered by
	// round r: the rounds a waiter can wait for (those in flight and the next) map to
	// distinct Conds, so a release wakes only the goroutines it releases. syncDone wakes
	// Forget calls when a file's sync ends; jobReady wakes idle workers. All use mu.
	work     sync.Cond
	covered  [MaxDepth + 1]sync.Cond
	syncDone sync.Cond
	jobReady sync.Cond

	workers sync.WaitGroup
	done    chan struct{}
}

// New starts a Committer, its flusher goroutine and its sync workers. Close stops them.
func New(cfg Config) *Committer {
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	if cfg.Parallelism <= 0 {
		cfg.Parallelism = DefaultParallelism
	}
	if cfg.Depth <= 0 {
		cfg.Depth = DefaultDepth
	}
	c := &Committer{
		fs:          cfg.FS,
		dir:         cfg.Dir,
		parallelism: cfg.Parallelism,
		depth:       min(cfg.Depth, MaxDepth),
		onSync:      cfg.OnSync,
		onFailure:   cfg.OnFailure,
		dirty:       make(map[vfs.File]struct{}),
		dirtyDirs:   make(map[string]struct{}),
		files:       make(map[vfs.File]fileState),
		done:        make(chan struct{}),
	}
	c.work.L = &c.mu
	for i := range c.covered {
		c.covered[i].L = &c.mu
	}
	c.syncDone.L = &c.mu
	c.jobReady.L = &c.mu
	c.workers.Add(cfg.Parallelism)
	for range cfg.Parallelism {
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
	c.seq++
	seq := c.seq
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
	c.seq++
	seq := c.seq
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

// wakeFlusherLocked wakes the flusher if it is idle. REQUIRES: c.mu.
func (c *Committer) wakeFlusherLocked() {
	if c.flusherIdle {
		c.flusherIdle = false
		c.work.Signal()
	}
}

// requestLocked records that someone waits for seq and wakes the idle flusher if that needs a
// new round. Rounds are demand-driven: dirty data nobody waits for is synced by the next round
// someone asks for (or Flush, or Close), not eagerly. REQUIRES: c.mu.
func (c *Committer) requestLocked(seq uint64) {
	if seq > c.requested {
		c.requested = seq
	}
	if c.requested > c.startedSeq {
		c.wakeFlusherLocked()
	}
}

// coveringRoundLocked returns the number of the round that will release seq: the oldest
// round in flight covering it, or else the next round to start. REQUIRES: c.mu, and
// syncedSeq < seq ≤ c.seq.
func (c *Committer) coveringRoundLocked(seq uint64) uint64 {
	for _, r := range c.rounds {
		if r.seq >= seq {
			return r.num
		}
	}
	return c.round + 1
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
		p := c.coveringRoundLocked(seq) % uint64(len(c.covered))
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
// another and the next release waits for them. Hand slow work to another goroutine.
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

// Forget removes f from the dirty set and from every round in flight that has not started
// its sync yet, so that the caller may close it (a segment deleted by retention or replaced by
// compaction). If a sync of f is queued or running, Forget waits for it to end (never for a
// round's callbacks), so f is never closed under an fdatasync. Writes to f marked before
// Forget are then considered covered without being synced. The caller must not write or
// MarkDirty f after Forget.
func (c *Committer) Forget(f vfs.File) {
	c.mu.Lock()
	delete(c.dirty, f)
	if st, ok := c.files[f]; ok && st.n > 0 {
		parked := st.parked
		n := st.n
		st.parked, st.n = [MaxDepth - 1]*round{}, 0
		c.files[f] = st
		for _, r := range parked[:n] {
			c.jobDoneLocked(r, nil)
		}
	}
	for {
		if st, ok := c.files[f]; !ok || !st.busy {
			break
		}
		c.forgetWaiters++
		c.syncDone.Wait()
		c.forgetWaiters--
	}
	c.mu.Unlock()
}

// SyncAndForget makes every write to f durable with an fdatasync of its own and then forgets
// f, for a caller about to close a file it no longer writes (an idle segment). The sync runs
// while no committer sync of f does (it waits for a running one, and rounds that want f
// meanwhile park behind it): of two fsyncs racing on one descriptor only one would see a
// write-back error. Rounds parked behind it take its result, since every write to f precedes
// it. On a sync error it returns the error, which also fails those rounds; the caller takes the
// directory offline with Fail.
func (c *Committer) SyncAndForget(f vfs.File) error {
	c.mu.Lock()
	for {
		st, ok := c.files[f]
		if !ok || !st.busy {
			break
		}
		c.forgetWaiters++
		c.syncDone.Wait()
		c.forgetWaiters--
	}
	c.files[f] = fileState{busy: true}
	c.mu.Unlock()

	err := f.Sync()

	c.mu.Lock()
	if err != nil {
		err = c.syncError(f.Name(), err)
	}
	delete(c.dirty, f)
	st := c.files[f]
	delete(c.files, f)
	for _, r := range st.parked[:st.n] {
		c.jobDoneLocked(r, err)
	}
	if c.forgetWaiters > 0 {
		c.syncDone.Broadcast()
	}
	c.mu.Unlock()
	return err
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
		c.wakeFlusherLocked()
	}
	c.mu.Unlock()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.err
}

// flushLoop is the flusher goroutine: it starts rounds while sequence numbers are requested
// and fewer than depth rounds are in flight, and releases completed rounds in order.
func (c *Committer) flushLoop() {
	defer close(c.done)
	c.mu.Lock()
	for {
		switch {
		case c.err != nil:
			c.stopLocked()
			return
		case len(c.rounds) > 0 && c.rounds[0].done:
			r := c.rounds[0]
			copy(c.rounds, c.rounds[1:])
			c.rounds[len(c.rounds)-1] = nil
			c.rounds = c.rounds[:len(c.rounds)-1]
			if r.err != nil {
				c.failLocked(r.err)
				c.mu.Lock()
				continue
			}
			rel := c.releaseLocked(r)
			c.mu.Unlock()
			c.runCallbacks(rel, nil)
			if len(rel) > 0 {
				// The callbacks made goroutines runnable on this P (produce answers' writers,
				// woken fetches' completers), and the flusher goes on into its next fdatasync:
				// a goroutine in a syscall keeps its P until sysmon retakes it, 20 µs to 10 ms
				// later, while the other P is usually in a gnet loop's epoll_wait. Yield so
				// they run now (as broker/waiters.go's wake does; measured in
				// bench/results/2026-12-08-ackhop).
				runtime.Gosched()
			}
			if c.onSync != nil && r.synced+r.dirsDone > 0 {
				c.onSync(r.dur, r.synced)
			}
			c.mu.Lock()
			c.spare = append(c.spare, r)
		case len(c.rounds) < c.depth && (c.requested > c.startedSeq || c.closing && c.seq > c.startedSeq):
			c.startRoundLocked()
		case c.closing && len(c.rounds) == 0: // nothing pending
			c.closed = true
			for i := range c.covered {
				c.covered[i].Broadcast()
			}
			c.stopLocked()
			return
		default:
			c.flusherIdle = true
			c.work.Wait()
			c.flusherIdle = false
		}
	}
}

// stopLocked stops the sync workers once the jobs already queued have finished (after a
// failure they finish without syncing) and waits for them. REQUIRES: c.mu; returns with it
// released.
func (c *Committer) stopLocked() {
	c.stopping = true
	c.jobReady.Broadcast()
	c.mu.Unlock()
	c.workers.Wait()
}

// startRoundLocked starts a round covering every sequence number handed out so far and queues
// its file syncs. REQUIRES: c.mu.
func (c *Committer) startRoundLocked() {
	var r *round
	if n := len(c.spare); n > 0 {
		r = c.spare[n-1]
		c.spare = c.spare[:n-1]
	} else {
		r = new(round)
	}
	c.round++
	*r = round{num: c.round, prevSeq: c.startedSeq, seq: c.seq, files: r.files[:0], dirs: r.dirs[:0], begin: time.Now()}
	c.startedSeq = c.seq
	for f := range c.dirty {
		r.files = append(r.files, f)
	}
	clear(c.dirty)
	for d := range c.dirtyDirs {
		r.dirs = append(r.dirs, d)
	}
	clear(c.dirtyDirs)
	c.rounds = append(c.rounds, r)
	r.pending = len(r.files) + 1 // held until every file job is queued or parked
	for _, f := range r.files {
		st := c.files[f]
		if st.busy {
			st.parked[st.n] = r // n < depth-1: each round in flight adds one job per file
			st.n++
		} else {
			st.busy = true
			c.pushLocked(job{r: r, file: f})
		}
		c.files[f] = st
	}
	c.jobDoneLocked(r, nil)
}

// pushLocked queues a job for the workers. REQUIRES: c.mu.
func (c *Committer) pushLocked(j job) {
	if c.qhead > 0 && c.qhead >= len(c.queue)/2 { // reuse the consumed front: no growth
		n := copy(c.queue, c.queue[c.qhead:])
		clear(c.queue[n:])
		c.queue, c.qhead = c.queue[:n], 0
	}
	c.queue = append(c.queue, j)
	c.jobReady.Signal()
}

// jobDoneLocked counts one finished (or dropped) job of r, with its error. When r's files are
// done it queues r's directories; when those are done r is complete and the flusher may
// release it. REQUIRES: c.mu.
func (c *Committer) jobDoneLocked(r *round, err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
	r.pending--
	if r.pending > 0 {
		return
	}
	if !r.dirPhase && len(r.dirs) > 0 && r.err == nil {
		// Directories after files: a new segment's entry is made durable once its first bytes
		// are (either order is correct since nothing is released before both; this one keeps
		// the two kinds of sync from competing for the device).
		r.dirPhase = true
		r.pending = len(r.dirs)
		for _, d := range r.dirs {
			c.pushLocked(job{r: r, dir: d})
		}
		return
	}
	r.done = true
	r.dur = time.Since(r.begin)
	clear(r.files) // drop references to files that may be closed before the round is reused
	r.files = r.files[:0]
	c.wakeFlusherLocked()
}

// fileDoneLocked ends the sync of f just run: the oldest round parked behind it gets the
// file next, or else f is no longer busy. REQUIRES: c.mu.
func (c *Committer) fileDoneLocked(f vfs.File) {
	st := c.files[f]
	if st.n == 0 {
		delete(c.files, f)
		if c.forgetWaiters > 0 {
			c.syncDone.Broadcast()
		}
		return
	}
	next := st.parked[0]
	copy(st.parked[:], st.parked[1:st.n])
	st.n--
	st.parked[st.n] = nil
	c.files[f] = st
	c.pushLocked(job{r: next, file: f})
}

// releaseLocked makes the completed round r durable for its waiters: it advances syncedSeq,
// wakes the Wait calls r covers and returns its Notify callbacks in seq order. REQUIRES: c.mu.
func (c *Committer) releaseLocked(r *round) []notifier {
	c.syncedSeq = r.seq
	c.stats.Rounds++
	c.stats.Appends += r.seq - r.prevSeq
	c.stats.FilesSynced += uint64(r.synced)
	c.stats.DirsSynced += uint64(r.dirsDone)
	rel := c.collectLocked(r.seq, c.released[:0])
	c.released = rel
	p := r.num % uint64(len(c.covered))
	waiters := c.blocked[p] + len(rel)
	c.blocked[p] = 0
	c.covered[p].Broadcast()
	c.stats.WaitersReleased += uint64(waiters)
	c.stats.LastRoundWaiters = waiters
	return rel
}

// collectLocked moves the pending notifiers with seq ≤ upTo onto rel, in seq order, and
// returns it. REQUIRES: c.mu.
func (c *Committer) collectLocked(upTo uint64, rel []notifier) []notifier {
	keep := c.notifiers[:0]
	for _, n := range c.notifiers {
		if n.seq <= upTo {
			rel = append(rel, n)
		} else {
			keep = append(keep, n)
		}
	}
	clear(c.notifiers[len(keep):]) // drop the moved callbacks' references
	c.notifiers = keep
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
// and calls OnFailure. The callbacks go to a fresh slice: Fail may run while the flusher runs
// a round's callbacks from c.released. REQUIRES: c.mu; returns with c.mu released.
func (c *Committer) failLocked(err error) {
	c.err = err
	rel := c.collectLocked(^uint64(0), nil)
	for i := range c.covered {
		c.covered[i].Broadcast()
	}
	c.wakeFlusherLocked()
	c.mu.Unlock()
	c.runCallbacks(rel, err)
	if c.onFailure != nil {
		c.onFailure(err)
	}
}

// syncError is the failure error: it wraps ErrLogDirOffline and the cause, and names the
// directory and the file whose sync failed.
func (c *Committer) syncError(name string, cause error) error {
	if c.dir == "" {
		return fmt.Errorf("%w: sync %s: %w", ErrLogDirOffline, name, cause)
	}
	return fmt.Errorf("%w: %s: sync %s: %w", ErrLogDirOffline, c.dir, name, cause)
}

// syncWorker runs queued jobs until stopLocked and an empty queue. After a failure (of the
// committer or of the job's round) jobs finish without syncing.
func (c *Committer) syncWorker() {
	defer c.workers.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for c.qhead == len(c.queue) && !c.stopping {
			c.jobReady.Wait()
		}
		if c.qhead == len(c.queue) {
			return
		}
		j := c.queue[c.qhead]
		c.queue[c.qhead] = job{}
		c.qhead++
		skip := c.err != nil || j.r.err != nil
		var err error
		if !skip {
			c.mu.Unlock()
			err = c.syncJob(j)
			c.mu.Lock()
			if j.file != nil {
				j.r.synced++
			} else {
				j.r.dirsDone++
			}
		}
		if j.file != nil {
			c.fileDoneLocked(j.file)
		}
		c.jobDoneLocked(j.r, err)
	}
}

// syncJob runs one job's fdatasync or SyncDir, without c.mu.
func (c *Committer) syncJob(j job) error {
	if j.file != nil {
		if err := j.file.Sync(); err != nil {
			return c.syncError(j.file.Name(), err)
		}
		return nil
	}
	err := c.fs.SyncDir(j.dir)
	if errors.Is(err, iofs.ErrNotExist) {
		// Removed since it was marked (a deleted partition): nothing left to sync, and the
		// removal is made durable by a sync of its parent.
		return nil
	}
	if err != nil {
		return c.syncError(j.dir, err)
	}
	return nil
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
