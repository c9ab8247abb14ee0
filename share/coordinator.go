package share

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logd/logd/group"
)

// Config is the share coordinator's configuration, with Kafka's names and defaults.
type Config struct {
	// SessionTimeout is group.share.session.timeout.ms (45 s): a member that does not
	// heartbeat for this long is removed and its records released.
	SessionTimeout time.Duration
	// HeartbeatInterval is group.share.heartbeat.interval.ms (5 s).
	HeartbeatInterval time.Duration
	// RecordLockDuration is share.record.lock.duration.ms (30 s): how long an acquired record
	// stays locked before it is released for redelivery.
	RecordLockDuration time.Duration
	// DeliveryCountLimit is share.delivery.count.limit (5): a record delivered this many times
	// and released again (or whose lock expires) is archived.
	DeliveryCountLimit int
	// MaxRecordLocks is group.share.partition.max.record.locks (2000): the most in-flight
	// records of one share partition.
	MaxRecordLocks int
	// MaxGroupSize is group.share.max.size (200).
	MaxGroupSize int
	// MaxSessions is group.share.max.share.sessions (2000): share sessions on this broker.
	MaxSessions int
	// AutoOffsetReset is share.auto.offset.reset for every group: "latest" (Kafka's default,
	// a share partition starts at the high watermark when first fetched), "earliest" (at
	// the log start) or "by_duration:<ISO-8601 duration>" (ParseAutoOffsetReset).
	AutoOffsetReset string
	// IsolationLevel is share.isolation.level for every group: "read_uncommitted" (Kafka's
	// default) or "read_committed" (records of aborted transactions are archived, never
	// delivered, and nothing past the last stable offset is acquired).
	IsolationLevel string
	// Clock drives sessions and locks; group.SystemClock in production.
	Clock group.Clock
	// Available is told, holding no coordinator lock, that records of a topic partition
	// became available again (released, or a lock expired), so waiting fetches look again.
	Available func(topicID [16]byte, partition int32)
	// Persist, if set, writes a share partition's state after every change of its start
	// offset or delivery states (acknowledgements, releases, lock expiries, resets); a
	// Tombstone snapshot deletes it. It is called under the coordinator's lock, in the order
	// of the changes, so it must only append; the returned wait (nil: none) reports
	// durability, and is awaited by the caller after the lock is released.
	Persist func(s Snapshot) group.Durable
	// Load, if set, reads a share partition's persisted state when it is first used on this
	// broker (false: none; an error: not readable yet, try again later). Called holding no
	// coordinator lock.
	Load func(group string, tp TopicPartition) (Snapshot, bool, error)
	// GroupConfigs, if set, returns a group's own configs (GROUP config resources, the
	// share.* ones of GroupSettings), which take precedence over the fields above; the
	// broker has validated them. It may be called under the coordinator's lock, so it must only read.
	GroupConfigs func(group string) map[string]string
}

// GroupSettings are the settings of one group: Config's, overridden by the group's configs.
type GroupSettings struct {
	SessionTimeout     time.Duration // share.session.timeout.ms
	HeartbeatInterval  time.Duration // share.heartbeat.interval.ms
	RecordLockDuration time.Duration // share.record.lock.duration.ms
	DeliveryCountLimit int           // share.delivery.count.limit
	MaxRecordLocks     int           // share.partition.max.record.locks
	AutoOffsetReset    AutoOffsetReset
	IsolationLevel     string
	// RenewAcknowledge is share.renew.acknowledge.enable (true): whether acknowledgements
	// may renew locks (AckRenew); refused with INVALID_RECORD_STATE otherwise, as Kafka does.
	RenewAcknowledge bool
}

