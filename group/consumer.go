package group

import (
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicInfo is what the server-side assignors need to know of a subscribed topic.
type TopicInfo struct {
	ID         [16]byte
	Name       string
	Partitions int32
}

// TopicPartitionsID names partitions of one topic by topic id (the ConsumerGroupHeartbeat
// wire form).
type TopicPartitionsID struct {
	TopicID    [16]byte
	Partitions []int32
}

// Member epochs with a meaning of their own (ConsumerGroupHeartbeat's MemberEpoch).
const (
	// JoinEpoch joins (or rejoins) the group.
	JoinEpoch int32 = 0
	// LeaveEpoch leaves the group.
	LeaveEpoch int32 = -1
	// StaticLeaveEpoch leaves a static member's place (and assignment) open for a restart
	// of the same group.instance.id, until its session expires.
	StaticLeaveEpoch int32 = -2
)

// The server-side assignors (ConsumerGroupHeartbeat's ServerAssignor).
const (
	UniformAssignor = "uniform"
	RangeAssignor   = "range"
)

// HeartbeatRequest is a ConsumerGroupHeartbeat request (KIP-848). Nil fields are
// "unchanged since the last heartbeat".
type HeartbeatRequest struct {
	Group, MemberID    string
	MemberEpoch        int32
	InstanceID, RackID *string
	RebalanceTimeout   time.Duration // negative: unchanged
	SubscribedTopics   []string
	// SubscribedRegex is v1's SubscribedTopicRegex (RE2J syntax, which Go's regexp shares,
	// matching whole topic names); "" clears it.
	SubscribedRegex      *string
	ServerAssignor       *string
	Owned                []TopicPartitionsID // nil: unchanged (not sent)
	ClientID, ClientHost string
	// GenerateMemberID is set for ConsumerGroupHeartbeat v0, where the coordinator makes
	// the id of a joining member; from v1 the client makes it (KIP-1082).
	GenerateMemberID bool
}

// HeartbeatResult is a ConsumerGroupHeartbeat answer. Err nil is success. Wait, if set,
// must report success before the answer is sent: it is the group's records' durability.
type HeartbeatResult struct {
	Err               *kerr.Error
	ErrMessage        string
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	// Assignment is the member's assignment, set when it changed or the request was a full
	// one (epoch 0, or every optional field present), as Kafka does; nil otherwise.
	Assignment []TopicPartitionsID
	Wait       Durable
}

// partitionSet is a set of partitions by topic id; empty topics are removed.
type partitionSet map[[16]byte]map[int32]bool

func (s partitionSet) add(t [16]byte, p int32) {
	ps := s[t]
	if ps == nil {
		ps = map[int32]bool{}
		s[t] = ps
	}
	ps[p] = true
}

func (s partitionSet) has(t [16]byte, p int32) bool { return s[t][p] }

func (s partitionSet) size() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

func (s partitionSet) equal(o partitionSet) bool {
	if s.size() != o.size() {
		return false
	}
	for t, ps := range s {
		for p := range ps {
			if !o.has(t, p) {
				return false
			}
		}
	}
	return true
}

// list is the set in wire form, sorted by topic id and partition.
func (s partitionSet) list() []TopicPartitionsID {
	out := make([]TopicPartitionsID, 0, len(s))
	for t, ps := range s {
		tp := TopicPartitionsID{TopicID: t}
		for p := range ps {
			tp.Partitions = append(tp.Partitions, p)
		}
		slices.Sort(tp.Partitions)
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].TopicID[:]) < string(out[j].TopicID[:]) })
	return out
}

func setOf(tps []TopicPartitionsID) partitionSet {
	s := partitionSet{}
	for _, tp := range tps {
		for _, p := range tp.Partitions {
			s.add(tp.TopicID, p)
		}
	}
	return s
}

// reconcileState is a member's place in incremental reconciliation (Kafka's MemberState).
type reconcileState int8

