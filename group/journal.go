package group

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/segment"
)

// Journal persists the coordinator's records, one log per __consumer_offsets partition.
// The coordinator appends a group's records under that group's lock, so records of one key
// are never appended concurrently.
type Journal interface {
	// Append writes recs, in order, to a partition's log and returns their durability.
	Append(partition int32, recs []Record) (Durable, error)
}

// Durable is a journal write's durability: called with done, it arranges for done to be
// called exactly once, with nil once the write is durable (for a replicated log: committed)
// or with the error that makes its outcome unknown. done runs on whichever goroutine ends
// the wait (a log directory's flusher, a high watermark move), or on the caller's; it must
// not block. Nothing waits on a goroutine unless Wait is used.
type Durable func(done func(error))

// Wait blocks until the write is durable and returns its error: for callers that may block
// (a compaction goroutine, tests).
func (d Durable) Wait() error {
	ch := make(chan error, 1)
	d(func(err error) { ch <- err })
	return <-ch
}

// LogJournal is the Journal over the engine's __consumer_offsets partition logs. Besides the
// logs it keeps each partition's live image (key → latest value), which is what a restart
// replays and what compaction rewrites.
//
// Compaction (the engine has no log cleaner): once a partition's log holds more than
// 2 × live + CompactAfter records, the live image is appended again as fresh batches, synced,
// and the log start moves to the first of them (DeleteRecordsBefore), which deletes every
// whole segment below. Replaying any suffix of the log that contains the whole rewrite gives
// the same state, so a crash at any point is safe. The log thus stays below roughly
// 3 × live + CompactAfter records plus one segment (segment.bytes of the internal topic).
// Appends to the partition wait while a rewrite runs (it holds journalPart.mu exclusively).
type LogJournal struct {
	parts        []*journalPart
	appendFn     AppendFunc // writes every batch (JournalConfig.Append)
	compactAfter int64
	log          *slog.Logger
	now          func() time.Time

	mu     sync.Mutex     // guards closed and wg.Add
	closed bool           // no appends or compactions after Close
	wg     sync.WaitGroup // background compactions
}

type journalPart struct {
	mu  sync.RWMutex // appends hold it shared, a compaction exclusively
	idx int32        // the __consumer_offsets partition
	log *engine.Log

	imgMu sync.Mutex        // guards image and records; innermost
	image map[string][]byte // live records: key → value
	// records counts the records in the log from its start (approximately, after a
	// crash mid-compaction).
	records    int64
	compacting atomic.Bool
}

// JournalConfig configures a LogJournal.
type JournalConfig struct {
	// CompactAfter is the number of superseded records a partition may accumulate before it is
	// rewritten (default 100,000).
	CompactAfter int64
	Logger       *slog.Logger
	Now          func() time.Time
	// Append writes every batch (appends and compaction rewrites); required. The broker's
	// coordinator appends through the partition's replication leader (acks=all, stamped
	// with its leader epoch) and reports durability once the high watermark passed the
	// batch; a single node is a one-voter cluster, so this is the only path.
	Append AppendFunc
}

// AppendFunc appends one record batch to a __consumer_offsets partition's log and returns its
// durability (for a replicated log: committed). An error from either means the outcome is
// unknown; nothing is acknowledged.
type AppendFunc func(partition int32, batch []byte) (Durable, error)

// maxBatchBytes bounds the batches of a rewrite, well below max.message.bytes.
const maxBatchBytes = 256 << 10

