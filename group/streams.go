package group

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TaskIDs names tasks of one subtopology by partition (the StreamsGroupHeartbeat wire form).
type TaskIDs struct {
	Subtopology string
	Partitions  []int32
}

// StreamsEndpoint is a member's user endpoint for interactive queries (application.server).
type StreamsEndpoint struct {
	Host string
	Port uint16
}

// StreamsHeartbeatRequest is a StreamsGroupHeartbeat request (KIP-1071). Nil fields are
// "unchanged since the last heartbeat".
type StreamsHeartbeatRequest struct {
	Group, MemberID string
	MemberEpoch     int32
	// EndpointEpoch is the endpoint information epoch the member last received.
	EndpointEpoch      int32
	InstanceID, RackID *string
	RebalanceTimeout   time.Duration // negative: unchanged
	Topology           *StreamsTopology
	// Active, Standby and Warmup are the tasks the member owns; nil: unchanged.
	Active, Standby, Warmup []TaskIDs
	ProcessID               *string
	Endpoint                *StreamsEndpoint
	ClientTags              map[string]string // nil: unchanged
	// TaskOffsets is set when the request carries TaskOffsets or TaskEndOffsets, which
	// Kafka 4.3 does not support yet.
	TaskOffsets          bool
	ShutdownApplication  bool
	ClientID, ClientHost string
}

// EndpointPartitions is one user endpoint and the partitions its member's tasks read, for
// interactive queries.
type EndpointPartitions struct {
	Endpoint        StreamsEndpoint
	Active, Standby []TopicPartitions
}

// StreamsHeartbeatResult is a StreamsGroupHeartbeat answer. Err nil is success. Wait, if
// set, must report success before the answer is sent.
type StreamsHeartbeatResult struct {
	Err               *kerr.Error
	ErrMessage        string
	MemberID          string
	MemberEpoch       int32
	HeartbeatInterval time.Duration
	Status            []StreamsStatus
	// Assigned is set (Active, Standby, Warmup) when the member joined or its assignment
	// changed, as Kafka does.
	Assigned                bool
	Active, Standby, Warmup []TaskIDs
	EndpointEpoch           int32
	// Endpoints is set when the member's endpoint epoch is behind the group's.
	Endpoints []EndpointPartitions
	// CreateTopics are internal topics the topology needs that do not exist: the broker
	// creates them (Kafka's AutoTopicCreationManager) and the member learns of them at a
	// later heartbeat.
	CreateTopics []StreamsTopicInfo
	Wait         Durable
}

// streamsGroup is the KIP-1071 state of a streams group; guarded by its group's mu.
type streamsGroup struct {
	epoch           int32 // the group epoch
	assignmentEpoch int32 // the epoch of target
	members         map[string]*smember
	target          map[string]streamsTasks
	topology        *StreamsTopology // registered by the first member; nil after a restart until one joins
	configured      configuredTopology
	// topicPartitions are the partition counts of the topology's topics (absent: missing)
	// when it was last configured: a change bumps the group epoch (Kafka's metadata hash).
	topicPartitions map[string]int32
	validatedEpoch  int32 // the topology epoch last found ready, -1 for none
	endpointEpoch   int32
	// delay is the initial rebalance delay timer (streams.initial.rebalance.delay.ms) of a
	// group whose first member just joined: no target is computed while it runs.
	delay    Timer
	shutdown string // the member that asked the application to shut down
}

// smember is one streams group member; guarded by its group's mu.
type smember struct {
	id                   string
	rackID               *string
	clientID, clientHost string
	rebalanceTimeout     time.Duration
	topologyEpoch        int32
	processID            string
	endpoint             *StreamsEndpoint
	clientTags           map[string]string
	epoch, prevEpoch     int32
	state                reconcileState
	assigned             streamsTasks
	revoking             streamsTasks
	deadline             time.Time
	sessionTimer         Timer
	revokeTimer          Timer
}

func newStreamsGroup() *streamsGroup {
	// Kafka starts a streams group's target assignment at epoch 1 (TargetAssignmentMetadata.
	// INITIAL), so its first epoch bump goes to 2 (bumpEpoch) and a member joining during
	// the initial delay gets epoch 1 and no tasks.
	return &streamsGroup{members: map[string]*smember{}, target: map[string]streamsTasks{}, validatedEpoch: -1, assignmentEpoch: 1}
}

// bumpEpoch moves the group epoch past the target assignment's.
func (sg *streamsGroup) bumpEpoch() {
	sg.epoch = max(sg.epoch, sg.assignmentEpoch) + 1
}

// streamsFail is a StreamsGroupHeartbeat error answer: Kafka's carries no member id or epoch.
func streamsFail(e *kerr.Error, msg string) StreamsHeartbeatResult {
	return StreamsHeartbeatResult{Err: e, ErrMessage: msg}
}

