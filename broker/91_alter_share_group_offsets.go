package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/share"
)

// AlterShareGroupOffsets: version 0 (kafka-share-groups --reset-offsets). Sets the start
// offset of share partitions of a group without members (NON_EMPTY_GROUP otherwise),
// dropping their in-flight state; a group not known yet is created. Offsets must lie in
// [log start, high watermark] of a partition led here (Kafka's share coordinator checks the
// same against the partition's offsets): outside, OFFSET_OUT_OF_RANGE; an unknown partition,
// UNKNOWN_TOPIC_OR_PARTITION. While a partition's __share_group_state partition is being
// created or loaded (the state could not be written), the whole request gets
// COORDINATOR_LOAD_IN_PROGRESS, which the admin client retries. Answered once the new states
// are durable (an error code if one could not be written).
func init() {
	register(api{key: int16(kmsg.AlterShareGroupOffsets), min: 0, max: 0, handle: handleAlterShareGroupOffsets})
}

func handleAlterShareGroupOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	if !b.authorizeGroup(c, acl.OpRead, req.GroupID) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	for _, t := range req.Topics {
		if !b.authorizeTopic(c, acl.OpRead, t.Topic) {
			msg := "not authorized to read topic " + t.Topic
			resp.ErrorCode, resp.ErrorMessage = kerr.TopicAuthorizationFailed.Code, &msg
			return resp, nil
		}
	}
	if _, lerr := b.groupCoordinator(req.GroupID); lerr != nil {
		resp.ErrorCode = lerr.Code
		return resp, nil
	}
	if msg := b.shareGroupConflict(req.GroupID); msg != "" {
		resp.ErrorCode, resp.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
		return resp, nil
	}
	offsets := map[share.TopicPartition]int64{}
	for _, rt := range req.Topics {
		t, known := b.cluster.Topic(rt.Topic)
		out := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		out.Topic, out.TopicID = rt.Topic, t.ID
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			switch {
			case !known || !b.knownPartition(rt.Topic, rp.Partition):
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				part, code := b.sharePartition(share.TopicPartition{TopicID: t.ID, Partition: rp.Partition})
				if code != 0 {
					p.ErrorCode = code
					break
				}
				if rp.StartOffset < part.log.LogStartOffset() || rp.StartOffset > part.log.HighWatermark() {
					p.ErrorCode = kerr.OffsetOutOfRange.Code
					break
				}
				offsets[share.TopicPartition{TopicID: t.ID, Partition: rp.Partition}] = rp.StartOffset
			}
			out.Partitions = append(out.Partitions, p)
		}
		resp.Topics = append(resp.Topics, out)
	}
	for tp := range offsets {
		if lerr := b.shareStateReady(req.GroupID, tp); lerr != nil {
			msg := "the share-partition state of the group is loading; retry"
			resp.ErrorCode, resp.ErrorMessage, resp.Topics = lerr.Code, &msg, nil
			return resp, nil
		}
	}
	waits, err := b.shares.ResetOffsets(req.GroupID, offsets)
	if err != nil {
		msg := err.Error()
		resp.ErrorCode, resp.ErrorMessage, resp.Topics = errorCode(err), &msg, nil
		return resp, nil
	}
	var w stateWrites
	for _, d := range waits {
		w.add(d, &resp.ErrorCode)
	}
	return w.answer(b, c, resp)
}
