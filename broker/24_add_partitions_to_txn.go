package broker

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// AddPartitionsToTxn: versions 0-5. v0-3 (clients) add partitions to one transactional id's
// transaction; v4+ (brokers, KIP-890 part 1) batch several ids, each either adding or, with
// VerifyOnly, asking whether the partitions are already in its ongoing transaction
// (TRANSACTION_ABORTABLE for those that are not). A partition of an unknown topic gets
// UNKNOWN_TOPIC_OR_PARTITION and the id's other partitions OPERATION_NOT_ATTEMPTED, as in
// Kafka; the coordinator's errors apply to every partition of the id. The answer waits for
// the coordinator's durable write. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2.
func init() {
	register(api{key: int16(kmsg.AddPartitionsToTxn), min: 0, max: 5, handle: handleAddPartitionsToTxn})
}

// txnAdd is one transactional id's part of an AddPartitionsToTxn request.
type txnAdd struct {
	id     string
	pid    int64
	epoch  int16
	verify bool
	// implicit: a partition leader adding for a transaction version 2 client (v4+ without
	// VerifyOnly: Produce v12, TxnOffsetCommit v5), as Kafka's KafkaApis tells them apart.
	implicit bool
	parts    []engine.TopicPartition
	codes    []int16 // per partition, written by the id's answer
}

func handleAddPartitionsToTxn(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var adds []*txnAdd
	if c.version() < 4 {
		a := &txnAdd{id: req.TransactionalID, pid: req.ProducerID, epoch: req.ProducerEpoch}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				a.parts = append(a.parts, engine.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		adds = append(adds, a)
	} else {
		for _, tr := range req.Transactions {
			a := &txnAdd{id: tr.TransactionalID, pid: tr.ProducerID, epoch: tr.ProducerEpoch, verify: tr.VerifyOnly, implicit: !tr.VerifyOnly}
			for _, t := range tr.Topics {
				for _, p := range t.Partitions {
					a.parts = append(a.parts, engine.TopicPartition{Topic: t.Topic, Partition: p})
				}
			}
			adds = append(adds, a)
		}
	}
	answer := func() {
		for _, a := range adds {
			if c.version() < 4 {
				resp.Topics = appendAddResults(resp.Topics, a, func(t string) kmsg.AddPartitionsToTxnResponseTopic {
					r := kmsg.NewAddPartitionsToTxnResponseTopic()
					r.Topic = t
					return r
				}, func(r *kmsg.AddPartitionsToTxnResponseTopic, p int32, code int16) {
					pr := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					pr.Partition, pr.ErrorCode = p, fencedCode(code, c.version(), 2)
					r.Partitions = append(r.Partitions, pr)
				}, func(r *kmsg.AddPartitionsToTxnResponseTopic) string { return r.Topic })
				continue
			}
			tr := kmsg.NewAddPartitionsToTxnResponseTransaction()
			tr.TransactionalID = a.id
			tr.Topics = appendAddResults(tr.Topics, a, func(t string) kmsg.AddPartitionsToTxnResponseTransactionTopic {
				r := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				r.Topic = t
				return r
			}, func(r *kmsg.AddPartitionsToTxnResponseTransactionTopic, p int32, code int16) {
				pr := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				pr.Partition, pr.ErrorCode = p, code
				r.Partitions = append(r.Partitions, pr)
			}, func(r *kmsg.AddPartitionsToTxnResponseTransactionTopic) string { return r.Topic })
			resp.Transactions = append(resp.Transactions, tr)
		}
	}
	var left atomic.Int32
	left.Store(int32(len(adds)) + 1) // +1: the handler's own pass
	c.park()
	done := func() {
		if left.Add(-1) == 0 {
			answer()
			b.finishKmsg(c, resp)
		}
	}
	for _, a := range adds {
		if b.addPartitionsDenied(c, a) {
			done()
			continue
		}
		b.addPartitionsToTxn(a, done)
	}
	done()
	return nil, errDeferred
}

// addPartitionsToTxn fills a.codes, then calls done (possibly on another goroutine).
func (b *Broker) addPartitionsToTxn(a *txnAdd, done func()) {
	a.codes = make([]int16, len(a.parts))
	all := func(code int16) {
		for i := range a.codes {
			a.codes[i] = code
		}
		done()
	}
	unknown := false
	for i, tp := range a.parts {
		if !b.knownPartition(tp.Topic, tp.Partition) {
			a.codes[i], unknown = kerr.UnknownTopicOrPartition.Code, true
		}
	}
	if unknown {
		for i, code := range a.codes {
			if code == 0 {
				a.codes[i] = kerr.OperationNotAttempted.Code
			}
		}
		done()
		return
	}
	coord, kerrv := b.txnCoordinator(a.id)
	if kerrv != nil {
		all(kerrv.Code)
		return
	}
	if a.verify {
		errs, err := coord.Verify(a.id, a.pid, a.epoch, a.parts)
		if err != nil {
			all(txnError(err))
			return
		}
		for i, err := range errs {
			a.codes[i] = txnError(err)
		}
		done()
		return
	}
	coord.AddPartitions(a.id, a.pid, a.epoch, a.parts, a.implicit, func(err error) { all(txnError(err)) })
}

// appendAddResults appends a's per-partition codes to topics, grouped by topic in request
// order (the v0-3 and v4+ responses have the same shape under different types).
func appendAddResults[T any](topics []T, a *txnAdd, newTopic func(string) T, add func(*T, int32, int16), topicOf func(*T) string) []T {
	for i, tp := range a.parts {
		if n := len(topics); n == 0 || topicOf(&topics[n-1]) != tp.Topic {
			topics = append(topics, newTopic(tp.Topic))
		}
		add(&topics[len(topics)-1], tp.Partition, a.codes[i])
	}
	return topics
}
