package group

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Offset is a committed offset.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	CommitTime  time.Time
}

// CommitRequest is an OffsetCommit request for one group.
type CommitRequest struct {
	Group, MemberID string
	InstanceID      *string
	Generation      int32 // -1: a standalone commit (no group membership)
	// MemberEpochAPI is set for OffsetCommit v9+, the versions a consumer-protocol
	// (KIP-848) member must use; for such a group Generation is the member epoch.
	MemberEpochAPI bool
	Offsets        []CommitOffset
}

// CommitOffset is one partition's offset to commit.
type CommitOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// Commit handles OffsetCommit. It returns one error per offset (nil: committed) and, when
// anything was written, the records' durability; the caller must wait for it before
// acknowledging. The in-memory offsets change in log order, at append time.
func (c *Coordinator) Commit(req CommitRequest) ([]*kerr.Error, Durable) {
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
	var g *group
	if req.Generation < 0 {
		g = c.lockOrCreate(req.Group)
	} else if g = c.lockGroup(req.Group); g == nil {
		return all(kerr.IllegalGeneration)
	}
	defer g.mu.Unlock()
	var check func(string, int32) *kerr.Error
	if g.cg != nil {
		if err := c.validateConsumerCommitLocked(g, req.MemberID, req.Generation, req.MemberEpochAPI); err != nil {
			return all(err)
		}
	} else if g.sg != nil {
		var err *kerr.Error
		if check, err = c.validateStreamsCommitLocked(g, req.MemberID, req.Generation, req.MemberEpochAPI, false); err != nil {
			return all(err)
		}
	} else if req.InstanceID != nil {
		if sm := g.static[*req.InstanceID]; sm != nil && sm.id != req.MemberID {
			return all(kerr.FencedInstanceID)
		}
	}
	if g.cg == nil && g.sg == nil && (req.Generation >= 0 || g.state != Empty) {
		// Kafka: a generation below 0 commits only into an Empty group; otherwise the
		// member and generation must be current.
		m := g.members[req.MemberID]
		switch {
		case m == nil:
			return all(kerr.UnknownMemberID)
		case req.Generation != g.generation:
			return all(kerr.IllegalGeneration)
		case g.state == CompletingRebalance:
			return all(kerr.RebalanceInProgress)
		}
		c.touchLocked(g, m)
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
	wait, err := c.j.Append(g.part, recs)
	if err != nil {
		c.log.Warn("offset commit not written", "group", g.id, "err", err)
		for _, i := range ok {
			errs[i] = kerr.CoordinatorNotAvailable
		}
		return errs, nil
	}
	pos := c.pos.Add(1)
	for _, i := range ok {
		o := req.Offsets[i]
		g.setOffset(o.Topic, o.Partition, o.at(now), pos)
	}
	return errs, wait
}

// at is the Offset o commits at now.
func (o CommitOffset) at(now time.Time) Offset {
	off := Offset{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, CommitTime: now}
	if o.Metadata != nil {
		off.Metadata = *o.Metadata
	}
	return off
}

// setOffset records a committed offset whose record is at pos in the log order.
func (g *group) setOffset(topic string, partition int32, o Offset, pos int64) {
	ps := g.offsets[topic]
	if ps == nil {
		ps = map[int32]Offset{}
		g.offsets[topic] = ps
	}
	ps[partition] = o
	g.offsetPos[txnOffset{topic, partition}] = pos
}

// TopicPartitions names partitions of one topic.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// CommittedOffset is one partition's committed offset; Offset -1 means none.
type CommittedOffset struct {
	Topic     string
	Partition int32
	Offset
	// Unstable: a transaction holds a pending offset of the partition (TxnOffsetCommit);
	// OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT for it.
	Unstable bool
}

// FetchOffsets handles OffsetFetch for one group: the named partitions (-1 for those without
// a commit), or every committed one when want is nil. An unknown group has no offsets.
func (c *Coordinator) FetchOffsets(groupID string, want []TopicPartitions) []CommittedOffset {
	var out []CommittedOffset
	g := c.lockGroup(groupID)
	if g != nil {
		defer g.mu.Unlock()
	}
	if want == nil {
		if g == nil {
			return nil
		}
		for topic, ps := range g.offsets {
			for p, o := range ps {
				out = append(out, CommittedOffset{Topic: topic, Partition: p, Offset: o, Unstable: g.pendingTxnLocked(topic, p)})
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Topic != out[j].Topic {
				return out[i].Topic < out[j].Topic
			}
			return out[i].Partition < out[j].Partition
		})
		return out
	}
	for _, t := range want {
		for _, p := range t.Partitions {
			co := CommittedOffset{Topic: t.Topic, Partition: p, Offset: Offset{Offset: -1, LeaderEpoch: -1}}
			if g != nil {
				if o, ok := g.offsets[t.Topic][p]; ok {
					co.Offset = o
				}
				co.Unstable = g.pendingTxnLocked(t.Topic, p)
			}
			out = append(out, co)
		}
	}
	return out
}

// DeleteOffsets handles OffsetDelete: the group-level error, or one error per partition.
// Partitions of a topic the group's members subscribe to are refused with
// GROUP_SUBSCRIBED_TO_TOPIC.
func (c *Coordinator) DeleteOffsets(groupID string, topics []TopicPartitions) (*kerr.Error, [][]*kerr.Error, Durable) {
	g := c.lockGroup(groupID)
	if g == nil {
		return kerr.GroupIDNotFound, nil, nil
	}
	defer g.mu.Unlock()
	var subscribed map[string]bool
	if g.state != Empty {
		if g.protocolType != "consumer" {
			return kerr.NonEmptyGroup, nil, nil
		}
		subscribed = g.subscribedTopicsLocked()
	}
	errs := make([][]*kerr.Error, len(topics))
	var recs []Record
	type tp struct {
		topic string
		p     int32
	}
	var drop []tp
	for i, t := range topics {
		errs[i] = make([]*kerr.Error, len(t.Partitions))
		for k, p := range t.Partitions {
			if subscribed[t.Topic] {
				errs[i][k] = kerr.GroupSubscribedToTopic
				continue
			}
			if _, ok := g.offsets[t.Topic][p]; ok {
				recs = append(recs, Record{Key: offsetKey(g.id, t.Topic, p)})
				drop = append(drop, tp{t.Topic, p})
			}
		}
	}
	if len(recs) == 0 {
		return nil, errs, nil
	}
	wait, err := c.j.Append(g.part, recs)
	if err != nil {
		return kerr.CoordinatorNotAvailable, nil, nil
	}
	for _, d := range drop {
		g.deleteOffset(d.topic, d.p)
	}
	return nil, errs, wait
}

// deleteOffset forgets a tombstoned offset, and (as Kafka's replay of the tombstone does)
// every transaction's pending offset of the partition.
func (g *group) deleteOffset(topic string, p int32) {
	delete(g.offsets[topic], p)
	if len(g.offsets[topic]) == 0 {
		delete(g.offsets, topic)
	}
	k := txnOffset{topic, p}
	delete(g.offsetPos, k)
	for _, ps := range g.txnOffsets {
		delete(ps, k)
	}
}

// subscribedTopicsLocked is the union of the members' subscriptions (consumer protocol
// metadata of the selected protocol, or of every protocol before one is selected).
// REQUIRES: g.mu held.
func (g *group) subscribedTopicsLocked() map[string]bool {
	if g.cg != nil {
		return g.cg.subscribedTopics()
	}
	if g.sg != nil {
		return g.sg.subscribedTopics()
	}
	out := map[string]bool{}
	for _, m := range g.order {
		for _, p := range m.protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if md.ReadFrom(p.Metadata) != nil {
				continue
			}
			for _, t := range md.Topics {
				out[t] = true
			}
		}
	}
	return out
}

