package group

import (
	"bytes"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// group is one classic group. Every field is guarded by mu.
type group struct {
	id   string
	part int32 // its __consumer_offsets partition

	mu           sync.Mutex
	state        State
	stateTime    time.Time // when state last changed (Kafka's currentStateTimestamp)
	protocolType string    // "" for a group that only commits offsets
	protocol     string    // the selected protocol of this generation
	generation   int32
	leader       string
	members      map[string]*member
	order        []*member          // members in join order: deterministic leader choice and replies
	static       map[string]*member // by group.instance.id
	pending      map[string]Timer   // KIP-394: member ids handed out, awaiting their join
	awaitingJoin int
	// pendingSync holds the members of this generation that have not sent SyncGroup yet;
	// those still missing at the rebalance timeout are removed (Kafka 2.8+, KAFKA-12890).
	pendingSync map[string]bool

	// The rebalance timer: the initial delay of an empty group's first rebalance, then the
	// rebalance timeout, then (after the join) the sync timeout. joinEpoch invalidates a
	// callback that fires after being replaced.
	joinTimer      Timer
	joinEpoch      uint64
	delayRemaining time.Duration // initial delay: what is left of the rebalance timeout
	inInitialDelay bool
	newMemberAdded bool

	offsets map[string]map[int32]Offset // committed offsets by topic and partition
	// offsetPos is where each committed offset's record is in the log order (Coordinator.pos):
	// a transaction's offsets, committed by its marker, do not replace a later record.
	offsetPos map[txnOffset]int64
	// txnOffsets are the pending transactional offsets by producer id (txn_offsets.go).
	txnOffsets map[int64]map[txnOffset]pendingOffset

	// cg is set for a consumer-protocol (KIP-848) group, whose members live there; a
	// group id is either classic (cg nil) or consumer, and only an empty group changes kind.
	cg *consumerGroup
	// sg is set for a streams group (KIP-1071), the same way.
	sg *streamsGroup
}

// member is one classic group member. Guarded by its group's mu.
type member struct {
	id                               string
	instanceID                       *string
	clientID, clientHost             string
	sessionTimeout, rebalanceTimeout time.Duration
	protocols                        []Protocol
	assignment                       []byte
	supportsSkip                     bool             // JoinGroup v9+ (KIP-814)
	join                             func(JoinResult) // set while its JoinGroup is parked
	sync                             func(SyncResult) // set while its SyncGroup is parked
	deadline                         time.Time        // session expiry
	hbTimer                          Timer            // fires at or before deadline
}

// Protocol is one assignment protocol a member supports, with its metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group, MemberID      string
	InstanceID           *string // static membership (KIP-345)
	ProtocolType         string
	Protocols            []Protocol
	SessionTimeout       time.Duration
	RebalanceTimeout     time.Duration
	ClientID, ClientHost string
	// RequireKnownMemberID is set for JoinGroup v4+: a new dynamic member first gets
	// MEMBER_ID_REQUIRED and its id, and must join again with it (KIP-394).
	RequireKnownMemberID bool
	// SupportsSkipAssignment is set for JoinGroup v9+ (KIP-814).
	SupportsSkipAssignment bool
}

// JoinResult is a JoinGroup answer. Err nil is success.
type JoinResult struct {
	Err            *kerr.Error
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	MemberID       string
	Members        []MemberMetadata // the leader's: every member's metadata for Protocol
	SkipAssignment bool
}

// MemberMetadata is a member's metadata for the selected protocol, for the leader.
type MemberMetadata struct {
	MemberID   string
	InstanceID *string
	Metadata   []byte
}

// SyncRequest is a SyncGroup request.
type SyncRequest struct {
	Group, MemberID        string
	InstanceID             *string
	Generation             int32
	ProtocolType, Protocol *string // v5+; nil when absent
	Assignments            []Assignment
}

// Assignment is the leader's assignment for one member.
type Assignment struct {
	MemberID   string
	Assignment []byte
}

// SyncResult is a SyncGroup answer. Wait, if set, must report success before the answer is
// sent: it is the group's record's durability.
type SyncResult struct {
	Err          *kerr.Error
	ProtocolType string
	Protocol     string
	Assignment   []byte
	Wait         Durable
}

// LeaveMember is one member leaving (LeaveGroup v3+ batches them).
type LeaveMember struct {
	MemberID   string
	InstanceID *string
}

