package producer

import (
	"cmp"
	"errors"
	"math"
	"slices"
)

// RetainedBatches is how many of a producer's latest batches are kept for duplicate detection
// (Kafka's ProducerStateEntry.NUM_BATCHES_TO_RETAIN, which matches the client's default
// max.in.flight.requests.per.connection of 5). It is part of the snapshot format.
const RetainedBatches = 5

// Errors returned by Check. Each matches one Kafka error code; the broker maps them.
var (
	// ErrInvalidProducerEpoch is INVALID_PRODUCER_EPOCH (47): the batch's epoch is older than
	// the producer's stored epoch (a fenced zombie).
	ErrInvalidProducerEpoch = errors.New("producer: invalid producer epoch")
	// ErrOutOfOrderSequence is OUT_OF_ORDER_SEQUENCE_NUMBER (45): the batch's first sequence
	// does not follow the stored last sequence, or a new epoch does not start at 0.
	ErrOutOfOrderSequence = errors.New("producer: out of order sequence number")
	// ErrInvalidRecord is INVALID_RECORD (87): a batch with a producer id but a negative epoch
	// or sequence.
	ErrInvalidRecord = errors.New("producer: batch has a producer id but no valid epoch or sequence")
	// ErrInvalidTxnState is INVALID_TXN_STATE (48): a non-transactional batch from a producer
	// whose transaction is open on the partition.
	ErrInvalidTxnState = errors.New("producer: non-transactional batch while the producer's transaction is open")
	// ErrCoordinatorFenced is TRANSACTION_COORDINATOR_FENCED (52): a transaction marker from a
	// coordinator epoch older than the last one seen for the producer.
	ErrCoordinatorFenced = errors.New("producer: transaction marker from an older coordinator epoch")
)

// BatchInfo is what State needs to know of a record batch.
type BatchInfo struct {
	ProducerID    int64 // < 0 (Kafka's -1): not an idempotent producer
	ProducerEpoch int16
	BaseSequence  int32
	LastSequence  int32 // LastSequence(BaseSequence, LastOffsetDelta)
	FirstOffset   int64 // assigned offsets; ignored by Check
	LastOffset    int64
	MaxTimestamp  int64
	// Transactional marks a batch of a transaction: the first one of a producer opens its
	// transaction at FirstOffset (see doc.go, "Transactions").
	Transactional bool
}

// LastSequence returns the sequence of the last record of a batch whose first record has
// sequence base and whose LastOffsetDelta is delta. Sequences wrap from MaxInt32 to 0 (Kafka's
// DefaultRecordBatch.incrementSequence); a negative base (no sequence) is returned unchanged.
func LastSequence(base, delta int32) int32 {
	if base < 0 {
		return base
	}
	if base > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - base) - 1
	}
	return base + delta
}

// inSequence reports whether next may follow last.
func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// Verdict is Check's answer for an acceptable batch.
type Verdict struct {
	// Duplicate means the batch was already appended: answer success with FirstOffset (the
	// original base offset) and Timestamp, and append nothing.
	Duplicate   bool
	FirstOffset int64
	LastOffset  int64
	Timestamp   int64
}

// batchMeta is one retained batch.
type batchMeta struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	timestamp               int64
}

// entry is one producer's state.
// Invariant: 1 <= n <= RetainedBatches, every retained batch belongs to epoch.
type entry struct {
	batches [RetainedBatches]batchMeta // ring: the i-th oldest is batches[(head+i)%RetainedBatches]
	since   int64                      // first offset recorded for this producer (see doc.go)
	// txnFirst is the first offset of the producer's open transaction, -1 when none.
	txnFirst int64
	// coordEpoch is the coordinator epoch of the producer's last marker, -1 when none.
	coordEpoch int32
	epoch      int16
	head, n    uint8
}

func (e *entry) at(i int) *batchMeta { return &e.batches[(int(e.head)+i)%RetainedBatches] }

func (e *entry) newest() *batchMeta { return e.at(int(e.n) - 1) }

func (e *entry) push(m batchMeta) {
	if e.n < RetainedBatches {
		*e.at(int(e.n)) = m
		e.n++
		return
	}
	e.batches[e.head] = m // overwrite the oldest
	e.head = (e.head + 1) % RetainedBatches
}