// validateStreamsHeartbeat is Kafka's GroupCoordinatorService checks, in its order: the
// features Kafka 4.3 does not support yet (static membership, task offsets, warm-up tasks
// sent by the client, source topic regexes), then the request's consistency.
func validateStreamsHeartbeat(req *StreamsHeartbeatRequest) (*kerr.Error, string) {
	switch {
	case req.InstanceID != nil:
		return kerr.InvalidRequest, "Static membership is not yet supported."
	case req.TaskOffsets:
		return kerr.InvalidRequest, "TaskOffsets are not supported yet."
	case len(req.Warmup) > 0:
		return kerr.InvalidRequest, "WarmupTasks are not supported yet."
	case req.MemberID == "":
		return kerr.InvalidRequest, "MemberId can't be empty."
	case req.Group == "":
		return kerr.InvalidRequest, "GroupId can't be empty."
	case req.RackID != nil && *req.RackID == "":
		return kerr.InvalidRequest, "RackId can't be empty."
	}
	switch {
	case req.MemberEpoch == JoinEpoch:
		switch {
		case req.RebalanceTimeout < 0:
			return kerr.InvalidRequest, "RebalanceTimeoutMs must be provided in first request."
		case len(req.Active) > 0:
			return kerr.InvalidRequest, "ActiveTasks must be empty when (re-)joining."
		case len(req.Standby) > 0:
			return kerr.InvalidRequest, "StandbyTasks must be empty when (re-)joining."
		case req.Topology == nil:
			return kerr.InvalidRequest, "Topology must be non-null when (re-)joining."
		}
		for _, s := range req.Topology.Subtopologies {
			for _, ti := range s.ChangelogTopics {
				if ti.Partitions != 0 {
					return kerr.StreamsInvalidTopology, fmt.Sprintf(
						"Changelog topic %s must have an undefined partition count, but it is set to %d.", ti.Name, ti.Partitions)
				}
			}
		}
	case req.MemberEpoch == StaticLeaveEpoch:
		return kerr.InvalidRequest, "InstanceId can't be null."
	case req.MemberEpoch < StaticLeaveEpoch:
		return kerr.InvalidRequest, fmt.Sprintf("MemberEpoch is %d, but must be greater than or equal to -2.", req.MemberEpoch)
	}
	if (req.Active != nil || req.Standby != nil || req.Warmup != nil) && (req.Active == nil || req.Standby == nil || req.Warmup == nil) {
		return kerr.InvalidRequest, "If one task-type is non-null, all must be non-null."
	}
	if req.MemberEpoch != JoinEpoch && req.Topology != nil {
		return kerr.InvalidRequest, "Topology can only be provided when (re-)joining."
	}
	return nil, ""
}

// StreamsHeartbeat handles StreamsGroupHeartbeat (Kafka's GroupMetadataManager
// streamsGroupHeartbeat): join (epoch 0) with the topology, heartbeat and reconcile,
// leave (-1).
func (c *Coordinator) StreamsHeartbeat(req StreamsHeartbeatRequest) StreamsHeartbeatResult {
	if e, msg := validateStreamsHeartbeat(&req); e != nil {
		return streamsFail(e, msg)
	}
	var g *group
	if req.MemberEpoch == JoinEpoch {
		g = c.lockOrCreate(req.Group)
	} else if g = c.lockGroup(req.Group); g == nil {
		return streamsFail(kerr.GroupIDNotFound, "Streams group "+req.Group+" not found.")
	}
	if e := c.closedErr(); e != nil {
		g.mu.Unlock()
		return streamsFail(e, "")
	}
	if g.sg == nil {
		if req.MemberEpoch != JoinEpoch || g.cg != nil || len(g.members) > 0 || len(g.pending) > 0 {
			g.mu.Unlock()
			return streamsFail(kerr.GroupIDNotFound, "Group "+g.id+" is not a streams group.")
		}
		c.convertToStreamsLocked(g)
		res := c.streamsHeartbeatLocked(g, &req)
		dead := false
		if res.Err != nil && len(g.sg.members) == 0 {
			// A refused first join leaves no streams group behind (Kafka writes nothing),
			// nor a group at all if it held nothing else.
			g.sg, g.protocolType = nil, ""
			if len(g.offsets) == 0 && len(g.txnOffsets) == 0 && g.generation == 0 {
				g.setState(Dead, c.clock.Now())
				dead = true
			}
		}
		g.mu.Unlock()
		if dead {
			c.removeIfDead(g)
		}
		return res
	}
	defer g.mu.Unlock()
	return c.streamsHeartbeatLocked(g, &req)
}

