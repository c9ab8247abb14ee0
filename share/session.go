package share

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/logd/logd/group"
)

// sessionKey names a share session: one per member fetching from this broker.
type sessionKey struct {
	group, member string
}

// Session is a share session (KIP-932): the partitions a member fetches from this broker and
// the epoch its next request must carry.
type Session struct {
	epoch      int32
	partitions map[TopicPartition]struct{}
	conn       any // the connection that opened it (SessionRequest.Conn)
}

// SessionRequest is the session part of a ShareFetch or ShareAcknowledge.
type SessionRequest struct {
	Group, Member string
	// Epoch is ShareSessionEpoch: 0 opens a session (ShareFetch only), -1 closes it after
	// this request's acknowledgements, any other value must be the session's next epoch.
	Epoch int32
	// Add and Forget change the session's partitions (ShareFetch's Topics and
	// ForgottenTopicsData).
	Add, Forget []TopicPartition
	// Acks says the request carries acknowledgements (refused on a fetch opening a session).
	Acks bool
	// Acknowledge: a ShareAcknowledge, which cannot open a session.
	Acknowledge bool
	// Conn identifies the request's connection (any comparable value): a session opened on
	// it ends when it closes (ConnClosed).
	Conn any
}

// SessionResult is the session's state after a request.
type SessionResult struct {
	// Partitions are the session's partitions to fetch (none when it closes).
	Partitions []TopicPartition
	// Closing: the session ends once the request's acknowledgements are applied (epoch -1);
	// call CloseSession then.
	Closing bool
}