// Settings returns group gid's settings. A group config the broker did not validate (it
// validates every one it stores) is ignored.
func (c *Coordinator) Settings(gid string) GroupSettings {
	s := GroupSettings{SessionTimeout: c.cfg.SessionTimeout, HeartbeatInterval: c.cfg.HeartbeatInterval,
		RecordLockDuration: c.cfg.RecordLockDuration, DeliveryCountLimit: c.cfg.DeliveryCountLimit,
		MaxRecordLocks: c.cfg.MaxRecordLocks, IsolationLevel: c.cfg.IsolationLevel, RenewAcknowledge: true}
	s.AutoOffsetReset, _ = ParseAutoOffsetReset(c.cfg.AutoOffsetReset)
	if c.cfg.GroupConfigs == nil {
		return s
	}
	ms := func(v string, d *time.Duration) {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n > 0 {
			*d = time.Duration(n) * time.Millisecond
		}
	}
	count := func(v string, d *int) {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n > 0 {
			*d = int(n)
		}
	}
	for k, v := range c.cfg.GroupConfigs(gid) {
		switch k {
		case "share.session.timeout.ms":
			ms(v, &s.SessionTimeout)
		case "share.heartbeat.interval.ms":
			ms(v, &s.HeartbeatInterval)
		case "share.record.lock.duration.ms":
			ms(v, &s.RecordLockDuration)
		case "share.delivery.count.limit":
			count(v, &s.DeliveryCountLimit)
		case "share.partition.max.record.locks":
			count(v, &s.MaxRecordLocks)
		case "share.auto.offset.reset":
			if r, err := ParseAutoOffsetReset(v); err == nil {
				s.AutoOffsetReset = r
			}
		case "share.isolation.level":
			s.IsolationLevel = v
		case "share.renew.acknowledge.enable":
			if b, err := strconv.ParseBool(v); err == nil {
				s.RenewAcknowledge = b
			}
		}
	}
	return s
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SessionTimeout: 45 * time.Second, HeartbeatInterval: 5 * time.Second,
		RecordLockDuration: 30 * time.Second, DeliveryCountLimit: 5, MaxRecordLocks: 2000,
		MaxGroupSize: 200, MaxSessions: 2000, AutoOffsetReset: "latest", IsolationLevel: "read_uncommitted", Clock: group.SystemClock,
	}
}

// WithDefaults returns cfg with every zero (or negative) field set to DefaultConfig's.
func (cfg Config) WithDefaults() Config {
	def := DefaultConfig()
	positive(&cfg.SessionTimeout, def.SessionTimeout)
	positive(&cfg.HeartbeatInterval, def.HeartbeatInterval)
	positive(&cfg.RecordLockDuration, def.RecordLockDuration)
	positive(&cfg.DeliveryCountLimit, def.DeliveryCountLimit)
	positive(&cfg.MaxRecordLocks, def.MaxRecordLocks)
	positive(&cfg.MaxGroupSize, def.MaxGroupSize)
	positive(&cfg.MaxSessions, def.MaxSessions)
	if cfg.AutoOffsetReset == "" {
		cfg.AutoOffsetReset = def.AutoOffsetReset
	}
	if cfg.IsolationLevel == "" {
		cfg.IsolationLevel = def.IsolationLevel
	}
	if cfg.Clock == nil {
		cfg.Clock = def.Clock
	}
	return cfg
}

func positive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// TopicPartition names a partition by topic id, as the share APIs do.
type TopicPartition struct {
	TopicID   [16]byte
	Partition int32
}

// TopicInfo is what the assignor needs to know of a subscribed topic.
type TopicInfo struct {
	ID         [16]byte
	Name       string
	Partitions int32
}

// Coordinator holds this broker's share groups: their membership (ShareGroupHeartbeat,
// ShareGroupDescribe), the share sessions of the members fetching here and the share
// partitions of the partitions led here. One mutex guards it all (see doc.go).
type Coordinator struct {
	cfg Config

	mu       sync.Mutex
	groups   map[string]*shareGroup  // guarded by mu
	sessions map[sessionKey]*Session // guarded by mu
	// byConn is the sessions opened on each connection still open (some may have been
	// replaced or closed since). Guarded by mu.
	byConn map[any][]sessionKey
	locks  uint64                 // guarded by mu: the last acquisition id
	closed bool                   // guarded by mu
	timers map[uint64]group.Timer // guarded by mu: lock expiries by acquisition id
	lockOf map[uint64]lockRef     // guarded by mu: which partition a lock id is in
}

// lockRef names the share partition of an acquisition.
type lockRef struct {
	group string
	tp    TopicPartition
}

// New returns a coordinator with no groups.
func New(cfg Config) *Coordinator {
	cfg = cfg.WithDefaults()
	return &Coordinator{cfg: cfg, groups: map[string]*shareGroup{}, sessions: map[sessionKey]*Session{}, byConn: map[any][]sessionKey{},
		timers: map[uint64]group.Timer{}, lockOf: map[uint64]lockRef{}}
}

