package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/logd/logd/engine/internal/groupcommit"
	"github.com/logd/logd/engine/internal/producer"
	"github.com/logd/logd/internal/vfs"
)

// Config configures an Engine: one log directory.
type Config struct {
	// Dir is the log directory (Kafka's log.dirs entry).
	Dir string
	// FS is the filesystem; nil means the operating system's.
	FS vfs.FS
	// Logger receives recovery, retention and failure reports; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
	// Housekeeping intervals (Kafka: log.retention.check.interval.ms,
	// log.flush.offset.checkpoint.interval.ms, log.flush.scheduler.interval.ms); zero picks
	// the defaults 5 min, 1 min and 1 s; negative disables the background loop (tests).
	RetentionCheckInterval time.Duration
	CheckpointInterval     time.Duration
	FlushCheckInterval     time.Duration
	// HighWatermarkCheckpointInterval is how often replicated logs' high watermarks are
	// checkpointed (Kafka: replica.high.watermark.checkpoint.interval.ms); zero picks 5 s.
	HighWatermarkCheckpointInterval time.Duration
	// SegmentIdleTimeout closes the files of segments unread for this long (default 10 min).
	SegmentIdleTimeout time.Duration
	// OnSync, if set, observes each group commit round (fsync latency metrics).
	OnSync func(dur time.Duration, files int)
	// Cleaner holds the log.cleaner.* settings; nil means DefaultCleanerConfig. The cleaner
	// threads run when it is enabled and the background loops are (RetentionCheckInterval
	// not negative); Engine.Clean and CleanDirtiest work either way.
	Cleaner *CleanerConfig
}

func (c *Config) setDefaults() {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = 5 * time.Minute
	}
	if c.CheckpointInterval == 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.FlushCheckInterval == 0 {
		c.FlushCheckInterval = time.Second
	}
	if c.HighWatermarkCheckpointInterval == 0 {
		c.HighWatermarkCheckpointInterval = 5 * time.Second
	}
	if c.SegmentIdleTimeout == 0 {
		c.SegmentIdleTimeout = 10 * time.Minute
	}
	if c.Cleaner == nil {
		d := DefaultCleanerConfig
		c.Cleaner = &d
	}
}

// Engine is one log directory: the partitions' logs in it, their group committer, the
// recovery-point, log-start-offset and high-watermark checkpoints, the clean-shutdown marker,
// and the housekeeping loop (retention, checkpoints, flush.ms, closing idle segments).
//
// Partitions found on disk are opened lazily, on the first OpenLog, so a directory with many
// partitions starts fast and holds file descriptors and mmaps only for partitions in use.
type Engine struct {
	cfg Config
	fs  vfs.FS
	gc  *groupcommit.Committer
	log *slog.Logger

	// ckptMu serializes writes of the recovery-point and log-start-offset checkpoints, so
	// each log's checkpointedRecoveryPoint is what the file holds. Taken before mu.
	ckptMu sync.Mutex

	mu     sync.Mutex               // guards the fields below
	logs   map[TopicPartition]*Log  // opened logs
	onDisk map[TopicPartition]bool  // partitions found on disk, not yet opened
	recPts map[TopicPartition]int64 // checkpointed recovery points of unopened logs
	starts map[TopicPartition]int64 // checkpointed log start offsets of unopened logs
	hws    map[TopicPartition]int64 // checkpointed high watermarks of unopened replicated logs
	// hwFile is set once the high-watermark checkpoint exists: from then on it is rewritten
	// even when no replicated log is left, so it never lists a stale partition.
	hwFile  bool
	clean   bool  // the directory was shut down cleanly
	offline error // set when the directory failed
	closed  bool

	cleaner      *cleanerState
	cleanersDone sync.WaitGroup // the cleaner threads

	stop chan struct{}
	done chan struct{}
}

