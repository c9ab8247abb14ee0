package share

import "fmt"

// RecordState is the delivery state of one in-flight record of a share partition
// (KIP-932's states; Kafka's RecordState).
type RecordState int8

// The record states. Offsets at or past a partition's end offset are Available with no
// delivery yet; offsets below its start offset are done (Acknowledged or Archived).
const (
	StateAvailable    RecordState = iota // may be acquired
	StateAcquired                        // locked by one member until acknowledged or the lock expires
	StateAcknowledged                    // accepted: never delivered again
	StateArchived                        // rejected, over the delivery limit, a gap or a control record
)

// AckType is an acknowledgement type of ShareFetch and ShareAcknowledge (Kafka's
// AcknowledgeType).
type AckType int8

// The acknowledgement types.
const (
	AckGap     AckType = iota // an offset with no record (a compacted gap): archived
	AckAccept                 // processed: acknowledged
	AckRelease                // give it back for redelivery
	AckReject                 // unprocessable: archived
	AckRenew                  // keep the lock another share.record.lock.duration.ms (v2+)
)

// Batch is one record batch of a partition's log as the broker read it: the offsets it
// covers and what decides whether its records are delivered at all.
type Batch struct {
	First, Last int64
	// Skip: a control batch (transaction marker) or, for read_committed, an aborted
	// transaction's batch. Its offsets are archived without delivery.
	Skip bool
}

// Acquired is a range of offsets acquired by one member with one delivery count, as a
// ShareFetch response lists them.
type Acquired struct {
	First, Last int64
	Deliveries  int16
}

// AckBatch is one acknowledgement batch: Types holds one type for the whole range or one per
// offset.
type AckBatch struct {
	First, Last int64
	Types       []AckType
}

// record is an in-flight record's state.
type record struct {
	state      RecordState
	member     string // holder while Acquired
	deliveries int16
	lock       uint64 // acquisition id while Acquired: an expiry of an older lock does nothing
}

// partition is the share state of one topic partition for one share group (Kafka's
// SharePartition): the share-partition start offset (SPSO, every offset below it is done),
// the in-flight records [start, end) and the end offset (SPEO: offsets at or past it were
// never acquired). Guarded by the Coordinator's mu.
type partition struct {
	start, end int64
	records    map[int64]*record // offsets in [start, end); a missing one is Archived (a gap)
	epoch      int32             // the snapshot epoch last persisted
}

// snapshot is p's durable state: runs of equal delivery state and count over [start, end),
// acquired records saved as available.
func (p *partition) snapshot() []StateBatch {
	var out []StateBatch
	for o := p.start; o < p.end; o++ {
		st, d := StateArchived, int16(0)
		if r := p.records[o]; r != nil {
			st, d = r.state, r.deliveries
		}
		if st == StateAcquired {
			st = StateAvailable
		}
		if k := len(out) - 1; k >= 0 && out[k].Last == o-1 && out[k].State == st && out[k].Deliveries == d {
			out[k].Last = o
			continue
		}
		out = append(out, StateBatch{First: o, Last: o, State: st, Deliveries: d})
	}
	return out
}

// restore builds a partition from its persisted state.
func restore(s Snapshot) *partition {
	p := &partition{start: s.Start, end: s.Start, records: map[int64]*record{}, epoch: s.Epoch}
	for _, b := range s.Batches {
		for o := b.First; o <= b.Last; o++ {
			p.records[o] = &record{state: b.State, deliveries: b.Deliveries}
		}
		p.end = max(p.end, b.Last+1)
	}
	for o := p.start; o < p.end; o++ {
		if p.records[o] == nil {
			p.records[o] = &record{state: StateArchived}
		}
	}
	p.advance()
	return p
}

// nextAvailable is the first offset at or past from that may be acquired: an Available
// in-flight record, else the end offset.
func (p *partition) nextAvailable() int64 {
	for o := p.start; o < p.end; o++ {
		if r := p.records[o]; r != nil && r.state == StateAvailable {
			return o
		}
	}
	return p.end
}