// streamsHeartbeatLocked is StreamsHeartbeat on a streams group. REQUIRES: g.mu held.
func (c *Coordinator) streamsHeartbeatLocked(g *group, reqp *StreamsHeartbeatRequest) StreamsHeartbeatResult {
	req := *reqp
	sg := g.sg
	if req.MemberEpoch == LeaveEpoch {
		m := sg.members[req.MemberID]
		if m == nil {
			return streamsFail(kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id))
		}
		c.log.Debug("streams group member left", "group", g.id, "member", m.id)
		return StreamsHeartbeatResult{MemberID: m.id, MemberEpoch: LeaveEpoch, Wait: c.removeStreamsMemberLocked(g, m)}
	}
	startEpoch, wasEmpty := sg.epoch, len(sg.members) == 0
	m := sg.members[req.MemberID]
	joining := req.MemberEpoch == JoinEpoch
	switch {
	case m == nil && !joining:
		return streamsFail(kerr.UnknownMemberID, fmt.Sprintf("Member %s is not a member of group %s.", req.MemberID, g.id))
	case m == nil && len(sg.members) >= c.cfg.MaxGroupSize:
		return streamsFail(kerr.GroupMaxSizeReached, fmt.Sprintf(
			"The streams group has reached its maximum capacity of %d members.", c.cfg.MaxGroupSize))
	case m != nil && !joining:
		if e, msg := checkStreamsEpoch(m, &req); e != nil {
			return streamsFail(e, msg)
		}
	}
	// The topology: the first member registers it; later ones must send the same one (or
	// an older epoch, answered STALE_TOPOLOGY).
	topology := sg.topology
	if req.Topology != nil {
		switch {
		case topology == nil:
			t := req.Topology.normalized()
			topology = &t
		case topology.Epoch > req.Topology.Epoch:
		case !topology.equal(req.Topology):
			return streamsFail(kerr.InvalidRequest, "Topology updates are not supported yet.")
		}
	}
	if topology == nil {
		return streamsFail(kerr.UnknownServerError, "The topology is null and the group topology is also null.")
	}
	parts := map[string]int32{}
	lookup := func(name string) (int32, bool) {
		if p, ok := parts[name]; ok {
			return p, p > 0
		}
		var p int32
		if c.cfg.Topics != nil {
			if t, ok := c.cfg.Topics(name); ok {
				p = t.Partitions
			}
		}
		parts[name] = p
		return p, p > 0
	}
	configured, err := configureTopology(topology, lookup)
	if err != nil {
		return streamsFail(kerr.StreamsInvalidTopology, err.Error())
	}
	if configured.tasks != nil {
		if e, msg := checkOwnedTasks(configured.tasks, req.Active, req.Standby, req.Warmup); e != nil {
			return streamsFail(e, msg)
		}
	}
	// From here on the request is accepted: apply it.
	bump := false
	if m == nil {
		m = &smember{id: req.MemberID, topologyEpoch: -1, assigned: emptyStreamsTasks(), revoking: emptyStreamsTasks()}
		sg.members[m.id] = m
		bump = true
		c.log.Info("member joins the streams group", "group", g.id, "member", m.id)
	}
	bump = c.updateStreamsMemberLocked(m, &req) || bump
	registered := sg.topology == nil
	sg.topology = topology
	var status []StreamsStatus
	if m.topologyEpoch < topology.Epoch {
		status = append(status, StreamsStatus{StreamsStaleTopology, fmt.Sprintf(
			"The member's topology epoch %d is behind the group's topology epoch %d.", m.topologyEpoch, topology.Epoch)})
	}
	if !maps.Equal(parts, sg.topicPartitions) {
		sg.topicPartitions = parts
		bump = true
	}
	sg.configured = configured
	validated := int32(-1)
	if configured.tasks != nil {
		validated = topology.Epoch
	}
	if validated != sg.validatedEpoch {
		sg.validatedEpoch = validated
		bump = true
	}
	if bump {
		sg.bumpEpoch()
	}
	if wasEmpty && sg.delay == nil && c.cfg.StreamsInitialRebalanceDelay > 0 {
		c.armStreamsDelayLocked(g)
	}
	if sg.delay != nil {
		status = append(status, StreamsStatus{StreamsAssignmentDelayed, "Assignment delayed due to the configured initial rebalance delay."})
	} else {
		c.refreshStreamsTargetLocked(g)
	}
	before := m.assigned
	var owned *streamsTasks
	if req.Active != nil && req.Standby != nil && req.Warmup != nil {
		o := streamsTasks{active: tasksOf(req.Active), standby: tasksOf(req.Standby), warmup: tasksOf(req.Warmup)}
		owned = &o
	}
	if sg.delay == nil {
		c.reconcileStreamsLocked(g, m, sg.target[m.id], sg.assignmentEpoch, owned)
	} else {
		c.reconcileStreamsLocked(g, m, emptyStreamsTasks(), sg.assignmentEpoch, owned)
	}
	c.touchStreamsLocked(g, m)
	if req.ShutdownApplication {
		sg.shutdown = m.id
	}
	c.setStreamsStateLocked(g)
	res := StreamsHeartbeatResult{MemberID: m.id, MemberEpoch: m.epoch, HeartbeatInterval: c.cfg.StreamsHeartbeatInterval}
	if joining || !before.sameTasks(m.assigned) {
		res.Assigned = true
		res.Active, res.Standby, res.Warmup = m.assigned.active.list(), m.assigned.standby.list(), m.assigned.warmup.list()
		if m.endpoint != nil {
			sg.endpointEpoch++
		}
	}
	if sg.endpointEpoch != req.EndpointEpoch {
		res.Endpoints = sg.endpointPartitions(parts)
	}
	res.EndpointEpoch = sg.endpointEpoch
	if configured.status != nil {
		status = append(status, *configured.status)
		res.CreateTopics = configured.create
	}
	if sg.shutdown != "" {
		status = append(status, StreamsStatus{StreamsShutdownApplication, fmt.Sprintf(
			"Streams group member %s encountered a fatal error and requested a shutdown for the entire application.", sg.shutdown)})
	}
	res.Status = status
	if sg.epoch != startEpoch || registered {
		wait, err := c.storeStreamsGroupLocked(g, registered)
		if err != nil {
			return streamsFail(kerr.CoordinatorNotAvailable, "")
		}
		res.Wait = wait
	}
	return res
}

