package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// ReadShareGroupStateSummary: versions 0-1 (broker to broker, CLUSTER_ACTION; the group
// coordinator's DescribeShareGroupOffsets). A share partition's state epoch, leader epoch and
// start offset, and (v1) how many offsets from the start offset are delivered for good
// (acknowledged or archived); one never initialized answers start offset -1, state epoch 0,
// leader epoch -1 and delivery complete count -1. Writes nothing.
func init() {
	register(api{key: int16(kmsg.ReadShareGroupStateSummary), min: 0, max: 1, handle: handleReadShareGroupStateSummary})
}

func handleReadShareGroupStateSummary(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ReadShareGroupStateSummaryRequest)
	resp := req.ResponseKind().(*kmsg.ReadShareGroupStateSummaryResponse)
	allowed := b.authorizeCluster(c, acl.OpClusterAction)
	var w stateWrites // stays empty: op writes nothing
	resp.Topics = make([]kmsg.ReadShareGroupStateSummaryResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		out.TopicID = rt.TopicID
		out.Partitions = make([]kmsg.ReadShareGroupStateSummaryResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			op := &out.Partitions[j]
			op.Default()
			op.Partition, op.StartOffset, op.LeaderEpoch = rp.Partition, -1, -1
			b.applyState(allowed, req.GroupID, rt.TopicID, rp.Partition, &w, &op.ErrorCode, &op.ErrorMessage, func(old share.Snapshot, ok bool) (*share.Snapshot, *kerr.Error, string) {
				if !ok {
					return nil, nil, ""
				}
				op.StateEpoch, op.LeaderEpoch, op.StartOffset, op.DeliveryCompleteCount = old.StateEpoch, old.LeaderEpoch, old.Start, 0
				for _, sb := range old.Batches {
					if sb.State != share.StateAvailable {
						op.DeliveryCompleteCount += int32(sb.Last - sb.First + 1)
					}
				}
				return nil, nil, ""
			})
		}
	}
	return w.answer(b, c, resp)
}
