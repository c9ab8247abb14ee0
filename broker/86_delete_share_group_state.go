package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// DeleteShareGroupState: version 0 (broker to broker, CLUSTER_ACTION). Deletes a share
// partition's state (a tombstone, durable before the answer); deleting a state that does not
// exist succeeds.
func init() {
	register(api{key: int16(kmsg.DeleteShareGroupState), min: 0, max: 0, handle: handleDeleteShareGroupState})
}

func handleDeleteShareGroupState(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteShareGroupStateRequest)
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupStateResponse)
	allowed := b.authorizeCluster(c, acl.OpClusterAction)
	var w stateWrites
	resp.Topics = make([]kmsg.DeleteShareGroupStateResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		out.TopicID = rt.TopicID
		out.Partitions = make([]kmsg.DeleteShareGroupStateResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			op := &out.Partitions[j]
			op.Partition = rp.Partition
			b.applyState(allowed, req.GroupID, rt.TopicID, rp.Partition, &w, &op.ErrorCode, &op.ErrorMessage, func(old share.Snapshot, ok bool) (*share.Snapshot, *kerr.Error, string) {
				if !ok {
					return nil, nil, ""
				}
				return &share.Snapshot{Epoch: old.Epoch + 1, Tombstone: true}, nil, ""
			})
		}
	}
	return w.answer(b, c, resp)
}
