package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// OffsetForLeaderEpoch: versions 2-4 (v2 is Kafka 4's floor and what the Java consumer and
// librdkafka send). The answer is engine.EndOffsetForEpoch's (Kafka's endOffsetFor): the
// largest epoch <= the requested one and where it ended (the log end offset for the current
// epoch). ReplicaID is not needed: with Config.Replicated the answer comes from the led
// partition's log, whose current epoch was recorded when it was elected, and a partition not
// led here is NOT_LEADER_OR_FOLLOWER.
//
// A single node leads every partition in epoch 0 (leaderEpoch). A log that has no batch yet has no epoch
// entry; Kafka's leader would have recorded (0, log end) on becoming leader, so a request for
// epoch >= 0 gets (0, log end) rather than "undefined", which the Java consumer would treat as
// log truncation. Recording it for real (Log.AssignEpochStartOffset) would cost every
// single-node partition a checkpoint write and fsync when first opened, for the same answer.
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
		t.Partitions = make([]kmsg.OffsetForLeaderEpochResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p := &t.Partitions[pi]
			p.Default()
			p.Partition = rp.Partition
			if !b.cfg.Replicated {
				if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, leaderEpoch); code != 0 {
					p.ErrorCode = code
					continue
				}
			}
			part, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			if b.cfg.Replicated {
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
			}
			got := part.log.EndOffsetForEpoch(rp.LeaderEpoch)
			if !b.cfg.Replicated && got.EndOffset < 0 && rp.LeaderEpoch >= leaderEpoch && part.log.LatestEpoch() < 0 {
				got = engine.EpochEndOffset{Epoch: leaderEpoch, EndOffset: part.log.LogEndOffset()}
			}
			p.LeaderEpoch, p.EndOffset = got.Epoch, got.EndOffset
		}
	}
	return resp, nil
}