// Delete handles DeleteGroups for one group: GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, or the
// group's offsets and metadata are tombstoned and it is gone.
func (c *Coordinator) Delete(groupID string) (*kerr.Error, Durable) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[groupID]
	if g == nil {
		return kerr.GroupIDNotFound, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case Dead:
		return kerr.GroupIDNotFound, nil
	case Empty:
	default:
		return kerr.NonEmptyGroup, nil
	}
	wait, err := c.deleteLocked(g)
	if err != nil {
		return kerr.CoordinatorNotAvailable, nil
	}
	delete(c.groups, g.id)
	return nil, wait
}

// deleteLocked tombstones every record of an Empty group and marks it Dead.
// REQUIRES: c.mu and g.mu held.
func (c *Coordinator) deleteLocked(g *group) (Durable, error) {
	recs := []Record{{Key: groupKey(g.id)}}
	if g.cg != nil {
		recs[0].Key = consumerGroupKey(g.id)
	}
	if g.sg != nil {
		recs[0].Key = streamsGroupKey(g.id)
		recs = append(recs, Record{Key: streamsTopologyKey(g.id)})
		g.sg.stopTimers()
	}
	for topic, ps := range g.offsets {
		for p := range ps {
			recs = append(recs, Record{Key: offsetKey(g.id, topic, p)})
		}
	}
	wait, err := c.j.Append(g.part, recs)
	if err != nil {
		return nil, err
	}
	g.setState(Dead, c.clock.Now())
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	for _, t := range g.pending {
		t.Stop()
	}
	return wait, nil
}