// UseSession checks and applies the session part of a request (Kafka's ShareSessionCache
// rules): a new session replaces the member's old one, whose records are released; an
// epoch that is not the session's next gets INVALID_SHARE_SESSION_EPOCH and an unknown
// session SHARE_SESSION_NOT_FOUND.
func (c *Coordinator) UseSession(r SessionRequest) (SessionResult, error) {
	var freed []TopicPartition
	defer func() { c.notify(freed) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := sessionKey{r.Group, r.Member}
	s := c.sessions[k]
	switch {
	case r.Member == "":
		return SessionResult{}, fmt.Errorf("%w: MemberId is empty", ErrInvalidRequest)
	case r.Epoch == 0 && r.Acknowledge:
		return SessionResult{}, fmt.Errorf("%w: ShareAcknowledge cannot open a session (epoch 0)", ErrInvalidSessionEpoch)
	case r.Epoch == 0 && r.Acks:
		return SessionResult{}, fmt.Errorf("%w: a fetch opening a share session (epoch 0) cannot acknowledge", ErrInvalidRequest)
	case r.Epoch == 0:
		if s != nil {
			delete(c.sessions, k)
			freed = c.releaseLocked(r.Group, r.Member)
		} else if len(c.sessions) >= c.cfg.MaxSessions {
			return SessionResult{}, fmt.Errorf("%w: %d sessions", ErrSessionLimit, len(c.sessions))
		}
		s = &Session{partitions: map[TopicPartition]struct{}{}, conn: r.Conn}
		c.sessions[k] = s
		if r.Conn != nil {
			c.byConn[r.Conn] = append(c.byConn[r.Conn], k)
		}
	case s == nil:
		return SessionResult{}, fmt.Errorf("%w: group %s member %s", ErrSessionNotFound, r.Group, r.Member)
	case r.Epoch == -1:
		return SessionResult{Closing: true}, nil
	case r.Epoch != s.epoch:
		return SessionResult{}, fmt.Errorf("%w: got %d, want %d", ErrInvalidSessionEpoch, r.Epoch, s.epoch)
	}
	s.epoch++
	if s.epoch <= 0 {
		s.epoch = 1
	}
	if !r.Acknowledge {
		for _, tp := range r.Add {
			s.partitions[tp] = struct{}{}
		}
		for _, tp := range r.Forget {
			delete(s.partitions, tp)
		}
	}
	parts := slices.Collect(maps.Keys(s.partitions))
	slices.SortFunc(parts, func(a, b TopicPartition) int {
		if c := slices.Compare(a.TopicID[:], b.TopicID[:]); c != 0 {
			return c
		}
		return int(a.Partition - b.Partition)
	})
	return SessionResult{Partitions: parts}, nil
}

// CloseSession ends a member's session (epoch -1, after its acknowledgements) and releases
// the records it still holds.
func (c *Coordinator) CloseSession(group, member string) {
	var freed []TopicPartition
	c.mu.Lock()
	if _, ok := c.sessions[sessionKey{group, member}]; ok {
		delete(c.sessions, sessionKey{group, member})
		freed = c.releaseLocked(group, member)
	}
	c.mu.Unlock()
	c.notify(freed)
}

// ConnClosed ends the share sessions opened on connection conn (SessionRequest.Conn) and
// releases the records their members hold, as Kafka's SharePartitionManager does when a
// connection disconnects.
func (c *Coordinator) ConnClosed(conn any) {
	var freed []TopicPartition
	c.mu.Lock()
	for _, k := range c.byConn[conn] {
		if s := c.sessions[k]; s != nil && s.conn == conn { // not replaced since on another connection
			delete(c.sessions, k)
			freed = append(freed, c.releaseLocked(k.group, k.member)...)
		}
	}
	delete(c.byConn, conn)
	c.mu.Unlock()
	c.notify(freed)
}

// releaseLocked releases what member holds in group's share partitions. REQUIRES: c.mu held.
func (c *Coordinator) releaseLocked(gid, member string) []TopicPartition {
	g := c.groups[gid]
	if g == nil {
		return nil
	}
	var freed []TopicPartition
	for tp, p := range g.partitions {
		held, f := p.releaseMember(member, c.Settings(gid).DeliveryCountLimit)
		if held {
			c.persistLocked(gid, tp, p)
		}
		if f {
			freed = append(freed, tp)
		}
	}
	return freed
}

// persistLocked hands p's state to Config.Persist, returning its durability wait (nil:
// nothing persisted). REQUIRES: c.mu held.
func (c *Coordinator) persistLocked(gid string, tp TopicPartition, p *partition) group.Durable {
	if c.cfg.Persist == nil {
		return nil
	}
	p.epoch++
	return c.cfg.Persist(Snapshot{Group: gid, Partition: tp, Epoch: p.epoch, Start: p.start, Batches: p.snapshot()})
}

// ensureLoaded reads a share partition's persisted state (Config.Load) the first time it is
// used here, reporting false when it cannot be read yet. It holds no lock while loading; a
// partition created meanwhile wins.
func (c *Coordinator) ensureLoaded(gid string, tp TopicPartition) bool {
	if c.cfg.Load == nil {
		return true
	}
	c.mu.Lock()
	g := c.groups[gid]
	known := g != nil && g.partitions[tp] != nil
	c.mu.Unlock()
	if known {
		return true
	}
	s, ok, err := c.cfg.Load(gid, tp)
	if err != nil {
		return false
	}
	if !ok || s.Tombstone {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g = c.groupLocked(gid)
	if g.partitions[tp] == nil {
		g.partitions[tp] = restore(s)
	}
	return true
}

// Reload drops group gid's share partition tp from this broker's memory, after its state
// was found fenced (another writer initialized it with a newer state epoch): its next use
// loads it again (Config.Load), and records its members held are theirs no more (their
// acknowledgements get INVALID_RECORD_STATE; the reloaded state has them available).
func (c *Coordinator) Reload(gid string, tp TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[gid]; g != nil {
		delete(g.partitions, tp)
	}
}

// groupLocked returns group gid, creating it (no members) if needed. REQUIRES: c.mu held.
func (c *Coordinator) groupLocked(gid string) *shareGroup {
	g := c.groups[gid]
	if g == nil {
		g = &shareGroup{id: gid, members: map[string]*member{}, partitions: map[TopicPartition]*partition{}, topicsSeen: map[string]int32{}}
		c.groups[gid] = g
	}
	return g
}

// LogOffsets is what a share partition needs to know of its log.
type LogOffsets struct {
	Start int64 // log start offset
	End   int64 // high watermark, or the last stable offset for read_committed
	// ByTime, used for share.auto.offset.reset=by_duration, returns the offset of the first
	// record whose timestamp is at least ts (Unix ms), as ListOffsets by timestamp does, and
	// false when there is none. Called under the coordinator's lock, so it must only read.
	ByTime func(ts int64) (int64, bool)
}

// ReadFrom returns the offset a fetch of tp for group must read from, creating the share
// partition at share.auto.offset.reset's offset if it is new (and moving its start to the
// log start if retention removed records below it). ok is false when nothing can be
// acquired now (nothing available below l.End, or the in-flight window is full).
func (c *Coordinator) ReadFrom(gid string, tp TopicPartition, l LogOffsets) (from int64, ok bool) {
	if !c.ensureLoaded(gid, tp) {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.partitionLocked(gid, tp, l)
	from = p.nextAvailable()
	if from == p.end && p.end-p.start >= int64(c.Settings(gid).MaxRecordLocks) {
		return from, false
	}
	return from, from < l.End
}

// partitionLocked returns group's share partition tp, creating it if needed (a group
// unknown here too: the partition's leader need not be the group's coordinator). REQUIRES:
// c.mu held.
func (c *Coordinator) partitionLocked(gid string, tp TopicPartition, l LogOffsets) *partition {
	g := c.groupLocked(gid)
	p := g.partitions[tp]
	if p == nil {
		start := l.End
		switch r := c.Settings(gid).AutoOffsetReset; r.Strategy {
		case ResetEarliest:
			start = l.Start
		case ResetByDuration:
			if l.ByTime == nil {
				break
			}
			if o, ok := l.ByTime(c.cfg.Clock.Now().Add(-r.Duration).UnixMilli()); ok {
				start = min(max(o, l.Start), l.End)
			}
		}
		p = &partition{start: start, end: start, records: map[int64]*record{}}
		g.partitions[tp] = p
	}
	if p.start < l.Start { // retention deleted records: they are gone for the group too
		for o := p.start; o < l.Start && o < p.end; o++ {
			if r := p.records[o]; r != nil && r.state == StateAcquired {
				continue
			}
			p.records[o] = &record{state: StateArchived}
		}
		if p.end < l.Start {
			p.end = l.Start
		}
		p.advance()
		if p.start < l.Start && p.start == p.end {
			p.start, p.end = l.Start, l.Start
		}
	}
	return p
}

// Acquire locks for member the available records among batches (read from the log from
// ReadFrom's offset, below l.End), at most maxRecords (strict) or whole batches past it,
// each for share.record.lock.duration.ms, and returns them.
func (c *Coordinator) Acquire(gid, member string, tp TopicPartition, batches []Batch, l LogOffsets, maxRecords int, strict bool) []Acquired {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	p := c.partitionLocked(gid, tp, l)
	c.locks++
	lock := c.locks
	got := p.acquire(member, batches, l.End, max(maxRecords, 1), strict, c.Settings(gid).MaxRecordLocks, lock)
	if len(got) > 0 {
		c.startLockLocked(gid, tp, lock)
	}
	return got
}

// startLockLocked starts the expiry timer of acquisition lock. REQUIRES: c.mu held.
func (c *Coordinator) startLockLocked(gid string, tp TopicPartition, lock uint64) {
	c.lockOf[lock] = lockRef{gid, tp}
	c.timers[lock] = c.cfg.Clock.AfterFunc(c.Settings(gid).RecordLockDuration, func() { c.expireLock(lock) })
}

// expireLock releases the records still held under lock (its timer's callback).
func (c *Coordinator) expireLock(lock uint64) {
	freed := false
	c.mu.Lock()
	ref, ok := c.lockOf[lock]
	delete(c.lockOf, lock)
	delete(c.timers, lock)
	if ok && !c.closed {
		if g := c.groups[ref.group]; g != nil {
			if p := g.partitions[ref.tp]; p != nil {
				var held bool
				if held, freed = p.expire(lock, c.Settings(ref.group).DeliveryCountLimit); held {
					c.persistLocked(ref.group, ref.tp, p)
				}
			}
		}
	}
	c.mu.Unlock()
	if freed {
		c.notify([]TopicPartition{ref.tp})
	}
}

// Acknowledge applies member's acknowledgements to group's share partition tp: all or none
// (any offset not acquired by member refuses the lot with INVALID_RECORD_STATE). maxType is
// the highest type the request's version allows (AckRenew from v2). The returned wait (nil:
// none) reports when the new state is durable (Config.Persist).
func (c *Coordinator) Acknowledge(gid, member string, tp TopicPartition, acks []AckBatch, maxType AckType) (group.Durable, error) {
	freed := false
	defer func() {
		if freed {
			c.notify([]TopicPartition{tp})
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	var p *partition
	if g := c.groups[gid]; g != nil {
		p = g.partitions[tp]
	}
	if p == nil {
		for _, a := range acks { // the request's own rules still apply
			if a.First > a.Last || len(a.Types) == 0 {
				return nil, fmt.Errorf("%w: acknowledgement batch [%d, %d]", ErrInvalidRequest, a.First, a.Last)
			}
		}
		return nil, fmt.Errorf("%w: nothing was acquired from this partition", ErrInvalidRecordState)
	}
	if err := p.checkAcks(member, acks, maxType); err != nil {
		return nil, err
	}
	set := c.Settings(gid)
	renew := uint64(0)
	for _, a := range acks {
		if slices.Contains(a.Types, AckRenew) {
			if !set.RenewAcknowledge {
				return nil, fmt.Errorf("%w: Renewing acquisition locks is not enabled for the group.", ErrInvalidRecordState)
			}
			c.locks++
			renew = c.locks
			c.startLockLocked(gid, tp, renew)
			break
		}
	}
	freed = p.ack(acks, set.DeliveryCountLimit, renew)
	return c.persistLocked(gid, tp, p), nil
}

// ReadCommitted reports whether group gid's share fetches read committed records only
// (share.isolation.level=read_committed).
func (c *Coordinator) ReadCommitted(gid string) bool {
	return c.Settings(gid).IsolationLevel == "read_committed"
}

// LockDuration is group gid's share.record.lock.duration.ms.
func (c *Coordinator) LockDuration(gid string) time.Duration {
	return c.Settings(gid).RecordLockDuration
}

// PartitionState is a share partition's offsets and in-flight counts (tests,
// DescribeShareGroupOffsets).
type PartitionState struct {
	Start, End                     int64
	Acquired, Available, Completed int
}

// State reports group's share partition tp; false if it does not exist here.
func (c *Coordinator) State(gid string, tp TopicPartition) (PartitionState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[gid]
	if g == nil || g.partitions[tp] == nil {
		return PartitionState{}, false
	}
	p := g.partitions[tp]
	s := PartitionState{Start: p.start, End: p.end}
	for _, r := range p.records {
		switch r.state {
		case StateAcquired:
			s.Acquired++
		case StateAvailable:
			s.Available++
		default:
			s.Completed++
		}
	}
	return s, true
}

// Partitions lists group's share partitions on this broker, those assigned to its members
// (wherever they are read) and those of the topics its persisted record names (Restore);
// false if there is no such group.
func (c *Coordinator) Partitions(gid string) ([]TopicPartition, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[gid]
	if g == nil {
		return nil, false
	}
	set := map[TopicPartition]struct{}{}
	for tp := range g.partitions {
		set[tp] = struct{}{}
	}
	for tp := range g.restored {
		set[tp] = struct{}{}
	}
	for _, m := range g.members { // read on other brokers: their state is elsewhere too
		for id, ps := range m.assignment {
			for _, p := range ps {
				set[TopicPartition{TopicID: id, Partition: p}] = struct{}{}
			}
		}
	}
	return slices.Collect(maps.Keys(set)), true
}

// ResetOffsets moves group's share partitions to new start offsets (AlterShareGroupOffsets),
// dropping their in-flight state. The group must have no members (ErrGroupNotEmpty); one
// unknown here is created. It returns the durability wait of each new state (Config.Persist).
func (c *Coordinator) ResetOffsets(gid string, offsets map[TopicPartition]int64) ([]group.Durable, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[gid]
	if g != nil && len(g.members) > 0 {
		return nil, fmt.Errorf("%w: group %s has %d members", ErrGroupNotEmpty, gid, len(g.members))
	}
	g = c.groupLocked(gid)
	var waits []group.Durable
	for tp, o := range offsets {
		p := &partition{start: o, end: o, records: map[int64]*record{}}
		if old := g.partitions[tp]; old != nil {
			p.epoch = old.epoch
		}
		g.partitions[tp] = p
		if c.cfg.Persist != nil {
			p.epoch++
			if d := c.cfg.Persist(Snapshot{Group: gid, Partition: tp, Epoch: p.epoch, Start: o, Reset: true}); d != nil {
				waits = append(waits, d)
			}
		}
	}
	return waits, nil
}

// DeleteOffsets drops group's share partitions of a topic (DeleteShareGroupOffsets): a later
// fetch starts again at share.auto.offset.reset's offset. The group must have no members
// (ErrGroupNotEmpty).
func (c *Coordinator) DeleteOffsets(gid string, topicID [16]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[gid]
	if g == nil {
		return fmt.Errorf("%w: group %s", ErrGroupNotFound, gid)
	}
	if len(g.members) > 0 {
		return fmt.Errorf("%w: group %s has %d members", ErrGroupNotEmpty, gid, len(g.members))
	}
	for tp, p := range g.partitions {
		if tp.TopicID == topicID {
			delete(g.partitions, tp)
			if c.cfg.Persist != nil {
				c.cfg.Persist(Snapshot{Group: gid, Partition: tp, Epoch: p.epoch + 1, Tombstone: true})
			}
		}
	}
	for tp := range g.restored {
		if tp.TopicID == topicID {
			delete(g.restored, tp)
			if c.cfg.Persist != nil {
				c.cfg.Persist(Snapshot{Group: gid, Partition: tp, Tombstone: true})
			}
		}
	}
	return nil
}
