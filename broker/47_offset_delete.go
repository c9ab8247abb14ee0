package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// OffsetDelete: version 0 (KIP-496). Deletes committed offsets of an Empty group, or of
// topics no member of a consumer group subscribes to (others: GROUP_SUBSCRIBED_TO_TOPIC);
// a non-empty group of another protocol type is NON_EMPTY_GROUP. As Kafka's KafkaApis: DELETE
// on the group, then READ on each topic; a denied topic's partitions are
// TOPIC_AUTHORIZATION_FAILED and are not deleted.
func init() {
	register(api{key: int16(kmsg.OffsetDelete), min: 0, max: 0, handle: handleOffsetDelete})
}

func handleOffsetDelete(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDelete, req.Group)
	if lerr != nil {
		resp.ErrorCode = lerr.Code
		return resp, nil
	}
	want := make([]group.TopicPartitions, len(req.Topics))
	refused := make([][]int16, len(req.Topics)) // per partition: 0, or why it is not deleted
	for i, t := range req.Topics {
		want[i].Topic = t.Topic
		refused[i] = make([]int16, len(t.Partitions))
		readable := b.authorizeTopic(c, acl.OpRead, t.Topic)
		for k, p := range t.Partitions {
			switch {
			case !readable:
				refused[i][k] = kerr.TopicAuthorizationFailed.Code
			case !b.knownPartition(t.Topic, p.Partition):
				refused[i][k] = kerr.UnknownTopicOrPartition.Code
			default:
				want[i].Partitions = append(want[i].Partitions, p.Partition)
			}
		}
	}
	top, errs, wait := coord.DeleteOffsets(req.Group, want)
	answer := func(top *kerr.Error) kmsg.Response {
		resp.ErrorCode = errCode(top)
		if top == nil {
			offsetDeleteTopics(req, resp, refused, errs)
		}
		return resp
	}
	if top != nil || wait == nil {
		return answer(top), nil
	}
	return nil, b.parkDurable(c, wait, func(err error) kmsg.Response {
		if err != nil {
			return answer(journalError(err))
		}
		return answer(nil)
	})
}

// offsetDeleteTopics fills the per-partition answers of a successful OffsetDelete.
// refused holds the error of each partition not given to the coordinator, else 0.
func offsetDeleteTopics(req *kmsg.OffsetDeleteRequest, resp *kmsg.OffsetDeleteResponse, refused [][]int16, errs [][]*kerr.Error) {
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		k := 0
		for pi, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if refused[i][pi] != 0 {
				rp.ErrorCode = refused[i][pi]
			} else {
				rp.ErrorCode = errCode(errs[i][k])
				k++
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
}
