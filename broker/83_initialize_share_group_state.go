package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// InitializeShareGroupState: version 0 (broker to broker, CLUSTER_ACTION). Sets a share
// partition's state epoch and start offset (-1: not initialized), with no in-flight records;
// a state epoch older than the one held is FENCED_STATE_EPOCH. Answered by the leader of the
// share partition's __share_group_state partition once the new state is durable
// (share_state.go).
func init() {
	register(api{key: int16(kmsg.InitializeShareGroupState), min: 0, max: 0, handle: handleInitializeShareGroupState})
}

func handleInitializeShareGroupState(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.InitializeShareGroupStateRequest)
	resp := req.ResponseKind().(*kmsg.InitializeShareGroupStateResponse)
	allowed := b.authorizeCluster(c, acl.OpClusterAction)
	var w stateWrites
	resp.Topics = make([]kmsg.InitializeShareGroupStateResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		out := &resp.Topics[i]
		out.TopicID = rt.TopicID
		out.Partitions = make([]kmsg.InitializeShareGroupStateResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			op := &out.Partitions[j]
			op.Partition = rp.Partition
			b.applyState(allowed, req.GroupID, rt.TopicID, rp.Partition, &w, &op.ErrorCode, &op.ErrorMessage, func(old share.Snapshot, ok bool) (*share.Snapshot, *kerr.Error, string) {
				if ok && old.StateEpoch > rp.StateEpoch {
					return nil, kerr.FencedStateEpoch, ""
				}
				if rp.StartOffset < -1 {
					return nil, kerr.InvalidRequest, "the start offset must be -1 or more"
				}
				s := share.Snapshot{StateEpoch: rp.StateEpoch, LeaderEpoch: -1, Start: rp.StartOffset}
				if ok {
					s.Epoch = old.Epoch + 1
				}
				return &s, nil, ""
			})
		}
	}
	return w.answer(b, c, resp)
}
