package broker

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// StreamsGroupDescribe: version 0 (KIP-1071). An unknown group, or one of another type, gets
// GROUP_ID_NOT_FOUND, as in Kafka. The topology is the registered one, its internal topics
// with the partition counts the coordinator decided once the topology is ready.
func init() {
	register(api{key: int16(kmsg.StreamsGroupDescribe), min: 0, max: 0, handle: handleStreamsGroupDescribe})
}

func handleStreamsGroupDescribe(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.StreamsGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.StreamsGroupDescribeResponse)
	for _, id := range req.Groups {
		g := kmsg.NewStreamsGroupDescribeResponseGroup()
		g.Group = id
		if !b.authorizeGroup(c, acl.OpDescribe, id) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		coord, lerr := b.groupCoordinator(id)
		if lerr != nil {
			g.ErrorCode = lerr.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, err, msg := coord.DescribeStreams(id)
		if err != nil {
			g.ErrorCode, g.ErrorMessage = err.Code, &msg
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.Epoch, g.AssignmentEpoch = d.State.String(), d.Epoch, d.AssignmentEpoch
		// Admin clients require a topology; a group whose first member's heartbeat failed
		// before registering one has none.
		g.Topology = describedTopology(&group.StreamsTopology{Epoch: -1})
		if d.Topology != nil {
			g.Topology = describedTopology(d.Topology)
		}
		g.Members = []kmsg.StreamsGroupDescribeResponseGroupMember{}
		for _, m := range d.Members {
			rm := kmsg.NewStreamsGroupDescribeResponseGroupMember()
			rm.MemberID, rm.MemberEpoch, rm.RackID = m.MemberID, m.MemberEpoch, m.RackID
			rm.ClientID, rm.ClientHost, rm.TopologyEpoch, rm.ProcessID = m.ClientID, m.ClientHost, m.TopologyEpoch, m.ProcessID
			if m.Endpoint != nil {
				rm.UserEndpoint = &kmsg.StreamsGroupDescribeResponseGroupMemberUserEndpoint{Host: m.Endpoint.Host, Port: m.Endpoint.Port}
			}
			rm.ClientTags = []kmsg.StreamsGroupDescribeResponseGroupMemberClientTag{}
			for _, k := range slices.Sorted(maps.Keys(m.ClientTags)) {
				rm.ClientTags = append(rm.ClientTags, kmsg.StreamsGroupDescribeResponseGroupMemberClientTag{Key: k, Value: m.ClientTags[k]})
			}
			rm.TaskOffsets, rm.TaskEndOffsets = []kmsg.TaskOffset{}, []kmsg.TaskOffset{}
			rm.Assignment, rm.TargetAssignment = describedStreamsAssignment(m.Assignment), describedStreamsAssignment(m.TargetAssignment)
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func describedStreamsAssignment(a group.StreamsAssignment) kmsg.StreamsAssignment {
	w := kmsg.NewStreamsAssignment()
	w.ActiveTasks, w.StandbyTasks, w.WarmupTasks = wireTasks(a.Active), wireTasks(a.Standby), wireTasks(a.Warmup)
	return w
}

func describedTopology(t *group.StreamsTopology) *kmsg.StreamsGroupDescribeResponseGroupTopology {
	out := kmsg.NewStreamsGroupDescribeResponseGroupTopology()
	out.Epoch = t.Epoch
	out.Subtopologies = []kmsg.StreamsGroupDescribeResponseGroupTopologySubtopology{}
	infos := func(ts []group.StreamsTopicInfo) []kmsg.TopicInfo {
		out := make([]kmsg.TopicInfo, 0, len(ts))
		for _, ti := range ts {
			w := kmsg.NewTopicInfo()
			w.Topic, w.NumPartitions, w.ReplicationFactor = ti.Name, ti.Partitions, ti.ReplicationFactor
			for _, c := range ti.Configs {
				w.Configs = append(w.Configs, kmsg.TopicInfoConfig{Key: c.Key, Value: c.Value})
			}
			out = append(out, w)
		}
		return out
	}
	for _, s := range t.Subtopologies {
		ws := kmsg.NewStreamsGroupDescribeResponseGroupTopologySubtopology()
		ws.SubtopologyID, ws.SourceTopics, ws.RepartitionSinkTopics = s.ID, s.SourceTopics, s.RepartitionSinkTopics
		ws.StateChangelogTopics, ws.RepartitionSourceTopics = infos(s.ChangelogTopics), infos(s.RepartitionSourceTopics)
		out.Subtopologies = append(out.Subtopologies, ws)
	}
	return &out
}
