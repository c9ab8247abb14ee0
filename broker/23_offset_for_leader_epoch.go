package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetForLeaderEpoch: versions 2-4 (v2 is Kafka 4's floor and what the Java consumer and
// librdkafka send). The answer is the largest epoch <= the requested one and where it ended
// (the log end offset for the current epoch). ReplicaID is ignored until replication.
//
// Every partition is led in epoch 0 (leaderEpoch). A log that has no batch yet has no epoch
// entry; Kafka's leader would have recorded (0, log end) on becoming leader, so a request for
// epoch >= 0 gets (0, log end) rather than "undefined", which the Java consumer would treat as
// log truncation.
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
			if code := checkLeaderEpoch(rp.CurrentLeaderEpoch); code != 0 {
				p.ErrorCode = code
				continue
			}
			part, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			epoch, end := part.log.EndOffsetForEpoch(rp.LeaderEpoch)
			if epoch < 0 && rp.LeaderEpoch >= leaderEpoch && part.log.LatestEpoch() < 0 {
				epoch, end = leaderEpoch, part.log.LogEndOffset()
			}
			p.LeaderEpoch, p.EndOffset = epoch, end
		}
	}
	return resp, nil
}
