package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
)

// TxnOffsetCommit: versions 0-4 (v5 is transaction version 2, not advertised). Sent by a
// transactional producer to the group's coordinator after AddOffsetsToTxn: the offsets are
// written into the group's __consumer_offsets partition as a transactional batch of the
// producer (answered once durable, like OffsetCommit; an older producer epoch gets
// INVALID_PRODUCER_EPOCH) and stay pending in the producer's transaction
// (group/txn_offsets.go) until its marker reaches that partition. v3+ carries the consumer's member id, instance id and
// generation (KIP-447): a producer whose consumer was fenced out of the group is refused
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID). Unknown topics or partitions
// get UNKNOWN_TOPIC_OR_PARTITION.
func init() {
	register(api{key: int16(kmsg.TxnOffsetCommit), min: 0, max: 4, handle: handleTxnOffsetCommit})
}

func handleTxnOffsetCommit(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.TxnOffsetCommitRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	tr := group.TxnCommitRequest{Group: req.Group, ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch, Generation: -1}
	if v >= 3 {
		tr.MemberID, tr.InstanceID, tr.Generation = req.MemberID, req.InstanceID, req.Generation
	}
	type slot struct{ ti, pi int }
	var slots []slot
	for ti, rt := range req.Topics {
		t := kmsg.NewTxnOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			if !b.knownPartition(rt.Topic, rp.Partition) {
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				epoch := rp.LeaderEpoch
				if v < 2 {
					epoch = -1
				}
				tr.Offsets = append(tr.Offsets, group.CommitOffset{Topic: rt.Topic, Partition: rp.Partition,
					Offset: rp.Offset, LeaderEpoch: epoch, Metadata: rp.Metadata})
				slots = append(slots, slot{ti, len(t.Partitions)})
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if len(tr.Offsets) == 0 {
		return resp, nil
	}
	errs := make([]*kerr.Error, len(tr.Offsets))
	answer := func() kmsg.Response {
		for i, s := range slots {
			resp.Topics[s.ti].Partitions[s.pi].ErrorCode = errCode(errs[i])
		}
		return resp
	}
	coord, lerr := b.groupCoordinator(req.Group)
	if lerr != nil {
		for i := range errs {
			errs[i] = lerr
		}
		return answer(), nil
	}
	errs, wait := coord.TxnCommit(tr)
	if wait == nil {
		return answer(), nil
	}
	return nil, b.parkCommit(c, wait, "transactional offset commit", req.Group, errs, answer)
}