// checkStreamsEpoch is Kafka's throwIfStreamsGroupMemberEpochIsInvalid: a higher epoch than
// the member's is fenced; a lower one only if it is the previous epoch and the member owns
// a subset of its assignment (our answer bumping its epoch may have been lost).
func checkStreamsEpoch(m *smember, req *StreamsHeartbeatRequest) (*kerr.Error, string) {
	switch {
	case req.MemberEpoch > m.epoch:
		return kerr.FencedMemberEpoch, fmt.Sprintf("The streams group member has a greater member epoch (%d) than the one known "+
			"by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
	case req.MemberEpoch < m.epoch:
		if req.MemberEpoch != m.prevEpoch || !subsetOf(req.Active, m.assigned.active) ||
			!subsetOf(req.Standby, m.assigned.standby) || !subsetOf(req.Warmup, m.assigned.warmup) {
			return kerr.FencedMemberEpoch, fmt.Sprintf("The streams group member has a smaller member epoch (%d) than the one known "+
				"by the group coordinator (%d). The member must abandon all its partitions and rejoin.", req.MemberEpoch, m.epoch)
		}
	}
	return nil, ""
}

// subsetOf reports whether owned tasks (nil: not sent) are all in s.
func subsetOf(owned []TaskIDs, s taskSet) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !s.has(taskID{t.Subtopology, p}) {
				return false
			}
		}
	}
	return true
}

// checkOwnedTasks is Kafka's throwIfRequestContainsInvalidTasks: owned tasks must exist in
// the configured topology.
func checkOwnedTasks(tasks map[string]int32, lists ...[]TaskIDs) (*kerr.Error, string) {
	for _, l := range lists {
		for _, t := range l {
			n, ok := tasks[t.Subtopology]
			if !ok {
				return kerr.InvalidRequest, "Subtopology " + t.Subtopology + " does not exist in the topology."
			}
			for _, p := range t.Partitions {
				if p < 0 || p >= n {
					return kerr.InvalidRequest, fmt.Sprintf("Task %d for subtopology %s is invalid. Number of tasks for this subtopology: %d",
						p, t.Subtopology, n)
				}
			}
		}
	}
	return nil, ""
}

// updateStreamsMemberLocked applies a heartbeat's member metadata; it reports whether any
// changed (which bumps the group epoch). REQUIRES: g.mu held.
func (c *Coordinator) updateStreamsMemberLocked(m *smember, req *StreamsHeartbeatRequest) bool {
	changed := m.clientID != req.ClientID || m.clientHost != req.ClientHost
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	if req.RackID != nil && (m.rackID == nil || *m.rackID != *req.RackID) {
		m.rackID, changed = req.RackID, true
	}
	if req.RebalanceTimeout >= 0 && req.RebalanceTimeout != m.rebalanceTimeout {
		m.rebalanceTimeout, changed = req.RebalanceTimeout, true
	}
	if req.Topology != nil && req.Topology.Epoch != m.topologyEpoch {
		m.topologyEpoch, changed = req.Topology.Epoch, true
	}
	if req.ProcessID != nil && *req.ProcessID != m.processID {
		m.processID, changed = *req.ProcessID, true
	}
	if req.Endpoint != nil && (m.endpoint == nil || *m.endpoint != *req.Endpoint) {
		e := *req.Endpoint
		m.endpoint, changed = &e, true
	}
	if req.ClientTags != nil && !maps.Equal(req.ClientTags, m.clientTags) {
		m.clientTags, changed = maps.Clone(req.ClientTags), true
	}
	return changed
}

