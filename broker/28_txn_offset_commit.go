package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
)

// TxnOffsetCommit: versions 0-4, and 5 once transaction version 2 is finalized. Sent by a
// transactional producer to the group's coordinator after AddOffsetsToTxn: the offsets are
// written into the group's __consumer_offsets partition as a transactional batch of the
// producer (answered once durable, like OffsetCommit; an older producer epoch gets
// INVALID_PRODUCER_EPOCH) and stay pending in the producer's transaction
// (group/txn_offsets.go) until its marker reaches that partition. v3+ carries the consumer's member id, instance id and
// generation (KIP-447): a producer whose consumer was fenced out of the group is refused
// (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID). Unknown topics or partitions
// get UNKNOWN_TOPIC_OR_PARTITION.
//
// KIP-890 part 1, as for Produce (00_produce.go): unless the producer's transaction is
// already open in the group's __consumer_offsets partition, the transaction coordinator must
// confirm that partition is in it (AddOffsetsToTxn added it) before anything is written — a
// direct call on this node, AddPartitionsToTxn VerifyOnly to another (txn_verify.go, the
// request parked meanwhile). Refused: TRANSACTION_ABORTABLE from v4, INVALID_TXN_STATE
// before; INVALID_PRODUCER_EPOCH for a fenced producer; COORDINATOR_NOT_AVAILABLE when the
// coordinator cannot answer (Kafka's mapping of its verification errors).
//
// v5 (KIP-890 part 2): the client sends no AddOffsetsToTxn; the transaction coordinator adds
// the group's partition to the transaction instead of verifying it (always through
// txnVerifier, which calls a coordinator on this node directly), whatever
// transaction.partition.verification.enable says. An empty transactional id is
// INVALID_REQUEST.
func init() {
	register(api{key: int16(kmsg.TxnOffsetCommit), min: 0, max: 4, maxTV2: 5, handle: handleTxnOffsetCommit})
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
	denied := b.txnOffsetCommitDenied(c, req.TransactionalID, req.Group)
	for ti, rt := range req.Topics {
		t := kmsg.NewTxnOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		topicDenied := b.commitTopicDenied(c, denied, rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			p.Partition = rp.Partition
			if topicDenied != 0 {
				p.ErrorCode = topicDenied
			} else if !b.knownPartition(rt.Topic, rp.Partition) {
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
	var wait group.Durable
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
	commit := func() (kmsg.Response, error) {
		errs, wait = coord.TxnCommit(tr)
		if wait == nil {
			return answer(), nil
		}
		return nil, b.parkCommit(c, wait, "transactional offset commit", req.Group, errs, answer)
	}
	add := v >= 5 // transaction version 2: the coordinator adds the group's partition
	if add && req.TransactionalID == "" {
		for i := range errs {
			errs[i] = kerr.InvalidRequest
		}
		return answer(), nil
	}
	if !add && (!b.cfg.TransactionPartitionVerification || req.TransactionalID == "") {
		return commit()
	}
	tp := b.offsetsPartitionOf(req.Group)
	part, err := b.partition(tp.Topic, tp.Partition)
	if err != nil {
		return commit() // not led here: the coordinator answers so
	}
	g, need := part.log.BeginTxnVerification(req.ProducerID, req.ProducerEpoch)
	if !need {
		return commit()
	}
	verified := func(err error) (kmsg.Response, error) {
		if err == nil {
			kresp, err := commit()
			part.log.EndTxnVerification(req.ProducerID, g) // the write opened the transaction here, or failed
			return kresp, err
		}
		part.log.EndTxnVerification(req.ProducerID, g)
		code := txnOffsetsVerifyCode(errorCode(err))
		for i := range errs {
			errs[i] = kerr.TypedErrorForCode(code)
		}
		return answer(), nil
	}
	node, remote := b.remoteTxnCoordinator(req.TransactionalID)
	if add {
		if node, remote = b.txnCoordinatorLeader(req.TransactionalID); !remote {
			return verified(fmt.Errorf("%w: unable to add %s to transactional id %q's transaction: its coordinator has no leader", kerr.NotEnoughReplicas, tp, req.TransactionalID))
		}
	}
	if !remote {
		return verified(b.verifyTxnPartition(v >= 4, req.TransactionalID, req.ProducerID, req.ProducerEpoch, tp.Topic, tp.Partition))
	}
	c.park()
	b.verifier.verify(node, &txnCheck{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch, add: add,
		parts: []engine.TopicPartition{tp}, done: func(codes []int16) {
			b.wakeups.Submit(func() {
				kresp, err := verified(verifyCodeError(v >= 4, codes[0], req.TransactionalID, req.ProducerID, req.ProducerEpoch, tp.Topic, tp.Partition, nil))
				if err != errDeferred {
					b.finishKmsg(c, kresp)
				}
			})
		}})
	return nil, errDeferred
}

// txnOffsetsVerifyCode is TxnOffsetCommit's answer when the transaction coordinator did not
// confirm the group's partition is in the transaction, as Kafka's group coordinator maps its
// write errors (CoordinatorOperationExceptionHelper): a coordinator that cannot answer is
// COORDINATOR_NOT_AVAILABLE, which clients retry after looking the group coordinator up.
func txnOffsetsVerifyCode(code int16) int16 {
	switch code {
	case kerr.NotEnoughReplicas.Code, kerr.UnknownTopicOrPartition.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	}
	return code
}