// State is the idempotent-producer state of one partition. The zero value is not usable; use
// New or UnmarshalSnapshot. State is not safe for concurrent use: REQUIRES the owning
// partition's lock for every method.
type State struct {
	producers map[int64]*entry
	// ongoing maps the producers with an open transaction to its first offset (the same as
	// their entry's txnFirst): the last stable offset is the smallest.
	ongoing map[int64]int64
}

// New returns an empty State.
func New() *State { return &State{producers: make(map[int64]*entry), ongoing: make(map[int64]int64)} }

// InTxnAt reports whether producer pid has an open transaction of its batches at epoch
// (Kafka's UnifiedLog.hasOngoingTransaction): under transaction version 2 the epoch is
// bumped by every EndTxn, so an open transaction at an older epoch is the previous one,
// whose marker has not arrived yet, never the batch's.
func (s *State) InTxnAt(pid int64, epoch int16) bool {
	e := s.producers[pid]
	return e != nil && e.txnFirst >= 0 && e.epoch == epoch
}

// Len returns the number of producers tracked.
func (s *State) Len() int { return len(s.producers) }

// Check validates batch b before it is appended (b's offsets are not used). It returns a
// Verdict with Duplicate set if b is a retry of a retained batch, or one of ErrInvalidRecord,
// ErrInvalidProducerEpoch, ErrOutOfOrderSequence. Check does not modify s.
func (s *State) Check(b BatchInfo) (Verdict, error) {
	if b.ProducerID < 0 {
		return Verdict{}, nil
	}
	if b.ProducerEpoch < 0 || b.BaseSequence < 0 || b.LastSequence < 0 {
		return Verdict{}, ErrInvalidRecord
	}
	e := s.producers[b.ProducerID]
	if e == nil {
		return Verdict{}, nil // unknown producer: any epoch, any sequence
	}
	if !b.Transactional && e.txnFirst >= 0 && b.ProducerEpoch == e.epoch {
		return Verdict{}, ErrInvalidTxnState
	}
	switch {
	case b.ProducerEpoch < e.epoch:
		return Verdict{}, ErrInvalidProducerEpoch
	case b.ProducerEpoch > e.epoch:
		if b.BaseSequence != 0 {
			return Verdict{}, ErrOutOfOrderSequence
		}
		return Verdict{}, nil
	}
	for i := 0; i < int(e.n); i++ {
		if m := e.at(i); m.firstSeq == b.BaseSequence && m.lastSeq == b.LastSequence {
			return Verdict{Duplicate: true, FirstOffset: m.firstOffset, LastOffset: m.lastOffset, Timestamp: m.timestamp}, nil
		}
	}
	if !inSequence(e.newest().lastSeq, b.BaseSequence) {
		return Verdict{}, ErrOutOfOrderSequence
	}
	return Verdict{}, nil
}

// CheckCoordinator validates a transactional batch a coordinator writes on a producer's
// behalf (Kafka's AppendOrigin.COORDINATOR: the group coordinator's transactional offset
// commits). It carries no sequence, so only the epoch is checked: one older than the
// producer's is ErrInvalidProducerEpoch. Update then opens the producer's transaction like a
// client's batch would. CheckCoordinator does not modify s.
func (s *State) CheckCoordinator(b BatchInfo) error {
	if b.ProducerID < 0 || b.ProducerEpoch < 0 || !b.Transactional {
		return ErrInvalidRecord
	}
	if e := s.producers[b.ProducerID]; e != nil && b.ProducerEpoch < e.epoch {
		return ErrInvalidProducerEpoch
	}
	return nil
}

