package broker

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// streamsConfig gives streams groups no initial rebalance delay and a short session, so
// that the tests run in milliseconds.
func streamsConfig(c *Config) {
	groupConfig(c)
	c.GroupStreamsInitialRebalanceDelay = -1
	c.GroupStreamsSessionTimeout = 700 * time.Millisecond
}

// streamsMember speaks StreamsGroupHeartbeat with raw kmsg requests (the Java Streams client's
// part): it keeps the active tasks it is given and reports them as owned.
type streamsMember struct {
	t       *testing.T
	cl      *kgo.Client
	group   string
	id      string
	process string
	epoch   int32
	active  []kmsg.TaskIDs
}

func newStreamsMember(t *testing.T, cs *clients, group, id, process string) *streamsMember {
	return &streamsMember{t: t, cl: cs.client(), group: group, id: id, process: process}
}

// streamsRequest sends req to the broker itself: franz-go's client does not route the
// streams group APIs.
func streamsRequest[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	ctx := testCtx(t)
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if g := streamsRequestGroup(req); g != "" {
		// __consumer_offsets comes into being at the first FindCoordinator, as in Kafka.
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = g, []string{g}
		if _, err := fc.RequestWith(ctx, cl); err != nil {
			t.Fatal(err)
		}
	}
	brokers := cl.DiscoveredBrokers()
	if len(brokers) == 0 {
		t.Fatal("no broker discovered")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := brokers[0].Request(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		// The coordinator loads __consumer_offsets after the broker starts: retry as
		// clients do while it is not there yet.
		hb, ok := resp.(*kmsg.StreamsGroupHeartbeatResponse)
		if ok && time.Now().Before(deadline) && (hb.ErrorCode == kerr.NotCoordinator.Code ||
			hb.ErrorCode == kerr.CoordinatorLoadInProgress.Code || hb.ErrorCode == kerr.CoordinatorNotAvailable.Code) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		return resp.(R)
	}
}

func streamsRequestGroup(req kmsg.Request) string {
	switch r := req.(type) {
	case *kmsg.StreamsGroupHeartbeatRequest:
		return r.Group
	case *kmsg.StreamsGroupDescribeRequest:
		return r.Groups[0]
	}
	return ""
}

// wordTopology is a one-subtopology topology reading in with a state store changelog
// (the shape of a Streams aggregation without repartitioning).
func wordTopology(epoch int32, in, changelog string) *kmsg.StreamsGroupHeartbeatRequestTopology {
	t := kmsg.NewStreamsGroupHeartbeatRequestTopology()
	t.Epoch = epoch
	s := kmsg.NewStreamsGroupHeartbeatRequestTopologySubtopology()
	s.SubtopologyID, s.SourceTopics = "0", []string{in}
	cl := kmsg.NewTopicInfo()
	cl.Topic = changelog
	cl.Configs = []kmsg.TopicInfoConfig{{Key: "cleanup.policy", Value: "compact"}}
	s.StateChangelogTopics = []kmsg.TopicInfo{cl}
	t.Subtopologies = []kmsg.StreamsGroupHeartbeatRequestTopologySubtopology{s}
	return &t
}

// join sends the first heartbeat (epoch 0) with topology.
func (m *streamsMember) join(topology *kmsg.StreamsGroupHeartbeatRequestTopology) *kmsg.StreamsGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrStreamsGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.EndpointInformationEpoch = m.group, m.id, 0, -1
	req.RebalanceTimeoutMillis = 30_000
	req.Topology = topology
	req.ProcessID = &m.process
	req.UserEndpoint = &kmsg.StreamsGroupHeartbeatRequestUserEndpoint{Host: "host-" + m.process, Port: 8080}
	req.ActiveTasks, req.StandbyTasks, req.WarmupTasks = []kmsg.TaskIDs{}, []kmsg.TaskIDs{}, []kmsg.TaskIDs{}
	return m.apply(streamsRequest[*kmsg.StreamsGroupHeartbeatResponse](m.t, m.cl, req))
}

