package broker

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/quota"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/segment"
)

// Produce: versions 0-11 advertised, 3-11 served, and v12-13 once transaction version 2 is
// finalized (KIP-890 part 2: the leader has the coordinator add the partitions, below). Like
// Kafka 4 (KIP-896, KAFKA-18659) v0-2 are advertised and answered UNSUPPORTED_VERSION per
// partition: librdkafka before 2.11.1 turns compression off unless it sees Produce v0
// advertised. v13 names topics by id (KIP-516): each id is resolved to its topic before
// anything else, and an unknown one answers UNKNOWN_TOPIC_ID for its partitions, as Kafka
// 4.3.1 does.
//
// Per partition: exactly one record batch (Kafka's rule for magic 2; it also keeps idempotent
// dedup per batch), zstd only from v7, no control batches (only WriteTxnMarkers writes them).
// The batch is appended as sent (offsets stamped in place in the request frame, which the
// server keeps alive until the response is written).
//
// Transactions: a request with a transactional batch must carry a transactional id (else
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition, as Kafka), and the batch a
// producer id. The partition's producer state checks its epoch (INVALID_PRODUCER_EPOCH) and
// opens the producer's transaction at the batch (the last stable offset stops there).
//
// KIP-890 part 1, with transaction.partition.verification.enable (Config.
// TransactionPartitionVerification, default true): a transactional batch of a producer with
// no open transaction at the partition is appended only once the transaction coordinator
// confirms the partition is in the producer's ongoing transaction (txn.Coordinator.Verify,
// what AddPartitionsToTxn v4+ VerifyOnly answers); else nothing is appended and the answer
// is TRANSACTION_ABORTABLE (v11+; INVALID_TXN_STATE below, as Kafka answers older clients),
// INVALID_PRODUCER_EPOCH for a fenced producer, or the coordinator's error, and a coordinator
// that cannot answer (none yet, loading, moved) gives NOT_ENOUGH_REPLICAS, which clients
// retry. Nothing is cached: the engine's guard (engine.Log.BeginTxnVerification) is spent by
// any marker of the producer written between the verification and the append, which then
// fails, so a batch delayed past the end of its transaction cannot open a hanging one. The
// coordinator of this node answers synchronously in the handler; one on another node is
// asked with AddPartitionsToTxn v4 VerifyOnly (txn_verify.go: one request in flight per
// coordinator node, the checks of many produces merged, bounded by txnVerifyTimeout) while
// the produce parks, and the connection's later produces queue behind it so its appends
// keep the request order (produce_verify.go). A coordinator that cannot be reached (dead,
// hung past the timeout) gives NOT_ENOUGH_REPLICAS too: nothing is appended unverified.
//
// KIP-890 part 2 (Produce v12, transaction version 2): the client sends no
// AddPartitionsToTxn; a transactional batch of a producer with no open transaction at the
// partition at the batch's epoch has the coordinator add the partition (AddPartitionsToTxn
// v4 without VerifyOnly to another node, a direct call on this one, the produce parked the
// same way) under the same engine guard, then appends. An open transaction at an older epoch
// is the previous one (every EndTxn v5 bumps the epoch), its marker still to come: the add
// waits for it, as the coordinator answers CONCURRENT_TRANSACTIONS until its markers are
// written.
//
// Durability: acks=-1 with Config.FsyncAcksAll, or an append the topic's flush.messages wants
// synced, is answered only after the group commit covering it. One log directory has one
// committer, so waiting for the largest sequence of the request covers every partition. If that
// wait fails (the directory went offline) the append happened but may not survive: the answer
// is KAFKA_STORAGE_ERROR, retriable, never a definite error (an idempotent producer retries and
// the retry is either deduplicated or refused by the offline directory, never doubled).
//
// acks=0 appends the same way and sends no response at all.
//
// No wait holds a goroutine (deferred.go): the request parks, the group commit's flusher runs
// its durability callback and the high watermark's callback runs on whichever call moves it;
// the last one answers. A produce reaching a leader-to-be parks in the partition's leadership
// queue (leadership.go).
//
// Leadership: a partition not led here is NOT_LEADER_OR_FOLLOWER; a led one
// appends through its replication.LeaderPartition (stamped with the leader epoch; acks=all
// refused with NOT_ENOUGH_REPLICAS below min.insync.replicas), and acks=all waits, after the
// sync, until the high watermark passes the batch (TimeoutMs bounds it). A wait that ends
// otherwise has an unknown outcome and gets a retriable error (NOT_LEADER_OR_FOLLOWER,
// REQUEST_TIMED_OUT), or NOT_ENOUGH_REPLICAS_AFTER_APPEND.
func init() {
	register(api{key: int16(kmsg.Produce), min: 0, max: 11, maxTV2: 13, handle: handleProduce})
}

