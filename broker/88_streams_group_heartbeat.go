package broker

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
)

// StreamsGroupHeartbeat: version 0, the streams group protocol (KIP-1071: Kafka Streams
// with group.protocol=streams). The first member registers the topology; the coordinator
// checks it against the topics, decides the internal topics' partition counts, creates
// the missing repartition and changelog topics with the configs the topology asks for
// (answering MISSING_INTERNAL_TOPICS meanwhile, as Kafka does; a member whose principal may
// not CREATE them is told so in that status and nothing is created) and assigns tasks
// server-side (group/streams.go). Topics a topology may not use (Kafka's internal topics,
// invalid names) are STREAMS_INVALID_TOPOLOGY before the coordinator sees the request.
// The answer waits until a changed group epoch is durable.
func init() {
	register(api{key: int16(kmsg.StreamsGroupHeartbeat), min: 0, max: 0, handle: handleStreamsGroupHeartbeat})
}

func handleStreamsGroupHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.StreamsGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.StreamsGroupHeartbeatResponse)
	if !b.authorizeGroup(c, acl.OpRead, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	if req.Topology != nil {
		for _, st := range req.Topology.Subtopologies {
			for _, t := range st.SourceTopics {
				if !b.authorizeTopic(c, acl.OpDescribe, t) {
					msg := "not authorized to describe topic " + t
					resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
					return resp, nil
				}
			}
		}
	}
	res := streamsHeartbeat(b, c, req)
	if len(res.CreateTopics) > 0 {
		if denied := b.streamsCreateDenied(c, res.CreateTopics); len(denied) > 0 {
			res.Status = withMissingTopicsDetail(res.Status, "Unauthorized to CREATE on topics "+strings.Join(denied, ", ")+".")
		} else {
			b.createStreamsTopics(res.CreateTopics)
		}
	}
	if res.Wait == nil {
		return streamsHeartbeatResponse(resp, res), nil
	}
	return nil, b.parkDurable(c, res.Wait, func(err error) kmsg.Response {
		if err != nil {
			b.log.Warn("streams group heartbeat: epoch written but not durable", "group", req.Group, "err", err)
			res = group.StreamsHeartbeatResult{Err: journalError(err)}
		}
		return streamsHeartbeatResponse(resp, res)
	})
}

// streamsCreateDenied is the internal topics the member's principal may not create, as
// Kafka's KafkaApis checks them before asking for any: CREATE on the cluster (not logged
// when refused), else CREATE on each topic. Any one denied holds back all of them.
func (b *Broker) streamsCreateDenied(c *call, topics []group.StreamsTopicInfo) []string {
	if b.allowed(c, acl.OpCreate, acl.ResourceCluster, acl.ClusterName) {
		return nil
	}
	var denied []string
	for _, ti := range topics {
		if !b.authorizeTopic(c, acl.OpCreate, ti.Name) {
			denied = append(denied, ti.Name)
		}
	}
	return denied
}

// withMissingTopicsDetail adds detail to the MISSING_INTERNAL_TOPICS status (after "; "), or
// adds that status with it, as Kafka reports internal topics a member may not create.
func withMissingTopicsDetail(status []group.StreamsStatus, detail string) []group.StreamsStatus {
	status = slices.Clone(status)
	for i := range status {
		if status[i].Code == group.StreamsMissingInternalTopics {
			status[i].Detail += "; " + detail
			return status
		}
	}
	return append(status, group.StreamsStatus{Code: group.StreamsMissingInternalTopics, Detail: detail})
}

// createStreamsTopics creates a streams group's missing internal topics, as Kafka's
// AutoTopicCreationManager does; a failure is logged and the member keeps being told
// MISSING_INTERNAL_TOPICS until the topics exist.
func (b *Broker) createStreamsTopics(topics []group.StreamsTopicInfo) {
	b.admin.Lock()
	defer b.admin.Unlock()
	for _, ti := range topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = ti.Name, ti.Partitions, ti.ReplicationFactor
		for _, cfg := range ti.Configs {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = cfg.Key, kmsg.StringPtr(cfg.Value)
			rt.Configs = append(rt.Configs, rc)
		}
		if _, err := b.createTopicFromRequest(&rt, false); err != nil && !errors.Is(err, metadata.ErrTopicExists) {
			b.log.Warn("streams group internal topic not created", "topic", ti.Name, "err", err)
		}
	}
}