// convertToStreamsLocked turns an empty classic group (offsets only) into a streams group,
// keeping its offsets; the classic metadata record is tombstoned. REQUIRES: g.mu held; g
// has no classic members.
func (c *Coordinator) convertToStreamsLocked(g *group) {
	c.convertToConsumerLocked(g)
	g.cg = nil
	g.sg = newStreamsGroup()
	g.protocolType = "streams"
}

// armStreamsDelayLocked starts the initial rebalance delay of a group whose first member
// joined: when it ends, the target assignment is computed for whoever joined meanwhile.
// REQUIRES: g.mu held.
func (c *Coordinator) armStreamsDelayLocked(g *group) {
	sg := g.sg
	var t Timer
	t = c.clock.AfterFunc(c.cfg.StreamsInitialRebalanceDelay, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.sg != sg || sg.delay != t {
			return
		}
		sg.delay = nil
		if len(sg.members) == 0 {
			return
		}
		c.refreshStreamsTargetLocked(g)
		c.setStreamsStateLocked(g)
	})
	sg.delay = t
}

// refreshStreamsTargetLocked computes the target assignment of the group epoch if it is
// behind: the sticky assignor over the ready topology, nothing for anyone otherwise.
// REQUIRES: g.mu held.
func (c *Coordinator) refreshStreamsTargetLocked(g *group) {
	sg := g.sg
	if sg.assignmentEpoch >= sg.epoch || sg.delay != nil {
		return
	}
	members := make([]assignerMember, 0, len(sg.members))
	for _, id := range slices.Sorted(maps.Keys(sg.members)) {
		prev, ok := sg.target[id]
		if !ok {
			prev = emptyStreamsTasks()
		}
		members = append(members, assignerMember{id: id, process: sg.members[id].processID, prev: prev})
	}
	target := map[string]streamsTasks{}
	if sg.configured.tasks != nil && sg.topology != nil && len(members) > 0 {
		stateful := map[string]bool{}
		for _, s := range sg.topology.Subtopologies {
			stateful[s.ID] = len(s.ChangelogTopics) > 0
		}
		target = stickyAssign(members, sg.configured.tasks, stateful, c.cfg.StreamsNumStandbyReplicas)
	} else {
		for _, m := range members {
			target[m.id] = emptyStreamsTasks()
		}
	}
	sg.target = target
	sg.assignmentEpoch = sg.epoch
}

// owners indexes which processes currently hold each task (assigned or being revoked):
// the active one, and the standby and warm-up ones.
type owners struct {
	active          map[taskID]string
	standby, warmup map[taskID]map[string]bool
}

func (sg *streamsGroup) owners() owners {
	o := owners{active: map[taskID]string{}, standby: map[taskID]map[string]bool{}, warmup: map[taskID]map[string]bool{}}
	addSet := func(dst map[taskID]map[string]bool, s taskSet, proc string) {
		s.each(func(t taskID, _ int32) {
			if dst[t] == nil {
				dst[t] = map[string]bool{}
			}
			dst[t][proc] = true
		})
	}
	for _, m := range sg.members {
		for _, a := range []streamsTasks{m.assigned, m.revoking} {
			a.active.each(func(t taskID, _ int32) { o.active[t] = m.processID })
			addSet(o.standby, a.standby, m.processID)
			addSet(o.warmup, a.warmup, m.processID)
		}
	}
	return o
}

// reconcileStreamsLocked moves a member toward its target (Kafka's streams
// CurrentAssignmentBuilder): tasks leaving it are revoked first (its epoch stays until it
// reports them gone); then it moves to the target epoch with the tasks nobody else holds
// and picks up the others as their previous owners release them. An active task is given
// only once no member holds it active and the member's process holds it in no other role;
// a standby or warm-up task once the member's process holds it in no role.
// REQUIRES: g.mu held.
func (c *Coordinator) reconcileStreamsLocked(g *group, m *smember, target streamsTasks, targetEpoch int32, owned *streamsTasks) {
	switch m.state {
	case reconciled:
		if m.epoch == targetEpoch {
			return
		}
		c.nextStreamsAssignmentLocked(g, m, m.epoch, target, targetEpoch, owned)
	case unrevoked:
		if owned == nil || owned.containsAny(m.revoking) {
			return
		}
		c.nextStreamsAssignmentLocked(g, m, m.epoch+1, target, targetEpoch, owned)
	case unreleased:
		c.nextStreamsAssignmentLocked(g, m, m.epoch, target, targetEpoch, owned)
	}
}