// storeConsumerGroupLocked writes a consumer group's epoch record (Kafka's
// ConsumerGroupMetadata), so that epochs keep growing across a restart. REQUIRES: g.mu held.
func (c *Coordinator) storeConsumerGroupLocked(g *group) (Durable, error) {
	wait, err := c.j.Append(g.part, []Record{{Key: consumerGroupKey(g.id), Value: consumerGroupValue(g.cg.epoch)}})
	if err != nil {
		c.log.Warn("consumer group metadata not written", "group", g.id, "err", err)
	}
	return wait, err
}

// convertToClassicLocked turns an empty consumer group into a classic one for a JoinGroup,
// keeping its offsets; the consumer group record is tombstoned. REQUIRES: g.mu held; g has
// no consumer members.
func (c *Coordinator) convertToClassicLocked(g *group) {
	if _, err := c.j.Append(g.part, []Record{{Key: consumerGroupKey(g.id)}}); err != nil {
		c.log.Warn("consumer group metadata not tombstoned", "group", g.id, "err", err)
	}
	g.cg.stopTimers()
	g.cg = nil
	g.protocolType = ""
	g.setState(Empty, c.clock.Now())
}

// storeGroupLocked writes the group's metadata record (after a rebalance, and for a static
// member's new id). REQUIRES: g.mu held.
func (c *Coordinator) storeGroupLocked(g *group) (Durable, error) {
	wait, err := c.j.Append(g.part, []Record{{Key: groupKey(g.id), Value: groupValueLocked(g)}})
	if err != nil {
		c.log.Warn("group metadata not written", "group", g.id, "err", err)
	}
	return wait, err
}

// GroupDescription is DescribeGroups' view of a group.
type GroupDescription struct {
	State        State
	Generation   int32
	ProtocolType string
	Protocol     string // set in Stable only, as Kafka does
	Members      []MemberDescription
	// NotClassic marks a consumer-protocol group, which DescribeGroups does not describe
	// (Kafka answers GROUP_ID_NOT_FOUND).
	NotClassic bool
}

// MemberDescription is one member in a GroupDescription; metadata and assignment are set
// in Stable only.
type MemberDescription struct {
	MemberID, ClientID, ClientHost string
	InstanceID                     *string
	Metadata, Assignment           []byte
}

// Describe handles DescribeGroups for one group; ok is false if the group does not exist.
func (c *Coordinator) Describe(groupID string) (GroupDescription, bool) {
	g := c.lockGroup(groupID)
	if g == nil {
		return GroupDescription{State: Dead}, false
	}
	defer g.mu.Unlock()
	if g.cg != nil || g.sg != nil {
		return GroupDescription{State: Dead, NotClassic: true}, false
	}
	d := GroupDescription{State: g.state, Generation: g.generation, ProtocolType: g.protocolType}
	stable := g.state == Stable
	if stable {
		d.Protocol = g.protocol
	}
	for _, m := range g.order {
		md := MemberDescription{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost, InstanceID: m.instanceID}
		if stable {
			md.Metadata, md.Assignment = m.metadata(g.protocol), m.assignment
		}
		d.Members = append(d.Members, md)
	}
	return d, true
}

// GroupListing is one group in ListGroups.
type GroupListing struct {
	Group        string
	ProtocolType string
	State        State
	// Type is the group type of ListGroups v5: "classic" or "consumer".
	Type string
}