// streamsHeartbeatResponse fills resp with a StreamsGroupHeartbeat answer.
func streamsHeartbeatResponse(resp *kmsg.StreamsGroupHeartbeatResponse, res group.StreamsHeartbeatResult) *kmsg.StreamsGroupHeartbeatResponse {
	resp.ErrorCode = errCode(res.Err)
	if res.ErrMessage != "" {
		msg := res.ErrMessage
		resp.ErrorMessage = &msg
	}
	resp.MemberID, resp.MemberEpoch = res.MemberID, res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	if res.Err != nil {
		return resp
	}
	resp.EndpointInformationEpoch = res.EndpointEpoch
	resp.Status = []kmsg.StreamsGroupHeartbeatResponseStatus{}
	for _, st := range res.Status {
		s := kmsg.NewStreamsGroupHeartbeatResponseStatus()
		s.StatusCode, s.StatusDetail = st.Code, st.Detail
		resp.Status = append(resp.Status, s)
	}
	if res.Assigned {
		resp.ActiveTasks, resp.StandbyTasks, resp.WarmupTasks = wireTasks(res.Active), wireTasks(res.Standby), wireTasks(res.Warmup)
	}
	if res.Endpoints != nil {
		resp.PartitionsByUserEndpoint = []kmsg.StreamsGroupHeartbeatResponsePartitionsByUserEndpoint{}
		for _, ep := range res.Endpoints {
			e := kmsg.NewStreamsGroupHeartbeatResponsePartitionsByUserEndpoint()
			e.UserEndpoint.Host, e.UserEndpoint.Port = ep.Endpoint.Host, ep.Endpoint.Port
			for _, tp := range ep.Active {
				p := kmsg.NewStreamsGroupHeartbeatResponsePartitionsByUserEndpointActivePartition()
				p.Topic, p.Partitions = tp.Topic, tp.Partitions
				e.ActivePartitions = append(e.ActivePartitions, p)
			}
			for _, tp := range ep.Standby {
				p := kmsg.NewStreamsGroupHeartbeatResponsePartitionsByUserEndpointStandbyPartition()
				p.Topic, p.Partitions = tp.Topic, tp.Partitions
				e.StandbyPartitions = append(e.StandbyPartitions, p)
			}
			resp.PartitionsByUserEndpoint = append(resp.PartitionsByUserEndpoint, e)
		}
	}
	return resp
}

func wireTasks(ts []group.TaskIDs) []kmsg.TaskIDs {
	out := make([]kmsg.TaskIDs, 0, len(ts))
	for _, t := range ts {
		w := kmsg.NewTaskIDs()
		w.SubtopologyID, w.Partitions = t.Subtopology, t.Partitions
		out = append(out, w)
	}
	return out
}

func groupTasks(ts []kmsg.TaskIDs) []group.TaskIDs {
	if ts == nil {
		return nil
	}
	out := make([]group.TaskIDs, 0, len(ts))
	for _, t := range ts {
		out = append(out, group.TaskIDs{Subtopology: t.SubtopologyID, Partitions: slices.Clone(t.Partitions)})
	}
	return out
}