// produceMinVersion is the oldest Produce version served (record batch v2).
const produceMinVersion = 3

func handleProduce(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ProduceRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	if v >= 13 {
		b.resolveProduceTopicIDs(req)
	}

	var reqErr int16 // an error for every partition
	switch {
	case v < produceMinVersion:
		reqErr = kerr.UnsupportedVersion.Code
	case req.Acks != -1 && req.Acks != 0 && req.Acks != 1:
		reqErr = kerr.InvalidRequiredAcks.Code
	case req.TransactionID == nil && hasTransactionalBatch(req):
		reqErr = kerr.TransactionalIDAuthorizationFailed.Code
	case hasTransactionalBatch(req) && !b.authorizeTxnID(c, acl.OpWrite, *req.TransactionID):
		reqErr = kerr.TransactionalIDAuthorizationFailed.Code
	}
	b.throttleFor(c, quota.Produce, int64(len(c.req.Frame)))
	// Appends follow the connection's request order (clients pipeline produce requests and
	// rely on it for per-partition ordering); the durability wait below does not hold the turn,
	// so pipelined requests still share group commits.
	c.req.WaitTurn()
	w := &produceWait{b: b, c: c, acks: req.Acks, v: v, resp: resp,
		timeout: time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond}
	if reqErr == 0 {
		w.denied = b.removeDeniedProduceTopics(c, req)
	}
	if reqErr == 0 {
		if b.queueBehind(w) { // an earlier produce of the connection waits for its verification
			return nil, errDeferred
		}
		if q := b.leadershipQueue(req); q != nil {
			c.park()
			q.enqueue(w) // its turn ends when the handler returns; the queue keeps the order
			return nil, errDeferred
		}
		if node, chk := w.remoteVerification(); chk != nil {
			c.park()
			b.parkVerifying(w)
			b.verifier.verify(node, chk)
			return nil, errDeferred
		}
	}
	w.appendAll(reqErr)
	c.req.EndTurn()
	return w.wait()
}

// resolveProduceTopicIDs names the topics of a v13+ request, which carries topic ids only;
// an unknown id leaves the name empty, which no topic has.
func (b *Broker) resolveProduceTopicIDs(req *kmsg.ProduceRequest) {
	for i := range req.Topics {
		rt := &req.Topics[i]
		rt.Topic = ""
		if t, ok := b.cluster.TopicByID(rt.TopicID); ok {
			rt.Topic = t.Name
		}
	}
}

// appendAll appends every partition's batch (or answers reqErr for all of them) and records
// what each acknowledgement waits for.
func (w *produceWait) appendAll(reqErr int16) {
	b, req, resp, v := w.b, w.c.kreq.(*kmsg.ProduceRequest), w.resp, w.v
	syncAll := req.Acks == -1 && b.cfg.FsyncAcksAll
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		t := &resp.Topics[ti]
		t.Topic, t.TopicID = rt.Topic, rt.TopicID
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p := &t.Partitions[pi]
			p.Default()
			p.Partition = rp.Partition
			p.BaseOffset = -1
			if reqErr != 0 {
				p.ErrorCode = reqErr
				continue
			}
			if v >= 13 && rt.Topic == "" {
				p.ErrorCode = kerr.UnknownTopicID.Code
				continue
			}
			part, lp, res, err := b.produceOne(v, req.Acks, req.TransactionID, rt.Topic, rp.Partition, rp.Records, w.remote[partitionRef{ti, pi}])
			if err != nil {
				p.ErrorCode = errorCode(err)
				if v >= 8 {
					msg := err.Error()
					p.ErrorMessage = &msg
				}
				continue
			}
			p.BaseOffset, p.LogAppendTime, p.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
			if req.Acks == -1 {
				w.replicated = append(w.replicated, replicaWait{partitionRef{ti, pi}, lp, res.LastOffset})
			}
			if !syncAll && !res.MustSync {
				continue
			}
			w.synced = append(w.synced, partitionRef{ti, pi})
			if res.Duplicate {
				w.flushLog = part.log
			} else if res.SyncSeq >= w.waitSeq {
				w.waitLog, w.waitSeq = part.log, res.SyncSeq
			}
		}
	}
	resp.Topics = append(resp.Topics, w.denied...)
}