// Close stops every timer: sessions no longer expire and locks no longer time out.
func (c *Coordinator) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, g := range c.groups {
		for _, m := range g.members {
			m.timer.Stop()
		}
	}
	for _, t := range c.timers {
		t.Stop()
	}
}

// shareGroup is one share group.
type shareGroup struct {
	id         string
	epoch      int32
	members    map[string]*member
	partitions map[TopicPartition]*partition // the share partitions fetched on this broker
	// assignEpoch is the group epoch the members' assignments were computed at.
	assignEpoch int32
	// topicsSeen is each subscribed topic's partition count at the last assignment: a change
	// bumps the epoch.
	topicsSeen map[string]int32
	// restored is the share partitions of the topics its persisted record names (Restore),
	// listed by Partitions until they are used here.
	restored map[TopicPartition]struct{}
}

// member is one share group member.
type member struct {
	id, clientID, clientHost string
	rack                     *string
	epoch, prevEpoch         int32
	subscribed               []string // sorted
	assignment               map[[16]byte][]int32
	timer                    group.Timer
}

// HeartbeatRequest is a ShareGroupHeartbeat.
type HeartbeatRequest struct {
	Group, MemberID      string
	MemberEpoch          int32
	RackID               *string
	SubscribedTopicNames []string // nil: unchanged since the last heartbeat
	ClientID, ClientHost string
}

// HeartbeatResult is the answer to a ShareGroupHeartbeat.
type HeartbeatResult struct {
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is set when the member's assignment must be sent: topic id → partitions.
	Assignment map[[16]byte][]int32
	// Record is set when the group's epoch moved: what its coordinator persists of it.
	Record *GroupRecord
}

// Heartbeat applies a ShareGroupHeartbeat: epoch 0 joins (or rejoins under the same member
// id), -1 leaves (the member's records are released), any other epoch must be the member's
// current or previous one. topics resolves subscribed topic names (false: unknown).
func (c *Coordinator) Heartbeat(req HeartbeatRequest, topics func(name string) (TopicInfo, bool)) (res HeartbeatResult, err error) {
	if req.MemberID == "" {
		return HeartbeatResult{}, fmt.Errorf("%w: MemberId is empty", ErrInvalidRequest)
	}
	if req.MemberEpoch < -1 {
		return HeartbeatResult{}, fmt.Errorf("%w: MemberEpoch %d is not -1, 0 or positive", ErrInvalidRequest, req.MemberEpoch)
	}
	if req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0 {
		return HeartbeatResult{}, fmt.Errorf("%w: SubscribedTopicNames must be set when joining", ErrInvalidRequest)
	}
	var freed []TopicPartition
	defer func() { c.notify(freed) }()
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberEpoch != 0 {
			return HeartbeatResult{}, fmt.Errorf("%w: group %s", ErrGroupNotFound, req.Group)
		}
		g = c.groupLocked(req.Group)
	}
	epoch := g.epoch
	defer func() {
		if g.epoch != epoch && len(g.members) > 0 {
			res.Record = c.recordLocked(g, topics)
		}
	}()
	m := g.members[req.MemberID]
	changed := false // the group epoch moves once per heartbeat at most
	set := c.Settings(req.Group)
	res = HeartbeatResult{HeartbeatInterval: set.HeartbeatInterval}
	switch {
	case req.MemberEpoch == -1:
		if m == nil {
			return HeartbeatResult{}, fmt.Errorf("%w: %s in group %s", ErrUnknownMember, req.MemberID, req.Group)
		}
		freed = c.removeMemberLocked(g, m)
		res.MemberEpoch = -1
		return res, nil
	case req.MemberEpoch == 0:
		if m == nil {
			if len(g.members) >= c.cfg.MaxGroupSize {
				return HeartbeatResult{}, fmt.Errorf("%w: group %s has %d members", ErrGroupMaxSize, req.Group, len(g.members))
			}
			m = &member{id: req.MemberID, assignment: map[[16]byte][]int32{}}
			g.members[m.id] = m
			changed = true
		}
		m.epoch, m.prevEpoch = 0, 0
	default:
		if m == nil {
			return HeartbeatResult{}, fmt.Errorf("%w: %s in group %s", ErrUnknownMember, req.MemberID, req.Group)
		}
		if req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch {
			return HeartbeatResult{}, fmt.Errorf("%w: member %s sent epoch %d, its epoch is %d", ErrFencedMemberEpoch, m.id, req.MemberEpoch, m.epoch)
		}
	}
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if req.RackID != nil {
		m.rack = req.RackID
	}
	if req.SubscribedTopicNames != nil {
		subs := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(subs)
		subs = slices.Compact(subs)
		if !slices.Equal(subs, m.subscribed) {
			m.subscribed = subs
			changed = true
		}
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	gid, mid := g.id, m.id
	m.timer = c.cfg.Clock.AfterFunc(set.SessionTimeout, func() { c.expireMember(gid, mid, m) })
	c.assignLocked(g, topics, changed)
	sent := req.MemberEpoch != m.epoch || req.SubscribedTopicNames != nil
	if m.epoch != g.epoch {
		m.prevEpoch, m.epoch = m.epoch, g.epoch
		sent = true
	}
	res.MemberEpoch = m.epoch
	if sent {
		res.Assignment = cloneAssignment(m.assignment)
	}
	return res, nil
}