// streamsTopology converts the request's topology, refusing topics a topology may not use
// (Kafka's KafkaApis checks): internal topics and invalid names.
func streamsTopology(t *kmsg.StreamsGroupHeartbeatRequestTopology) (*group.StreamsTopology, *kerr.Error, string) {
	out := &group.StreamsTopology{Epoch: t.Epoch}
	var internal, invalid []string
	check := func(name string) {
		switch {
		case internalTopic(name):
			if !slices.Contains(internal, name) {
				internal = append(internal, name)
			}
		case metadata.ValidateTopicName(name) != nil:
			if !slices.Contains(invalid, name) {
				invalid = append(invalid, name)
			}
		}
	}
	infos := func(ts []kmsg.TopicInfo) []group.StreamsTopicInfo {
		out := make([]group.StreamsTopicInfo, 0, len(ts))
		for _, ti := range ts {
			check(ti.Topic)
			gi := group.StreamsTopicInfo{Name: ti.Topic, Partitions: ti.NumPartitions, ReplicationFactor: ti.ReplicationFactor}
			for _, c := range ti.Configs {
				gi.Configs = append(gi.Configs, group.StreamsConfig{Key: c.Key, Value: c.Value})
			}
			out = append(out, gi)
		}
		return out
	}
	for _, s := range t.Subtopologies {
		gs := group.StreamsSubtopology{ID: s.SubtopologyID, SourceTopics: slices.Clone(s.SourceTopics),
			RepartitionSinkTopics:   slices.Clone(s.RepartitionSinkTopics),
			RepartitionSourceTopics: infos(s.RepartitionSourceTopics), ChangelogTopics: infos(s.StateChangelogTopics)}
		for _, n := range s.SourceTopics {
			check(n)
		}
		for _, n := range s.RepartitionSinkTopics {
			check(n)
		}
		for _, cg := range s.CopartitionGroups {
			var names []string
			for _, i := range cg.SourceTopics {
				if int(i) < 0 || int(i) >= len(s.SourceTopics) {
					return nil, kerr.StreamsInvalidTopology, "Copartition group refers to a source topic that does not exist."
				}
				names = append(names, s.SourceTopics[i])
			}
			for _, i := range cg.RepartitionSourceTopics {
				if int(i) < 0 || int(i) >= len(s.RepartitionSourceTopics) {
					return nil, kerr.StreamsInvalidTopology, "Copartition group refers to a repartition source topic that does not exist."
				}
				names = append(names, s.RepartitionSourceTopics[i].Topic)
			}
			gs.CopartitionGroups = append(gs.CopartitionGroups, names)
		}
		out.Subtopologies = append(out.Subtopologies, gs)
	}
	if len(internal) > 0 {
		return nil, kerr.StreamsInvalidTopology, "Use of Kafka internal topics " + strings.Join(internal, ",") + " in a Kafka Streams topology is prohibited."
	}
	if len(invalid) > 0 {
		return nil, kerr.StreamsInvalidTopology, "Topic names " + strings.Join(invalid, ",") + " are not valid topic names."
	}
	return out, nil, ""
}

func streamsHeartbeat(b *Broker, c *call, req *kmsg.StreamsGroupHeartbeatRequest) group.StreamsHeartbeatResult {
	fail := func(e *kerr.Error, msg string) group.StreamsHeartbeatResult {
		return group.StreamsHeartbeatResult{Err: e, ErrMessage: msg}
	}
	hr := group.StreamsHeartbeatRequest{
		Group: req.Group, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, EndpointEpoch: req.EndpointInformationEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		Active:           groupTasks(req.ActiveTasks), Standby: groupTasks(req.StandbyTasks), Warmup: groupTasks(req.WarmupTasks),
		ProcessID: req.ProcessID, TaskOffsets: req.TaskOffsets != nil || req.TaskEndOffsets != nil,
		ShutdownApplication: req.ShutdownApplication, ClientID: clientID(c), ClientHost: clientHost(c.req.RemoteAddr),
	}
	if req.RebalanceTimeoutMillis < 0 {
		hr.RebalanceTimeout = -1
	}
	if req.UserEndpoint != nil {
		hr.Endpoint = &group.StreamsEndpoint{Host: req.UserEndpoint.Host, Port: req.UserEndpoint.Port}
	}
	if req.ClientTags != nil {
		hr.ClientTags = make(map[string]string, len(req.ClientTags))
		for _, t := range req.ClientTags {
			hr.ClientTags[t.Key] = t.Value
		}
	}
	if req.Topology != nil {
		t, e, msg := streamsTopology(req.Topology)
		if e != nil {
			return fail(e, msg)
		}
		for _, s := range req.Topology.Subtopologies {
			if len(s.SourceTopicRegex) > 0 {
				return fail(kerr.InvalidRequest, "Regular expressions for source topics are not supported yet.")
			}
		}
		hr.Topology = t
	}
	coord, lerr := b.groupCoordinator(req.Group)
	if lerr != nil {
		return fail(lerr, "")
	}
	return coord.StreamsHeartbeat(hr)
}
