package broker

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// ConsumerGroupHeartbeat: versions 0-1, the KIP-848 consumer group protocol (Java clients
// with group.protocol=consumer). v0 has the coordinator make a joining member's id; v1 has
// the client make it (KIP-1082) and adds SubscribedTopicRegex (RE2J syntax, matched against
// whole topic names with Go's regexp, also RE2; re-resolved every 10 s). Server-side
// assignors: uniform (default) and range. The answer waits until a changed group epoch is
// durable. A share group's id gets GROUP_ID_NOT_FOUND ("Group X is not a consumer group.").
func init() {
	register(api{key: int16(kmsg.ConsumerGroupHeartbeat), min: 0, max: 1, handle: handleConsumerGroupHeartbeat})
}

func handleConsumerGroupHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	res := consumerHeartbeat(b, c, req)
	if res.Wait == nil {
		return heartbeatResponse(resp, res), nil
	}
	// The group's epoch record must be durable before the answer: its callback answers.
	return nil, b.parkDurable(c, res.Wait, func(err error) kmsg.Response {
		if err != nil {
			b.log.Warn("consumer group heartbeat: epoch written but not durable", "group", req.Group, "err", err)
			res = group.HeartbeatResult{Err: journalError(err), MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
		}
		return heartbeatResponse(resp, res)
	})
}

// heartbeatResponse fills resp with a ConsumerGroupHeartbeat answer.
func heartbeatResponse(resp *kmsg.ConsumerGroupHeartbeatResponse, res group.HeartbeatResult) *kmsg.ConsumerGroupHeartbeatResponse {
	resp.ErrorCode = errCode(res.Err)
	if res.ErrMessage != "" {
		msg := res.ErrMessage
		resp.ErrorMessage = &msg
	}
	if res.MemberID != "" {
		id := res.MemberID
		resp.MemberID = &id
	}
	resp.MemberEpoch = res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	if res.Err == nil && res.Assignment != nil {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		a.Topics = make([]kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic, 0, len(res.Assignment))
		for _, tp := range res.Assignment {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = tp.TopicID, tp.Partitions
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	return resp
}

func consumerHeartbeat(b *Broker, c *call, req *kmsg.ConsumerGroupHeartbeatRequest) group.HeartbeatResult {
	fail := func(e *kerr.Error, msg string) group.HeartbeatResult {
		return group.HeartbeatResult{Err: e, ErrMessage: msg, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch}
	}
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpRead, req.Group)
	if lerr != nil {
		return fail(lerr, "")
	}
	if b.shares.Has(req.Group) { // a group id has one type (Kafka's GroupMetadataManager)
		return fail(kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
	}
	hr := group.HeartbeatRequest{
		Group: req.Group, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID,
		RebalanceTimeout: time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		SubscribedTopics: slices.Clone(req.SubscribedTopicNames), SubscribedRegex: req.SubscribedTopicRegex,
		ServerAssignor: req.ServerAssignor,
		ClientID:       clientID(c), ClientHost: clientHost(c.req.RemoteAddr), GenerateMemberID: c.version() == 0,
	}
	if req.RebalanceTimeoutMillis < 0 {
		hr.RebalanceTimeout = -1
	}
	if req.SubscribedTopicNames != nil && hr.SubscribedTopics == nil {
		hr.SubscribedTopics = []string{}
	}
	if req.Topics != nil {
		hr.Owned = make([]group.TopicPartitionsID, 0, len(req.Topics))
		for _, t := range req.Topics {
			hr.Owned = append(hr.Owned, group.TopicPartitionsID{TopicID: t.TopicID, Partitions: slices.Clone(t.Partitions)})
		}
	}
	return coord.ConsumerHeartbeat(hr)
}
