package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/logd/logd/engine/internal/groupcommit"
	"github.com/logd/logd/engine/internal/producer"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// openParams carries what the log directory knows about a partition when opening it.
type openParams struct {
	fs             vfs.FS
	dir            string // the partition's directory
	tp             TopicPartition
	cfg            LogConfig
	gc             *groupcommit.Committer
	logger         *slog.Logger
	now            func() time.Time
	clean          bool  // the directory was shut down cleanly: trust the files
	recoveryPoint  int64 // from the checkpoint; 0 when unknown
	logStartOffset int64 // from the checkpoint; 0 when unknown
	replicated     bool  // OpenOptions.Replicated
	highWatermark  int64 // replicated logs: from the checkpoint; 0 when unknown
}

// openLog opens (or, for an empty directory, initializes) a partition's log. After an unclean
// shutdown it recovers every segment from the one holding the recovery point onwards:
// verifying each batch, truncating at the first invalid byte and deleting later segments.
func openLog(p openParams) (*Log, error) {
	l, err := openLogFiles(p)
	if err != nil {
		if l != nil {
			l.closeSegments()
		}
		return nil, err
	}
	return l, nil
}

// openLogFiles does openLog's work; on an error after the segments are listed it returns the
// partial log so the caller can close what it opened.
func openLogFiles(p openParams) (*Log, error) {
	l := &Log{
		tp: p.tp, fs: p.fs, dir: p.dir, log: p.logger, now: p.now, cfg: p.cfg,
		producers: producer.New(), replicated: p.replicated,
	}
	l.gc.Store(p.gc)
	l.compact.Store(p.cfg.compacts())
	names, err := p.fs.ReadDir(p.dir)
	if err != nil {
		return nil, err
	}
	if err := recoverSwaps(p.fs, p.dir, names); err != nil {
		return nil, fmt.Errorf("%s: finish an interrupted clean: %w", p.tp, err)
	}
	if names, err = p.fs.ReadDir(p.dir); err != nil {
		return nil, err
	}
	var bases []int64
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, ".tmp"):
			p.fs.Remove(filepath.Join(p.dir, n)) // an interrupted atomic write
		case strings.HasSuffix(n, segment.LogSuffix):
			if b, ok := parseOffsetName(n, segment.LogSuffix); ok {
				bases = append(bases, b)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	if l.epochs, err = loadEpochCache(p.fs, p.dir); err != nil {
		l.log.Warn("rebuilding corrupt leader epoch checkpoint", "partition", p.tp.String(), "err", err)
		l.epochs = &epochCache{fs: p.fs, dir: p.dir}
		p.clean = false
		p.recoveryPoint = 0
	}
	l.checkpointedRecoveryPoint.Store(p.recoveryPoint)
	scfg := p.cfg.segmentConfig()
	if len(bases) == 0 {
		seg, err := segment.Create(p.fs, p.dir, p.logStartOffset, scfg)
		if err != nil {
			return nil, err
		}
		// Durable with the first group commit round, before any append is acknowledged.
		if _, err := p.gc.MarkDirDirty(p.dir); err != nil {
			seg.Close()
			return nil, err
		}
		h := newSegHandle(p.fs, p.gc, p.logger, p.dir, p.logStartOffset, scfg, seg)
		h.active = true
		l.setSegments([]*segHandle{h})
		l.active = seg
		l.activeCreatedAt = p.now()
		l.logStartOffset.Store(p.logStartOffset)
		l.logEndOffset.Store(p.logStartOffset)
		l.recoveryPoint.Store(p.logStartOffset)
		l.highWatermark.Store(p.logStartOffset)
		return l, nil
	}

	handles := make([]*segHandle, len(bases))
	for i, b := range bases {
		handles[i] = newSegHandle(p.fs, p.gc, p.logger, p.dir, b, scfg, nil)
		if fi, err := p.fs.Stat(filepath.Join(p.dir, segment.FileName(b, segment.LogSuffix))); err == nil {
			handles[i].sizeHint.Store(fi.Size())
		}
	}
	first := 0 // index of the first segment to recover
	if p.clean {
		first = len(bases)
	} else {
		for first+1 < len(bases) && bases[first+1] <= p.recoveryPoint {
			first++
		}
	}
	lastValid := len(bases) - 1
	for i := first; i < len(bases); i++ {
		seg, rep, err := recoverSegment(p.fs, p.dir, bases[i], scfg, l.log)
		if err != nil {
			return nil, fmt.Errorf("%s: recover segment %d: %w", p.tp, bases[i], err)
		}
		if rep.Cause != nil {
			l.log.Warn("truncated invalid log tail", "partition", p.tp.String(), "segment", rep.Segment,
				"valid_bytes", rep.ValidBytes, "truncated_bytes", rep.TruncatedBytes, "cause", rep.Cause.Error())
		}
		handles[i].sizeHint.Store(seg.Size())
		next := seg.NextOffset()
		// What recovery read may still be only in the page cache (kill -9 rather than power
		// loss), and a truncation is a write: make both durable before the recovery point
		// moves past them.
		if err := seg.File().Sync(); err != nil {
			seg.Close()
			return nil, err
		}
		if err := seg.Close(); err != nil {
			return nil, err
		}
		if rep.Cause != nil {
			lastValid = i
			break
		}
		// A later segment that does not start where this one ends follows lost, unsynced data:
		// its directory entry became durable but this segment's tail did not. Nothing after
		// the hole can have been acknowledged (any sync of it would have synced the tail too).
		// Two kinds of boundary never mean that, and recovery never sees the first: those the
		// cleaner made (it cleans only below the checkpointed recovery point, so they lie
		// before the segment recovery starts at), and a follower's roll over an offset gap
		// too long for one segment, made after a sync and told by its length (gapRollSpan).
		if i+1 < len(bases) && bases[i+1] != next && !gapRollSpan(bases[i], bases[i+1]) {
			l.log.Warn("log ends before the next segment starts: dropping the segments after the gap",
				"partition", p.tp.String(), "end_offset", next, "next_segment", bases[i+1])
			lastValid = i
			break
		}
	}
	// Segments after a truncation point hold nothing valid that follows the valid prefix.
	for _, h := range handles[lastValid+1:] {
		l.log.Warn("deleting segment after truncated tail", "partition", p.tp.String(), "base_offset", h.base)
		if err := segment.RemoveFiles(p.fs, p.dir, h.base); err != nil {
			return nil, err
		}
	}
	if lastValid+1 < len(handles) {
		if err := p.fs.SyncDir(p.dir); err != nil {
			return nil, err
		}
	}
	handles = handles[:lastValid+1]
	last := handles[len(handles)-1]
	seg, err := openSegment(p.fs, p.dir, last.base, scfg, true, l.log)
	if err != nil {
		return nil, fmt.Errorf("%s: open active segment %d: %w", p.tp, last.base, err)
	}
	last.seg = seg
	last.active = true
	l.active = last.seg
	l.activeCreatedAt = p.now()
	l.setSegments(handles)

	end := l.active.NextOffset()
	l.logEndOffset.Store(end)
	l.logStartOffset.Store(max(p.logStartOffset, handles[0].base))
	if l.logStartOffset.Load() > end {
		l.logStartOffset.Store(end)
	}
	l.recoveryPoint.Store(end) // everything recovered or cleanly closed is on disk
	l.highWatermark.Store(end)
	if p.replicated {
		// Kafka's rule: the checkpointed high watermark, kept within [log start, log end]. It
		// may exceed what survived a crash (the followers had it, this disk did not).
		l.highWatermark.Store(min(max(p.highWatermark, l.logStartOffset.Load()), end))
	}
	if l.epochs.truncateFromEnd(end) {
		if err := l.epochs.persist(); err != nil {
			return l, err
		}
	}
	if !p.clean {
		// Rebuild epochs the checkpoint may not have recorded before the crash.
		if err := l.scanHeaders(l.epochStart(), func(h *segment.Header) {
			l.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		}); err != nil {
			return l, err
		}
		if err := l.epochs.persist(); err != nil {
			return l, err
		}
	}
	whole := l.loadTxnIndexes(names, bases[:len(handles)], end)
	if err := l.rebuildProducerStateLocked(!whole); err != nil {
		return l, err
	}
	return l, nil
}