// List handles ListGroups: every group, sorted by name.
func (c *Coordinator) List() []GroupListing {
	c.mu.RLock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.RUnlock()
	out := make([]GroupListing, 0, len(groups))
	for _, g := range groups {
		g.mu.Lock()
		if g.state != Dead {
			l := GroupListing{Group: g.id, ProtocolType: g.protocolType, State: g.state, Type: "classic"}
			if g.cg != nil {
				l.Type = "consumer"
			}
			if g.sg != nil {
				l.Type = "streams"
			}
			out = append(out, l)
		}
		g.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// expireOffsetsTick is the offsets retention timer.
func (c *Coordinator) expireOffsetsTick() {
	c.ExpireOffsets()
	c.mu.Lock()
	if !c.closed {
		c.expiry = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, c.expireOffsetsTick)
	}
	c.mu.Unlock()
}

// ExpireOffsets applies offsets.retention.minutes (KIP-211): an Empty group's offsets expire
// retention after it became Empty; a group that only commits (no protocol type) has each
// offset expire retention after its commit; a Stable consumer group's offsets of topics no
// member subscribes to expire retention after their commit. Expired offsets are tombstoned;
// an Empty group left with no offsets is deleted (Kafka's cleanupGroupMetadata). It runs
// every OffsetsRetentionCheckInterval.
func (c *Coordinator) ExpireOffsets() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	for _, g := range c.groups {
		g.mu.Lock()
		c.expireGroupLocked(g, now)
		g.mu.Unlock()
	}
}

// expireGroupLocked expires one group's offsets. REQUIRES: c.mu and g.mu held.
func (c *Coordinator) expireGroupLocked(g *group, now time.Time) {
	var subscribed map[string]bool
	switch {
	case g.state == Empty:
	case g.cg != nil || g.sg != nil || g.state == Stable && g.protocolType == "consumer":
		subscribed = g.subscribedTopicsLocked()
	default:
		return
	}
	var recs []Record
	type tp struct {
		topic string
		p     int32
	}
	var drop []tp
	for topic, ps := range g.offsets {
		if subscribed[topic] {
			continue
		}
		for p, o := range ps {
			base := o.CommitTime
			if g.state == Empty && g.protocolType != "" && g.stateTime.After(base) {
				base = g.stateTime
			}
			// An offset a transaction is about to replace does not expire (Kafka's
			// hasPendingTransactionalOffsets): its tombstone would drop the pending one too.
			if now.Sub(base) >= c.cfg.OffsetsRetention && !g.pendingTxnLocked(topic, p) {
				recs = append(recs, Record{Key: offsetKey(g.id, topic, p)})
				drop = append(drop, tp{topic, p})
			}
		}
	}
	if g.state == Empty && len(drop) == g.offsetCount() && len(g.txnOffsets) == 0 {
		// Nothing left: the group goes with its offsets.
		if _, err := c.deleteLocked(g); err == nil {
			delete(c.groups, g.id)
			c.log.Info("group expired", "group", g.id, "offsets", len(drop))
		}
		return
	}
	if len(recs) == 0 {
		return
	}
	if _, err := c.j.Append(g.part, recs); err != nil {
		return
	}
	for _, d := range drop {
		g.deleteOffset(d.topic, d.p)
	}
	c.log.Info("expired committed offsets", "group", g.id, "offsets", len(drop))
}

// DeleteTopicOffsets tombstones every group's committed offsets of topic, which was deleted
// (Kafka's OffsetMetadataManager.onPartitionsDeleted): a topic created again under the same
// name must not be read from the old topic's offsets. Kafka Streams' application reset tool
// deletes the internal topics and the app creates them again; offsets kept from the old
// repartition topic made it skip the new one's records. Like expiry, it does not wait for
// the tombstones to be durable.
func (c *Coordinator) DeleteTopicOffsets(topic string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range c.groups {
		g.mu.Lock()
		if ps := g.offsets[topic]; len(ps) > 0 {
			recs := make([]Record, 0, len(ps))
			for p := range ps {
				recs = append(recs, Record{Key: offsetKey(g.id, topic, p)})
			}
			if _, err := c.j.Append(g.part, recs); err != nil {
				c.log.Warn("could not delete the committed offsets of a deleted topic", "group", g.id, "topic", topic, "err", err)
			} else {
				for p := range ps {
					g.deleteOffset(topic, p)
				}
				c.log.Info("deleted the committed offsets of a deleted topic", "group", g.id, "topic", topic, "offsets", len(recs))
			}
		}
		g.mu.Unlock()
	}
}

func (g *group) offsetCount() int {
	n := 0
	for _, ps := range g.offsets {
		n += len(ps)
	}
	return n
}