const (
	// reconciled: the member holds its whole target assignment at its epoch.
	reconciled reconcileState = iota
	// unrevoked: the member must give up revoking before it moves to the next epoch.
	unrevoked
	// unreleased: the member is at the target epoch but some of its target partitions
	// are still held (or being revoked) by other members.
	unreleased
)

// consumerGroup is the KIP-848 state of a consumer-protocol group; guarded by its group's mu.
type consumerGroup struct {
	epoch           int32 // the group epoch: bumped by every membership, subscription or metadata change
	assignmentEpoch int32 // the epoch of target
	members         map[string]*cmember
	static          map[string]*cmember     // by group.instance.id
	target          map[string]partitionSet // the target assignment, by member id
	topics          map[string]TopicInfo    // the subscribed topics' metadata at the last epoch bump
	assignor        string                  // the assignor of the target assignment
	regexResolved   time.Time               // when the members' regexes were last resolved
	// changed marks a change that bumps the epoch at the next refreshTargetLocked, so that
	// one request bumps it at most once.
	changed bool
}

// cmember is one consumer-protocol member; guarded by its group's mu.
type cmember struct {
	id                   string
	instanceID, rackID   *string
	clientID, clientHost string
	rebalanceTimeout     time.Duration
	subscribed           []string // sorted
	regex                string   // "" for none
	re                   *regexp.Regexp
	matched              []string // the topics regex matches, sorted; nil until resolved
	assignor             string   // "" for the group's default
	epoch, prevEpoch     int32
	state                reconcileState
	assigned             partitionSet // what the member may consume at epoch
	revoking             partitionSet // what it must give up before moving on
	deadline             time.Time    // session expiry
	sessionTimer         Timer
	revokeTimer          Timer // the rebalance timeout while unrevoked
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{members: map[string]*cmember{}, static: map[string]*cmember{},
		target: map[string]partitionSet{}, topics: map[string]TopicInfo{}}
}