// OpenLogJournal replays the partition logs (index = partition) into their live images. A
// nil log is a partition this journal does not hold (a cluster coordinator holds the
// partitions its broker leads): appends to it fail.
func OpenLogJournal(logs []*engine.Log, cfg JournalConfig) (*LogJournal, error) {
	if cfg.Append == nil {
		return nil, errors.New("offsets journal: JournalConfig.Append is required")
	}
	if cfg.CompactAfter <= 0 {
		cfg.CompactAfter = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	j := &LogJournal{appendFn: cfg.Append, compactAfter: cfg.CompactAfter, log: cfg.Logger, now: cfg.Now}
	for i, l := range logs {
		if l == nil {
			j.parts = append(j.parts, nil)
			continue
		}
		p := &journalPart{idx: int32(i), log: l, image: map[string][]byte{}}
		if err := p.replay(); err != nil {
			return nil, err
		}
		j.parts = append(j.parts, p)
	}
	return j, nil
}

// replay reads the log from its start: last write wins, tombstones delete.
func (p *journalPart) replay() error {
	l := p.log
	off, end := l.LogStartOffset(), l.LogEndOffset()
	var buf []byte
	for off < end {
		reg, err := l.Read(off, 1<<20, end)
		if err != nil {
			return fmt.Errorf("replay %s at %d: %w", l.TP(), off, err)
		}
		if reg.Len == 0 {
			reg.Release()
			break
		}
		if int64(cap(buf)) < reg.Len {
			buf = make([]byte, reg.Len)
		}
		buf = buf[:reg.Len]
		_, err = reg.File.ReadAt(buf, reg.Pos)
		reg.Release()
		if err != nil {
			return fmt.Errorf("replay %s at %d: %w", l.TP(), off, err)
		}
		for pos := 0; pos < len(buf); {
			h, err := segment.ParseHeader(buf[pos:])
			if err != nil || h.Size() > len(buf)-pos {
				return fmt.Errorf("replay %s at %d: %w", l.TP(), off, errBadRecord)
			}
			err = decodeBatch(buf[pos:pos+h.Size()], func(r Record) {
				p.records++
				if r.Value == nil {
					delete(p.image, string(r.Key))
				} else {
					p.image[string(r.Key)] = slices.Clone(r.Value) // r.Value aliases buf, reused by the next read
				}
			})
			if err != nil {
				return fmt.Errorf("replay %s at %d: %w", l.TP(), h.BaseOffset, err)
			}
			off = h.NextOffset()
			pos += h.Size()
		}
	}
	return nil
}

// Records yields every live record of every partition (the coordinator's replay).
func (j *LogJournal) Records(yield func(Record) bool) {
	for _, p := range j.parts {
		if p == nil {
			continue
		}
		for k, v := range p.image {
			if !yield(Record{Key: []byte(k), Value: v}) {
				return
			}
		}
	}
}

// Append writes recs to a partition's log.
func (j *LogJournal) Append(partition int32, recs []Record) (Durable, error) {
	if partition < 0 || int(partition) >= len(j.parts) || j.parts[partition] == nil || len(recs) == 0 {
		return nil, fmt.Errorf("offsets journal: bad append to partition %d", partition)
	}
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return nil, errJournalClosed
	}
	p := j.parts[partition]
	p.mu.RLock()
	wait, err := j.appendFn(p.idx, encodeBatch(recs, j.now().UnixMilli()))
	if err == nil {
		p.imgMu.Lock()
		p.applyLocked(recs)
		due := p.records > 2*int64(len(p.image))+j.compactAfter
		p.imgMu.Unlock()
		if due && p.compacting.CompareAndSwap(false, true) {
			j.startCompaction(p)
		}
	}
	p.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	return wait, nil
}

// REQUIRES: p.imgMu held.
func (p *journalPart) applyLocked(recs []Record) {
	for _, r := range recs {
		p.records++
		if r.Value == nil {
			delete(p.image, string(r.Key))
		} else {
			p.image[string(r.Key)] = r.Value
		}
	}
}

// Compact rewrites a partition now (tests; the journal also does it by itself).
func (j *LogJournal) Compact(partition int32) error {
	if j.parts[partition] == nil {
		return fmt.Errorf("offsets journal: partition %d not held", partition)
	}
	return j.compact(j.parts[partition])
}

func (j *LogJournal) startCompaction(p *journalPart) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		p.compacting.Store(false)
		return
	}
	j.wg.Add(1)
	go func() {
		defer j.wg.Done()
		defer p.compacting.Store(false)
		if err := j.compact(p); err != nil {
			j.log.Warn("offsets log compaction failed", "partition", p.log.TP().String(), "err", err)
		}
	}()
}

var errJournalClosed = errors.New("offsets journal closed")

// Close refuses further appends and waits for background compactions (before the engine
// closes).
func (j *LogJournal) Close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
	j.wg.Wait()
}

func (j *LogJournal) compact(p *journalPart) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.imgMu.Lock()
	recs := make([]Record, 0, len(p.image))
	for k, v := range p.image {
		recs = append(recs, Record{Key: []byte(k), Value: v})
	}
	p.imgMu.Unlock()
	start := p.log.LogEndOffset()
	var wait Durable
	now := j.now().UnixMilli()
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && (n == 0 || size+len(recs[n].Key)+len(recs[n].Value)+16 <= maxBatchBytes) {
			size += len(recs[n].Key) + len(recs[n].Value) + 16
			n++
		}
		w, err := j.appendFn(p.idx, encodeBatch(recs[:n], now))
		if err != nil {
			return err
		}
		wait = w // durable (committed) in log order: the last wait covers the others
		recs = recs[n:]
	}
	if wait != nil {
		if err := wait.Wait(); err != nil {
			return err
		}
	}
	before := p.log.Size()
	if _, err := p.log.DeleteRecordsBefore(start); err != nil && !errors.Is(err, engine.ErrOffsetOutOfRange) {
		return err
	}
	p.imgMu.Lock()
	p.records = int64(len(p.image))
	p.imgMu.Unlock()
	j.log.Info("compacted offsets log", "partition", p.log.TP().String(), "live_records", p.records,
		"bytes_before", before, "bytes_after", p.log.Size())
	return nil
}
