package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
)

// OffsetCommit: versions 2-10 (Kafka 4 removed v0-1, KIP-896). v6+ carries the leader epoch,
// v7+ group.instance.id, v10 names topics by id (KIP-848's topic ids): an unknown id gets
// UNKNOWN_TOPIC_ID, and the offsets are kept under the topic's name, so older versions read
// them. A member commits with its member id and generation; generation -1
// with no member id commits into an Empty group (or creates one): Kafka's "standalone"
// offsets, used by clients that assign partitions themselves. RetentionTimeMillis (v2-4) is
// ignored, as Kafka does since KIP-211. Unknown topics or partitions get
// UNKNOWN_TOPIC_OR_PARTITION. In a consumer-protocol (KIP-848) group the generation is the
// member epoch: a member must commit with v9+ and its current epoch (STALE_MEMBER_EPOCH).
//
// Durability: the commit is answered only once its records in __consumer_offsets are
// synced by the engine's group commit (the same wait as an acks=all produce).
func init() {
	register(api{key: int16(kmsg.OffsetCommit), min: 2, max: 10, handle: handleOffsetCommit})
}

func handleOffsetCommit(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetCommitRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	type slot struct{ ti, pi int }
	var slots []slot
	cr := group.CommitRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, Generation: req.Generation,
		MemberEpochAPI: v >= 9}
	denied := b.offsetCommitDenied(c, req.Group)
	for ti, rt := range req.Topics {
		t := kmsg.NewOffsetCommitResponseTopic()
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		unknown := kerr.UnknownTopicOrPartition.Code
		if v >= 10 {
			if topic, ok := b.cluster.TopicByID(rt.TopicID); ok {
				rt.Topic = topic.Name
			} else {
				unknown = kerr.UnknownTopicID.Code
			}
		}
		topicDenied := denied
		if unknown != kerr.UnknownTopicID.Code {
			topicDenied = b.commitTopicDenied(c, denied, rt.Topic)
		}
		for _, rp := range rt.Partitions {
			p := kmsg.NewOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			if topicDenied != 0 {
				p.ErrorCode = topicDenied
			} else if !b.knownPartition(rt.Topic, rp.Partition) {
				p.ErrorCode = unknown
			} else {
				epoch := rp.LeaderEpoch
				if v < 6 {
					epoch = -1
				}
				cr.Offsets = append(cr.Offsets, group.CommitOffset{Topic: rt.Topic, Partition: rp.Partition,
					Offset: rp.Offset, LeaderEpoch: epoch, Metadata: rp.Metadata})
				slots = append(slots, slot{ti, len(t.Partitions)})
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if len(cr.Offsets) == 0 {
		return resp, nil
	}
	coord, lerr := b.groupCoordinator(req.Group)
	errs := make([]*kerr.Error, len(cr.Offsets))
	answer := func() kmsg.Response {
		for i, s := range slots {
			resp.Topics[s.ti].Partitions[s.pi].ErrorCode = errCode(errs[i])
		}
		return resp
	}
	if lerr != nil {
		for i := range errs {
			errs[i] = lerr
		}
		return answer(), nil
	}
	errs, wait := coord.Commit(cr)
	if wait == nil {
		return answer(), nil
	}
	return nil, b.parkCommit(c, wait, "offset commit", req.Group, errs, answer)
}