// ConsumerHeartbeat handles ConsumerGroupHeartbeat: join (epoch 0), heartbeat and reconcile,
// leave (-1) and static leave (-2).
func (c *Coordinator) ConsumerHeartbeat(req HeartbeatRequest) HeartbeatResult {
	fail := func(e *kerr.Error, msg string) HeartbeatResult {
		return HeartbeatResult{Err: e, ErrMessage: msg, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.MemberID == "" && req.GenerateMemberID && req.MemberEpoch == JoinEpoch:
		req.MemberID = c.cfg.NewConsumerMemberID()
	case req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.MemberEpoch < StaticLeaveEpoch:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.MemberEpoch == StaticLeaveEpoch && req.InstanceID == nil:
		return fail(kerr.InvalidRequest, "InstanceId can't be null when leaving as a static member.")
	case req.MemberEpoch == JoinEpoch && (req.RebalanceTimeout < 0 || (req.SubscribedTopics == nil && req.SubscribedRegex == nil)):
		return fail(kerr.InvalidRequest, "RebalanceTimeoutMs and SubscribedTopicNames or SubscribedTopicRegex must be set in the first request.")
	case req.MemberEpoch == JoinEpoch && setOf(req.Owned).size() > 0:
		return fail(kerr.InvalidRequest, "TopicPartitions must be empty when (re-)joining.")
	}
	var re *regexp.Regexp
	if req.SubscribedRegex != nil && *req.SubscribedRegex != "" {
		var err error
		if re, err = regexp.Compile("^(?:" + *req.SubscribedRegex + ")$"); err != nil {
			return fail(kerr.InvalidRegularExpression, err.Error())
		}
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != UniformAssignor && *req.ServerAssignor != RangeAssignor {
		return fail(kerr.UnsupportedAssignor, "ServerAssignor "+*req.ServerAssignor+" is not supported (uniform, range).")
	}
	var g *group
	if req.MemberEpoch == JoinEpoch {
		g = c.lockOrCreate(req.Group)
	} else if g = c.lockGroup(req.Group); g == nil {
		return fail(kerr.UnknownMemberID, "")
	}
	defer g.mu.Unlock()
	if e := c.closedErr(); e != nil {
		return fail(e, "")
	}
	if g.cg == nil {
		if len(g.members) > 0 || len(g.pending) > 0 || g.sg != nil {
			// No online migration from the classic protocol (KIP-848's upgrade path).
			return fail(kerr.GroupIDNotFound, "Group "+g.id+" is not a consumer group.")
		}
		c.convertToConsumerLocked(g)
	}
	cg := g.cg
	startEpoch := cg.epoch
	var m *cmember
	switch req.MemberEpoch {
	case JoinEpoch:
		var err *kerr.Error
		if m, err = c.joinConsumerLocked(g, &req); err != nil {
			return fail(err, "")
		}
	default:
		m = cg.members[req.MemberID]
		if m == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return fail(kerr.FencedInstanceID, "")
		}
		switch {
		case req.MemberEpoch == LeaveEpoch || req.MemberEpoch == StaticLeaveEpoch:
			return c.leaveConsumerLocked(g, m, req.MemberEpoch)
		case req.MemberEpoch > m.epoch:
			return fail(kerr.FencedMemberEpoch, "")
		case req.MemberEpoch < m.epoch && (req.MemberEpoch != m.prevEpoch || req.Owned == nil ||
			!subset(setOf(req.Owned), m.assigned)):
			// The previous epoch is accepted only while the member owns a subset of its
			// current assignment: our answer bumping its epoch may have been lost.
			return fail(kerr.FencedMemberEpoch, "")
		}
	}
	before := m.assigned
	c.updateConsumerMemberLocked(g, m, &req, re)
	c.refreshTargetLocked(g)
	var owned partitionSet
	if req.Owned != nil {
		owned = setOf(req.Owned)
	}
	c.reconcileLocked(g, m, owned)
	c.touchConsumerLocked(g, m)
	c.setConsumerStateLocked(g)
	res := HeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: c.cfg.ConsumerHeartbeatInterval}
	full := req.MemberEpoch == JoinEpoch || (req.RebalanceTimeout >= 0 && req.SubscribedTopics != nil && req.Owned != nil)
	if full || !before.equal(m.assigned) {
		res.Assignment = m.assigned.list()
	}
	if cg.epoch != startEpoch {
		wait, err := c.storeConsumerGroupLocked(g)
		if err != nil {
			return fail(kerr.CoordinatorNotAvailable, "")
		}
		res.Wait = wait
	}
	return res
}

func subset(a, b partitionSet) bool {
	for t, ps := range a {
		for p := range ps {
			if !b.has(t, p) {
				return false
			}
		}
	}
	return true
}

