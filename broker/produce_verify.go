package broker

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/segment"
)

// A transactional produce whose coordinator is on another node is verified over the wire
// (KIP-890 part 1; txnVerifier sends the AddPartitionsToTxn VerifyOnly requests) and parks
// meanwhile: the verification's answer, on the verifier's goroutine, hands the request to a
// completer, which appends it and answers it (or parks it on its durability as any produce).
//
// Order: Kafka reads nothing more from a connection while one of its requests is in the
// broker; logd runs a connection's requests concurrently and keeps its appends in order with
// the request turn (server.Request.WaitTurn), which ends when the handler returns. So a
// produce parked for a verification opens a queue for its connection (produceOrder): every
// later produce of that connection joins it, in turn order, and starts only at the head,
// once every earlier one is appended — exactly as if the connection had waited. The queue is
// dropped when it drains; a connection with none costs one atomic load per produce.

// produceOrder holds the queues of the connections with a produce parked for a remote
// verification. mu is a leaf.
type produceOrder struct {
	active atomic.Int32 // queues in conns: 0 lets a produce skip the lock

	mu    sync.Mutex
	conns map[uint64]*connProduces // guarded by mu; by server.Request.ConnID
}

// connProduces is one connection's queue.
type connProduces struct {
	waiting []*produceWait // guarded by produceOrder.mu; FIFO
	running bool           // guarded by produceOrder.mu: a drain task runs it
}

// addRetryBackoff and addRetryMax pace a Produce v12's add retried after
// CONCURRENT_TRANSACTIONS (remoteVerification).
const (
	addRetryBackoff = 20 * time.Millisecond
	addRetryMax     = 100 * time.Millisecond
)

// remoteCheck is one partition of a produce verified by a coordinator on another node: the
// engine's guard taken before asking, and the refusal (nil: verified) once answered.
type remoteCheck struct {
	log   *engine.Log // where guard was taken
	guard engine.TxnGuard
	err   error
}