// Join handles JoinGroup. The answer arrives on the returned channel, at once or when the
// rebalance completes (or fails, or the coordinator closes). See JoinFunc.
func (c *Coordinator) Join(req JoinRequest) <-chan JoinResult {
	ch := make(chan JoinResult, 1)
	c.JoinFunc(req, func(r JoinResult) { ch <- r })
	return ch
}

// JoinFunc handles JoinGroup: reply gets the answer exactly once, at once (before JoinFunc
// returns) or when the rebalance completes (or fails, or the coordinator closes). reply may
// run under the group's lock, on a coordinator timer or another member's request: it must
// not block or call into the coordinator, only hand the answer off (the broker queues it on
// its completer).
func (c *Coordinator) JoinFunc(req JoinRequest, reply func(JoinResult)) {
	fail := func(e *kerr.Error) {
		reply(JoinResult{Err: e, MemberID: req.MemberID, Generation: -1})
	}
	switch {
	case req.Group == "":
		fail(kerr.InvalidGroupID)
		return
	case req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout:
		fail(kerr.InvalidSessionTimeout)
		return
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout
	}
	var g *group
	if req.MemberID == "" {
		g = c.lockOrCreate(req.Group)
	} else if g = c.lockGroup(req.Group); g == nil {
		fail(kerr.UnknownMemberID)
		return
	}
	defer g.mu.Unlock()
	if e := c.closedErr(); e != nil {
		fail(e)
		return
	}
	if g.sg != nil {
		// A streams group takes no classic members (Kafka: not a classic group).
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	if g.cg != nil {
		if len(g.cg.members) > 0 {
			// No classic members in a consumer group (KIP-848's online migration).
			fail(kerr.InconsistentGroupProtocol)
			return
		}
		c.convertToClassicLocked(g)
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols) {
		fail(kerr.InconsistentGroupProtocol)
		return
	}
	if req.MemberID == "" {
		c.joinNewMemberLocked(g, &req, reply)
	} else {
		c.joinKnownMemberLocked(g, &req, reply)
	}
}

// closedErr is the answer of a closed coordinator, nil while it is open.
func (c *Coordinator) closedErr() *kerr.Error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		return nil
	}
	return c.closeErr
}

// REQUIRES: g.mu held.
func (c *Coordinator) joinNewMemberLocked(g *group, req *JoinRequest, reply func(JoinResult)) {
	if req.InstanceID != nil {
		if old := g.static[*req.InstanceID]; old != nil {
			c.replaceStaticMemberLocked(g, old, req, reply)
			return
		}
	}
	if len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
		reply(JoinResult{Err: kerr.GroupMaxSizeReached, Generation: -1})
		return
	}
	id := c.cfg.NewMemberID(req.ClientID)
	if req.InstanceID == nil && req.RequireKnownMemberID {
		// KIP-394: hand out the id and wait for the member to come back with it, so a client
		// that never receives this answer leaves no ghost member behind.
		g.pending[id] = c.clock.AfterFunc(req.SessionTimeout, func() { c.expirePending(g, id) })
		reply(JoinResult{Err: kerr.MemberIDRequired, MemberID: id, Generation: -1})
		return
	}
	c.addMemberLocked(g, id, req, reply)
}

// REQUIRES: g.mu held.
func (c *Coordinator) joinKnownMemberLocked(g *group, req *JoinRequest, reply func(JoinResult)) {
	if t, ok := g.pending[req.MemberID]; ok {
		t.Stop()
		delete(g.pending, req.MemberID)
		c.addMemberLocked(g, req.MemberID, req, reply)
		return
	}
	m := g.members[req.MemberID]
	if err := g.checkMember(req.MemberID, req.InstanceID); err != nil {
		reply(JoinResult{Err: err, MemberID: req.MemberID, Generation: -1})
		return
	}
	switch g.state {
	case PreparingRebalance:
		c.updateMemberLocked(g, m, req, reply)
		c.tryCompleteJoinLocked(g)
	case CompletingRebalance:
		if sameProtocols(m.protocols, req.Protocols) {
			// The member lost our answer: send it again.
			m.supportsSkip = req.SupportsSkipAssignment
			reply(g.joinResultLocked(m, false))
			return
		}
		c.updateMemberLocked(g, m, req, reply)
		c.prepareRebalanceLocked(g)
	case Stable:
		if m.id != g.leader && sameProtocols(m.protocols, req.Protocols) {
			// A follower rejoining with nothing changed gets the current generation.
			reply(g.joinResultLocked(m, false))
			c.touchLocked(g, m)
			return
		}
		c.updateMemberLocked(g, m, req, reply)
		c.prepareRebalanceLocked(g)
	default: // Empty: no members
		reply(JoinResult{Err: kerr.UnknownMemberID, MemberID: req.MemberID, Generation: -1})
	}
}