// convertToConsumerLocked turns an empty classic group (offsets only) into a consumer
// group, keeping its offsets; the classic metadata record is tombstoned.
// REQUIRES: g.mu held; g has no classic members.
func (c *Coordinator) convertToConsumerLocked(g *group) {
	if g.generation > 0 {
		if _, err := c.j.Append(g.part, []Record{{Key: groupKey(g.id)}}); err != nil {
			c.log.Warn("classic group metadata not tombstoned", "group", g.id, "err", err)
		}
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	g.cg = newConsumerGroup()
	g.protocolType, g.protocol, g.leader, g.generation = "consumer", "", "", 0
	g.setState(Empty, c.clock.Now())
}

// joinConsumerLocked returns the member joining with epoch 0: an existing one (a rejoin
// after fencing keeps its id), a static member taking its instance's place, or a new one.
// REQUIRES: g.mu held.
func (c *Coordinator) joinConsumerLocked(g *group, req *HeartbeatRequest) (*cmember, *kerr.Error) {
	cg := g.cg
	if m := cg.members[req.MemberID]; m != nil {
		if req.InstanceID != nil && (m.instanceID == nil || *m.instanceID != *req.InstanceID) {
			return nil, kerr.FencedInstanceID
		}
		if m.epoch == StaticLeaveEpoch { // the static member came back under its old id
			m.epoch = m.prevEpoch
		}
		return m, nil
	}
	if req.InstanceID != nil {
		if old := cg.static[*req.InstanceID]; old != nil {
			if old.epoch != StaticLeaveEpoch {
				return nil, kerr.UnreleasedInstanceID
			}
			// The instance restarted: the new member id takes the old one's place, epoch and
			// assignment, without a rebalance.
			delete(cg.members, old.id)
			if t, ok := cg.target[old.id]; ok {
				delete(cg.target, old.id)
				cg.target[req.MemberID] = t
			}
			old.id = req.MemberID
			old.epoch = old.prevEpoch
			cg.members[old.id] = old
			return old, nil
		}
	}
	if len(cg.members) >= c.cfg.MaxGroupSize {
		return nil, kerr.GroupMaxSizeReached
	}
	m := &cmember{id: req.MemberID, instanceID: req.InstanceID, assigned: partitionSet{}, revoking: partitionSet{}}
	cg.members[m.id] = m
	if m.instanceID != nil {
		cg.static[*m.instanceID] = m
	}
	cg.changed = true
	return m, nil
}

// updateConsumerMemberLocked applies a heartbeat's changed fields; a changed subscription or
// assignor bumps the group epoch (at refreshTargetLocked). REQUIRES: g.mu held.
func (c *Coordinator) updateConsumerMemberLocked(g *group, m *cmember, req *HeartbeatRequest, re *regexp.Regexp) {
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if req.RackID != nil {
		m.rackID = req.RackID
	}
	if req.RebalanceTimeout >= 0 {
		m.rebalanceTimeout = req.RebalanceTimeout
	}
	if req.SubscribedTopics != nil {
		sub := slices.Clone(req.SubscribedTopics)
		slices.Sort(sub)
		sub = slices.Compact(sub)
		if !slices.Equal(sub, m.subscribed) {
			m.subscribed = sub
			g.cg.changed = true
		}
	}
	if req.SubscribedRegex != nil && *req.SubscribedRegex != m.regex {
		m.regex, m.re, m.matched = *req.SubscribedRegex, re, nil
		g.cg.changed = true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor = *req.ServerAssignor
		g.cg.changed = true
	}
}

// refreshTargetLocked bumps the group epoch if the subscribed topics' metadata changed
// (topics created, deleted or grown) and computes a new target assignment if the group
// epoch is ahead of it. REQUIRES: g.mu held.
func (c *Coordinator) refreshTargetLocked(g *group) {
	cg := g.cg
	c.resolveRegexesLocked(g)
	topics := map[string]TopicInfo{}
	for _, m := range cg.members {
		for _, names := range [][]string{m.subscribed, m.matched} {
			for _, name := range names {
				if _, done := topics[name]; done || c.cfg.Topics == nil {
					continue
				}
				if t, ok := c.cfg.Topics(name); ok && t.Partitions > 0 {
					topics[name] = t
				}
			}
		}
	}
	if len(topics) != len(cg.topics) {
		cg.changed = true
	} else {
		for name, t := range topics {
			if cg.topics[name] != t {
				cg.changed = true
				break
			}
		}
	}
	cg.topics = topics
	if cg.changed {
		cg.epoch++
		cg.changed = false
	}
	if cg.epoch == cg.assignmentEpoch {
		return
	}
	cg.assignor = cg.chooseAssignor()
	cg.target = assign(cg.assignor, cg.members, cg.topics, cg.target)
	cg.assignmentEpoch = cg.epoch
}

// regexRefreshInterval is how often the topics matching the members' regular expressions
// are looked up again (Kafka refreshes them every 10 s too); a new or changed regex is
// resolved at once.
const regexRefreshInterval = 10 * time.Second

// resolveRegexesLocked resolves the members' subscribed regular expressions against the
// topic names; a changed resolution bumps the group epoch. REQUIRES: g.mu held.
func (c *Coordinator) resolveRegexesLocked(g *group) {
	cg := g.cg
	now := c.clock.Now()
	due := now.Sub(cg.regexResolved) >= regexRefreshInterval
	need := false
	for _, m := range cg.members {
		need = need || (m.re != nil && (due || m.matched == nil))
	}
	if !need {
		return
	}
	var names []string
	if c.cfg.TopicNames != nil {
		names = c.cfg.TopicNames()
	}
	slices.Sort(names)
	resolved := map[string][]string{}
	for _, m := range cg.members {
		if m.re == nil {
			continue
		}
		matched, ok := resolved[m.regex]
		if !ok {
			matched = []string{}
			for _, n := range names {
				if m.re.MatchString(n) {
					matched = append(matched, n)
				}
			}
			resolved[m.regex] = matched
		}
		if m.matched == nil || !slices.Equal(matched, m.matched) {
			m.matched = matched
			cg.changed = true
		}
	}
	cg.regexResolved = now
}

// subscribes reports whether m subscribes to a topic, by name or by regex.
func (m *cmember) subscribes(name string) bool {
	_, byName := slices.BinarySearch(m.subscribed, name)
	_, byRegex := slices.BinarySearch(m.matched, name)
	return byName || byRegex
}

// chooseAssignor is the assignor most members ask for (ties by name), uniform by default.
func (cg *consumerGroup) chooseAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best, n := UniformAssignor, 0
	for _, a := range []string{RangeAssignor, UniformAssignor} {
		if votes[a] > n {
			best, n = a, votes[a]
		}
	}
	return best
}

