package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// ReadShareGroupState: version 0 (broker to broker, CLUSTER_ACTION). A share partition's
// state epoch, start offset and in-flight state batches; one never initialized answers
// start offset -1 and state epoch 0. A leader epoch older than the one held is
// FENCED_LEADER_EPOCH; a newer one is written (durable before the answer).
func init() {
	register(api{key: int16(kmsg.ReadShareGroupState), min: 0, max: 0, handle: handleReadShareGroupState})
}

func handleReadShareGroupState(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ReadShareGroupStateRequest)
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateResponse)
	allowed := b.authorizeCluster(c, acl.OpClusterAction)
	var w stateWrites
	resp.Topics = make([]kmsg.ReadShareGroupStateResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		out.TopicID = rt.TopicID
		out.Partitions = make([]kmsg.ReadShareGroupStateResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			op := &out.Partitions[j]
			op.Partition, op.StartOffset = rp.Partition, -1
			b.applyState(allowed, req.GroupID, rt.TopicID, rp.Partition, &w, &op.ErrorCode, &op.ErrorMessage, func(old share.Snapshot, ok bool) (*share.Snapshot, *kerr.Error, string) {
				if !ok {
					return nil, nil, ""
				}
				if rp.LeaderEpoch != -1 && old.LeaderEpoch > rp.LeaderEpoch {
					return nil, kerr.FencedLeaderEpoch, ""
				}
				op.StateEpoch, op.StartOffset = old.StateEpoch, old.Start
				for _, sb := range old.Batches {
					ob := kmsg.NewReadShareGroupStateResponseTopicPartitionStateBatch()
					ob.FirstOffset, ob.LastOffset, ob.DeliveryState, ob.DeliveryCount = sb.First, sb.Last, share.DeliveryState(sb.State), sb.Deliveries
					op.StateBatches = append(op.StateBatches, ob)
				}
				if rp.LeaderEpoch <= old.LeaderEpoch {
					return nil, nil, ""
				}
				s := old
				s.Epoch, s.LeaderEpoch = old.Epoch+1, rp.LeaderEpoch
				return &s, nil, ""
			})
		}
	}
	return w.answer(b, c, resp)
}
