package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: versions 2-4 (v2 is Kafka 4's floor and what the Java consumer and
// librdkafka send). The answer is engine.EndOffsetForEpoch's (Kafka's endOffsetFor): the
// largest epoch <= the requested one and where it ended (the log end offset for the current
// epoch). ReplicaID is not needed: the answer comes from the led partition's log, whose
// current epoch was recorded when it was elected (so a log with no batch yet answers the
// current epoch and the log end, never "undefined", which the Java consumer would treat as
// log truncation), and a partition not led here is NOT_LEADER_OR_FOLLOWER.
func init() {
	register(api{key: int16(kmsg.OffsetForLeaderEpoch), min: 2, max: 4, handle: handleOffsetForLeaderEpoch})
}

func handleOffsetForLeaderEpoch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	resp.Topics = make([]kmsg.OffsetForLeaderEpochResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		t := &resp.Topics[ti]
		t.Topic = rt.Topic
		denied := !b.authorizeLeaderEpoch(c, req.ReplicaID >= 0, rt.Topic)
		t.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p := &t.Partitions[pi]
			p.Default()
			p.Partition = rp.Partition
			if denied {
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			part, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			epoch, _, code := b.leaderEpochOf(part)
			if req.ReplicaID >= 0 {
				code = b.replicaLeaderCode(part, code)
			}
			if code == 0 {
				code = checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch)
			}
			if code != 0 {
				p.ErrorCode = code
				continue
			}
			got := part.log.EndOffsetForEpoch(rp.LeaderEpoch)
			p.LeaderEpoch, p.EndOffset = got.Epoch, got.EndOffset
		}
	}
	return resp, nil
}