// epochStart is where a rescan for epochs starts: the latest recorded epoch's start.
func (l *Log) epochStart() int64 {
	if e, ok := l.epochs.latest(); ok {
		return e.StartOffset
	}
	return l.logStartOffset.Load()
}

// openSegment opens a segment, rebuilding its indexes from the log when they are missing or
// fail their sanity check, or when the log's tail does not parse.
func openSegment(fs vfs.FS, dir string, base int64, cfg segment.Config, active bool, logger *slog.Logger) (*segment.Segment, error) {
	seg, err := segment.Open(fs, dir, base, cfg, active)
	if err == nil {
		return seg, nil
	}
	if !isDataError(err) {
		return nil, err
	}
	logger.Warn("segment unreadable as is: rebuilding its indexes from a verified scan of the log", "dir", dir, "base_offset", base, "cause", err.Error())
	seg, rep, err := segment.Rebuild(fs, dir, base, cfg, active)
	if err != nil {
		return nil, err
	}
	if rep.Cause != nil {
		logger.Warn("truncated invalid log tail", "segment", rep.Segment, "valid_bytes", rep.ValidBytes,
			"truncated_bytes", rep.TruncatedBytes, "cause", rep.Cause.Error())
	}
	return seg, nil
}

// recoverSegment opens a segment and verifies every batch (Segment.Recover), rebuilding
// unusable indexes first.
func recoverSegment(fs vfs.FS, dir string, base int64, cfg segment.Config, logger *slog.Logger) (*segment.Segment, segment.RecoveryReport, error) {
	seg, err := segment.Open(fs, dir, base, cfg, false)
	if err != nil {
		if !isDataError(err) {
			return nil, segment.RecoveryReport{}, err
		}
		logger.Warn("segment unreadable as is: rebuilding its indexes from a verified scan of the log", "dir", dir, "base_offset", base, "cause", err.Error())
		return segment.Rebuild(fs, dir, base, cfg, false)
	}
	rep, err := seg.Recover(nil)
	if err != nil {
		seg.Close()
		return nil, rep, err
	}
	return seg, rep, nil
}

// isDataError reports whether err means bad bytes in a segment or index (repairable from the
// log) rather than an I/O failure.
func isDataError(err error) bool {
	return errors.Is(err, segment.ErrCorrupt) || errors.Is(err, segment.ErrTruncated) ||
		errors.Is(err, segment.ErrUnsupportedMagic) || errors.Is(err, segment.ErrIndexCorrupt)
}