// queueBehind parks w behind its connection's parked produces, if there are any: it starts
// when it reaches the head. Called holding w's turn, so the queue keeps the request order.
func (b *Broker) queueBehind(w *produceWait) bool {
	o := &b.produces
	if o.active.Load() == 0 {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.conns[w.c.req.ConnID]
	if q == nil {
		return false
	}
	w.c.park() // before a drain can see it
	q.waiting = append(q.waiting, w)
	return true
}

// parkVerifying queues w (its request parked, its verification about to be sent) on its
// connection, opening the queue if needed; produceVerified resumes it.
func (b *Broker) parkVerifying(w *produceWait) {
	o := &b.produces
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.conns == nil {
		o.conns = map[uint64]*connProduces{}
	}
	q := o.conns[w.c.req.ConnID]
	if q == nil {
		q = &connProduces{}
		o.conns[w.c.req.ConnID] = q
		o.active.Add(1)
	}
	w.started, w.verifying = true, true
	q.waiting = append(q.waiting, w)
}

// produceVerified is w's verification answer: its connection's queue drains from the head as
// far as it can, on a completer.
func (b *Broker) produceVerified(w *produceWait) {
	o := &b.produces
	id := w.c.req.ConnID
	o.mu.Lock()
	w.verifying = false
	q := o.conns[id]
	run := !q.running
	q.running = true
	o.mu.Unlock()
	if run {
		b.wakeups.Submit(func() { b.drainProduces(id, q) })
	}
}

// drainProduces appends and answers connection id's queued produces from the head until one
// waits for its verification, or the queue is empty (it is then dropped). A produce reaching
// the head starts as the handler would have started it: a leadership wait hands it to the
// partition's leadership queue, a remote verification parks it there.
func (b *Broker) drainProduces(id uint64, q *connProduces) {
	o := &b.produces
	for {
		o.mu.Lock()
		if len(q.waiting) == 0 {
			q.running = false
			delete(o.conns, id)
			o.active.Add(-1)
			o.mu.Unlock()
			return
		}
		w := q.waiting[0]
		if w.verifying {
			q.running = false // its answer drains again
			o.mu.Unlock()
			return
		}
		start := !w.started
		w.started = true
		o.mu.Unlock()
		if start {
			if lq := b.leadershipQueue(w.c.kreq.(*kmsg.ProduceRequest)); lq != nil {
				b.popProduce(q)
				lq.enqueue(w)
				continue
			}
			if node, chk := w.remoteVerification(); chk != nil {
				o.mu.Lock()
				w.verifying = true
				o.mu.Unlock()
				b.verifier.verify(node, chk)
				continue
			}
		}
		b.popProduce(q)
		w.appendAndAnswer()
	}
}

// popProduce drops q's head.
func (b *Broker) popProduce(q *connProduces) {
	b.produces.mu.Lock()
	q.waiting[0] = nil
	q.waiting = q.waiting[1:]
	b.produces.mu.Unlock()
}

// txnCoordinatorLeader is the node coordinating transactional id id, if one is known.
func (b *Broker) txnCoordinatorLeader(id string) (int32, bool) {
	t, ok := b.cluster.Topic(txnTopic)
	if !ok {
		return -1, false
	}
	pa, ok := b.cluster.Partition(txnTopic, group.PartitionFor(id, t.Partitions))
	if !ok || pa.Leader < 0 {
		return -1, false
	}
	return pa.Leader, true
}

// remoteTxnCoordinator is the node coordinating transactional id id when it is another one.
func (b *Broker) remoteTxnCoordinator(id string) (int32, bool) {
	node, ok := b.txnCoordinatorLeader(id)
	return node, ok && node != b.cfg.NodeID
}

// remoteVerification prepares the verification of w's transactional batches by their
// coordinator when it is on another node: for each led partition whose producer has no open
// transaction there at the batch's epoch, the engine's guard is taken and the partition
// asked about. It returns the coordinator and the check to send, or a nil check when nothing
// needs asking (the append then verifies locally, or needs nothing). Every batch of one
// request must be of one producer id and epoch (Kafka refuses others with
// INVALID_PRODUCER_ID_MAPPING).
//
// Produce v12 (transaction version 2) asks the coordinator, on this node or another, to add
// the partitions (txnCheck.add), whatever transaction.partition.verification.enable says: a
// client at v12 no longer sends AddPartitionsToTxn itself. An add answered
// CONCURRENT_TRANSACTIONS (the previous transaction's markers still being written, as right
// after an EndTxn v5) is asked again every addRetryBackoff for up to addRetryMax (Kafka's
// add.partitions.to.txn.retry.backoff.ms and .max.ms), then refused with the retriable
// NOT_ENOUGH_REPLICAS.
func (w *produceWait) remoteVerification() (int32, *txnCheck) {
	b, req := w.b, w.c.kreq.(*kmsg.ProduceRequest)
	w.remote = nil // a retried add starts over
	add := w.v >= 12
	if req.TransactionID == nil || !add && !b.cfg.TransactionPartitionVerification {
		return -1, nil
	}
	node, ok := b.remoteTxnCoordinator(*req.TransactionID)
	if add {
		node, ok = b.txnCoordinatorLeader(*req.TransactionID)
	}
	if !ok {
		return -1, nil
	}
	chk := &txnCheck{id: *req.TransactionID, pid: -1, add: add}
	var checks []*remoteCheck
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		if rt.Topic == offsetsTopic {
			continue
		}
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			h, err := segment.ParseHeader(rp.Records)
			if err != nil || !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
				continue // refused or appended without verification by produceOne
			}
			part, err := b.partition(rt.Topic, rp.Partition)
			if err != nil {
				continue
			}
			if _, _, code := b.leaderEpochOf(part); code != 0 {
				continue
			}
			if w.remote == nil {
				w.remote = map[partitionRef]*remoteCheck{}
			}
			if chk.pid < 0 {
				chk.pid, chk.epoch = h.ProducerID, h.ProducerEpoch
			} else if h.ProducerID != chk.pid || h.ProducerEpoch != chk.epoch {
				w.remote[partitionRef{ti, pi}] = &remoteCheck{err: fmt.Errorf("%w: transactional batches of producer %d epoch %d and producer %d epoch %d in one request",
					kerr.InvalidProducerIDMapping, chk.pid, chk.epoch, h.ProducerID, h.ProducerEpoch)}
				continue
			}
			g, need := part.log.BeginTxnVerification(h.ProducerID, h.ProducerEpoch)
			if !need {
				continue
			}
			rc := &remoteCheck{log: part.log, guard: g}
			w.remote[partitionRef{ti, pi}] = rc
			checks = append(checks, rc)
			chk.parts = append(chk.parts, engine.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
		}
	}
	if len(checks) == 0 {
		return -1, nil
	}
	if add && w.addStart.IsZero() {
		w.addStart = time.Now()
	}
	chk.done = func(codes []int16) {
		if add && slices.Contains(codes, kerr.ConcurrentTransactions.Code) && time.Since(w.addStart)+addRetryBackoff <= addRetryMax {
			// Start over with fresh guards, as Kafka's ReplicaManager appends again: the
			// previous transaction's markers, which the coordinator waits for, spend these.
			for _, rc := range checks {
				rc.log.EndTxnVerification(chk.pid, rc.guard)
			}
			time.AfterFunc(addRetryBackoff, func() {
				if node, chk := w.remoteVerification(); chk != nil {
					b.verifier.verify(node, chk)
					return
				}
				b.produceVerified(w)
			})
			return
		}
		for i, code := range codes {
			tp := chk.parts[i]
			checks[i].err = verifyCodeError(w.v >= 11, code, chk.id, chk.pid, chk.epoch, tp.Topic, tp.Partition, nil)
		}
		b.produceVerified(w)
	}
	return node, chk
}

// verifyCodeError is the produce's answer for a partition its coordinator answered code
// about (nil: verified), as Kafka's ReplicaManager maps them: not in the transaction is
// TRANSACTION_ABORTABLE if the client knows it (abortable), else INVALID_TXN_STATE, a fenced producer
// INVALID_PRODUCER_EPOCH, a coordinator that cannot answer (none, loading, moved,
// unreachable, busy) NOT_ENOUGH_REPLICAS, which clients retry without a metadata refresh.
// cause, if set, is the coordinator's own error.
func verifyCodeError(abortable bool, code int16, id string, pid int64, epoch int16, topic string, partition int32, cause error) error {
	if cause == nil && code != 0 {
		cause = kerr.ErrorForCode(code)
	}
	switch code {
	case 0:
		return nil
	case kerr.TransactionAbortable.Code:
		return txnVerifyRefusal(abortable, fmt.Errorf("%s-%d is not in the ongoing transaction of transactional id %q (producer %d epoch %d)", topic, partition, id, pid, epoch))
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code:
		return fmt.Errorf("%w: producer %d epoch %d of transactional id %q is fenced", kerr.InvalidProducerEpoch, pid, epoch, id)
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.NetworkException.Code:
		return fmt.Errorf("%w: unable to verify the partition is in transactional id %q's transaction: %v", kerr.NotEnoughReplicas, id, cause)
	default:
		return fmt.Errorf("%w: verifying the partition with transactional id %q's coordinator: %v", kerr.ErrorForCode(code), id, cause)
	}
}