// Update records batch b, appended at b.FirstOffset..b.LastOffset. It never refuses a batch:
// the leader calls it after Check accepted b as new, followers and replay call it alone.
// Batches must come in offset order. A batch with a different epoch than the stored one
// (higher, or lower on a follower copying its leader) replaces the producer's batches.
func (s *State) Update(b BatchInfo) {
	if b.ProducerID < 0 {
		return
	}
	e := s.producers[b.ProducerID]
	if e == nil {
		e = &entry{epoch: b.ProducerEpoch, since: b.FirstOffset, txnFirst: -1, coordEpoch: -1}
		s.producers[b.ProducerID] = e
	} else if e.epoch != b.ProducerEpoch {
		e.epoch = b.ProducerEpoch
		e.head, e.n = 0, 0
	}
	if b.Transactional && e.txnFirst < 0 {
		e.txnFirst = b.FirstOffset
		s.ongoing[b.ProducerID] = b.FirstOffset
	}
	e.push(batchMeta{
		firstSeq:    b.BaseSequence,
		lastSeq:     b.LastSequence,
		firstOffset: b.FirstOffset,
		lastOffset:  b.LastOffset,
		timestamp:   b.MaxTimestamp,
	})
}

// TruncateFrom forgets every batch whose last offset is >= offset (the log was truncated to
// end at offset), and every producer left with no batch. It returns true if the result is
// exact: every remaining producer has the epoch and last sequence a replay of the log below
// offset would give, and every forgotten producer was first recorded at or above offset. On
// false, rebuild from a snapshot to keep fencing exact (see doc.go).
func (s *State) TruncateFrom(offset int64) (exact bool) {
	exact = true
	for id, e := range s.producers {
		for e.n > 0 && e.newest().lastOffset >= offset {
			e.n--
		}
		if e.txnFirst >= offset {
			e.txnFirst = -1
			delete(s.ongoing, id)
		}
		if e.n == 0 {
			delete(s.ongoing, id)
			if e.since < offset {
				exact = false
			}
			delete(s.producers, id)
		}
	}
	return exact
}

// RemoveBefore forgets the producers whose last offset is below logStartOffset (their records
// were deleted by retention or DeleteRecords). It returns how many were removed.
func (s *State) RemoveBefore(logStartOffset int64) int {
	removed := 0
	for id, e := range s.producers {
		if e.newest().lastOffset < logStartOffset {
			delete(s.producers, id)
			delete(s.ongoing, id)
			removed++
		}
	}
	return removed
}

// DefaultProducerIDExpirationMs is Kafka's producer.id.expiration.ms default (one day).
const DefaultProducerIDExpirationMs = 86400000

// RemoveExpired forgets the producers whose last timestamp is maxIdleMs or more before now
// (Kafka's producer.id.expiration.ms check), except those with an open transaction (Kafka
// keeps them too: the transaction's end needs them). It returns how many were removed.
func (s *State) RemoveExpired(now, maxIdleMs int64) int {
	removed := 0
	for id, e := range s.producers {
		if e.txnFirst < 0 && now-e.newest().timestamp >= maxIdleMs {
			delete(s.producers, id)
			removed++
		}
	}
	return removed
}

// Entry describes one producer, for DescribeProducers.
type Entry struct {
	ProducerID    int64
	ProducerEpoch int16
	LastSequence  int32
	LastOffset    int64
	LastTimestamp int64
	// CoordinatorEpoch is the coordinator epoch of the producer's last marker, -1 when none.
	CoordinatorEpoch int32
	// TxnStartOffset is the first offset of the producer's open transaction, -1 when none.
	TxnStartOffset int64
}

// Entries returns every producer, by ascending producer id.
func (s *State) Entries() []Entry {
	out := make([]Entry, 0, len(s.producers))
	for id, e := range s.producers {
		m := e.newest()
		out = append(out, Entry{
			ProducerID:    id,
			ProducerEpoch: e.epoch,
			LastSequence:  m.lastSeq,
			LastOffset:    m.lastOffset,
			LastTimestamp: m.timestamp,

			CoordinatorEpoch: e.coordEpoch,
			TxnStartOffset:   e.txnFirst,
		})
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// Marker is a transaction marker (a COMMIT or ABORT control batch) for one producer.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	Commit           bool
	Offset           int64 // the marker's offset; ignored by CheckMarker
	// TxnVersion is the transaction version the coordinator wrote the marker for
	// (WriteTxnMarkers v2, KIP-1228); only CheckMarker reads it (the log does not keep it).
	TxnVersion int8
}

// StrictMarkerTxnVersion is the first transaction version whose markers must carry an epoch
// above the producer's (KIP-1228): from transaction version 2 (KIP-890 part 2) the
// coordinator bumps the epoch at every EndTxn and writes the markers at the bumped epoch.
const StrictMarkerTxnVersion = 2

// CompletedTxn is a transaction a marker ended on the partition: its data lies in
// [FirstOffset, LastOffset], LastOffset being the marker's own offset.
type CompletedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
	Aborted     bool
}

