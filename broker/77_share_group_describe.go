package broker

import (
	"bytes"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// ShareGroupDescribe: version 1. Each group is described by its coordinator: state (Empty or
// Stable), group and assignment epochs, the "simple" assignor, and every member's client,
// epoch, subscription and assignment (topic ids with names). An unknown group, or one of
// another type, is GROUP_ID_NOT_FOUND, as in Kafka.
func init() {
	register(api{key: int16(kmsg.ShareGroupDescribe), min: 1, max: 1, handle: handleShareGroupDescribe})
}

func handleShareGroupDescribe(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ShareGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	for _, id := range req.GroupIDs {
		g := kmsg.NewShareGroupDescribeResponseGroup()
		g.GroupID = id
		g.AuthorizedOperations = topicAuthorizedOperationsUnknown
		if !b.authorizeGroup(c, acl.OpDescribe, id) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if _, lerr := b.groupCoordinator(id); lerr != nil {
			g.ErrorCode = lerr.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, ok := b.shares.Describe(id)
		if conflict := b.shareGroupConflict(id); !ok || conflict != "" {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			if conflict != "" {
				msg = conflict
			}
			g.ErrorMessage = &msg
			g.GroupState = "Dead"
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.GroupState, g.GroupEpoch, g.AssignmentEpoch, g.Assignor = d.State, d.Epoch, d.AssignEpoch, "simple"
		for _, m := range d.Members {
			rm := kmsg.NewShareGroupDescribeResponseGroupMember()
			rm.MemberID, rm.RackID, rm.MemberEpoch, rm.ClientID, rm.ClientHost = m.MemberID, m.RackID, m.MemberEpoch, m.ClientID, m.ClientHost
			rm.SubscribedTopicNames = m.Subscribed
			if rm.SubscribedTopicNames == nil {
				rm.SubscribedTopicNames = []string{}
			}
			for _, tid := range sortedTopicIDs(m.Assignment) {
				tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
				tp.TopicID, tp.Partitions = tid, m.Assignment[tid]
				if t, ok := b.cluster.TopicByID(tid); ok {
					tp.Topic = t.Name
				}
				rm.Assignment.TopicPartitions = append(rm.Assignment.TopicPartitions, tp)
			}
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// sortedTopicIDs is an assignment's topic ids in order, for a stable answer.
func sortedTopicIDs[V any](m map[[16]byte]V) [][16]byte {
	return slices.SortedFunc(maps.Keys(m), func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
}