// wait answers at once when no acknowledgement waits, else parks the request: the sync's
// callback (on the log directory's flusher) and then the high watermark's (on whichever call
// moves it) answer it, without a goroutine waiting.
func (w *produceWait) wait() (kmsg.Response, error) {
	if len(w.synced) == 0 && len(w.replicated) == 0 {
		return w.b.produceAnswer(w.acks, w.v, w.resp), nil
	}
	w.c.park()
	switch {
	case w.waitLog != nil:
		w.waitLog.NotifyDurable(w.waitSeq, w.durable)
	case w.flushLog != nil:
		w.flushLog.NotifyFlushed(w.flushed)
	default:
		w.waitReplicated()
	}
	return nil, errDeferred
}

// resume appends a produce that waited in a leadership queue (on a completer goroutine, the
// request already parked), or parks it again for a remote verification (produce_verify.go).
func (w *produceWait) resume() {
	if node, chk := w.remoteVerification(); chk != nil {
		w.b.parkVerifying(w)
		w.b.verifier.verify(node, chk)
		return
	}
	w.appendAndAnswer()
}

// appendAndAnswer appends a parked produce and answers it now or when its waits end.
func (w *produceWait) appendAndAnswer() {
	w.appendAll(0)
	if kresp, err := w.wait(); err != errDeferred {
		w.b.finishKmsg(w.c, kresp)
	}
}

// produceAnswer is the response of a produce whose waits are over: none for acks=0.
func (b *Broker) produceAnswer(acks, v int16, resp *kmsg.ProduceResponse) kmsg.Response {
	if acks == 0 {
		return nil
	}
	if v >= 10 {
		b.addProduceLeaders(resp)
	}
	return resp
}

// partitionRef names a partition of a produce response by its topic and partition indexes.
type partitionRef struct{ ti, pi int }

// replicaWait is an acks=all append of a replicated broker waiting for the high watermark.
type replicaWait struct {
	partitionRef
	lp   *replication.LeaderPartition
	last int64
}

// produceWait is a parked produce: the appends are done and their answers wait for the group
// commit (synced; flushLog for a duplicate whose original's sync sequence is unknown), then
// for the high watermark (replicated). Each step is a callback run by whoever ends the wait,
// holding no lock; the last one answers. One callback runs at a time, in sequence, except the
// replicated ones, which run concurrently and count down in pending.
type produceWait struct {
	b        *Broker
	c        *call
	acks, v  int16
	resp     *kmsg.ProduceResponse
	timeout  time.Duration
	waitLog  *engine.Log // the log of the largest sync sequence, waitSeq
	waitSeq  uint64
	flushLog *engine.Log
	deadline time.Time // in a leadership queue: when to give up waiting for the leadership
	// denied are the answers of the topics the principal may not write (authz.go), taken
	// out of the request before anything else looks at it.
	denied []kmsg.ProduceResponseTopic

	// Verified by a coordinator on another node (produce_verify.go): the partitions asked
	// about, and the request's state in its connection's queue.
	remote    map[partitionRef]*remoteCheck
	addStart  time.Time // a Produce v12's first add: its CONCURRENT_TRANSACTIONS retries stop addRetryMax after
	started   bool      // guarded by produceOrder.mu: left the queue's waiting or never waited
	verifying bool      // guarded by produceOrder.mu: its verification is unanswered

	synced     []partitionRef // wait for the sync
	replicated []replicaWait  // then for the high watermark
	pending    atomic.Int32   // replicated waits not answered yet
}

// durable is the group commit's callback for the request's largest sync sequence (on the
// flusher goroutine, or the handler's if already synced): it answers the request itself
// rather than handing it on, so an acks=all produce costs no extra goroutine hop.
func (w *produceWait) durable(err error) {
	if err == nil && w.flushLog != nil {
		w.flushLog.NotifyFlushed(w.flushed)
		return
	}
	w.flushed(err)
}

// flushed follows the sync (and the duplicate's flush).
func (w *produceWait) flushed(err error) {
	if err != nil {
		w.b.log.Warn("produce: appended but not durable; answering KAFKA_STORAGE_ERROR", "err", err)
		for _, r := range w.synced {
			p := &w.resp.Topics[r.ti].Partitions[r.pi]
			p.ErrorCode = kerr.KafkaStorageError.Code
			p.BaseOffset, p.LogAppendTime = -1, -1
		}
	}
	w.waitReplicated()
}

