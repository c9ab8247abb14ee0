package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/share"
)

// ShareAcknowledge: versions 1-2. Acknowledgements outside a fetch, in the member's share
// session: the epoch must be the session's next one (0 cannot open a session:
// INVALID_SHARE_SESSION_EPOCH), -1 applies them and closes the session, releasing whatever
// the member still holds. Each partition's batches are applied all or none
// (INVALID_RECORD_STATE for an offset the member does not hold, INVALID_REQUEST for
// malformed batches); v2 adds the renew type (4) and AcquisitionLockTimeoutMs.
func init() {
	register(api{key: int16(kmsg.ShareAcknowledge), min: 1, max: 2, handle: handleShareAcknowledge})
}

func handleShareAcknowledge(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	resp.AcquisitionLockTimeoutMillis = int32(b.shares.LockDuration().Milliseconds())
	sess, ok := b.useShareSession(req.GroupID, req.MemberID, share.SessionRequest{Epoch: req.ShareSessionEpoch, Acknowledge: true},
		&resp.ErrorCode, &resp.ErrorMessage)
	if !ok {
		return resp, nil
	}
	group, member := *req.GroupID, *req.MemberID
	maxType := share.AckReject
	if c.version() >= 2 {
		maxType = share.AckRenew
	}
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
			rp.ErrorCode, rp.ErrorMessage = b.shareAcknowledge(group, member, share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition}, acks, maxType)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if sess.Closing {
		b.shares.CloseSession(group, member)
	}
	return resp, nil
}