// nextStreamsAssignmentLocked is one reconciliation step (computeNextAssignment and
// buildNewMember). REQUIRES: g.mu held.
func (c *Coordinator) nextStreamsAssignmentLocked(g *group, m *smember, epoch int32, target streamsTasks, targetEpoch int32, owned *streamsTasks) {
	o := g.sg.owners()
	proc := m.processID
	activeHeld := func(t taskID) bool {
		_, held := o.active[t]
		return held || o.standby[t][proc] || o.warmup[t][proc]
	}
	otherHeld := func(t taskID) bool {
		p, ok := o.active[t]
		return ok && p == proc || o.standby[t][proc] || o.warmup[t][proc]
	}
	keep, revoke, pending := emptyStreamsTasks(), emptyStreamsTasks(), emptyStreamsTasks()
	held := false
	diff := func(cur, tgt, keepS, revokeS, pendingS taskSet, isHeld func(taskID) bool) {
		cur.each(func(t taskID, e int32) {
			if tgt.has(t) {
				keepS.add(t, e)
			} else {
				revokeS.add(t, e)
			}
		})
		tgt.each(func(t taskID, _ int32) {
			if keepS.has(t) {
				return
			}
			if isHeld(t) {
				held = true
				return
			}
			pendingS.add(t, targetEpoch)
		})
	}
	diff(m.assigned.active, target.active, keep.active, revoke.active, pending.active, activeHeld)
	diff(m.assigned.standby, target.standby, keep.standby, revoke.standby, pending.standby, otherHeld)
	diff(m.assigned.warmup, target.warmup, keep.warmup, revoke.warmup, pending.warmup, otherHeld)
	setEpoch := func(e int32) {
		if e != m.epoch {
			m.prevEpoch, m.epoch = m.epoch, e
		}
	}
	if !revoke.empty() && (owned == nil || owned.containsAny(revoke)) {
		m.state = unrevoked
		setEpoch(epoch)
		m.assigned, m.revoking = keep, revoke
		c.armStreamsRevocationLocked(g, m)
		return
	}
	pending.active.each(func(t taskID, e int32) { keep.active.add(t, e) })
	pending.standby.each(func(t taskID, e int32) { keep.standby.add(t, e) })
	pending.warmup.each(func(t taskID, e int32) { keep.warmup.add(t, e) })
	m.state = reconciled
	if held {
		m.state = unreleased
	}
	setEpoch(targetEpoch)
	m.assigned, m.revoking = keep, emptyStreamsTasks()
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
}

// armStreamsRevocationLocked gives an unrevoked member its rebalance timeout to revoke; a
// member that does not is removed from the group. REQUIRES: g.mu held.
func (c *Coordinator) armStreamsRevocationLocked(g *group, m *smember) {
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
	d := m.rebalanceTimeout
	if d <= 0 {
		d = c.cfg.StreamsSessionTimeout
	}
	epoch := m.epoch
	m.revokeTimer = c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.sg == nil || g.sg.members[m.id] != m || m.state != unrevoked || m.epoch != epoch {
			return
		}
		c.log.Info("streams group member did not revoke tasks in time; removing it", "group", g.id, "member", m.id)
		c.removeStreamsMemberLocked(g, m)
	})
}

// touchStreamsLocked restarts m's session (streams.session.timeout.ms). REQUIRES: g.mu held.
func (c *Coordinator) touchStreamsLocked(g *group, m *smember) {
	m.deadline = c.clock.Now().Add(c.cfg.StreamsSessionTimeout)
	if m.sessionTimer == nil {
		c.armStreamsSessionLocked(g, m, c.cfg.StreamsSessionTimeout)
	}
}

// REQUIRES: g.mu held.
func (c *Coordinator) armStreamsSessionLocked(g *group, m *smember, d time.Duration) {
	m.sessionTimer = c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.sg == nil || g.sg.members[m.id] != m {
			return
		}
		m.sessionTimer = nil
		if now := c.clock.Now(); now.Before(m.deadline) {
			c.armStreamsSessionLocked(g, m, m.deadline.Sub(now))
			return
		}
		c.log.Info("streams group member session expired", "group", g.id, "member", m.id)
		c.removeStreamsMemberLocked(g, m)
	})
}