// waitReplicated registers the high watermark waits of the partitions still without an error
// and answers when the last one is answered (at once if there are none).
func (w *produceWait) waitReplicated() {
	var todo []replicaWait
	for _, rw := range w.replicated {
		if w.resp.Topics[rw.ti].Partitions[rw.pi].ErrorCode == 0 { // else not durable here: answered
			todo = append(todo, rw)
		}
	}
	if len(todo) == 0 {
		w.answer()
		return
	}
	w.pending.Store(int32(len(todo)))
	start := time.Now()
	for _, rw := range todo {
		p := &w.resp.Topics[rw.ti].Partitions[rw.pi]
		rw.lp.NotifyReplicated(rw.last, w.timeout, func(err error) {
			if err != nil {
				p.ErrorCode = errorCode(err)
				p.BaseOffset, p.LogAppendTime = -1, -1
			}
			if w.pending.Add(-1) == 0 {
				w.b.metrics.ObserveReplicationWait(time.Since(start))
				w.answer()
			}
		})
	}
}

func (w *produceWait) answer() {
	w.b.finishKmsg(w.c, w.b.produceAnswer(w.acks, w.v, w.resp))
}

// addProduceLeaders tells a client refused with NOT_LEADER_OR_FOLLOWER where each partition's
// leader is now (KIP-951: CurrentLeader and the leaders' endpoints), so it moves on without a
// metadata round trip.
func (b *Broker) addProduceLeaders(resp *kmsg.ProduceResponse) {
	added := map[int32]bool{}
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if p.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			pa, ok := b.cluster.Partition(t.Topic, p.Partition)
			if !ok || pa.Leader < 0 {
				continue
			}
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = pa.Leader, pa.LeaderEpoch
			if added[pa.Leader] {
				continue
			}
			for _, br := range b.cluster.Brokers() {
				if br.ID == pa.Leader {
					added[br.ID] = true
					ep := kmsg.NewProduceResponseBroker()
					ep.NodeID, ep.Host, ep.Port = br.ID, br.Host, br.Port
					resp.Brokers = append(resp.Brokers, ep)
				}
			}
		}
	}
}

// produceOne validates and appends one partition's records through the partition's leader
// state, which it returns; a transactional batch of transactional id txnID is verified first
// (KIP-890 part 1), unless remote holds its verification by a coordinator on another node.
func (b *Broker) produceOne(v, acks int16, txnID *string, topic string, partition int32, records []byte, remote *remoteCheck) (*partition, *replication.LeaderPartition, engine.AppendResult, error) {
	if topic == offsetsTopic {
		return nil, nil, engine.AppendResult{}, errInternalTopic // only the group coordinator writes it
	}
	part, err := b.partition(topic, partition)
	if err != nil {
		return nil, nil, engine.AppendResult{}, err
	}
	_, lp, code := b.leaderEpochOf(part)
	if code != 0 {
		return nil, nil, engine.AppendResult{}, kerr.ErrorForCode(code)
	}
	h, err := segment.ParseHeader(records)
	switch {
	case err != nil:
		return nil, nil, engine.AppendResult{}, err
	case h.Size() < len(records):
		return nil, nil, engine.AppendResult{}, kerr.InvalidRecord // several batches, or trailing bytes
	case h.Compression() == segment.CompressionZstd && v < 7:
		return nil, nil, engine.AppendResult{}, kerr.UnsupportedCompressionType
	case h.IsControl():
		return nil, nil, engine.AppendResult{}, kerr.InvalidRecord // only brokers write control batches
	case h.IsTransactional() && h.ProducerID < 0:
		return nil, nil, engine.AppendResult{}, errTransactionalWithoutProducer
	}
	var guard engine.TxnGuard
	switch {
	case remote != nil:
		if remote.err != nil {
			part.log.EndTxnVerification(h.ProducerID, remote.guard)
			return nil, nil, engine.AppendResult{}, remote.err
		}
		guard = remote.guard
	case h.IsTransactional() && txnID != nil && v >= 12:
		// The partitions were added before (remoteVerification): reaching here without that
		// means the producer's transaction here changed since (a marker); the retry adds again.
		if g, need := part.log.BeginTxnVerification(h.ProducerID, h.ProducerEpoch); need {
			part.log.EndTxnVerification(h.ProducerID, g)
			return nil, nil, engine.AppendResult{}, fmt.Errorf("%w: transactional id %q's transaction at this partition changed while it was added; retry", kerr.NotEnoughReplicas, *txnID)
		}
	case h.IsTransactional() && txnID != nil && b.cfg.TransactionPartitionVerification:
		g, need := part.log.BeginTxnVerification(h.ProducerID, h.ProducerEpoch)
		if need {
			if err := b.verifyTxnPartition(v >= 11, *txnID, h.ProducerID, h.ProducerEpoch, topic, partition); err != nil {
				part.log.EndTxnVerification(h.ProducerID, g)
				return nil, nil, engine.AppendResult{}, err
			}
			guard = g
		}
	}
	res, err := lp.AppendVerified(records, acks, guard)
	if errors.Is(err, engine.ErrTxnNotVerified) {
		err = txnVerifyRefusal(v >= 11, err)
	}
	if err == nil && !res.Duplicate {
		part.metrics.Produced(len(records), int(h.RecordCount)) // one batch per partition
	}
	return part, lp, res, err
}