// heartbeat sends a heartbeat at the member's epoch reporting its active tasks as owned.
func (m *streamsMember) heartbeat() *kmsg.StreamsGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrStreamsGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	req.ActiveTasks, req.StandbyTasks, req.WarmupTasks = m.active, []kmsg.TaskIDs{}, []kmsg.TaskIDs{}
	if req.ActiveTasks == nil {
		req.ActiveTasks = []kmsg.TaskIDs{}
	}
	return m.apply(streamsRequest[*kmsg.StreamsGroupHeartbeatResponse](m.t, m.cl, req))
}

func (m *streamsMember) apply(resp *kmsg.StreamsGroupHeartbeatResponse) *kmsg.StreamsGroupHeartbeatResponse {
	if resp.ErrorCode == 0 && resp.MemberEpoch >= 0 {
		m.epoch = resp.MemberEpoch
		if resp.ActiveTasks != nil {
			m.active = resp.ActiveTasks
		}
	}
	return resp
}

func (m *streamsMember) tasks() []string {
	var out []string
	for _, t := range m.active {
		for _, p := range t.Partitions {
			out = append(out, t.SubtopologyID+"_"+string(rune('0'+p)))
		}
	}
	slices.Sort(out)
	return out
}

func hasStatus(resp *kmsg.StreamsGroupHeartbeatResponse, code int8) bool {
	for _, s := range resp.Status {
		if s.StatusCode == code {
			return true
		}
	}
	return false
}