// replay rebuilds the groups from the journal's live records. Groups with members come back
// Stable with their last generation and assignments, and every member's session starts now:
// members that keep heartbeating continue without a rebalance, the others expire.
func (c *Coordinator) replay(recs func(yield func(Record) bool)) {
	now := c.clock.Now()
	get := func(id string) *group {
		g := c.groups[id]
		if g == nil {
			g = c.newGroup(id)
			c.groups[id] = g
		}
		return g
	}
	maxPos := int64(-1)
	defer func() { c.pos.Store(maxPos + 1) }()
	for r := range recs {
		maxPos = max(maxPos, r.pos)
		v, ok := keyVersion(r.Key)
		if !ok || r.Value == nil {
			continue
		}
		switch v {
		case consumerGroupKeyVersion:
			id, epoch, ok := parseConsumerGroupRecord(r.Key, r.Value)
			if !ok {
				c.log.Warn("skipping malformed consumer group record")
				continue
			}
			g := get(id)
			g.cg = newConsumerGroup()
			g.cg.epoch, g.cg.assignmentEpoch = epoch, epoch
			g.protocolType = "consumer"
		case streamsGroupKeyVersion:
			id, epoch, ok := parseConsumerGroupRecord(r.Key, r.Value)
			if !ok {
				c.log.Warn("skipping malformed streams group record")
				continue
			}
			g := get(id)
			if g.sg == nil {
				g.sg = newStreamsGroup()
			}
			g.sg.epoch, g.sg.assignmentEpoch = epoch, epoch
			g.protocolType = "streams"
		case streamsTopologyKeyVersion:
			id, t, err := parseStreamsTopology(r.Key, r.Value)
			if err != nil {
				c.log.Warn("skipping malformed streams group topology record", "err", err)
				continue
			}
			g := get(id)
			if g.sg == nil {
				g.sg = newStreamsGroup()
			}
			g.sg.topology = t
			g.protocolType = "streams"
		case 0, 1:
			var k kmsg.OffsetCommitKey
			var val kmsg.OffsetCommitValue
			if k.ReadFrom(r.Key) != nil || val.ReadFrom(r.Value) != nil {
				c.log.Warn("skipping malformed offset record")
				continue
			}
			epoch := int32(-1)
			if val.Version >= 3 {
				epoch = val.LeaderEpoch
			}
			o := Offset{Offset: val.Offset, LeaderEpoch: epoch, Metadata: val.Metadata, CommitTime: time.UnixMilli(val.CommitTimestamp)}
			if r.pending {
				get(k.Group).addPending(r.producerID, txnOffset{k.Topic, k.Partition}, pendingOffset{o, r.pos})
			} else {
				get(k.Group).setOffset(k.Topic, k.Partition, o, r.pos)
			}
		case 2:
			var k kmsg.GroupMetadataKey
			var val kmsg.GroupMetadataValue
			if k.ReadFrom(r.Key) != nil || val.ReadFrom(r.Value) != nil {
				c.log.Warn("skipping malformed group record")
				continue
			}
			g := get(k.Group)
			g.protocolType, g.generation = val.ProtocolType, val.Generation
			if val.Protocol != nil {
				g.protocol = *val.Protocol
			}
			if val.Leader != nil {
				g.leader = *val.Leader
			}
			g.stateTime = now
			if val.Version >= 2 && val.CurrentStateTimestamp > 0 {
				g.stateTime = time.UnixMilli(val.CurrentStateTimestamp)
			}
			for _, mv := range val.Members {
				m := &member{id: mv.MemberID, instanceID: mv.InstanceID, clientID: mv.ClientID, clientHost: mv.ClientHost,
					sessionTimeout:   time.Duration(mv.SessionTimeoutMillis) * time.Millisecond,
					rebalanceTimeout: time.Duration(mv.RebalanceTimeoutMillis) * time.Millisecond,
					protocols:        []Protocol{{Name: g.protocol, Metadata: mv.Subscription}}, assignment: mv.Assignment}
				if m.rebalanceTimeout <= 0 {
					m.rebalanceTimeout = m.sessionTimeout
				}
				if g.members[m.id] != nil {
					continue // a malformed record naming a member twice
				}
				g.members[m.id] = m
				g.order = append(g.order, m)
				if m.instanceID != nil {
					g.static[*m.instanceID] = m
				}
			}
		}
	}
	for _, g := range c.groups {
		if len(g.members) == 0 {
			continue
		}
		g.state = Stable
		for _, m := range g.order {
			m.deadline = now.Add(m.sessionTimeout)
			c.armSessionLocked(g, m, m.sessionTimeout)
		}
	}
}
