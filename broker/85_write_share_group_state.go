package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// WriteShareGroupState: versions 0-1 (broker to broker, CLUSTER_ACTION). Merges a share
// partition's written state batches into its state (a written offset takes the written
// delivery state and count) and moves its start offset (-1: kept), dropping what falls below
// it. A share partition never initialized is INVALID_REQUEST; a state epoch older than the
// one held FENCED_STATE_EPOCH, a leader epoch older FENCED_LEADER_EPOCH; a batch with its
// last offset before its first, or a delivery state Kafka never persists, INVALID_REQUEST.
// Answered once durable.
func init() {
	register(api{key: int16(kmsg.WriteShareGroupState), min: 0, max: 1, handle: handleWriteShareGroupState})
}

func handleWriteShareGroupState(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.WriteShareGroupStateRequest)
	resp := req.ResponseKind().(*kmsg.WriteShareGroupStateResponse)
	allowed := b.authorizeCluster(c, acl.OpClusterAction)
	var w stateWrites
	resp.Topics = make([]kmsg.WriteShareGroupStateResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		out.TopicID = rt.TopicID
		out.Partitions = make([]kmsg.WriteShareGroupStateResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			op := &out.Partitions[j]
			op.Partition = rp.Partition
			b.applyState(allowed, req.GroupID, rt.TopicID, rp.Partition, &w, &op.ErrorCode, &op.ErrorMessage, func(old share.Snapshot, ok bool) (*share.Snapshot, *kerr.Error, string) {
				switch {
				case !ok:
					return nil, kerr.InvalidRequest, "write operation on an uninitialized share partition is not allowed"
				case rp.LeaderEpoch != -1 && old.LeaderEpoch > rp.LeaderEpoch:
					return nil, kerr.FencedLeaderEpoch, ""
				case old.StateEpoch > rp.StateEpoch:
					return nil, kerr.FencedStateEpoch, ""
				case rp.StartOffset < -1:
					return nil, kerr.InvalidRequest, "the start offset must be -1 or more"
				}
				upd := make([]share.StateBatch, 0, len(rp.StateBatches))
				for _, sb := range rp.StateBatches {
					st, known := share.StateOfDelivery(sb.DeliveryState)
					if !known || sb.FirstOffset > sb.LastOffset || sb.FirstOffset < 0 || sb.DeliveryCount < 0 {
						return nil, kerr.InvalidRequest, "a state batch needs 0 <= first offset <= last offset, a delivery count of 0 or more and a delivery state 0, 2 or 4"
					}
					upd = append(upd, share.StateBatch{First: sb.FirstOffset, Last: sb.LastOffset, State: st, Deliveries: sb.DeliveryCount})
				}
				s := old
				s.Epoch, s.StateEpoch = old.Epoch+1, rp.StateEpoch
				s.LeaderEpoch = max(old.LeaderEpoch, rp.LeaderEpoch)
				if rp.StartOffset != -1 {
					s.Start = rp.StartOffset
				}
				s.Batches = mergeStateBatches(old.Batches, upd, s.Start)
				return &s, nil, ""
			})
		}
	}
	return w.answer(b, c, resp)
}