// recordLocked is what g's coordinator persists of it: its epoch and its members'
// subscribed topics. REQUIRES: c.mu held.
func (c *Coordinator) recordLocked(g *shareGroup, topics func(string) (TopicInfo, bool)) *GroupRecord {
	rec := &GroupRecord{Group: g.id, Epoch: g.epoch}
	seen := map[string]bool{}
	for _, m := range g.members {
		for _, t := range m.subscribed {
			if seen[t] {
				continue
			}
			seen[t] = true
			if topics == nil {
				continue
			}
			if ti, ok := topics(t); ok {
				rec.Topics = append(rec.Topics, ti)
			}
		}
	}
	slices.SortFunc(rec.Topics, func(a, b TopicInfo) int { return strings.Compare(a.Name, b.Name) })
	return rec
}

// Restore applies a share group's persisted record (its coordinator's replay of
// __consumer_offsets; Epoch -1 or Topics nil: not in this record): a group not known here is
// created without members, with that epoch, and lists the share partitions of those topics.
// A group with members is left alone.
func (c *Coordinator) Restore(rec GroupRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[rec.Group]; g != nil && len(g.members) > 0 {
		return
	}
	g := c.groupLocked(rec.Group)
	if rec.Epoch >= 0 {
		g.epoch, g.assignEpoch = rec.Epoch, rec.Epoch
	}
	if rec.Topics != nil {
		g.restored = map[TopicPartition]struct{}{}
		for _, t := range rec.Topics {
			g.topicsSeen[t.Name] = t.Partitions
			for p := range t.Partitions {
				g.restored[TopicPartition{TopicID: t.ID, Partition: p}] = struct{}{}
			}
		}
	}
}

// Forget drops a group without members that a tombstone deleted.
func (c *Coordinator) Forget(gid string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g := c.groups[gid]; g != nil && len(g.members) == 0 {
		delete(c.groups, gid)
	}
}

// expireMember removes a member whose session timed out (its timer's callback).
func (c *Coordinator) expireMember(gid, mid string, m *member) {
	var freed []TopicPartition
	c.mu.Lock()
	if g := c.groups[gid]; g != nil && g.members[mid] == m && !c.closed {
		freed = c.removeMemberLocked(g, m)
	}
	c.mu.Unlock()
	c.notify(freed)
}

// removeMemberLocked drops m from g, closes its sessions and releases what it holds. It
// returns the partitions with records available again. REQUIRES: c.mu held.
func (c *Coordinator) removeMemberLocked(g *shareGroup, m *member) []TopicPartition {
	if m.timer != nil {
		m.timer.Stop()
	}
	delete(g.members, m.id)
	for k := range c.sessions {
		if k.group == g.id && k.member == m.id {
			delete(c.sessions, k)
		}
	}
	freed := c.releaseLocked(g.id, m.id)
	c.assignLocked(g, nil, true)
	return freed
}