// verifyTxnPartition asks transactional id id's coordinator whether topic-partition is in
// producer pid's ongoing transaction at epoch (nil: it is; abortable as verifyCodeError),
// when the coordinator is this node. One on another node is asked before the append (produce_verify.go): reaching here
// with it means the producer's transaction here ended since (a marker), and the batch is
// refused with a retriable error; its retry is verified.
func (b *Broker) verifyTxnPartition(abortable bool, id string, pid int64, epoch int16, topic string, partition int32) error {
	t, ok := b.cluster.Topic(txnTopic)
	if !ok {
		return fmt.Errorf("%w: unable to verify the partition is in transactional id %q's transaction: no transaction coordinator (%s does not exist)", kerr.NotEnoughReplicas, id, txnTopic)
	}
	pa, ok := b.cluster.Partition(txnTopic, group.PartitionFor(id, t.Partitions))
	switch {
	case ok && pa.Leader >= 0 && pa.Leader != b.cfg.NodeID:
		return fmt.Errorf("%w: transactional id %q's coordinator (node %d) was not asked about this partition: the producer's transaction here changed meanwhile", kerr.NotEnoughReplicas, id, pa.Leader)
	case !ok || pa.Leader < 0:
		return fmt.Errorf("%w: unable to verify the partition is in transactional id %q's transaction: its coordinator has no leader", kerr.NotEnoughReplicas, id)
	}
	coord, kerrv := b.txnCoordinator(id)
	if kerrv != nil {
		return fmt.Errorf("%w: unable to verify the partition is in transactional id %q's transaction: %s", kerr.NotEnoughReplicas, id, kerrv.Message)
	}
	errs, err := coord.Verify(id, pid, epoch, []engine.TopicPartition{{Topic: topic, Partition: partition}})
	if err == nil {
		err = errs[0]
	}
	return verifyCodeError(abortable, txnError(err), id, pid, epoch, topic, partition, err)
}

// txnVerifyRefusal is the answer to a transactional write whose partition is not in its
// transaction: TRANSACTION_ABORTABLE for clients that know it (abortable: Produce v11+,
// TxnOffsetCommit v4+), INVALID_TXN_STATE for older ones (Kafka's AddPartitionsToTxnManager).
func txnVerifyRefusal(abortable bool, why error) error {
	if abortable {
		return fmt.Errorf("%w: %v", kerr.TransactionAbortable, why)
	}
	return fmt.Errorf("%w: %v", kerr.InvalidTxnState, why)
}

// errTransactionalWithoutProducer refuses a transactional batch with no producer id (Kafka's
// LogValidator answers INVALID_RECORD).
var errTransactionalWithoutProducer = fmt.Errorf("%w: transactional batch without a producer id", engine.ErrInvalidRecord)

// hasTransactionalBatch reports whether any partition of req carries a transactional batch
// (Kafka's ProduceRequest.hasTransactionalRecords); the batches are validated later.
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for ti := range req.Topics {
		for pi := range req.Topics[ti].Partitions {
			if h, err := segment.ParseHeader(req.Topics[ti].Partitions[pi].Records); err == nil && h.IsTransactional() {
				return true
			}
		}
	}
	return false
}