// removeStreamsMemberLocked removes a member (expired, timed out revoking, or left), bumps
// the group epoch, recomputes the target and writes the epoch; the returned function waits
// for the record's durability. REQUIRES: g.mu held.
func (c *Coordinator) removeStreamsMemberLocked(g *group, m *smember) Durable {
	sg := g.sg
	m.stopTimers()
	delete(sg.members, m.id)
	delete(sg.target, m.id)
	sg.bumpEpoch()
	if len(sg.members) == 0 {
		sg.shutdown = ""
		if sg.delay != nil {
			sg.delay.Stop()
			sg.delay = nil
		}
	}
	c.refreshStreamsTargetLocked(g)
	c.setStreamsStateLocked(g)
	wait, _ := c.storeStreamsGroupLocked(g, false) // logged; the epoch is still bumped in memory
	return wait
}

func (m *smember) stopTimers() {
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
		m.sessionTimer = nil
	}
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
}

// stopTimers stops a streams group's timers (Close, deletion). REQUIRES: the group's mu held.
func (sg *streamsGroup) stopTimers() {
	for _, m := range sg.members {
		m.stopTimers()
	}
	if sg.delay != nil {
		sg.delay.Stop()
		sg.delay = nil
	}
}

// setStreamsStateLocked derives the group state (Kafka's StreamsGroup.maybeUpdateGroupState):
// Empty, NotReady (the topology is not configured: topics missing), Assigning, Reconciling
// or Stable. REQUIRES: g.mu held.
func (c *Coordinator) setStreamsStateLocked(g *group) {
	sg := g.sg
	s := Stable
	switch {
	case len(sg.members) == 0:
		s = Empty
	case sg.topology == nil || sg.validatedEpoch != sg.topology.Epoch:
		s = NotReady
	case sg.epoch > sg.assignmentEpoch:
		s = Assigning
	default:
		for _, m := range sg.members {
			if m.state != reconciled || m.epoch != sg.assignmentEpoch {
				s = Reconciling
				break
			}
		}
	}
	if s != g.state {
		g.setState(s, c.clock.Now())
	}
}

// endpointPartitions maps each member's user endpoint to the partitions of its active and
// standby tasks (a task reads partition p of each input topic of its subtopology that has
// one), for interactive queries. parts holds the input topics' partition counts.
func (sg *streamsGroup) endpointPartitions(parts map[string]int32) []EndpointPartitions {
	out := []EndpointPartitions{}
	if sg.topology == nil {
		return out
	}
	toTopics := func(s taskSet) []TopicPartitions {
		byTopic := map[string][]int32{}
		s.each(func(t taskID, _ int32) {
			sub := sg.topology.subtopology(t.subtopology)
			if sub == nil {
				return
			}
			for _, in := range sub.inputTopics() {
				if t.partition < parts[in] {
					byTopic[in] = append(byTopic[in], t.partition)
				}
			}
		})
		tps := []TopicPartitions{}
		for _, n := range slices.Sorted(maps.Keys(byTopic)) {
			ps := byTopic[n]
			slices.Sort(ps)
			tps = append(tps, TopicPartitions{Topic: n, Partitions: ps})
		}
		return tps
	}
	for _, id := range slices.Sorted(maps.Keys(sg.members)) {
		m := sg.members[id]
		if m.endpoint == nil {
			continue
		}
		out = append(out, EndpointPartitions{Endpoint: *m.endpoint, Active: toTopics(m.assigned.active), Standby: toTopics(m.assigned.standby)})
	}
	return out
}

// storeStreamsGroupLocked writes the group's epoch record (Kafka's StreamsGroupMetadata), so
// that epochs keep growing across a restart, and with topology its topology record
// (StreamsGroupTopology). REQUIRES: g.mu held.
func (c *Coordinator) storeStreamsGroupLocked(g *group, topology bool) (Durable, error) {
	recs := []Record{{Key: streamsGroupKey(g.id), Value: streamsGroupValue(g.sg.epoch)}}
	if topology && g.sg.topology != nil {
		recs = append(recs, Record{Key: streamsTopologyKey(g.id), Value: streamsTopologyValue(g.sg.topology)})
	}
	wait, err := c.j.Append(g.part, recs)
	if err != nil {
		c.log.Warn("streams group metadata not written", "group", g.id, "err", err)
	}
	return wait, err
}

// StreamsMemberDescription is one member in a StreamsGroupDescription.
type StreamsMemberDescription struct {
	MemberID, ClientID, ClientHost, ProcessID string
	RackID                                    *string
	MemberEpoch, TopologyEpoch                int32
	Endpoint                                  *StreamsEndpoint
	ClientTags                                map[string]string
	Assignment, TargetAssignment              StreamsAssignment
}

// StreamsAssignment is a member's tasks in wire form.
type StreamsAssignment struct{ Active, Standby, Warmup []TaskIDs }