// heldByOther reports whether a member other than m holding (or still revoking) a partition.
func (cg *consumerGroup) heldByOther(m *cmember, t [16]byte, p int32) bool {
	for _, o := range cg.members {
		if o != m && (o.assigned.has(t, p) || o.revoking.has(t, p)) {
			return true
		}
	}
	return false
}

// reconcileLocked moves a member toward its target assignment, Kafka's
// CurrentAssignmentBuilder: partitions leaving the member are revoked first (its epoch
// stays until it reports them gone in its owned partitions); then it moves to the target
// epoch with the partitions nobody else holds, and picks up the others as their previous
// owners release them. REQUIRES: g.mu held.
func (c *Coordinator) reconcileLocked(g *group, m *cmember, owned partitionSet) {
	cg := g.cg
	if m.epoch == StaticLeaveEpoch {
		return
	}
	switch m.state {
	case unrevoked:
		if owned == nil || anyIn(owned, m.revoking) {
			if m.epoch < cg.assignmentEpoch {
				c.computeNextLocked(g, m) // the target moved on meanwhile: revoke against it
			}
			return
		}
		m.revoking = partitionSet{}
		c.computeNextLocked(g, m)
	case unreleased:
		c.computeNextLocked(g, m)
	default:
		if m.epoch != cg.assignmentEpoch {
			c.computeNextLocked(g, m)
		}
	}
}

func anyIn(a, b partitionSet) bool {
	for t, ps := range b {
		for p := range ps {
			if a.has(t, p) {
				return true
			}
		}
	}
	return false
}

// computeNextLocked is one reconciliation step of m against its target. REQUIRES: g.mu held.
func (c *Coordinator) computeNextLocked(g *group, m *cmember) {
	cg := g.cg
	target := cg.target[m.id]
	keep, revoke := partitionSet{}, partitionSet{}
	for t, ps := range m.assigned {
		for p := range ps {
			if target.has(t, p) {
				keep.add(t, p)
			} else {
				revoke.add(t, p)
			}
		}
	}
	for t, ps := range m.revoking {
		for p := range ps {
			revoke.add(t, p)
		}
	}
	if revoke.size() > 0 {
		m.assigned, m.revoking = keep, revoke
		if m.state != unrevoked {
			m.state = unrevoked
			c.armRevocationLocked(g, m)
		}
		return
	}
	pending := false
	for t, ps := range target {
		for p := range ps {
			if keep.has(t, p) {
				continue
			}
			if cg.heldByOther(m, t, p) {
				pending = true
				continue
			}
			keep.add(t, p)
		}
	}
	m.assigned, m.revoking = keep, partitionSet{}
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
	if m.epoch != cg.assignmentEpoch {
		m.prevEpoch, m.epoch = m.epoch, cg.assignmentEpoch
	}
	m.state = reconciled
	if pending {
		m.state = unreleased
	}
}

