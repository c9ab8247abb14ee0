package group

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447), Kafka's way
// (GroupMetadataManager.storeOffsets with a producer id, GroupCoordinator.
// onTransactionCompleted): a transactional producer commits a consumer group's offsets
// inside its transaction. They are written at once into the group's __consumer_offsets
// partition as a transactional batch of that producer (Journal.AppendTxn; the partition's
// last stable offset and .txnindex treat it like any transactional data) and answered once
// durable. They stay pending, per producer id, invisible to OffsetFetch (which reports
// UNSTABLE_OFFSET_COMMIT for them when asked for stable offsets, KIP-447) until the
// transaction's marker is in the partition: CompleteTxn then applies them in memory (COMMIT)
// or drops them (ABORT); the marker already in the log is what makes that durable, and the
// journal's replay decides the same way (journal.go). A committed transactional offset does
// not replace a later record of the same partition (a plain commit made while the
// transaction was open wins, as in Kafka); a later pending commit of the same partition by
// the same producer replaces the earlier one.

// TxnCommitRequest is a TxnOffsetCommit for one group.
type TxnCommitRequest struct {
	Group         string
	ProducerID    int64
	ProducerEpoch int16
	// MemberID, InstanceID and Generation (KIP-447, v3+) fence a producer whose consumer
	// left the group: empty member id and generation -1 skip the checks (older clients).
	MemberID   string
	InstanceID *string
	Generation int32
	Offsets    []CommitOffset
}

// txnOffset names one partition's offset in a group.
type txnOffset struct {
	topic     string
	partition int32
}

// pendingOffset is a transactional offset waiting for its marker, with its record's place in
// the log order (Coordinator.pos).
type pendingOffset struct {
	Offset
	pos int64
}

// TxnCommit handles TxnOffsetCommit: one error per offset (nil: pending in the producer's
// transaction) and, when anything was written, the records' durability, which the caller
// must wait for before answering. Kafka's rules: a static member replaced by another gets
// FENCED_INSTANCE_ID, an unknown member UNKNOWN_MEMBER_ID, a generation other than the
// group's ILLEGAL_GENERATION (for a consumer-protocol group: the member epoch,
// STALE_MEMBER_EPOCH); a producer epoch older than the one the partition's log knows
// INVALID_PRODUCER_EPOCH.
func (c *Coordinator) TxnCommit(req TxnCommitRequest) ([]*kerr.Error, Durable) {
	errs := make([]*kerr.Error, len(req.Offsets))
	all := func(e *kerr.Error) ([]*kerr.Error, Durable) {
		for i := range errs {
			errs[i] = e
		}
		return errs, nil
	}
	if req.Group == "" {
		return all(kerr.InvalidGroupID)
	}
	if e := c.closedErr(); e != nil {
		return all(e)
	}
	g := c.lockOrCreate(req.Group)
	defer g.mu.Unlock()
	checked := req.MemberID != "" || req.Generation >= 0
	var check func(string, int32) *kerr.Error
	switch {
	case g.cg != nil && checked:
		if err := c.validateConsumerCommitLocked(g, req.MemberID, req.Generation, true); err != nil {
			return all(err)
		}
	case g.cg != nil:
	case g.sg != nil:
		var err *kerr.Error
		if check, err = c.validateStreamsCommitLocked(g, req.MemberID, req.Generation, true, true); err != nil {
			return all(err)
		}
	case req.InstanceID != nil && g.static[*req.InstanceID] != nil && g.static[*req.InstanceID].id != req.MemberID:
		return all(kerr.FencedInstanceID)
	case req.MemberID != "" && g.members[req.MemberID] == nil:
		return all(kerr.UnknownMemberID)
	case req.Generation >= 0 && req.Generation != g.generation:
		return all(kerr.IllegalGeneration)
	}
	now := c.clock.Now()
	recs := make([]Record, 0, len(req.Offsets))
	var ok []int
	for i, o := range req.Offsets {
		if o.Metadata != nil && len(*o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		if check != nil {
			if errs[i] = check(o.Topic, o.Partition); errs[i] != nil {
				continue
			}
		}
		recs = append(recs, Record{Key: offsetKey(g.id, o.Topic, o.Partition), Value: offsetValue(o.at(now))})
		ok = append(ok, i)
	}
	if len(recs) == 0 {
		return errs, nil
	}
	wait, err := c.j.AppendTxn(g.part, req.ProducerID, req.ProducerEpoch, recs)
	if err != nil {
		e := kerr.CoordinatorNotAvailable
		if errors.Is(err, engine.ErrInvalidProducerEpoch) {
			e = kerr.InvalidProducerEpoch
		}
		c.log.Warn("transactional offset commit not written", "group", g.id, "producer_id", req.ProducerID, "err", err)
		for _, i := range ok {
			errs[i] = e
		}
		return errs, nil
	}
	pos := c.pos.Add(1)
	for _, i := range ok {
		o := req.Offsets[i]
		g.addPending(req.ProducerID, txnOffset{o.Topic, o.Partition}, pendingOffset{o.at(now), pos})
	}
	return errs, wait
}

// addPending records a pending transactional offset of a producer.
func (g *group) addPending(producerID int64, k txnOffset, o pendingOffset) {
	if g.txnOffsets == nil {
		g.txnOffsets = map[int64]map[txnOffset]pendingOffset{}
	}
	ps := g.txnOffsets[producerID]
	if ps == nil {
		ps = map[txnOffset]pendingOffset{}
		g.txnOffsets[producerID] = ps
	}
	ps[k] = o
}

// CompleteTxn applies a transaction marker written to __consumer_offsets partition part
// (Kafka's onTransactionCompleted): the producer's pending offsets of every group of that
// partition are committed (each unless the partition's committed offset comes from a later
// record) or dropped. It writes nothing: the marker in the log is the durable decision.
func (c *Coordinator) CompleteTxn(part int32, producerID int64, commit bool) {
	c.mu.Lock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		if g.part == part {
			groups = append(groups, g)
		}
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		ps := g.txnOffsets[producerID]
		delete(g.txnOffsets, producerID)
		for k, o := range ps {
			if cur, ok := g.offsetPos[k]; commit && (!ok || cur < o.pos) {
				g.setOffset(k.topic, k.partition, o.Offset, o.pos)
			}
		}
		g.mu.Unlock()
	}
}

// pendingTxnLocked reports whether a transaction holds a pending offset of the partition.
// REQUIRES: g.mu held.
func (g *group) pendingTxnLocked(topic string, partition int32) bool {
	for _, ps := range g.txnOffsets {
		if _, ok := ps[txnOffset{topic, partition}]; ok {
			return true
		}
	}
	return false
}