// Open opens a log directory, creating it if needed. It reads the checkpoints and the
// clean-shutdown marker (then removes the marker, so a crash from now on is detected).
func Open(cfg Config) (*Engine, error) {
	cfg.setDefaults()
	fs := cfg.FS
	if err := fs.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory %s: %w", cfg.Dir, err)
	}
	// Make the directory's own entry durable, and those of any parents MkdirAll created.
	for d := filepath.Clean(cfg.Dir); d != filepath.Dir(d); d = filepath.Dir(d) {
		if err := fs.SyncDir(filepath.Dir(d)); err != nil {
			return nil, fmt.Errorf("log directory %s: %w", cfg.Dir, err)
		}
	}
	e := &Engine{
		cfg: cfg, fs: fs, log: cfg.Logger.With("log_dir", cfg.Dir),
		logs: map[TopicPartition]*Log{}, onDisk: map[TopicPartition]bool{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	names, err := fs.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("log directory %s: %w", cfg.Dir, err)
	}
	for _, n := range names {
		if fi, err := fs.Stat(filepath.Join(cfg.Dir, n)); err == nil && fi.IsDir() {
			if tp, ok := parseDirName(n); ok {
				e.onDisk[tp] = true
			}
		}
	}
	marker := filepath.Join(cfg.Dir, cleanShutdownFile)
	if _, err := fs.Stat(marker); err == nil {
		e.clean = true
		if err := fs.Remove(marker); err != nil {
			return nil, err
		}
		if err := fs.SyncDir(cfg.Dir); err != nil {
			return nil, err
		}
	} else if len(e.onDisk) > 0 {
		e.log.Warn("log directory was not shut down cleanly: recovering partitions after their recovery points as they open")
	}
	if e.recPts, err = readOffsetCheckpoint(fs, cfg.Dir, recoveryPointFile); err != nil {
		e.log.Warn("ignoring unreadable checkpoint: full recovery", "file", recoveryPointFile, "err", err)
		e.recPts, e.clean = map[TopicPartition]int64{}, false
	}
	if e.starts, err = readOffsetCheckpoint(fs, cfg.Dir, logStartOffsetFile); err != nil {
		e.log.Warn("ignoring unreadable checkpoint", "file", logStartOffsetFile, "err", err)
		e.starts = map[TopicPartition]int64{}
	}
	if _, err := fs.Stat(filepath.Join(cfg.Dir, highWatermarkFile)); err == nil {
		e.hwFile = true
	}
	if e.hws, err = readOffsetCheckpoint(fs, cfg.Dir, highWatermarkFile); err != nil {
		// Kafka's fallback too: replicated logs restart at high watermark 0 (their log start)
		// and learn the real one from the leader.
		e.log.Warn("ignoring unreadable checkpoint", "file", highWatermarkFile, "err", err)
		e.hws = map[TopicPartition]int64{}
	}
	e.gc = groupcommit.New(groupcommit.Config{
		FS:        fs,
		Dir:       cfg.Dir,
		OnSync:    cfg.OnSync,
		OnFailure: e.fail,
	})
	e.cleaner = newCleanerState(fs, cfg.Dir, *cfg.Cleaner, e.log.Warn)
	if cfg.RetentionCheckInterval > 0 {
		go e.housekeeping()
		if cfg.Cleaner.Enable {
			for i := 0; i < cfg.Cleaner.Threads; i++ {
				e.cleanersDone.Add(1)
				go e.cleanerThread(newOffsetMap(cfg.Cleaner.DedupeBufferSize / int64(cfg.Cleaner.Threads)))
			}
		}
	} else {
		close(e.done)
	}
	return e, nil
}

// openFailed is the Engine of a directory that could not be opened (an I/O error at start):
// offline from the start, with no partitions (what it holds is unknown).
func openFailed(cfg Config, err error) *Engine {
	cfg.setDefaults()
	e := &Engine{
		cfg: cfg, fs: cfg.FS, log: cfg.Logger.With("log_dir", cfg.Dir),
		logs: map[TopicPartition]*Log{}, onDisk: map[TopicPartition]bool{},
		recPts: map[TopicPartition]int64{}, starts: map[TopicPartition]int64{}, hws: map[TopicPartition]int64{},
		offline: err, stop: make(chan struct{}), done: make(chan struct{}),
	}
	e.gc = groupcommit.New(groupcommit.Config{FS: cfg.FS, Dir: cfg.Dir})
	e.gc.Fail(err)
	e.cleaner = &cleanerState{cfg: *cfg.Cleaner, cleanedTo: map[TopicPartition]int64{}, inProgress: map[TopicPartition]bool{}}
	close(e.done)
	e.log.Error("log directory offline: it could not be opened; its partitions are unavailable. Fix the disk and restart", "err", err)
	return e
}

