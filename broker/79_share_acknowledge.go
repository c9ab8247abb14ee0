package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/share"
)

// ShareAcknowledge: versions 1-2. Acknowledgements outside a fetch, in the member's share
// session: the epoch must be the session's next one (0 cannot open a session:
// INVALID_SHARE_SESSION_EPOCH), -1 applies them and closes the session, releasing whatever
// the member still holds. Each partition's batches are applied all or none
// (INVALID_RECORD_STATE for an offset the member does not hold, INVALID_REQUEST for
// malformed batches); v2 adds the renew type (4) and AcquisitionLockTimeoutMs. The answer
// waits until the new share-partition states are durable in __share_group_state
// (share_state.go); a partition whose write failed gets the error Kafka's SharePartition
// answers (shareWriteError): NOT_LEADER_OR_FOLLOWER when the state was fenced (initialized
// anew elsewhere: the share partition is read again), else COORDINATOR_NOT_AVAILABLE
// (NOT_COORDINATOR on a lost leadership), retriable. READ on the group is checked first
// (GROUP_AUTHORIZATION_FAILED for the request), then READ on each topic: a denied topic's
// partitions are TOPIC_AUTHORIZATION_FAILED and their acknowledgements are not applied.
func init() {
	register(api{key: int16(kmsg.ShareAcknowledge), min: 1, max: 2, handle: handleShareAcknowledge})
}

func handleShareAcknowledge(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.LockDuration(derefGroup(req.GroupID)).Milliseconds())
	if code := b.shareGroupDenied(c, derefGroup(req.GroupID)); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	denied := shareTopicsDenied{b: b, c: c}
	sess, ok := b.useShareSession(req.GroupID, req.MemberID, share.SessionRequest{Epoch: req.ShareSessionEpoch, Acknowledge: true},
		&resp.ErrorCode, &resp.ErrorMessage)
	if !ok {
		return resp, nil
	}
	groupID, member := *req.GroupID, *req.MemberID
	maxType := share.AckReject
	if c.version() >= 2 {
		maxType = share.AckRenew
	}
	var waits []group.Durable
	var waitAt [][2]int // the topic and partition index of each wait's answer
	for _, t := range req.Topics {
		rt := kmsg.NewShareAcknowledgeResponseTopic()
		rt.TopicID = t.TopicID
		for _, p := range t.Partitions {
			acks := make([]share.AckBatch, len(p.AcknowledgementBatches))
			for i, a := range p.AcknowledgementBatches {
				acks[i] = share.AckBatch{First: a.FirstOffset, Last: a.LastOffset, Types: ackTypes(a.AcknowledgeTypes)}
			}
			rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
			rp.Partition = p.Partition
			if rp.ErrorCode = denied.code(t.TopicID); rp.ErrorCode != 0 {
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			var wait group.Durable
			rp.ErrorCode, rp.ErrorMessage, wait = b.shareAcknowledge(groupID, member, share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition}, acks, maxType)
			rt.Partitions = append(rt.Partitions, rp)
			if wait != nil {
				waits = append(waits, wait)
				waitAt = append(waitAt, [2]int{len(resp.Topics), len(rt.Partitions) - 1})
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if sess.Closing {
		b.shares.CloseSession(groupID, member)
	}
	var w stateWrites
	for i, at := range waitAt {
		w.add(waits[i], &resp.Topics[at[0]].Partitions[at[1]].ErrorCode)
	}
	return w.answer(b, c, resp)
}
