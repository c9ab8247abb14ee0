package engine

import (
	"errors"
	"sync"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// The log cleaner (Kafka's LogCleaner): compaction of cleanup.policy=compact logs. See doc.go,
// "Compaction", for the algorithm, its locks and the swap protocol; cleaner_log.go cleans one
// log, cleaner_swap.go swaps the result in and recovers interrupted swaps.

// CleanerConfig holds the broker's log.cleaner.* settings (Kafka's names and defaults).
type CleanerConfig struct {
	Enable              bool          // log.cleaner.enable
	Threads             int           // log.cleaner.threads
	DedupeBufferSize    int64         // log.cleaner.dedupe.buffer.size, shared by the threads
	Backoff             time.Duration // log.cleaner.backoff.ms: sleep when no log needs cleaning
	IOMaxBytesPerSecond float64       // log.cleaner.io.max.bytes.per.second, reads plus writes; 0: unlimited
}

// DefaultCleanerConfig matches Kafka's defaults but one: Kafka leaves the cleaner's I/O
// unlimited (Double.MAX_VALUE), logd caps it at DefaultCleanerIORate, because an unthrottled
// clean's writes queue in front of the produce path's fsyncs (bench/results/2026-12-07-
// compaction.md: unthrottled, a produce's fsync wait and p50 grew about 4×; at 32 MiB/s no
// change was measurable).
var DefaultCleanerConfig = CleanerConfig{
	Enable:              true,
	Threads:             1,
	DedupeBufferSize:    128 << 20,
	Backoff:             15 * time.Second,
	IOMaxBytesPerSecond: DefaultCleanerIORate,
}

// DefaultCleanerIORate is logd's default log.cleaner.io.max.bytes.per.second: 32 MiB/s of
// cleaner reads plus writes.
const DefaultCleanerIORate = 32 << 20

// cleanerOffsetFile is the per-directory checkpoint of where each compacted log's dirty section
// begins (Kafka's name and format, like the other offset checkpoints).
const cleanerOffsetFile = "cleaner-offset-checkpoint"

// cleanerState is an Engine's cleaner bookkeeping.
type cleanerState struct {
	cfg      CleanerConfig
	throttle *throttler

	ckptMu sync.Mutex // serializes writes of the checkpoint file
	// cleanedTo and inProgress are guarded by Engine.mu.
	cleanedTo  map[TopicPartition]int64 // the checkpoint: first dirty offset per log
	inProgress map[TopicPartition]bool  // logs a cleaner thread is cleaning
}

func newCleanerState(fs vfs.FS, dir string, cfg CleanerConfig, logWarn func(msg string, args ...any)) *cleanerState {
	c := &cleanerState{cfg: cfg, throttle: newThrottler(cfg.IOMaxBytesPerSecond), inProgress: map[TopicPartition]bool{}}
	var err error
	if c.cleanedTo, err = readOffsetCheckpoint(fs, dir, cleanerOffsetFile); err != nil {
		// Losing it only means the next clean recopies from the log start.
		logWarn("ignoring unreadable checkpoint", "file", cleanerOffsetFile, "err", err)
		c.cleanedTo = map[TopicPartition]int64{}
	}
	return c
}

// cleaner is one cleaner thread (Kafka's CleanerThread): it owns an offset map.
func (e *Engine) cleanerThread(offsets *offsetMap) {
	defer e.cleanersDone.Done()
	for {
		cleaned, err := e.cleanDirtiest(offsets)
		if err != nil && !errors.Is(err, errCleanAborted) && !errors.Is(err, ErrClosed) {
			e.log.Warn("log cleaner failed", "err", err)
		}
		if cleaned && err == nil {
			continue
		}
		select {
		case <-e.stop:
			return
		case <-time.After(e.cleaner.cfg.Backoff):
		}
	}
}

// CleanDirtiest cleans the compacted log with the highest dirty ratio at or over its
// min.cleanable.dirty.ratio, or one past its max.compaction.lag.ms, if any (what a cleaner
// thread does each round). It reports whether it cleaned a log.
func (e *Engine) CleanDirtiest() (bool, error) {
	return e.cleanDirtiest(newOffsetMap(e.cleaner.cfg.DedupeBufferSize / int64(max(e.cleaner.cfg.Threads, 1))))
}

func (e *Engine) cleanDirtiest(offsets *offsetMap) (bool, error) {
	now := e.cfg.Now()
	var best *Log
	bestRatio := -1.0
	// Measured without Engine.mu: measuring may open segments (their timestamps).
	for _, l := range e.openLogs() {
		l.mu.Lock()
		cfg := l.cfg
		l.mu.Unlock()
		if !cfg.compacts() {
			continue
		}
		e.mu.Lock()
		busy, firstDirty := e.cleaner.inProgress[l.tp], e.cleaner.cleanedTo[l.tp]
		e.mu.Unlock()
		if busy {
			continue
		}
		_, _, clean, dirty, overdue := l.cleanable(&cfg, max(firstDirty, l.LogStartOffset()), l.LastStableOffset(), now)
		if l.tombstonesDue(now) {
			overdue = true // expired tombstones to remove, dirty or not
		} else if dirty == 0 {
			continue
		}
		ratio := float64(dirty) / float64(clean+dirty)
		if overdue {
			ratio += 1 // an overdue log goes first (Kafka does the same)
		}
		if (ratio >= cfg.MinCleanableDirtyRatio || overdue) && ratio > bestRatio {
			best, bestRatio = l, ratio
		}
	}
	if best == nil {
		return false, nil
	}
	e.mu.Lock()
	if e.cleaner.inProgress[best.tp] {
		e.mu.Unlock()
		return false, nil // another thread took it meanwhile
	}
	e.cleaner.inProgress[best.tp] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.cleaner.inProgress, best.tp)
		e.mu.Unlock()
	}()
	_, err := e.cleanLog(best, offsets, false)
	return true, err
}