// Dir returns the log directory.
func (e *Engine) Dir() string { return e.cfg.Dir }

// fail takes the directory offline after an fsync or write error.
func (e *Engine) fail(err error) {
	e.mu.Lock()
	first := e.offline == nil
	if first {
		e.offline = err
		for _, l := range e.logs {
			l.dirOffline.Store(true)
		}
	}
	e.mu.Unlock()
	if first {
		e.log.Error("log directory offline: a write or fsync failed; its data may not be durable. Fix the disk and restart", "err", err)
	}
}

// Offline returns the error that took the directory offline, or nil.
func (e *Engine) Offline() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.offline
}

// Partitions lists every partition in the directory, opened or not, sorted.
func (e *Engine) Partitions() []TopicPartition {
	e.mu.Lock()
	tps := make([]TopicPartition, 0, len(e.logs)+len(e.onDisk))
	for tp := range e.logs {
		tps = append(tps, tp)
	}
	for tp := range e.onDisk {
		tps = append(tps, tp)
	}
	e.mu.Unlock()
	sortPartitions(tps)
	return tps
}

// Log returns an opened log, or nil.
func (e *Engine) Log(tp TopicPartition) *Log {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs[tp]
}

// OpenOptions are the choices made when a partition's log is opened.
type OpenOptions struct {
	// Create creates the log, empty, when the partition does not exist.
	Create bool
	// Replicated means replication sets the log's high watermark (Log.SetHighWatermark): it
	// is checkpointed (replication-offset-checkpoint) and restored from the checkpoint on
	// open, clamped to the log's offsets. Without it the log is a single replica whose high
	// watermark follows its end offset, and no high watermark is checkpointed.
	Replicated bool
}

// OpenLog opens a single-replica log: OpenLogWith with Create set as create.
func (e *Engine) OpenLog(tp TopicPartition, cfg LogConfig, create bool) (*Log, error) {
	return e.OpenLogWith(tp, cfg, OpenOptions{Create: create})
}