// settle heartbeats the members until each holds want tasks and no task is held twice.
func settle(t *testing.T, want []int, ms ...*streamsMember) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		seen := map[string]bool{}
		ok := true
		for i, m := range ms {
			code(t, "heartbeat", m.heartbeat().ErrorCode, nil)
			for _, task := range m.tasks() {
				if seen[task] {
					t.Fatalf("task %s held by two members", task)
				}
				seen[task] = true
			}
			ok = ok && len(m.tasks()) == want[i]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var got [][]string
			for _, m := range ms {
				got = append(got, m.tasks())
			}
			t.Fatalf("tasks %v, want counts %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreamsGroupHeartbeatOverTheWire: the first member registers the topology, the
// coordinator creates the changelog with its configs (MISSING_INTERNAL_TOPICS meanwhile)
// and assigns every task; a second member (another process) gets half, but only after the
// first confirmed it revoked them; a leave gives them back.
func TestStreamsGroupHeartbeatOverTheWire(t *testing.T) {
	tb := startBroker(t, streamsConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "words-in", 4)
	topo := wordTopology(0, "words-in", "app-counts-changelog")
	a := newStreamsMember(t, cs, "app", "member-a", "process-a")
	resp := a.join(topo)
	code(t, "join", resp.ErrorCode, nil)
	if !hasStatus(resp, 3) || resp.ActiveTasks == nil || len(resp.ActiveTasks) != 0 {
		t.Fatalf("first join: want MISSING_INTERNAL_TOPICS and an empty assignment, got %+v", resp)
	}
	cfgs, err := kadm.NewClient(cs.client()).DescribeTopicConfigs(testCtx(t), "app-counts-changelog")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cfgs.On("app-counts-changelog", nil); err != nil || c.Err != nil {
		t.Fatalf("changelog not created: %v %v", err, c.Err)
	} else {
		found := false
		for _, e := range c.Configs {
			found = found || e.Key == "cleanup.policy" && e.Value != nil && *e.Value == "compact"
		}
		if !found {
			t.Fatalf("changelog configs %+v lack cleanup.policy=compact", c.Configs)
		}
	}
	settle(t, []int{4}, a)
	if a.epoch < 2 {
		t.Fatalf("member epoch %d after the assignment", a.epoch)
	}

	b := newStreamsMember(t, cs, "app", "member-b", "process-b")
	code(t, "join b", b.join(topo).ErrorCode, nil)
	if len(b.tasks()) != 0 {
		t.Fatalf("b got %v before a revoked anything", b.tasks())
	}
	// a is told to give up two tasks; until it reports them gone, b does not get them.
	before := a.tasks()
	aResp := a.heartbeat()
	if len(a.tasks()) != 2 || aResp.ActiveTasks == nil {
		t.Fatalf("a kept %v, want 2 tasks after the rebalance", a.tasks())
	}
	b.heartbeat()
	if len(b.tasks()) != 0 {
		t.Fatalf("b got %v while a still owned %v", b.tasks(), before)
	}
	settle(t, []int{2, 2}, a, b)

	// The assignment is sticky: a heartbeat changes nothing.
	kept := a.tasks()
	settle(t, []int{2, 2}, a, b)
	if !slices.Equal(kept, a.tasks()) {
		t.Fatalf("a's tasks moved from %v to %v without a membership change", kept, a.tasks())
	}

	// Describe, ListGroups and DescribeGroups see a streams group.
	dreq := kmsg.NewPtrStreamsGroupDescribeRequest()
	dreq.Groups = []string{"app", "nope"}
	dresp := streamsRequest[*kmsg.StreamsGroupDescribeResponse](t, cs.client(), dreq)
	g := dresp.Groups[0]
	if g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 2 || g.Topology == nil || len(g.Topology.Subtopologies) != 1 ||
		g.Topology.Subtopologies[0].StateChangelogTopics[0].NumPartitions != 4 {
		t.Fatalf("describe: %+v", g)
	}
	for _, m := range g.Members {
		if m.UserEndpoint == nil || !strings.HasPrefix(m.UserEndpoint.Host, "host-") || len(m.Assignment.ActiveTasks) != 1 ||
			len(m.Assignment.ActiveTasks[0].Partitions) != 2 {
			t.Fatalf("described member %+v", m)
		}
	}
	code(t, "describe unknown", dresp.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"Streams"}
	lresp := rawReq[*kmsg.ListGroupsResponse](t, cs.client(), lreq)
	if len(lresp.Groups) != 1 || lresp.Groups[0].Group != "app" || lresp.Groups[0].GroupType != "streams" || lresp.Groups[0].ProtocolType != "streams" {
		t.Fatalf("ListGroups: %+v", lresp.Groups)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"app"}
	code(t, "DescribeGroups on a streams group", rawReq[*kmsg.DescribeGroupsResponse](t, cs.client(), dg).Groups[0].ErrorCode, kerr.GroupIDNotFound)

	// Interactive queries: a member behind on the endpoint epoch learns every endpoint's partitions.
	req := kmsg.NewPtrStreamsGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch, req.EndpointInformationEpoch = "app", "member-a", a.epoch, -1
	hr := streamsRequest[*kmsg.StreamsGroupHeartbeatResponse](t, cs.client(), req)
	parts := 0
	for _, e := range hr.PartitionsByUserEndpoint {
		for _, p := range e.ActivePartitions {
			if p.Topic == "words-in" {
				parts += len(p.Partitions)
			}
		}
	}
	if len(hr.PartitionsByUserEndpoint) != 2 || parts != 4 {
		t.Fatalf("PartitionsByUserEndpoint %+v", hr.PartitionsByUserEndpoint)
	}

	// b leaves (epoch -1): a gets every task back.
	leave := kmsg.NewPtrStreamsGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch = "app", "member-b", -1
	lr := streamsRequest[*kmsg.StreamsGroupHeartbeatResponse](t, cs.client(), leave)
	if lr.ErrorCode != 0 || lr.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", lr)
	}
	settle(t, []int{4}, a)
}

// TestStreamsGroupSessionExpiry: a member that stops heartbeating is removed after the
// session timeout and its tasks go to the other member.
func TestStreamsGroupSessionExpiry(t *testing.T) {
	tb := startBroker(t, streamsConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "exp-in", 2)
	topo := wordTopology(0, "exp-in", "exp-changelog")
	a := newStreamsMember(t, cs, "exp", "a", "pa")
	b := newStreamsMember(t, cs, "exp", "b", "pb")
	a.join(topo)
	b.join(topo)
	settle(t, []int{1, 1}, a, b)
	// Only a heartbeats now; b's session (700 ms) expires.
	settle(t, []int{2}, a)
	code(t, "expired member", b.heartbeat().ErrorCode, kerr.UnknownMemberID)
}

// TestStreamsGroupHeartbeatErrors: Kafka 4.3's error codes for the state machine's edges.
func TestStreamsGroupHeartbeatErrors(t *testing.T) {
	tb := startBroker(t, streamsConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "err-in", 2)
	topo := wordTopology(0, "err-in", "err-changelog")
	a := newStreamsMember(t, cs, "errs", "a", "pa")
	code(t, "join", a.join(topo).ErrorCode, nil)
	settle(t, []int{2}, a)

	send := func(what string, want *kerr.Error, edit func(r *kmsg.StreamsGroupHeartbeatRequest)) *kmsg.StreamsGroupHeartbeatResponse {
		t.Helper()
		req := kmsg.NewPtrStreamsGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = "errs", "a", a.epoch
		edit(req)
		resp := streamsRequest[*kmsg.StreamsGroupHeartbeatResponse](t, cs.client(), req)
		code(t, what, resp.ErrorCode, want)
		if want != nil && (resp.ErrorMessage == nil || *resp.ErrorMessage == "") {
			t.Fatalf("%s: no error message", what)
		}
		return resp
	}
	send("higher epoch", kerr.FencedMemberEpoch, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.MemberEpoch = a.epoch + 5 })
	send("older epoch, not the previous", kerr.FencedMemberEpoch, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.MemberEpoch = 1 })
	send("unknown member", kerr.UnknownMemberID, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.MemberID = "who" })
	send("unknown group", kerr.GroupIDNotFound, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.Group = "none" })
	send("empty member id", kerr.InvalidRequest, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.MemberID = "" })
	send("epoch -3", kerr.InvalidRequest, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.MemberEpoch = -3 })
	send("static member", kerr.InvalidRequest, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.InstanceID = kmsg.StringPtr("i") })
	send("topology outside a join", kerr.InvalidRequest, func(r *kmsg.StreamsGroupHeartbeatRequest) { r.Topology = topo })
	send("task of no subtopology", kerr.InvalidRequest, func(r *kmsg.StreamsGroupHeartbeatRequest) {
		r.ActiveTasks = []kmsg.TaskIDs{{SubtopologyID: "9", Partitions: []int32{0}}}
		r.StandbyTasks, r.WarmupTasks = []kmsg.TaskIDs{}, []kmsg.TaskIDs{}
	})
	join := func(edit func(r *kmsg.StreamsGroupHeartbeatRequest)) func(r *kmsg.StreamsGroupHeartbeatRequest) {
		return func(r *kmsg.StreamsGroupHeartbeatRequest) {
			r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis, r.Topology = "b", 0, 30_000, topo
			r.ProcessID = kmsg.StringPtr("pb")
			edit(r)
		}
	}
	send("no rebalance timeout on join", kerr.InvalidRequest, join(func(r *kmsg.StreamsGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = -1 }))
	send("no topology on join", kerr.InvalidRequest, join(func(r *kmsg.StreamsGroupHeartbeatRequest) { r.Topology = nil }))
	send("topology changed at the same epoch", kerr.InvalidRequest, join(func(r *kmsg.StreamsGroupHeartbeatRequest) {
		r.Topology = wordTopology(0, "err-in", "other-changelog")
	}))
	send("changelog with a partition count", kerr.StreamsInvalidTopology, join(func(r *kmsg.StreamsGroupHeartbeatRequest) {
		bad := wordTopology(0, "err-in", "err-changelog")
		bad.Subtopologies[0].StateChangelogTopics[0].NumPartitions = 3
		r.Topology = bad
	}))
	send("internal topic as source", kerr.StreamsInvalidTopology, join(func(r *kmsg.StreamsGroupHeartbeatRequest) {
		r.Topology = wordTopology(0, "__consumer_offsets", "x-changelog")
	}))
	loop := func(r *kmsg.StreamsGroupHeartbeatRequest) {
		// Two subtopologies feeding each other through repartition topics, no source topic.
		t := kmsg.NewStreamsGroupHeartbeatRequestTopology()
		for _, ids := range [][2]string{{"0", "rep-a"}, {"1", "rep-b"}} {
			s := kmsg.NewStreamsGroupHeartbeatRequestTopologySubtopology()
			s.SubtopologyID = ids[0]
			other := "rep-b"
			if ids[1] == "rep-b" {
				other = "rep-a"
			}
			src := kmsg.NewTopicInfo()
			src.Topic = ids[1]
			s.RepartitionSourceTopics = []kmsg.TopicInfo{src}
			s.RepartitionSinkTopics = []string{other}
			t.Subtopologies = append(t.Subtopologies, s)
		}
		r.Group, r.Topology = "loop", &t
	}
	send("repartition loop", kerr.StreamsInvalidTopology, join(loop))
	// A topology whose source topic is missing is accepted and reported by status.
	resp := send("missing source topic", nil, join(func(r *kmsg.StreamsGroupHeartbeatRequest) {
		r.Group, r.Topology = "nosrc", wordTopology(0, "absent-topic", "nosrc-changelog")
	}))
	if !hasStatus(resp, 1) || len(resp.ActiveTasks) != 0 {
		t.Fatalf("missing source topic: %+v", resp)
	}
	// A consumer-protocol heartbeat on a streams group is refused.
	ch := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	ch.Group, ch.MemberID, ch.MemberEpoch, ch.RebalanceTimeoutMillis, ch.SubscribedTopicNames = "errs", "c", 0, 30_000, []string{"err-in"}
	code(t, "consumer heartbeat on a streams group", rawReq[*kmsg.ConsumerGroupHeartbeatResponse](t, cs.client(), ch).ErrorCode, kerr.GroupIDNotFound)
}