// Clean compacts one log now, whatever its dirty ratio (tests and admin tools; the cleaner
// threads use CleanDirtiest's choice). A log already being cleaned is waited for.
func (e *Engine) Clean(tp TopicPartition) (CleanStats, error) {
	l := e.Log(tp)
	if l == nil {
		return CleanStats{}, ErrUnknownPartition
	}
	return e.cleanLog(l, newOffsetMap(e.cleaner.cfg.DedupeBufferSize/int64(max(e.cleaner.cfg.Threads, 1))), true)
}

// cleanLog runs one clean of l and checkpoints how far it got.
func (e *Engine) cleanLog(l *Log, offsets *offsetMap, force bool) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	if err := e.checkpointForClean(l); err != nil {
		return CleanStats{}, err
	}
	e.mu.Lock()
	firstDirty := e.cleaner.cleanedTo[l.tp]
	e.mu.Unlock()
	start := time.Now()
	st, err := l.clean(cleanParams{
		firstDirty: firstDirty, now: e.cfg.Now(), offsets: offsets, throttle: e.cleaner.throttle, stop: e.stop,
		force: force, bufs: newCleanBuffers(), recoveryPoint: l.checkpointedRecoveryPoint.Load(),
	})
	if err != nil {
		return st, err
	}
	if st.SegmentsIn > 0 {
		e.log.Info("cleaned log", "partition", l.tp.String(), "first_dirty", st.FirstDirty, "clean_to", st.EndOffset,
			"segments_in", st.SegmentsIn, "segments_out", st.SegmentsOut, "read", st.BytesRead, "written", st.BytesWritten,
			"took", time.Since(start).String())
	}
	e.mu.Lock()
	e.cleaner.cleanedTo[l.tp] = st.EndOffset
	e.mu.Unlock()
	return st, e.writeCleanerCheckpoint()
}

// checkpointForClean makes the recovery-point checkpoint cover every segment before l's
// active one that a clean could reach, syncing the directory first when the log's durable
// recovery point is below it. A clean rewrites only below the checkpointed recovery point
// (cleanParams.recoveryPoint), where recovery after a crash never looks at segment
// boundaries, so cleaned segments need not end where the next begins (doc.go, "Compaction").
// This costs a sync and a checkpoint write per clean at most; a log cleaned again before
// anything new is appended costs neither.
func (e *Engine) checkpointForClean(l *Log) error {
	segs := l.segments()
	want := min(segs[len(segs)-1].base, l.LastStableOffset())
	if l.checkpointedRecoveryPoint.Load() >= want {
		return nil
	}
	if l.RecoveryPoint() < want {
		if err := e.gc.Flush(); err != nil {
			return err
		}
	}
	return e.Checkpoint()
}

// writeCleanerCheckpoint writes every log's first dirty offset.
func (e *Engine) writeCleanerCheckpoint() error {
	e.cleaner.ckptMu.Lock()
	defer e.cleaner.ckptMu.Unlock()
	e.mu.Lock()
	offs := make(map[TopicPartition]int64, len(e.cleaner.cleanedTo))
	for tp, o := range e.cleaner.cleanedTo {
		offs[tp] = o
	}
	e.mu.Unlock()
	return writeOffsetCheckpoint(e.fs, e.cfg.Dir, cleanerOffsetFile, offs)
}

// throttler limits the cleaner's I/O to a rate (Kafka's Throttler): callers report the bytes
// they moved and sleep when they got ahead of the rate. Shared by the directory's threads.
type throttler struct {
	rate  float64 // bytes per second; 0 is unlimited
	mu    sync.Mutex
	start time.Time // start of the current measuring period
	bytes float64   // moved in the current period
}

// throttlePeriod is how long one measuring period lasts.
const throttlePeriod = 100 * time.Millisecond

func newThrottler(rate float64) *throttler { return &throttler{rate: rate, start: time.Now()} }

// wait accounts n bytes and sleeps as long as the period's rate is above the limit.
func (t *throttler) wait(n int) {
	if t.rate <= 0 {
		return
	}
	t.mu.Lock()
	t.bytes += float64(n)
	elapsed := time.Since(t.start)
	var sleep time.Duration
	if need := time.Duration(t.bytes / t.rate * float64(time.Second)); need > elapsed {
		sleep = need - elapsed
	}
	if elapsed+sleep >= throttlePeriod {
		t.start, t.bytes = time.Now().Add(sleep), 0
	}
	t.mu.Unlock()
	time.Sleep(sleep)
}