func (a streamsTasks) wire() StreamsAssignment {
	return StreamsAssignment{Active: a.active.list(), Standby: a.standby.list(), Warmup: a.warmup.list()}
}

// StreamsGroupDescription is StreamsGroupDescribe's view of a streams group.
type StreamsGroupDescription struct {
	State           State
	Epoch           int32
	AssignmentEpoch int32
	Topology        *StreamsTopology           // nil until a member registered it
	Members         []StreamsMemberDescription // sorted by member id
}

// DescribeStreams handles StreamsGroupDescribe for one group: GROUP_ID_NOT_FOUND for an
// unknown group or one of another type, as Kafka does.
func (c *Coordinator) DescribeStreams(groupID string) (StreamsGroupDescription, *kerr.Error, string) {
	g := c.lockGroup(groupID)
	if g == nil {
		return StreamsGroupDescription{}, kerr.GroupIDNotFound, "Group " + groupID + " not found."
	}
	defer g.mu.Unlock()
	if g.sg == nil {
		return StreamsGroupDescription{}, kerr.GroupIDNotFound, "Group " + groupID + " is not a streams group."
	}
	sg := g.sg
	d := StreamsGroupDescription{State: g.state, Epoch: sg.epoch, AssignmentEpoch: sg.assignmentEpoch}
	if sg.topology != nil {
		// The internal topics with the partition counts the coordinator decided, once the
		// topology is ready (Kafka describes the configured topology then).
		t := sg.topology.normalized()
		for i := range t.Subtopologies {
			for _, infos := range [][]StreamsTopicInfo{t.Subtopologies[i].RepartitionSourceTopics, t.Subtopologies[i].ChangelogTopics} {
				for j := range infos {
					if p := sg.topicPartitions[infos[j].Name]; p > 0 && sg.configured.tasks != nil {
						infos[j].Partitions = p
					}
				}
			}
		}
		d.Topology = &t
	}
	for _, m := range sg.members {
		t, ok := sg.target[m.id]
		if !ok {
			t = emptyStreamsTasks()
		}
		d.Members = append(d.Members, StreamsMemberDescription{MemberID: m.id, ClientID: m.clientID, ClientHost: m.clientHost,
			ProcessID: m.processID, RackID: m.rackID, MemberEpoch: m.epoch, TopologyEpoch: m.topologyEpoch,
			Endpoint: m.endpoint, ClientTags: m.clientTags, Assignment: m.assigned.wire(), TargetAssignment: t.wire()})
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].MemberID < d.Members[j].MemberID })
	return d, nil, ""
}

// validateStreamsCommitLocked is Kafka's StreamsGroup.validateOffsetCommit: commits with no
// member (epoch < 0) go into an empty group only (and transactional ones without a member
// always); a member commits with OffsetCommit v9+ and its current epoch, or an older one
// no older than the epoch each committed partition's task was assigned at (the returned
// check, nil when every partition passes). REQUIRES: g.mu held.
func (c *Coordinator) validateStreamsCommitLocked(g *group, memberID string, epoch int32, memberAPI, txn bool) (func(topic string, p int32) *kerr.Error, *kerr.Error) {
	sg := g.sg
	if epoch < 0 && len(sg.members) == 0 {
		return nil, nil
	}
	if txn && epoch < 0 && memberID == "" {
		return nil, nil
	}
	m := sg.members[memberID]
	switch {
	case m == nil:
		return nil, kerr.UnknownMemberID
	case !txn && !memberAPI:
		return nil, kerr.UnsupportedVersion
	case epoch == m.epoch:
		return nil, nil
	case epoch > m.epoch || sg.topology == nil:
		return nil, kerr.StaleMemberEpoch
	}
	return func(topic string, p int32) *kerr.Error {
		for _, s := range sg.topology.Subtopologies {
			if !slices.Contains(s.inputTopics(), topic) {
				continue
			}
			e, ok := m.assigned.active[s.ID][p]
			if !ok {
				e, ok = m.revoking.active[s.ID][p]
			}
			if !ok || epoch < e {
				return kerr.StaleMemberEpoch
			}
			return nil
		}
		return kerr.StaleMemberEpoch
	}, nil
}

// subscribedTopics are the topics whose offsets a non-empty streams group keeps from
// expiring: its topology's topics (Kafka's isSubscribedToTopic).
func (sg *streamsGroup) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if len(sg.members) == 0 || sg.topology == nil {
		return out
	}
	for _, t := range sg.topology.topics() {
		out[t] = true
	}
	return out
}

// validateFetch is OffsetFetch's check for a streams group member (Kafka's
// StreamsGroup.validateOffsetFetch): the member must exist and the epoch be its current one.
func (sg *streamsGroup) validateFetch(memberID string, epoch int32) *kerr.Error {
	m := sg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}