// OpenLogWith returns the partition's log, opening it from disk (recovering it if the
// directory was not shut down cleanly) or, with opts.Create, creating it empty. It fails with
// ErrUnknownPartition when the partition does not exist and opts.Create is false. A log that
// is already open is returned as it is: opts.Replicated must match how it was opened.
func (e *Engine) OpenLogWith(tp TopicPartition, cfg LogConfig, opts OpenOptions) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if e.offline != nil {
		return nil, fmt.Errorf("%w: %v", ErrLogDirOffline, e.offline)
	}
	if l := e.logs[tp]; l != nil {
		if l.replicated != opts.Replicated {
			return nil, fmt.Errorf("%s: already open with replicated=%v", tp, l.replicated)
		}
		return l, nil
	}
	dir := filepath.Join(e.cfg.Dir, tp.dirName())
	if !e.onDisk[tp] {
		if !opts.Create {
			return nil, fmt.Errorf("%s: %w", tp, ErrUnknownPartition)
		}
		if err := e.fs.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// The new directory's entry becomes durable with the next group commit round, which
		// comes before any append to it is acknowledged: no fsync under e.mu.
		if _, err := e.gc.MarkDirDirty(e.cfg.Dir); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	l, err := openLog(openParams{
		fs: e.fs, dir: dir, tp: tp, cfg: cfg, gc: e.gc, logger: e.log, now: e.cfg.Now,
		clean: e.clean, recoveryPoint: e.recPts[tp], logStartOffset: e.starts[tp],
		replicated: opts.Replicated, highWatermark: e.hws[tp],
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", tp, err)
	}
	if !e.clean && e.onDisk[tp] {
		e.log.Info("recovered partition", "partition", tp.String(), "log_end_offset", l.LogEndOffset(),
			"segments", l.Segments(), "took", time.Since(start).String())
	}
	delete(e.onDisk, tp)
	delete(e.recPts, tp)
	delete(e.starts, tp)
	delete(e.hws, tp)
	e.logs[tp] = l
	return l, nil
}

// DeleteLog closes a partition's log and removes its directory: it is renamed first (Kafka's
// "-delete" suffix) so a crash mid-removal never leaves a half-deleted partition behind.
func (e *Engine) DeleteLog(tp TopicPartition) error {
	l, onDisk := e.forget(tp)
	if l == nil && !onDisk {
		return fmt.Errorf("%s: %w", tp, ErrUnknownPartition)
	}
	if l != nil {
		for _, h := range l.segments() {
			if f := h.file(); f != nil {
				e.gc.Forget(f)
			}
		}
		l.close()
	}
	dir := filepath.Join(e.cfg.Dir, tp.dirName())
	trash := fmt.Sprintf("%s.%d-delete", dir, time.Now().UnixNano())
	if err := e.fs.Rename(dir, trash); err != nil {
		return err
	}
	if err := e.fs.SyncDir(e.cfg.Dir); err != nil {
		e.fail(err)
		return err
	}
	return e.fs.RemoveAll(trash)
}

// Flush syncs everything appended to the directory so far.
func (e *Engine) Flush() error { return e.gc.Flush() }

// Checkpoint writes the recovery-point and log-start-offset checkpoints.
func (e *Engine) Checkpoint() error {
	e.ckptMu.Lock()
	defer e.ckptMu.Unlock()
	e.mu.Lock()
	recPts := make(map[TopicPartition]int64, len(e.logs)+len(e.recPts))
	starts := make(map[TopicPartition]int64, len(e.logs)+len(e.starts))
	for tp, off := range e.recPts {
		recPts[tp] = off
	}
	for tp, off := range e.starts {
		starts[tp] = off
	}
	logs := make([]*Log, 0, len(e.logs))
	for _, l := range e.logs {
		logs = append(logs, l)
	}
	e.mu.Unlock()
	for _, l := range logs {
		l.mu.Lock()
		l.advanceRecoveryPointLocked()
		l.mu.Unlock()
		recPts[l.tp] = l.RecoveryPoint()
		starts[l.tp] = l.LogStartOffset()
	}
	if err := writeOffsetCheckpoint(e.fs, e.cfg.Dir, recoveryPointFile, recPts); err != nil {
		return err
	}
	for _, l := range logs {
		l.checkpointedRecoveryPoint.Store(recPts[l.tp])
	}
	return writeOffsetCheckpoint(e.fs, e.cfg.Dir, logStartOffsetFile, starts)
}

// CheckpointHighWatermarks writes the replicated logs' high watermarks (Kafka's
// replication-offset-checkpoint), those of replicated logs not opened since the directory was
// opened included. Without replicated logs it writes nothing, unless the file exists.
func (e *Engine) CheckpointHighWatermarks() error {
	e.mu.Lock()
	hws := make(map[TopicPartition]int64, len(e.hws))
	for tp, off := range e.hws {
		hws[tp] = off
	}
	for tp, l := range e.logs {
		if l.replicated {
			hws[tp] = l.HighWatermark()
		}
	}
	write := len(hws) > 0 || e.hwFile
	e.mu.Unlock()
	if !write {
		return nil
	}
	if err := writeOffsetCheckpoint(e.fs, e.cfg.Dir, highWatermarkFile, hws); err != nil {
		return err
	}
	e.mu.Lock()
	e.hwFile = true
	e.mu.Unlock()
	return nil
}

// Close shuts the directory down cleanly: every log synced and closed, checkpoints written at
// the end offsets, and the clean-shutdown marker written last, so the next Open skips recovery.
// After a failure it closes without the marker.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	close(e.stop)
	<-e.done
	e.cleanersDone.Wait()

	flushErr := e.gc.Flush()
	e.mu.Lock()
	logs := make([]*Log, 0, len(e.logs))
	for _, l := range e.logs {
		logs = append(logs, l)
	}
	e.mu.Unlock()
	first := closeLogs(logs)
	if first == nil {
		first = flushErr
	}
	if first == nil {
		// Closing synced the indexes; every log's end offset is now durable.
		for _, l := range logs {
			l.recoveryPoint.Store(l.LogEndOffset())
		}
		first = e.Checkpoint()
	}
	if first == nil {
		first = e.CheckpointHighWatermarks()
	}
	gcErr := e.gc.Close()
	if first == nil && e.Offline() == nil && gcErr == nil {
		f, err := vfs.Create(e.fs, filepath.Join(e.cfg.Dir, cleanShutdownFile))
		if err == nil {
			err = f.Sync()
			f.Close()
		}
		if err == nil {
			err = e.fs.SyncDir(e.cfg.Dir)
		}
		first = err
	}
	if first == nil {
		first = gcErr
	}
	if first == nil {
		if off := e.Offline(); off != nil {
			first = off
		}
	}
	return first
}

