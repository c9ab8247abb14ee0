package group

import (
	"errors"
	"fmt"
	"slices"
	"sync"
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
// (tests).
func (d Durable) Wait() error {
	ch := make(chan error, 1)
	d(func(err error) { ch <- err })
	return <-ch
}

// LogJournal is the Journal over the engine's __consumer_offsets partition logs.
//
// It does not compact: the topic is cleanup.policy=compact and the engine's log cleaner
// compacts it like any compacted topic (keeps each key's last record, drops tombstones
// delete.retention.ms after the clean that first reached them). Replay does not depend on
// what the cleaner removed: every record the coordinator writes is keyed by its logical key
// (byte-identical for the same group, topic and partition), a record carries the whole
// state of its key, and a deletion is a tombstone, so a log with superseded records and
// expired tombstones removed replays to the same state as the whole log.
type LogJournal struct {
	parts    []*engine.Log // by __consumer_offsets partition; nil: not held
	appendFn AppendFunc    // writes every batch (JournalConfig.Append)
	now      func() time.Time

	// replayed is each held partition's live image (key → latest value) read at open,
	// handed to the coordinator once by Records and dropped then; guarded by mu.
	replayed []map[string][]byte

	mu     sync.Mutex // guards closed and replayed
	closed bool       // no appends after Close
}

// JournalConfig configures a LogJournal.
type JournalConfig struct {
	Now func() time.Time
	// Append writes every batch; required. The broker's coordinator appends through the
	// partition's replication leader (acks=all, stamped with its leader epoch) and reports
	// durability once the high watermark passed the batch; a single node is a one-voter
	// cluster, so this is the only path.
	Append AppendFunc
}

// AppendFunc appends one record batch to a __consumer_offsets partition's log and returns its
// durability (for a replicated log: committed). An error from either means the outcome is
// unknown; nothing is acknowledged.
type AppendFunc func(partition int32, batch []byte) (Durable, error)

// OpenLogJournal replays the partition logs (index = partition) into their live images. A
// nil log is a partition this journal does not hold (a cluster coordinator holds the
// partitions its broker leads): appends to it fail.
func OpenLogJournal(logs []*engine.Log, cfg JournalConfig) (*LogJournal, error) {
	if cfg.Append == nil {
		return nil, errors.New("offsets journal: JournalConfig.Append is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	j := &LogJournal{parts: logs, appendFn: cfg.Append, now: cfg.Now, replayed: make([]map[string][]byte, len(logs))}
	for i, l := range logs {
		if l == nil {
			continue
		}
		img, err := replay(l)
		if err != nil {
			return nil, err
		}
		j.replayed[i] = img
	}
	return j, nil
}

// replay reads a log from its start to its end: last write wins, tombstones delete.
func replay(l *engine.Log) (map[string][]byte, error) {
	image := map[string][]byte{}
	off, end := l.LogStartOffset(), l.LogEndOffset()
	var buf []byte
	for off < end {
		reg, err := l.Read(off, 1<<20, end)
		if err != nil {
			return nil, fmt.Errorf("replay %s at %d: %w", l.TP(), off, err)
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
			return nil, fmt.Errorf("replay %s at %d: %w", l.TP(), off, err)
		}
		for pos := 0; pos < len(buf); {
			h, err := segment.ParseHeader(buf[pos:])
			if err != nil || h.Size() > len(buf)-pos {
				return nil, fmt.Errorf("replay %s at %d: %w", l.TP(), off, errBadRecord)
			}
			err = decodeBatch(buf[pos:pos+h.Size()], func(r Record) {
				if r.Value == nil {
					delete(image, string(r.Key))
				} else {
					image[string(r.Key)] = slices.Clone(r.Value) // r.Value aliases buf, reused by the next read
				}
			})
			if err != nil {
				return nil, fmt.Errorf("replay %s at %d: %w", l.TP(), h.BaseOffset, err)
			}
			off = h.NextOffset()
			pos += h.Size()
		}
	}
	return image, nil
}

// Records yields every live record of every held partition, as replayed at open (the
// coordinator's replay); the journal keeps no copy afterwards, so a second call yields
// nothing.
func (j *LogJournal) Records(yield func(Record) bool) {
	j.mu.Lock()
	images := j.replayed
	j.replayed = nil
	j.mu.Unlock()
	for _, img := range images {
		for k, v := range img {
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
	return j.appendFn(partition, encodeBatch(recs, j.now().UnixMilli()))
}

var errJournalClosed = errors.New("offsets journal closed")

// Close refuses further appends.
func (j *LogJournal) Close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
}
