package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
)

// AddOffsetsToTxn: versions 0-4. Adds the group's __consumer_offsets partition (where its
// TxnOffsetCommit records go) to the producer's transaction, so EndTxn sends it a marker too.
// The partition is computed with the topic's partition count, or offsets.topic.num.partitions
// before the topic exists. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2.
func init() {
	register(api{key: int16(kmsg.AddOffsetsToTxn), min: 0, max: 4, handle: handleAddOffsetsToTxn})
}

func handleAddOffsetsToTxn(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	coord, kerrv := b.authorizedTxnCoordinator(c, req.TransactionalID)
	if kerrv == nil && !b.authorizeGroup(c, acl.OpRead, req.Group) {
		kerrv = kerr.GroupAuthorizationFailed
	}
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp, nil
	}
	tp := b.offsetsPartitionOf(req.Group)
	c.park()
	coord.AddPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []engine.TopicPartition{tp}, false, func(err error) {
		resp.ErrorCode = fencedCode(txnError(err), c.version(), 2)
		b.finishKmsg(c, resp)
	})
	return nil, errDeferred
}

// offsetsPartitionOf is the __consumer_offsets partition of group id (where TxnOffsetCommit
// writes its offsets).
func (b *Broker) offsetsPartitionOf(id string) engine.TopicPartition {
	parts := b.cfg.OffsetsTopicPartitions
	if t, ok := b.cluster.Topic(offsetsTopic); ok {
		parts = t.Partitions
	}
	return engine.TopicPartition{Topic: offsetsTopic, Partition: group.PartitionFor(id, parts)}
}