// CheckMarker validates a marker before the leader appends it (Kafka's
// ProducerAppendInfo.appendEndTxnMarker and checkProducerEpoch): an epoch older than the
// producer's is ErrInvalidProducerEpoch, and so, for m.TxnVersion >= StrictMarkerTxnVersion,
// is an epoch equal to the producer's while its transaction is open here (a late or retried
// marker of the previous transaction must not end the next one, which runs at the epoch the
// previous marker carried); an equal epoch with no transaction open is a retry of the
// marker already written and is accepted, as is the last epoch (MaxInt16), which cannot be
// bumped. A coordinator epoch older than the producer's last marker's is
// ErrCoordinatorFenced. A marker for an unknown producer is accepted (the coordinator writes
// markers to every partition of the transaction, written to or not). CheckMarker does not
// modify s.
func (s *State) CheckMarker(m Marker) error {
	e := s.producers[m.ProducerID]
	switch {
	case m.ProducerID < 0 || m.ProducerEpoch < 0:
		return ErrInvalidRecord
	case e == nil:
		return nil
	case m.ProducerEpoch < e.epoch:
		return ErrInvalidProducerEpoch
	case m.TxnVersion >= StrictMarkerTxnVersion && m.ProducerEpoch == e.epoch &&
		e.txnFirst >= 0 && m.ProducerEpoch != math.MaxInt16:
		return ErrInvalidProducerEpoch
	case m.CoordinatorEpoch < e.coordEpoch:
		return ErrCoordinatorFenced
	}
	return nil
}

// EndTxn records marker m, appended at m.Offset, and returns the transaction it ends: the
// producer's open one, or an empty one at the marker's offset when none is open (Kafka's
// answer too, so that an abort with no data still reaches the aborted-transaction index). Like
// Update it never refuses: followers and replay call it alone. An unknown producer stays
// unknown (it has no batch to retain).
func (s *State) EndTxn(m Marker) CompletedTxn {
	c := CompletedTxn{ProducerID: m.ProducerID, FirstOffset: m.Offset, LastOffset: m.Offset, Aborted: !m.Commit}
	e := s.producers[m.ProducerID]
	if e == nil {
		return c
	}
	if e.txnFirst >= 0 {
		c.FirstOffset = e.txnFirst
	}
	e.txnFirst = -1
	delete(s.ongoing, m.ProducerID)
	if m.ProducerEpoch > e.epoch {
		// A marker of a bumped epoch (the coordinator fenced the producer): batches of the old
		// epoch are zombies from now on. As Kafka, the old epoch's batches are forgotten; the
		// newest stays, without sequences, for its offset and timestamp (so the producer
		// expires and leaves with its records) and the new epoch starts at sequence 0.
		last := *e.newest()
		last.firstSeq, last.lastSeq = -1, -1
		e.epoch, e.head, e.n = m.ProducerEpoch, 0, 0
		e.push(last)
	}
	e.coordEpoch = m.CoordinatorEpoch
	return c
}

// FirstUnstableOffset returns the smallest first offset of an open transaction, and false
// when none is open.
func (s *State) FirstUnstableOffset() (int64, bool) {
	first, ok := int64(math.MaxInt64), false
	for _, off := range s.ongoing {
		first, ok = min(first, off), true
	}
	return first, ok
}

// FirstUnstableOffsetExcept is FirstUnstableOffset ignoring producer pid's transaction.
func (s *State) FirstUnstableOffsetExcept(pid int64) (int64, bool) {
	first, ok := int64(math.MaxInt64), false
	for id, off := range s.ongoing {
		if id != pid {
			first, ok = min(first, off), true
		}
	}
	return first, ok
}