// assignLocked bumps g's epoch if changed or a subscribed topic's partition count changed,
// and then recomputes the assignment: Kafka's simple share assignor's balance, without its
// stickiness. Per topic, with S subscribers (sorted by member id) and P partitions: if S ≤ P
// partition i goes to subscriber i mod S (each partition one member); otherwise subscriber j
// gets partition j mod P (each partition ⌊S/P⌋ or ⌈S/P⌉ members). Every partition of a
// subscribed topic is always assigned. topics nil keeps the partition counts seen last.
// REQUIRES: c.mu held.
func (c *Coordinator) assignLocked(g *shareGroup, topics func(string) (TopicInfo, bool), changed bool) {
	subs := map[string][]string{}
	for _, m := range g.members {
		for _, t := range m.subscribed {
			subs[t] = append(subs[t], m.id)
		}
	}
	infos := map[string]TopicInfo{}
	for t := range subs {
		if topics != nil {
			if ti, ok := topics(t); ok {
				infos[t] = ti
				if g.topicsSeen[t] != ti.Partitions {
					g.topicsSeen[t] = ti.Partitions
					changed = true
				}
			}
		}
	}
	if changed {
		g.epoch++
	}
	if g.assignEpoch == g.epoch {
		return
	}
	if topics == nil {
		return // a removal: the next heartbeat (with topics) recomputes
	}
	g.assignEpoch = g.epoch
	for _, m := range g.members {
		m.assignment = map[[16]byte][]int32{}
	}
	for t, ids := range subs {
		ti, ok := infos[t]
		if !ok || ti.Partitions <= 0 {
			continue
		}
		sort.Strings(ids)
		s, p := int32(len(ids)), ti.Partitions
		if s <= p {
			for i := int32(0); i < p; i++ {
				m := g.members[ids[i%s]]
				m.assignment[ti.ID] = append(m.assignment[ti.ID], i)
			}
			continue
		}
		for j := int32(0); j < s; j++ {
			m := g.members[ids[j]]
			m.assignment[ti.ID] = append(m.assignment[ti.ID], j%p)
		}
	}
}

func cloneAssignment(a map[[16]byte][]int32) map[[16]byte][]int32 {
	out := make(map[[16]byte][]int32, len(a))
	for id, ps := range a {
		out[id] = slices.Clone(ps)
	}
	return out
}

// notify tells Config.Available about freed partitions. Call holding no lock.
func (c *Coordinator) notify(freed []TopicPartition) {
	if c.cfg.Available == nil {
		return
	}
	for _, tp := range freed {
		c.cfg.Available(tp.TopicID, tp.Partition)
	}
}

// MemberDescription is one member in ShareGroupDescribe.
type MemberDescription struct {
	MemberID, ClientID, ClientHost string
	RackID                         *string
	MemberEpoch                    int32
	Subscribed                     []string
	Assignment                     map[[16]byte][]int32
}

// GroupDescription is a share group in ShareGroupDescribe.
type GroupDescription struct {
	Group       string
	State       string // Empty or Stable (Kafka's share group states; Dead: not found)
	Epoch       int32
	AssignEpoch int32
	Members     []MemberDescription
}

// Describe describes a share group; false if this coordinator has no such group.
func (c *Coordinator) Describe(id string) (GroupDescription, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil {
		return GroupDescription{}, false
	}
	d := GroupDescription{Group: id, State: g.state(), Epoch: g.epoch, AssignEpoch: g.assignEpoch}
	ids := make([]string, 0, len(g.members))
	for mid := range g.members {
		ids = append(ids, mid)
	}
	sort.Strings(ids)
	for _, mid := range ids {
		m := g.members[mid]
		d.Members = append(d.Members, MemberDescription{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost,
			RackID: m.rack, MemberEpoch: m.epoch, Subscribed: slices.Clone(m.subscribed), Assignment: cloneAssignment(m.assignment)})
	}
	return d, true
}

func (g *shareGroup) state() string {
	if len(g.members) == 0 {
		return "Empty"
	}
	return "Stable"
}

// Listing is one group in ListGroups.
type Listing struct {
	Group, State string
}

// List lists the share groups accepted for ids by owns (the groups whose coordinator this
// broker is), ordered by id.
func (c *Coordinator) List(owns func(group string) bool) []Listing {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Listing
	for id, g := range c.groups {
		if owns(id) {
			out = append(out, Listing{Group: id, State: g.state()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// Has reports whether id is a share group here (the group id is then taken: a consumer
// group of that id is refused).
func (c *Coordinator) Has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[id] != nil
}
