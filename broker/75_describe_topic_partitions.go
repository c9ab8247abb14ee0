package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTopicPartitions: version 0 (KIP-966), what `kafka-topics --describe` asks first (it
// falls back to Metadata). Topics are described in name order, the requested ones or (an
// empty list) all of them, each partition as Metadata describes it (metadataPartition:
// leader, epoch, replicas, ISR, offline replicas); logd has no eligible leader replicas
// (KIP-966's ELR), so those lists are empty. An unknown requested topic is
// UNKNOWN_TOPIC_OR_PARTITION.
//
// Paginated: at most ResponsePartitionLimit partitions per answer (Kafka's
// max.request.partition.size.limit, 2000, caps it; below 1 counts as 1 so a client always
// progresses), and a NextCursor naming the first topic and partition left out; a request's
// Cursor starts there. A cursor naming a topic outside the requested list is INVALID_REQUEST
// for every topic, as in Kafka.
func init() {
	register(api{key: int16(kmsg.DescribeTopicPartitions), min: 0, max: 0, handle: handleDescribeTopicPartitions})
}

// maxResponsePartitions is Kafka's max.request.partition.size.limit default.
const maxResponsePartitions = 2000

func handleDescribeTopicPartitions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeTopicPartitionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTopicPartitionsResponse)
	var names []string
	if len(req.Topics) == 0 {
		for _, t := range b.cluster.Topics() {
			names = append(names, t.Name)
		}
	} else {
		for _, rt := range req.Topics {
			names = append(names, rt.Topic)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	cursor := req.Cursor
	if cursor != nil && len(req.Topics) > 0 && !slices.Contains(names, cursor.Topic) {
		for _, name := range names {
			resp.Topics = append(resp.Topics, describedTopicError(name, kerr.InvalidRequest.Code))
		}
		return resp, nil
	}
	remaining := min(max(req.ResponsePartitionLimit, 1), maxResponsePartitions)
	live := map[int32]bool{}
	for _, br := range b.cluster.Brokers() {
		live[br.ID] = true
	}
	for _, name := range names {
		if cursor != nil && name < cursor.Topic {
			continue
		}
		start := int32(0)
		if cursor != nil && name == cursor.Topic {
			start = max(cursor.Partition, 0)
		}
		if remaining == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: start}
			break
		}
		t, ok := b.cluster.Topic(name)
		if !ok {
			resp.Topics = append(resp.Topics, describedTopicError(name, kerr.UnknownTopicOrPartition.Code))
			continue
		}
		dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		dt.Topic, dt.TopicID, dt.IsInternal = kmsg.StringPtr(name), t.ID, internalTopic(name)
		for p := start; p < t.Partitions; p++ {
			if remaining == 0 {
				resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: p}
				break
			}
			mp := b.metadataPartition(name, p, live)
			dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
			dp.ErrorCode, dp.Partition, dp.LeaderID, dp.LeaderEpoch = mp.ErrorCode, mp.Partition, mp.Leader, mp.LeaderEpoch
			dp.Replicas, dp.ISR, dp.OfflineReplicas = mp.Replicas, mp.ISR, mp.OfflineReplicas
			dp.EligibleLeaderReplicas, dp.LastKnownELR = []int32{}, []int32{}
			dt.Partitions = append(dt.Partitions, dp)
			remaining--
		}
		resp.Topics = append(resp.Topics, dt)
		if resp.NextCursor != nil {
			break
		}
	}
	return resp, nil
}

// describedTopicError is a DescribeTopicPartitions topic answered with an error.
func describedTopicError(name string, code int16) kmsg.DescribeTopicPartitionsResponseTopic {
	dt := kmsg.NewDescribeTopicPartitionsResponseTopic()
	dt.Topic, dt.ErrorCode = kmsg.StringPtr(name), code
	return dt
}
