package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// ShareGroupHeartbeat: version 1 (v0 was Kafka 4.0's early access, removed in 4.1). A share
// group member joins (epoch 0, with its subscription), heartbeats with its current or
// previous epoch, or leaves (-1); the answer carries the group epoch and, when it changed or
// the request re-sent the subscription, the member's assignment (share/doc.go). The group's
// coordinator is the leader of its __consumer_offsets partition, as for consumer groups; a
// group id used by a classic or consumer group gets GROUP_ID_NOT_FOUND. The first heartbeat
// queues the creation of __share_group_state and answers without waiting for it
// (share_state.go). A heartbeat that moves the group epoch is answered once the group's
// record (its epoch and subscribed topics) is durable in __consumer_offsets (shares.go).
func init() {
	register(api{key: int16(kmsg.ShareGroupHeartbeat), min: 1, max: 1, handle: handleShareGroupHeartbeat})
}

func handleShareGroupHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	fail := func(code int16, msg string) (kmsg.Response, error) {
		resp.ErrorCode = code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp, nil
	}
	if !b.authorizeGroup(c, acl.OpRead, req.GroupID) {
		return fail(kerr.GroupAuthorizationFailed.Code, "")
	}
	for _, t := range req.SubscribedTopicNames {
		if !b.authorizeTopic(c, acl.OpDescribe, t) {
			return fail(kerr.TopicAuthorizationFailed.Code, "not authorized to describe topic "+t)
		}
	}
	if req.GroupID == "" {
		return fail(kerr.InvalidRequest.Code, "GroupId can't be empty.")
	}
	if _, lerr := b.groupCoordinator(req.GroupID); lerr != nil {
		return fail(lerr.Code, "")
	}
	if msg := b.shareGroupConflict(req.GroupID); msg != "" {
		return fail(kerr.GroupIDNotFound.Code, msg)
	}
	b.ensureShareStateTopic() // where share partitions persist their state; not awaited
	res, err := b.shares.Heartbeat(share.HeartbeatRequest{
		Group: req.GroupID, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch, RackID: req.RackID,
		SubscribedTopicNames: req.SubscribedTopicNames, ClientID: clientID(c), ClientHost: clientHost(c.req.RemoteAddr),
	}, b.shareTopic)
	if err != nil {
		return fail(errorCode(err), err.Error())
	}
	id := req.MemberID
	resp.MemberID = &id
	resp.MemberEpoch = res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	if res.Assignment != nil {
		a := kmsg.NewShareGroupHeartbeatResponseAssignment()
		for _, tid := range sortedTopicIDs(res.Assignment) {
			tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = tid, res.Assignment[tid]
			a.TopicPartitions = append(a.TopicPartitions, tp)
		}
		resp.Assignment = &a
	}
	if res.Record != nil {
		d, err := b.persistShareGroup(res.Record)
		if err != nil {
			b.log.Warn("share group record not written", "group", req.GroupID, "err", err)
			return resp, nil
		}
		var w stateWrites
		w.add(d, &resp.ErrorCode)
		return w.answer(b, c, resp)
	}
	return resp, nil
}
