package group

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/segment"
)

// Journal persists the coordinator's records, one log per __consumer_offsets partition.
// The coordinator appends a group's records under that group's lock, so records of one key
// are never appended concurrently.
type Journal interface {
	// Append writes recs, in order, to a partition's log and returns their durability.
	Append(partition int32, recs []Record) (Durable, error)
	// AppendTxn writes recs as one transactional batch of a producer's transaction
	// (TxnOffsetCommit): they count only once the transaction's COMMIT marker follows them
	// in the log. A producer epoch older than the producer's in that log is refused with
	// engine.ErrInvalidProducerEpoch.
	AppendTxn(partition int32, producerID int64, producerEpoch int16, recs []Record) (Durable, error)
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
// delete.retention.ms after the clean that first reached them, drops aborted transactional
// batches and keeps a marker while data of its transaction remains). Replay does not depend
// on what the cleaner removed: every record the coordinator writes is keyed by its logical
// key (byte-identical for the same group, topic and partition), a record carries the whole
// state of its key, and a deletion is a tombstone, so a log with superseded records, aborted
// transactions and expired tombstones removed replays to the same state as the whole log.
//
// Transactional offset commits (AppendTxn) are replayed as Kafka's GroupMetadataManager
// loads them: pending per producer until its marker; a COMMIT applies each unless the
// partition's live record is later in the log, an ABORT drops them, a plain tombstone drops
// the pending records of its key too, and those with no marker yet stay pending.
type LogJournal struct {
	parts    []*engine.Log // by __consumer_offsets partition; nil: not held
	appendFn AppendFunc    // writes every plain batch (JournalConfig.Append)
	txnFn    AppendFunc    // writes every transactional batch (JournalConfig.AppendTxn)
	now      func() time.Time

	mu     sync.Mutex // guards closed
	closed bool       // no appends after Close
}

// logValue is a replayed record's value and log offset.
type logValue struct {
	value []byte
	pos   int64
}

// logImage is a replayed partition: each key's live value, and the records of each
// producer's transaction that has no marker yet.
type logImage struct {
	live map[string]logValue
	open map[int64]map[string]logValue
}

// JournalConfig configures a LogJournal.
type JournalConfig struct {
	Now func() time.Time
	// Append writes every batch; required. The broker's coordinator appends through the
	// partition's replication leader (acks=all, stamped with its leader epoch) and reports
	// durability once the high watermark passed the batch; a single node is a one-voter
	// cluster, so this is the only path.
	Append AppendFunc
	// AppendTxn writes every transactional batch (TxnOffsetCommit), like Append but as a
	// coordinator writing on a producer's behalf (engine.AppendOptions.Coordinator: the
	// producer's epoch is checked, its transaction opened). Nil: the journal refuses
	// transactional appends (the transaction coordinator's journal of __transaction_state).
	AppendTxn AppendFunc
}

// AppendFunc appends one record batch to a __consumer_offsets partition's log and returns its
// durability (for a replicated log: committed). An error from either means the outcome is
// unknown; nothing is acknowledged.
type AppendFunc func(partition int32, batch []byte) (Durable, error)

// Replay is what OpenLogJournal read from the partition logs: each held partition's image.
// The journal keeps no reference to it, so the image is freed once its holder (the
// coordinator's load) drops it rather than living as long as the journal.
type Replay struct {
	images []*logImage // by partition; nil: not held
}

// OpenLogJournal replays the partition logs (index = partition) into their images and
// returns the journal that appends to them with that replay. A nil log is a partition this
// journal does not hold (a cluster coordinator holds the partitions its broker leads):
// appends to it fail.
func OpenLogJournal(logs []*engine.Log, cfg JournalConfig) (*LogJournal, *Replay, error) {
	if cfg.Append == nil {
		return nil, nil, errors.New("offsets journal: JournalConfig.Append is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rp := &Replay{images: make([]*logImage, len(logs))}
	for i, l := range logs {
		if l == nil {
			continue
		}
		img, err := replay(l)
		if err != nil {
			return nil, nil, err
		}
		rp.images[i] = img
	}
	return &LogJournal{parts: logs, appendFn: cfg.Append, txnFn: cfg.AppendTxn, now: cfg.Now}, rp, nil
}

// replay reads a log from its start to its end: last write wins, tombstones delete,
// transactional records wait for their producer's marker.
func replay(l *engine.Log) (*logImage, error) {
	img := &logImage{live: map[string]logValue{}, open: map[int64]map[string]logValue{}}
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
			if err := img.apply(&h, buf[pos:pos+h.Size()]); err != nil {
				return nil, fmt.Errorf("replay %s at %d: %w", l.TP(), h.BaseOffset, err)
			}
			off = h.NextOffset()
			pos += h.Size()
		}
	}
	return img, nil
}

// apply replays one batch (header h) into the image.
func (img *logImage) apply(h *segment.Header, batch []byte) error {
	switch {
	case h.IsControl():
		n := 0
		return decodeBatch(batch, func(r Record) {
			var key kmsg.ControlRecordKey
			if n++; n > 1 || key.ReadFrom(r.Key) != nil {
				return // a marker batch holds one record; anything else is not a marker
			}
			switch key.Type {
			case kmsg.ControlRecordKeyTypeCommit:
				for k, v := range img.open[h.ProducerID] {
					if cur, ok := img.live[k]; !ok || cur.pos < v.pos {
						img.live[k] = v
					}
				}
				delete(img.open, h.ProducerID)
			case kmsg.ControlRecordKeyTypeAbort:
				delete(img.open, h.ProducerID)
			}
		})
	case h.IsTransactional():
		ps := img.open[h.ProducerID]
		if ps == nil {
			ps = map[string]logValue{}
			img.open[h.ProducerID] = ps
		}
		return decodeBatch(batch, func(r Record) {
			if r.Value != nil { // the coordinator writes no transactional tombstones
				ps[string(r.Key)] = logValue{slices.Clone(r.Value), r.pos}
			}
		})
	}
	return decodeBatch(batch, func(r Record) {
		k := string(r.Key)
		if r.Value == nil {
			delete(img.live, k)
			for _, ps := range img.open { // Kafka drops a tombstoned key's pending commits too
				delete(ps, k)
			}
		} else {
			img.live[k] = logValue{slices.Clone(r.Value), r.pos} // r.Value aliases buf, reused by the next read
		}
	})
}

// Records yields every record of every held partition as replayed at open (the
// coordinator's replay): the live ones, then those of transactions still open, marked
// pending. Each call yields the same records; the values are shared, so a reader must not
// modify them.
func (rp *Replay) Records(yield func(Record) bool) {
	for _, img := range rp.images {
		if img == nil {
			continue
		}
		for k, v := range img.live {
			if !yield(Record{Key: []byte(k), Value: v.value, pos: v.pos}) {
				return
			}
		}
		for pid, ps := range img.open {
			for k, v := range ps {
				if !yield(Record{Key: []byte(k), Value: v.value, pos: v.pos, pending: true, producerID: pid}) {
					return
				}
			}
		}
	}
}

// Append writes recs to a partition's log.
func (j *LogJournal) Append(partition int32, recs []Record) (Durable, error) {
	if err := j.appendable(partition, recs); err != nil {
		return nil, err
	}
	return j.appendFn(partition, encodeBatch(recs, j.now().UnixMilli(), -1, -1))
}

// AppendTxn writes recs to a partition's log as one transactional batch of a producer.
func (j *LogJournal) AppendTxn(partition int32, producerID int64, producerEpoch int16, recs []Record) (Durable, error) {
	if j.txnFn == nil {
		return nil, errors.New("offsets journal: this journal takes no transactional batches (no JournalConfig.AppendTxn)")
	}
	if producerID < 0 || producerEpoch < 0 {
		return nil, fmt.Errorf("offsets journal: transactional append without a producer (id %d, epoch %d)", producerID, producerEpoch)
	}
	if err := j.appendable(partition, recs); err != nil {
		return nil, err
	}
	return j.txnFn(partition, encodeBatch(recs, j.now().UnixMilli(), producerID, producerEpoch))
}

// appendable checks that recs may be appended to partition: held, not empty, not closed.
func (j *LogJournal) appendable(partition int32, recs []Record) error {
	if partition < 0 || int(partition) >= len(j.parts) || j.parts[partition] == nil || len(recs) == 0 {
		return fmt.Errorf("offsets journal: bad append to partition %d", partition)
	}
	j.mu.Lock()
	closed := j.closed
	j.mu.Unlock()
	if closed {
		return errJournalClosed
	}
	return nil
}

var errJournalClosed = errors.New("offsets journal closed")

// Close refuses further appends.
func (j *LogJournal) Close() {
	j.mu.Lock()
	j.closed = true
	j.mu.Unlock()
}
