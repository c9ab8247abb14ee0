package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// DescribeProducers: version 0 (kafka-transactions describe-producers, find-hanging). Each
// partition's answer comes from its leader's producer state: every producer with its epoch,
// last sequence and timestamp, the coordinator epoch of its last marker and the first offset
// of its open transaction (-1 for none). NOT_LEADER_OR_FOLLOWER where this broker does not
// lead, UNKNOWN_TOPIC_OR_PARTITION for a partition the cluster does not have.
func init() {
	register(api{key: int16(kmsg.DescribeProducers), min: 0, max: 0, handle: handleDescribeProducers})
}

func handleDescribeProducers(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	resp.Topics = make([]kmsg.DescribeProducersResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		t := &resp.Topics[ti]
		*t = kmsg.NewDescribeProducersResponseTopic()
		t.Topic = rt.Topic
		denied := !b.authorizeTopic(c, acl.OpRead, rt.Topic)
		t.Partitions = make([]kmsg.DescribeProducersResponseTopicPartition, len(rt.Partitions))
		for pi, p := range rt.Partitions {
			rp := &t.Partitions[pi]
			*rp = kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			if denied {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			part, err := b.partition(rt.Topic, p)
			if err != nil {
				rp.ErrorCode = errorCode(err)
				continue
			}
			if _, _, code := b.leaderEpochOf(part); code != 0 {
				rp.ErrorCode = code
				msg := kerr.ErrorForCode(code).Error() + ": this broker does not lead the partition"
				rp.ErrorMessage = &msg
				continue
			}
			for _, e := range part.log.Producers() {
				ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
				ap.ProducerID, ap.ProducerEpoch = e.ProducerID, int32(e.ProducerEpoch)
				ap.LastSequence, ap.LastTimestamp = e.LastSequence, e.LastTimestamp
				ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = e.CoordinatorEpoch, e.TxnStartOffset
				rp.ActiveProducers = append(rp.ActiveProducers, ap)
			}
		}
	}
	return resp, nil
}