// housekeeping runs retention, checkpoints, flush.ms and idle-segment closing until Close.
func (e *Engine) housekeeping() {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.FlushCheckInterval)
	defer tick.Stop()
	lastRetention, lastCheckpoint, lastHWCheckpoint := e.cfg.Now(), e.cfg.Now(), e.cfg.Now()
	for {
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
		if e.Offline() != nil {
			continue
		}
		now := e.cfg.Now()
		e.flushDue(now)
		if now.Sub(lastRetention) >= e.cfg.RetentionCheckInterval {
			lastRetention = now
			e.RunRetention()
		}
		if now.Sub(lastCheckpoint) >= e.cfg.CheckpointInterval {
			lastCheckpoint = now
			if err := e.Checkpoint(); err != nil {
				e.log.Warn("checkpoint failed", "err", err)
			}
			e.closeIdle(now.Add(-e.cfg.SegmentIdleTimeout))
		}
		if now.Sub(lastHWCheckpoint) >= e.cfg.HighWatermarkCheckpointInterval {
			lastHWCheckpoint = now
			if err := e.CheckpointHighWatermarks(); err != nil {
				e.log.Warn("high watermark checkpoint failed", "err", err)
			}
		}
	}
}

// RunRetention applies every opened log's retention settings once, and forgets idempotent
// producers idle for longer than producer.id.expiration.ms.
func (e *Engine) RunRetention() {
	now := e.cfg.Now().UnixMilli()
	for _, l := range e.openLogs() {
		if _, err := l.ApplyRetention(); err != nil && !errors.Is(err, ErrClosed) {
			e.log.Warn("retention failed", "partition", l.tp.String(), "err", err)
		}
		l.mu.Lock()
		l.producers.RemoveExpired(now, producer.DefaultProducerIDExpirationMs)
		l.mu.Unlock()
	}
}

// flushDue syncs the directory when a log's flush.ms has elapsed since its last sync.
func (e *Engine) flushDue(now time.Time) {
	due := false
	for _, l := range e.openLogs() {
		l.mu.Lock()
		if l.cfg.FlushMs != never && now.Sub(l.lastFlush) >= l.cfg.FlushMs {
			l.lastFlush = now
			due = true
		}
		l.mu.Unlock()
	}
	if due {
		if err := e.gc.Flush(); err != nil {
			e.log.Warn("flush.ms sync failed", "err", err)
		}
	}
}

func (e *Engine) closeIdle(idleSince time.Time) {
	for _, l := range e.openLogs() {
		l.closeIdleSegments(idleSince)
	}
}

func (e *Engine) openLogs() []*Log {
	e.mu.Lock()
	defer e.mu.Unlock()
	logs := make([]*Log, 0, len(e.logs))
	for _, l := range e.logs {
		logs = append(logs, l)
	}
	return logs
}

// closeParallelism bounds how many logs close at once: each close writes and fsyncs a producer
// snapshot, and a disk completes concurrent fsyncs much faster than serial ones.
const closeParallelism = 16

// closeLogs closes logs concurrently and returns the first error.
func closeLogs(logs []*Log) error {
	var mu sync.Mutex
	var first error
	work := make(chan *Log)
	var wg sync.WaitGroup
	for i := 0; i < min(closeParallelism, len(logs)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range work {
				if err := l.close(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, l := range logs {
		work <- l
	}
	close(work)
	wg.Wait()
	return first
}