// armRevocationLocked gives an unrevoked member its rebalance timeout to revoke; a member
// that does not is removed from the group. REQUIRES: g.mu held.
func (c *Coordinator) armRevocationLocked(g *group, m *cmember) {
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
	d := m.rebalanceTimeout
	if d <= 0 {
		d = c.cfg.ConsumerSessionTimeout
	}
	m.revokeTimer = c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.state != unrevoked {
			return
		}
		c.log.Info("consumer group member did not revoke partitions in time; removing it", "group", g.id, "member", m.id)
		c.removeConsumerMemberLocked(g, m)
	})
}

// touchConsumerLocked restarts m's session (group.consumer.session.timeout.ms).
// REQUIRES: g.mu held.
func (c *Coordinator) touchConsumerLocked(g *group, m *cmember) {
	m.deadline = c.clock.Now().Add(c.cfg.ConsumerSessionTimeout)
	if m.sessionTimer == nil {
		c.armConsumerSessionLocked(g, m, c.cfg.ConsumerSessionTimeout)
	}
}

// REQUIRES: g.mu held.
func (c *Coordinator) armConsumerSessionLocked(g *group, m *cmember, d time.Duration) {
	m.sessionTimer = c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m {
			return
		}
		m.sessionTimer = nil
		if now := c.clock.Now(); now.Before(m.deadline) {
			c.armConsumerSessionLocked(g, m, m.deadline.Sub(now))
			return
		}
		c.log.Info("consumer group member session expired", "group", g.id, "member", m.id)
		c.removeConsumerMemberLocked(g, m)
	})
}

// removeConsumerMemberLocked removes a member (expired, timed out revoking, or left), bumps
// the group epoch and writes it; the returned function waits for the record's durability.
// REQUIRES: g.mu held.
func (c *Coordinator) removeConsumerMemberLocked(g *group, m *cmember) Durable {
	cg := g.cg
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
		m.sessionTimer = nil
	}
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
	delete(cg.members, m.id)
	delete(cg.target, m.id)
	if m.instanceID != nil && cg.static[*m.instanceID] == m {
		delete(cg.static, *m.instanceID)
	}
	cg.changed = true
	c.refreshTargetLocked(g)
	c.setConsumerStateLocked(g)
	wait, _ := c.storeConsumerGroupLocked(g) // logged; the epoch is still bumped in memory
	return wait
}

// leaveConsumerLocked handles epochs -1 (leave) and -2 (a static member's temporary leave:
// its place and assignment wait for the same instance id until its session expires).
// REQUIRES: g.mu held.
func (c *Coordinator) leaveConsumerLocked(g *group, m *cmember, epoch int32) HeartbeatResult {
	res := HeartbeatResult{MemberID: m.id, MemberEpoch: epoch, HeartbeatInterval: c.cfg.ConsumerHeartbeatInterval}
	if epoch == StaticLeaveEpoch && m.instanceID != nil {
		if m.epoch != StaticLeaveEpoch {
			m.prevEpoch, m.epoch = m.epoch, StaticLeaveEpoch
		}
		c.setConsumerStateLocked(g)
		return res
	}
	c.log.Debug("consumer group member left", "group", g.id, "member", m.id)
	res.Wait = c.removeConsumerMemberLocked(g, m)
	return res
}

// setConsumerStateLocked derives the group state from its members (Kafka's
// ConsumerGroup.maybeUpdateGroupState). REQUIRES: g.mu held.
func (c *Coordinator) setConsumerStateLocked(g *group) {
	cg := g.cg
	s := Stable
	switch {
	case len(cg.members) == 0:
		s = Empty
	case cg.epoch > cg.assignmentEpoch:
		s = Assigning
	default:
		for _, m := range cg.members {
			if m.epoch != StaticLeaveEpoch && (m.epoch != cg.assignmentEpoch || m.state != reconciled) {
				s = Reconciling
				break
			}
		}
	}
	if s != g.state {
		g.setState(s, c.clock.Now())
	}
}