// checkMember validates a known member id and instance id (Kafka's order: fenced instance,
// then unknown member). REQUIRES: g.mu held.
func (g *group) checkMember(memberID string, instanceID *string) *kerr.Error {
	if instanceID != nil {
		if sm := g.static[*instanceID]; sm != nil && sm.id != memberID {
			return kerr.FencedInstanceID
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID
	}
	return nil
}

// replaceStaticMemberLocked gives a static member's place to a new member id (the instance
// restarted). The old id is fenced. In Stable, with the selected protocol unchanged, no
// rebalance happens: the member gets the current generation and, at SyncGroup, its old
// assignment. REQUIRES: g.mu held.
func (c *Coordinator) replaceStaticMemberLocked(g *group, old *member, req *JoinRequest, reply func(JoinResult)) {
	newID := c.cfg.NewMemberID(req.ClientID)
	c.failJoin(g, old, kerr.FencedInstanceID)
	c.failSync(old, kerr.FencedInstanceID)
	delete(g.members, old.id)
	oldID, oldProtocols := old.id, old.protocols
	old.id = newID
	g.members[newID] = old
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	if g.leader == oldID {
		g.leader = newID
	}
	switch g.state {
	case Stable:
		old.protocols = req.Protocols
		if g.selectProtocolLocked() == g.protocol {
			old.clientID, old.clientHost = req.ClientID, req.ClientHost
			old.sessionTimeout, old.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
			old.supportsSkip = req.SupportsSkipAssignment
			c.touchLocked(g, old)
			res := g.joinResultLocked(old, true)
			reply(res)
			c.storeGroupLocked(g) // the new member id must survive a restart; no need to wait
			return
		}
		old.protocols = oldProtocols
		c.updateMemberLocked(g, old, req, reply)
		c.prepareRebalanceLocked(g)
	case CompletingRebalance:
		c.updateMemberLocked(g, old, req, reply)
		c.prepareRebalanceLocked(g)
	default: // PreparingRebalance: the new id simply waits for the join to complete
		c.updateMemberLocked(g, old, req, reply)
		c.tryCompleteJoinLocked(g)
	}
}

// addMemberLocked adds a member awaiting join and starts or advances a rebalance.
// REQUIRES: g.mu held.
func (c *Coordinator) addMemberLocked(g *group, id string, req *JoinRequest, reply func(JoinResult)) {
	m := &member{id: id, instanceID: req.InstanceID}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	g.order = append(g.order, m)
	if m.instanceID != nil {
		g.static[*m.instanceID] = m
	}
	g.newMemberAdded = true
	c.updateMemberLocked(g, m, req, reply)
	if g.state == PreparingRebalance {
		c.tryCompleteJoinLocked(g)
	} else {
		c.prepareRebalanceLocked(g)
	}
}

// updateMemberLocked records a member's join parameters and parks its answer.
// REQUIRES: g.mu held.
func (c *Coordinator) updateMemberLocked(g *group, m *member, req *JoinRequest, reply func(JoinResult)) {
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	m.sessionTimeout, m.rebalanceTimeout = req.SessionTimeout, req.RebalanceTimeout
	m.protocols = req.Protocols
	m.supportsSkip = req.SupportsSkipAssignment
	if m.join == nil {
		g.awaitingJoin++
	} else {
		m.join(JoinResult{Err: kerr.UnknownMemberID, MemberID: m.id, Generation: -1}) // replaced by a newer JoinGroup
	}
	m.join = reply
}

// prepareRebalanceLocked moves the group to PreparingRebalance (from Empty, Stable or
// CompletingRebalance) and arms the join timer. REQUIRES: g.mu held.
func (c *Coordinator) prepareRebalanceLocked(g *group) {
	if g.state == PreparingRebalance {
		return
	}
	if g.state == CompletingRebalance {
		for _, m := range g.order {
			m.assignment = nil
			c.failSync(m, kerr.RebalanceInProgress)
		}
	}
	g.pendingSync = nil
	rebalanceTimeout := g.maxRebalanceTimeout()
	if g.state == Empty && c.cfg.InitialRebalanceDelay > 0 {
		delay := min(c.cfg.InitialRebalanceDelay, rebalanceTimeout)
		g.inInitialDelay, g.delayRemaining, g.newMemberAdded = true, rebalanceTimeout-delay, false
		c.armJoinTimerLocked(g, delay)
	} else {
		g.inInitialDelay = false
		c.armJoinTimerLocked(g, rebalanceTimeout)
	}
	g.setState(PreparingRebalance, c.clock.Now())
	c.tryCompleteJoinLocked(g)
}

func (g *group) setState(s State, now time.Time) {
	g.state, g.stateTime = s, now
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.order {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// REQUIRES: g.mu held.
func (c *Coordinator) armJoinTimerLocked(g *group, d time.Duration) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	g.joinEpoch++
	epoch := g.joinEpoch
	g.joinTimer = c.clock.AfterFunc(d, func() { c.joinTimeout(g, epoch) })
}

// joinTimeout is the join timer: the end of an initial delay step, or the rebalance timeout.
func (c *Coordinator) joinTimeout(g *group, epoch uint64) {
	g.mu.Lock()
	if g.joinEpoch != epoch || g.state != PreparingRebalance {
		g.mu.Unlock()
		return
	}
	g.joinTimer = nil
	if g.inInitialDelay && g.newMemberAdded && g.delayRemaining > 0 {
		// Kafka's InitialDelayedJoin: members keep arriving, wait another step.
		delay := min(c.cfg.InitialRebalanceDelay, g.delayRemaining)
		g.delayRemaining -= delay
		g.newMemberAdded = false
		c.armJoinTimerLocked(g, delay)
		g.mu.Unlock()
		return
	}
	g.inInitialDelay = false
	c.completeJoinLocked(g)
	g.mu.Unlock()
}

// tryCompleteJoinLocked completes the join phase early once every member has joined and no
// KIP-394 member id is outstanding (never during the initial delay). REQUIRES: g.mu held.
func (c *Coordinator) tryCompleteJoinLocked(g *group) {
	if g.state != PreparingRebalance || g.inInitialDelay {
		return
	}
	if g.awaitingJoin == len(g.members) && len(g.pending) == 0 {
		c.completeJoinLocked(g)
	}
}

// completeJoinLocked ends the join phase: members that did not rejoin are removed, the next
// generation starts, and every parked JoinGroup is answered (the leader with the members'
// metadata). REQUIRES: g.mu held.
func (c *Coordinator) completeJoinLocked(g *group) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
		g.joinEpoch++
	}
	for _, m := range append([]*member(nil), g.order...) {
		if m.join == nil {
			c.removeMemberLocked(g, m)
		}
	}
	g.generation++
	now := c.clock.Now()
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(Empty, now)
		c.storeGroupLocked(g)
		return
	}
	g.protocol = g.selectProtocolLocked()
	if g.members[g.leader] == nil {
		g.leader = g.order[0].id
	}
	g.setState(CompletingRebalance, now)
	g.pendingSync = make(map[string]bool, len(g.order))
	for _, m := range g.order {
		res := g.joinResultLocked(m, false)
		m.join(res)
		m.join = nil
		c.touchLocked(g, m)
		g.pendingSync[m.id] = true
	}
	g.awaitingJoin = 0
	g.joinEpoch++
	epoch := g.joinEpoch
	g.joinTimer = c.clock.AfterFunc(g.maxRebalanceTimeout(), func() { c.syncTimeout(g, epoch) })
}