// TestStreamsGroupOffsetCommit: streams members commit with OffsetCommit v9+ and their
// member epoch, as KIP-848 members do; other epochs and members are refused.
func TestStreamsGroupOffsetCommit(t *testing.T) {
	tb := startBroker(t, streamsConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "oc-in", 2)
	a := newStreamsMember(t, cs, "oc", "a", "pa")
	a.join(wordTopology(0, "oc-in", "oc-changelog"))
	settle(t, []int{2}, a)
	commit := func(member string, epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = "oc", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "oc-in", topicIDDP(t, tb, "oc-in") // v10 names topics by id
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 1, 42
		rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{rp}
		req.Topics = []kmsg.OffsetCommitRequestTopic{rt}
		return rawReq[*kmsg.OffsetCommitResponse](t, cs.client(), req).Topics[0].Partitions[0].ErrorCode
	}
	code(t, "commit at the member epoch", commit("a", a.epoch), nil)
	code(t, "commit at a newer epoch", commit("a", a.epoch+1), kerr.StaleMemberEpoch)
	code(t, "commit by a stranger", commit("z", a.epoch), kerr.UnknownMemberID)
	code(t, "commit without a member into a live group", commit("", -1), kerr.UnknownMemberID)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "oc", kmsg.StringPtr("a"), a.epoch
	fg.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "oc-in", Partitions: []int32{1}}}
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{fg}
	fr := rawReq[*kmsg.OffsetFetchResponse](t, cs.client(), fetch)
	if fr.Groups[0].ErrorCode != 0 || fr.Groups[0].Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offset fetch: %+v", fr.Groups[0])
	}
	fetch.Groups[0].MemberEpoch = a.epoch + 3
	code(t, "fetch at a stale epoch", rawReq[*kmsg.OffsetFetchResponse](t, cs.client(), fetch).Groups[0].ErrorCode, kerr.StaleMemberEpoch)
}