// stopTimers stops a consumer group's timers (Close, conversion). REQUIRES: the group's mu held.
func (cg *consumerGroup) stopTimers() {
	for _, m := range cg.members {
		if m.sessionTimer != nil {
			m.sessionTimer.Stop()
		}
		if m.revokeTimer != nil {
			m.revokeTimer.Stop()
		}
	}
}

// subscribedTopics is the union of the members' subscriptions.
func (cg *consumerGroup) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	for _, m := range cg.members {
		for _, t := range m.subscribed {
			out[t] = true
		}
		for _, t := range m.matched {
			out[t] = true
		}
	}
	return out
}

// ConsumerMemberDescription is one member in a ConsumerGroupDescription.
type ConsumerMemberDescription struct {
	MemberID, ClientID, ClientHost string
	InstanceID, RackID             *string
	MemberEpoch                    int32
	SubscribedTopics               []string
	SubscribedRegex                *string
	Assignment, TargetAssignment   []TopicPartitionsID
}

// ConsumerGroupDescription is ConsumerGroupDescribe's view of a consumer group.
type ConsumerGroupDescription struct {
	State           State
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription // sorted by member id
	// TopicNames names the topic ids of the assignments.
	TopicNames map[[16]byte]string
}

// DescribeConsumer handles ConsumerGroupDescribe for one group: GROUP_ID_NOT_FOUND for an
// unknown group or a classic one, as Kafka does (admin clients then fall back to
// DescribeGroups).
func (c *Coordinator) DescribeConsumer(groupID string) (ConsumerGroupDescription, *kerr.Error) {
	g := c.lockGroup(groupID)
	if g == nil {
		return ConsumerGroupDescription{}, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.cg == nil {
		return ConsumerGroupDescription{}, kerr.GroupIDNotFound
	}
	cg := g.cg
	d := ConsumerGroupDescription{State: g.state, Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch,
		Assignor: cg.assignor, TopicNames: map[[16]byte]string{}}
	if d.Assignor == "" {
		d.Assignor = UniformAssignor
	}
	for name, t := range cg.topics {
		d.TopicNames[t.ID] = name
	}
	for _, m := range cg.members {
		d.Members = append(d.Members, ConsumerMemberDescription{MemberID: m.id, ClientID: m.clientID,
			ClientHost: m.clientHost, InstanceID: m.instanceID, RackID: m.rackID, MemberEpoch: m.epoch,
			SubscribedTopics: m.subscribed, Assignment: m.assigned.list(), TargetAssignment: cg.target[m.id].list()})
		if m.regex != "" {
			r := m.regex
			d.Members[len(d.Members)-1].SubscribedRegex = &r
		}
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].MemberID < d.Members[j].MemberID })
	return d, nil
}

// validateConsumerCommitLocked is Kafka's ConsumerGroup.validateOffsetCommit: commits
// with no member (epoch < 0) go into an empty group only; a member commits with its current
// member epoch (STALE_MEMBER_EPOCH otherwise) and OffsetCommit v9+. REQUIRES: g.mu held.
func (c *Coordinator) validateConsumerCommitLocked(g *group, memberID string, epoch int32, memberAPI bool) *kerr.Error {
	cg := g.cg
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case !memberAPI:
		return kerr.UnsupportedVersion
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	c.touchConsumerLocked(g, m)
	return nil
}

// ValidateFetch is OffsetFetch v9's check for consumer groups (Kafka's
// ConsumerGroup.validateOffsetFetch): with a member id, the member must exist and the epoch
// be its current one. Requests without a member id (epoch -1), and classic groups, pass.
func (c *Coordinator) ValidateFetch(groupID string, memberID *string, epoch int32) *kerr.Error {
	if memberID == nil || (*memberID == "" && epoch < 0) {
		return nil
	}
	g := c.lockGroup(groupID)
	if g == nil {
		return nil
	}
	defer g.mu.Unlock()
	if g.sg != nil {
		return g.sg.validateFetch(*memberID, epoch)
	}
	if g.cg == nil {
		return nil
	}
	m := g.cg.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}
