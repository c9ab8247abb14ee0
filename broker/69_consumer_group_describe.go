package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// ConsumerGroupDescribe: versions 0-1 (KIP-848; v1 adds the member type, always "consumer"
// here). A classic group, or an unknown one, gets GROUP_ID_NOT_FOUND, as in Kafka (admin
// clients then fall back to DescribeGroups).
func init() {
	register(api{key: int16(kmsg.ConsumerGroupDescribe), min: 0, max: 1, handle: handleConsumerGroupDescribe})
}

// memberTypeConsumer is ConsumerGroupDescribe v1's MemberType of a consumer-protocol member.
const memberTypeConsumer = 1

func handleConsumerGroupDescribe(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, id := range req.Groups {
		coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDescribe, id)
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group = id
		if lerr != nil {
			g.ErrorCode = lerr.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, err := coord.DescribeConsumer(id)
		if err != nil {
			g.ErrorCode = err.Code
			msg := "Group " + id + " not found."
			g.ErrorMessage = &msg
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = d.State.String(), d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			rm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.RackID, rm.MemberEpoch = m.MemberID, m.InstanceID, m.RackID, m.MemberEpoch
			rm.ClientID, rm.ClientHost = m.ClientID, m.ClientHost
			rm.SubscribedTopics, rm.SubscribedTopicRegex = m.SubscribedTopics, m.SubscribedRegex
			if rm.SubscribedTopics == nil {
				rm.SubscribedTopics = []string{}
			}
			rm.Assignment = describedAssignment(m.Assignment, d.TopicNames)
			rm.TargetAssignment = describedAssignment(m.TargetAssignment, d.TopicNames)
			rm.MemberType = memberTypeConsumer
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func describedAssignment(tps []group.TopicPartitionsID, names map[[16]byte]string) kmsg.Assignment {
	a := kmsg.NewAssignment()
	a.TopicPartitions = make([]kmsg.AssignmentTopicPartition, 0, len(tps))
	for _, tp := range tps {
		at := kmsg.NewAssignmentTopicPartition()
		at.TopicID, at.Topic, at.Partitions = tp.TopicID, names[tp.TopicID], tp.Partitions
		a.TopicPartitions = append(a.TopicPartitions, at)
	}
	return a
}
