package group

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447): a transactional
// producer commits a consumer group's offsets inside its transaction. They stay pending,
// per producer id, invisible to OffsetFetch (which reports UNSTABLE_OFFSET_COMMIT for them
// when asked for stable offsets, KIP-447) until the transaction's marker reaches the
// group's __consumer_offsets partition: CompleteTxn then commits them like an OffsetCommit
// (COMMIT) or drops them (ABORT). A later pending commit of the same partition by the same
// producer replaces the earlier one.
//
// Not yet persisted: Kafka writes them as transactional records into __consumer_offsets and
// replays them with their markers; logd's log cannot take coordinator-written transactional
// batches until the partition side of transactions lands. Until then a coordinator failover
// between TxnOffsetCommit and the marker loses the pending offsets (the consumer then
// re-reads from the last committed offsets).

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

// txnOffset is a pending transactional offset, by topic and partition.
type txnOffset struct {
	topic     string
	partition int32
}

// TxnCommit handles TxnOffsetCommit: one error per offset (nil: pending in the producer's
// transaction). Kafka's rules: a static member replaced by another gets FENCED_INSTANCE_ID,
// an unknown member UNKNOWN_MEMBER_ID, a generation other than the group's
// ILLEGAL_GENERATION (for a consumer-protocol group: the member epoch, STALE_MEMBER_EPOCH).
func (c *Coordinator) TxnCommit(req TxnCommitRequest) []*kerr.Error {
	errs := make([]*kerr.Error, len(req.Offsets))
	all := func(e *kerr.Error) []*kerr.Error {
		for i := range errs {
			errs[i] = e
		}
		return errs
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
	switch {
	case g.cg != nil && checked:
		if err := c.validateConsumerCommitLocked(g, req.MemberID, req.Generation, true); err != nil {
			return all(err)
		}
	case g.cg != nil:
	case req.InstanceID != nil && g.static[*req.InstanceID] != nil && g.static[*req.InstanceID].id != req.MemberID:
		return all(kerr.FencedInstanceID)
	case req.MemberID != "" && g.members[req.MemberID] == nil:
		return all(kerr.UnknownMemberID)
	case req.Generation >= 0 && req.Generation != g.generation:
		return all(kerr.IllegalGeneration)
	}
	now := c.clock.Now()
	for i, o := range req.Offsets {
		if o.Metadata != nil && len(*o.Metadata) > c.cfg.MaxMetadataBytes {
			errs[i] = kerr.OffsetMetadataTooLarge
			continue
		}
		if g.txnOffsets == nil {
			g.txnOffsets = map[int64]map[txnOffset]Offset{}
		}
		ps := g.txnOffsets[req.ProducerID]
		if ps == nil {
			ps = map[txnOffset]Offset{}
			g.txnOffsets[req.ProducerID] = ps
		}
		ps[txnOffset{o.Topic, o.Partition}] = o.at(now)
	}
	return errs
}

// CompleteTxn applies a transaction marker written to __consumer_offsets partition part:
// the producer's pending offsets of every group of that partition are committed (written
// like an OffsetCommit) or dropped. It returns the durability of what it wrote, nil if
// nothing.
func (c *Coordinator) CompleteTxn(part int32, producerID int64, commit bool) (Durable, error) {
	c.mu.Lock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		if g.part == part {
			groups = append(groups, g)
		}
	}
	c.mu.Unlock()
	var last Durable
	for _, g := range groups {
		g.mu.Lock()
		ps := g.txnOffsets[producerID]
		delete(g.txnOffsets, producerID)
		if !commit || len(ps) == 0 {
			g.mu.Unlock()
			continue
		}
		recs := make([]Record, 0, len(ps))
		for k, o := range ps {
			recs = append(recs, Record{Key: offsetKey(g.id, k.topic, k.partition), Value: offsetValue(o)})
		}
		wait, err := c.j.Append(g.part, recs)
		if err != nil {
			g.mu.Unlock()
			return nil, err
		}
		for k, o := range ps {
			g.setOffset(k.topic, k.partition, o)
		}
		g.mu.Unlock()
		last = wait // durable in log order: the last covers the others
	}
	return last, nil
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