// acquire locks for member the Available records of batches (ordered, as read from the log
// from nextAvailable on) below upTo, at most maxRecords of them (whole batches unless
// strict: Kafka's batch_optimized mode acquires a batch at a time, so the last may go over;
// record_limit stops at maxRecords) and no more than maxInFlight past start. Skipped
// batches are archived. It returns the acquired ranges.
func (p *partition) acquire(member string, batches []Batch, upTo int64, maxRecords int, strict bool, maxInFlight int, lock uint64) []Acquired {
	var out []Acquired
	n := 0
	add := func(o int64, d int16) {
		if k := len(out) - 1; k >= 0 && out[k].Last == o-1 && out[k].Deliveries == d {
			out[k].Last = o
			return
		}
		out = append(out, Acquired{First: o, Last: o, Deliveries: d})
	}
	for _, b := range batches {
		if n >= maxRecords {
			break
		}
		first, last := max(b.First, p.start), min(b.Last, upTo-1)
		if first > last {
			continue
		}
		if first >= p.end && p.end-p.start >= int64(maxInFlight) {
			break // the in-flight window is full: wait for acknowledgements
		}
		// Offsets between the end and this batch have no record (compacted away).
		for ; p.end < first; p.end++ {
			p.records[p.end] = &record{state: StateArchived}
		}
		for o := first; o <= last && !(strict && n >= maxRecords); o++ {
			r := p.records[o]
			if o >= p.end {
				r = &record{state: StateAvailable}
				p.records[o] = r
				p.end = o + 1
			}
			if r == nil || r.state != StateAvailable {
				continue
			}
			if b.Skip {
				r.state = StateArchived
				continue
			}
			r.state, r.member, r.lock = StateAcquired, member, lock
			r.deliveries++
			add(o, r.deliveries)
			n++
		}
	}
	p.advance()
	return out
}

// release makes an acquired record Available again, or Archived once it was delivered
// limit times. It reports whether it became Available.
func (r *record) release(limit int) bool {
	r.member, r.lock = "", 0
	if int(r.deliveries) >= limit {
		r.state = StateArchived
		return false
	}
	r.state = StateAvailable
	return true
}

// releaseMember releases every record member holds (its session closed or it left the
// group). It reports whether member held any and whether any record became Available.
func (p *partition) releaseMember(member string, limit int) (held, freed bool) {
	for _, r := range p.records {
		if r.state == StateAcquired && r.member == member {
			held = true
			if r.release(limit) {
				freed = true
			}
		}
	}
	p.advance()
	return held, freed
}

// expire releases the records still held under lock. It reports whether any was and
// whether any record became Available.
func (p *partition) expire(lock uint64, limit int) (held, freed bool) {
	for _, r := range p.records {
		if r.state == StateAcquired && r.lock == lock {
			held = true
			if r.release(limit) {
				freed = true
			}
		}
	}
	p.advance()
	return held, freed
}

// checkAcks validates acknowledgement batches against the request's rules (ordered, not
// overlapping, one type or one per offset, known types; renew only from v2) and against the
// records: every offset must be acquired by member (Kafka's INVALID_RECORD_STATE), except
// offsets below the start offset, already done.
func (p *partition) checkAcks(member string, acks []AckBatch, maxType AckType) error {
	prev := int64(-1)
	for _, a := range acks {
		switch {
		case a.First > a.Last || a.First <= prev:
			return fmt.Errorf("%w: acknowledgement batch [%d, %d] is empty or overlaps the previous one", ErrInvalidRequest, a.First, a.Last)
		case len(a.Types) == 0 || (len(a.Types) > 1 && int64(len(a.Types)) != a.Last-a.First+1):
			return fmt.Errorf("%w: acknowledgement batch [%d, %d] has %d types, want 1 or one per offset", ErrInvalidRequest, a.First, a.Last, len(a.Types))
		}
		for _, t := range a.Types {
			if t < AckGap || t > maxType {
				return fmt.Errorf("%w: acknowledge type %d", ErrInvalidRequest, t)
			}
		}
		prev = a.Last
		if a.Last >= p.end {
			return fmt.Errorf("%w: offset %d was never acquired (end offset %d)", ErrInvalidRecordState, a.Last, p.end)
		}
		for o := max(a.First, p.start); o <= a.Last; o++ {
			if r := p.records[o]; r == nil || r.state != StateAcquired || r.member != member {
				return fmt.Errorf("%w: offset %d", ErrInvalidRecordState, o)
			}
		}
	}
	return nil
}

// ack applies checked acknowledgements. renew is called with the offsets whose locks are
// renewed (they get a new lock id). It reports whether any record became Available.
func (p *partition) ack(acks []AckBatch, limit int, renew uint64) bool {
	freed := false
	for _, a := range acks {
		for o := max(a.First, p.start); o <= a.Last; o++ {
			r := p.records[o]
			if r == nil || r.state != StateAcquired {
				continue
			}
			t := a.Types[0]
			if len(a.Types) > 1 {
				t = a.Types[o-a.First]
			}
			switch t {
			case AckAccept:
				r.state, r.member, r.lock = StateAcknowledged, "", 0
			case AckGap, AckReject:
				r.state, r.member, r.lock = StateArchived, "", 0
			case AckRelease:
				if r.release(limit) {
					freed = true
				}
			case AckRenew:
				r.lock = renew
			}
		}
	}
	p.advance()
	return freed
}

// advance moves the start offset past every done record.
func (p *partition) advance() {
	for p.start < p.end {
		r := p.records[p.start]
		if r != nil && r.state != StateAcknowledged && r.state != StateArchived {
			return
		}
		delete(p.records, p.start)
		p.start++
	}
}