// syncTimeout removes the members of a generation that never sent SyncGroup within the
// rebalance timeout, which starts a new rebalance.
func (c *Coordinator) syncTimeout(g *group, epoch uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.joinEpoch != epoch || (g.state != CompletingRebalance && g.state != Stable) {
		return
	}
	g.joinTimer = nil
	for _, m := range append([]*member(nil), g.order...) {
		if g.pendingSync[m.id] {
			c.log.Info("group member never synced; removing it", "group", g.id, "member", m.id)
			c.removeMemberAndUpdateLocked(g, m)
		}
	}
}

// joinResultLocked is the JoinGroup answer of the current generation for m. skip marks a
// static leader's rejoin without rebalance (KIP-814: v9+ leaders get the metadata and
// SkipAssignment; older ones act as followers). REQUIRES: g.mu held.
func (g *group) joinResultLocked(m *member, skip bool) JoinResult {
	res := JoinResult{Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, MemberID: m.id}
	if m.id == g.leader && (!skip || m.supportsSkip) {
		res.SkipAssignment = skip
		res.Members = make([]MemberMetadata, 0, len(g.order))
		for _, o := range g.order {
			res.Members = append(res.Members, MemberMetadata{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadata(g.protocol)})
		}
	}
	return res
}

func (m *member) metadata(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// supportsProtocols is Kafka's check: an empty group takes any type with protocols; otherwise
// the type must match and the member must support a protocol every member supports.
// REQUIRES: g.mu held.
func (g *group) supportsProtocols(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.allSupport(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) allSupport(name string) bool {
	for _, m := range g.order {
		if !m.hasProtocol(name) {
			return false
		}
	}
	return true
}

func (m *member) hasProtocol(name string) bool {
	for _, p := range m.protocols {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocolLocked picks the protocol every member supports with the most votes, each
// member voting for its most preferred candidate; ties go to the earliest member's preference.
// REQUIRES: g.mu held; at least one member.
func (g *group) selectProtocolLocked() string {
	votes := map[string]int{}
	for _, m := range g.order {
		for _, p := range m.protocols {
			if g.allSupport(p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	for _, p := range g.order[0].protocols {
		if n, ok := votes[p.Name]; ok && n > bestVotes {
			best, bestVotes = p.Name, n
		}
	}
	return best
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

// touchLocked restarts a member's session: it expires SessionTimeout from now unless it
// heartbeats (or joins, syncs, commits) again. REQUIRES: g.mu held.
func (c *Coordinator) touchLocked(g *group, m *member) {
	m.deadline = c.clock.Now().Add(m.sessionTimeout)
	if m.hbTimer == nil {
		c.armSessionLocked(g, m, m.sessionTimeout)
	}
}

// armSessionLocked arms m's expiry check; heartbeats only move m.deadline, so the hot path
// never touches a timer. REQUIRES: g.mu held.
func (c *Coordinator) armSessionLocked(g *group, m *member, d time.Duration) {
	m.hbTimer = c.clock.AfterFunc(d, func() { c.sessionCheck(g, m) })
}

// sessionCheck runs when a member's session may have expired.
func (c *Coordinator) sessionCheck(g *group, m *member) {
	g.mu.Lock()
	if g.state == Dead || g.members[m.id] != m {
		g.mu.Unlock()
		return
	}
	m.hbTimer = nil
	now := c.clock.Now()
	switch {
	case m.join != nil || m.sync != nil:
		// A parked JoinGroup/SyncGroup keeps its member alive (Kafka: awaiting join or sync).
		c.armSessionLocked(g, m, m.sessionTimeout)
	case now.Before(m.deadline):
		c.armSessionLocked(g, m, m.deadline.Sub(now))
	default:
		c.log.Info("group member session expired", "group", g.id, "member", m.id)
		c.removeMemberAndUpdateLocked(g, m)
	}
	g.mu.Unlock()
}

// expirePending forgets a KIP-394 member id that never joined.
func (c *Coordinator) expirePending(g *group, id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.pending[id]; !ok || g.state == Dead {
		return
	}
	delete(g.pending, id)
	c.tryCompleteJoinLocked(g)
}

// removeMemberAndUpdateLocked removes a member (left or expired) and moves the group on.
// REQUIRES: g.mu held.
func (c *Coordinator) removeMemberAndUpdateLocked(g *group, m *member) {
	c.removeMemberLocked(g, m)
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalanceLocked(g)
	case PreparingRebalance:
		c.tryCompleteJoinLocked(g)
	}
}

// removeMemberLocked drops a member, failing its parked calls. REQUIRES: g.mu held.
func (c *Coordinator) removeMemberLocked(g *group, m *member) {
	if g.members[m.id] != m {
		return
	}
	c.failJoin(g, m, kerr.UnknownMemberID)
	c.failSync(m, kerr.UnknownMemberID)
	if m.hbTimer != nil {
		m.hbTimer.Stop()
		m.hbTimer = nil
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m {
		delete(g.static, *m.instanceID)
	}
	for i, o := range g.order {
		if o == m {
			g.order = append(g.order[:i:i], g.order[i+1:]...)
			break
		}
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0].id
		}
	}
}

// failJoin answers a parked JoinGroup with an error. REQUIRES: g.mu held.
func (c *Coordinator) failJoin(g *group, m *member, err *kerr.Error) {
	if m.join != nil {
		m.join(JoinResult{Err: err, MemberID: m.id, Generation: -1})
		m.join = nil
		g.awaitingJoin--
	}
}

// failSync answers a parked SyncGroup with an error. REQUIRES: the group's mu held.
func (c *Coordinator) failSync(m *member, err *kerr.Error) {
	if m.sync != nil {
		m.sync(SyncResult{Err: err})
		m.sync = nil
	}
}

// Sync handles SyncGroup. The answer arrives on the returned channel. See SyncFunc.
func (c *Coordinator) Sync(req SyncRequest) <-chan SyncResult {
	ch := make(chan SyncResult, 1)
	c.SyncFunc(req, func(r SyncResult) { ch <- r })
	return ch
}

// SyncFunc handles SyncGroup: reply gets the answer exactly once. Followers' answers are
// parked until the leader's SyncGroup brings the assignment. reply follows JoinFunc's rules.
func (c *Coordinator) SyncFunc(req SyncRequest, reply func(SyncResult)) {
	g := c.lockGroup(req.Group)
	if g == nil {
		reply(SyncResult{Err: kerr.UnknownMemberID})
		return
	}
	defer g.mu.Unlock()
	if err := g.checkMember(req.MemberID, req.InstanceID); err != nil {
		reply(SyncResult{Err: err})
		return
	}
	if req.Generation != g.generation {
		reply(SyncResult{Err: kerr.IllegalGeneration})
		return
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
		reply(SyncResult{Err: kerr.InconsistentGroupProtocol})
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case PreparingRebalance:
		reply(SyncResult{Err: kerr.RebalanceInProgress})
		return
	case Stable:
		delete(g.pendingSync, m.id)
		c.touchLocked(g, m)
		reply(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment})
		return
	case CompletingRebalance:
	default:
		reply(SyncResult{Err: kerr.UnknownMemberID})
		return
	}
	delete(g.pendingSync, m.id)
	c.failSync(m, kerr.UnknownMemberID) // a duplicate SyncGroup replaces the first
	m.sync = reply
	c.touchLocked(g, m)
	if m.id != g.leader {
		return
	}
	assigned := make(map[string][]byte, len(req.Assignments))
	for _, a := range req.Assignments {
		assigned[a.MemberID] = a.Assignment
	}
	for _, o := range g.order {
		o.assignment = assigned[o.id]
	}
	wait, err := c.storeGroupLocked(g)
	if err != nil {
		for _, o := range g.order {
			o.assignment = nil
			c.failSync(o, kerr.CoordinatorNotAvailable)
		}
		c.prepareRebalanceLocked(g)
		return
	}
	g.setState(Stable, c.clock.Now())
	for _, o := range g.order {
		if o.sync != nil {
			o.sync(SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: o.assignment, Wait: wait})
			o.sync = nil
		}
	}
}

// Heartbeat handles Heartbeat.
func (c *Coordinator) Heartbeat(groupID, memberID string, instanceID *string, generation int32) *kerr.Error {
	g := c.lockGroup(groupID)
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	if err := g.checkMember(memberID, instanceID); err != nil {
		return err
	}
	if generation != g.generation {
		return kerr.IllegalGeneration
	}
	m := g.members[memberID]
	switch g.state {
	case CompletingRebalance, Stable:
		c.touchLocked(g, m)
		return nil
	case PreparingRebalance:
		c.touchLocked(g, m)
		return kerr.RebalanceInProgress
	default:
		return kerr.UnknownMemberID
	}
}

// Leave handles LeaveGroup: one error per member, in order. A member named only by its
// instance id (memberID "") is found by it.
func (c *Coordinator) Leave(groupID string, members []LeaveMember) []*kerr.Error {
	errs := make([]*kerr.Error, len(members))
	g := c.lockGroup(groupID)
	if g == nil {
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return errs
	}
	defer g.mu.Unlock()
	for i, lm := range members {
		if t, ok := g.pending[lm.MemberID]; ok && lm.MemberID != "" {
			t.Stop()
			delete(g.pending, lm.MemberID)
			c.tryCompleteJoinLocked(g)
			continue
		}
		var m *member
		if lm.MemberID == "" && lm.InstanceID != nil {
			m = g.static[*lm.InstanceID]
			if m == nil {
				errs[i] = kerr.UnknownMemberID
				continue
			}
		} else {
			if err := g.checkMember(lm.MemberID, lm.InstanceID); err != nil {
				errs[i] = err
				continue
			}
			m = g.members[lm.MemberID]
		}
		c.log.Debug("group member left", "group", g.id, "member", m.id)
		c.removeMemberAndUpdateLocked(g, m)
	}
	return errs
}
