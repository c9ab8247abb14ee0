package broker

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
)

// txnVerifier asks transaction coordinators on other nodes whether partitions are in a
// producer's transaction (KIP-890 part 1): AddPartitionsToTxn v4 with VerifyOnly, broker to
// broker, over internal/kwire; or, for a transaction version 2 client, to add them (without
// VerifyOnly; a coordinator on this node is called directly). Kafka's
// AddPartitionsToTxnManager rules:
//
//   - one queue per coordinator node and at most one request in flight to it (a goroutine
//     and a connection each, so at most one per broker of the cluster); every check queued
//     while a request is in flight is merged into the next request;
//   - a check of a transactional id already queued for the node: the queued one of a lower
//     or equal epoch is answered INVALID_PRODUCER_EPOCH (lower) or NETWORK_EXCEPTION (equal:
//     the client is retrying), one of a higher epoch refuses the newcomer with
//     INVALID_PRODUCER_EPOCH;
//   - a request that fails on the network (node dead, dial refused, no answer within
//     txnVerifyTimeout) answers all its checks NETWORK_EXCEPTION, a top-level error answers
//     them all with it, else each partition gets its own code;
//   - every check's done runs exactly once, on the node's goroutine or the caller's: the
//     broker's shutdown answers what is queued with NETWORK_EXCEPTION.
//
// The node queues' locks are leaves; the network I/O holds none.
type txnVerifier struct {
	b *Broker

	mu    sync.Mutex            // guards nodes
	nodes map[int32]*verifyNode // by coordinator node id
}

// txnVerifyTimeout bounds one AddPartitionsToTxn round trip to a coordinator, dial included
// (Kafka's request.timeout.ms default): a parked produce is answered within twice that
// (the request in flight, then its own) whatever the coordinator does.
const txnVerifyTimeout = 30 * time.Second

// txnCheck is one transactional id's verification: its partitions' codes go to done, in
// the order of parts.
type txnCheck struct {
	id    string
	pid   int64
	epoch int16
	// add asks the coordinator to add the partitions (transaction version 2: Produce v12,
	// TxnOffsetCommit v5; AddPartitionsToTxn without VerifyOnly) rather than verify them.
	add   bool
	parts []engine.TopicPartition
	done  func(codes []int16)
}

// answerAll answers every partition of c with code.
func (c *txnCheck) answerAll(code int16) {
	codes := make([]int16, len(c.parts))
	for i := range codes {
		codes[i] = code
	}
	c.done(codes)
}

// verifyNode is one coordinator node's queue.
type verifyNode struct {
	id     int32
	mu     sync.Mutex
	queue  []*txnCheck // guarded by mu: checks for the next request
	closed bool        // guarded by mu: the broker shut down; checks are answered at once
	wake   chan struct{}
}

// verify queues c for coordinator node; c.done follows (see txnVerifier). A coordinator on
// this node is called directly, as AddPartitionsToTxn v4 would call it.
func (v *txnVerifier) verify(node int32, c *txnCheck) {
	if node == v.b.cfg.NodeID {
		a := &txnAdd{id: c.id, pid: c.pid, epoch: c.epoch, verify: !c.add, implicit: c.add, parts: c.parts}
		v.b.addPartitionsToTxn(a, func() { c.done(a.codes) })
		return
	}
	n := v.node(node)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.answerAll(kerr.NetworkException.Code)
		return
	}
	var refused, replaced *txnCheck
	for i, q := range n.queue {
		if q.id != c.id {
			continue
		}
		if q.epoch > c.epoch {
			refused = c
		} else {
			replaced = q
			n.queue[i] = c
		}
		break
	}
	if refused == nil && replaced == nil {
		n.queue = append(n.queue, c)
	}
	n.mu.Unlock()
	switch {
	case refused != nil:
		refused.answerAll(kerr.InvalidProducerEpoch.Code)
		return
	case replaced != nil && replaced.epoch < c.epoch:
		replaced.answerAll(kerr.InvalidProducerEpoch.Code)
	case replaced != nil:
		replaced.answerAll(kerr.NetworkException.Code)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// node is node id's queue, its goroutine started on first use.
func (v *txnVerifier) node(id int32) *verifyNode {
	v.mu.Lock()
	defer v.mu.Unlock()
	if n := v.nodes[id]; n != nil {
		return n
	}
	if v.nodes == nil {
		v.nodes = map[int32]*verifyNode{}
	}
	n := &verifyNode{id: id, wake: make(chan struct{}, 1)}
	v.nodes[id] = n
	go v.run(n)
	return n
}

// run sends n's queue, one request at a time, until the broker closes (which cuts a request
// in flight short).
func (v *txnVerifier) run(n *verifyNode) {
	closing, stop := context.WithCancel(context.Background())
	go func() {
		<-v.b.closing
		stop()
	}()
	var conn *kwire.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
		n.mu.Lock()
		n.closed = true
		left := n.queue
		n.queue = nil
		n.mu.Unlock()
		for _, c := range left {
			c.answerAll(kerr.NetworkException.Code)
		}
	}()
	for {
		select {
		case <-v.b.closing:
			return
		case <-n.wake:
		}
		n.mu.Lock()
		checks := n.queue
		n.queue = nil
		n.mu.Unlock()
		if len(checks) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(closing, txnVerifyTimeout) // the dial and the round trip
		var err error
		if conn == nil {
			conn, err = v.b.dialBroker(ctx, n.id, "logd-txn-verify-")
		}
		var resp *kmsg.AddPartitionsToTxnResponse
		if err == nil {
			var kr kmsg.Response
			kr, err = conn.Request(ctx, verifyRequest(checks))
			if err == nil {
				resp = kr.(*kmsg.AddPartitionsToTxnResponse)
			} else {
				conn.Close()
				conn = nil
			}
		}
		cancel()
		if err != nil {
			v.b.log.Warn("cannot verify transactional produce with its coordinator", "coordinator", n.id, "err", err)
			for _, c := range checks {
				c.answerAll(kerr.NetworkException.Code)
			}
			continue
		}
		answerChecks(checks, resp)
	}
}

// verifyRequest builds one AddPartitionsToTxn v4 request: a transaction per check, VerifyOnly
// unless the check adds, its partitions by topic.
func verifyRequest(checks []*txnCheck) *kmsg.AddPartitionsToTxnRequest {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	for _, c := range checks {
		tr := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tr.TransactionalID, tr.ProducerID, tr.ProducerEpoch, tr.VerifyOnly = c.id, c.pid, c.epoch, !c.add
		for _, tp := range c.parts {
			if n := len(tr.Topics); n > 0 && tr.Topics[n-1].Topic == tp.Topic {
				tr.Topics[n-1].Partitions = append(tr.Topics[n-1].Partitions, tp.Partition)
				continue
			}
			t := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
			tr.Topics = append(tr.Topics, t)
		}
		req.Transactions = append(req.Transactions, tr)
	}
	return req
}

// answerChecks hands each check its partitions' codes from resp: a partition the response
// does not mention is verified (Kafka lists only the partitions with an error; logd's
// coordinator lists all of them, with 0 for the verified ones).
func answerChecks(checks []*txnCheck, resp *kmsg.AddPartitionsToTxnResponse) {
	if resp.ErrorCode != 0 {
		code := resp.ErrorCode
		if code == kerr.ClusterAuthorizationFailed.Code {
			code = kerr.InvalidTxnState.Code // Kafka hides the inter-broker authorization from clients
		}
		for _, c := range checks {
			c.answerAll(code)
		}
		return
	}
	type key struct {
		id string
		tp engine.TopicPartition
	}
	codes := map[key]int16{}
	seen := map[string]bool{}
	for _, tr := range resp.Transactions {
		seen[tr.TransactionalID] = true
		for _, t := range tr.Topics {
			for _, p := range t.Partitions {
				codes[key{tr.TransactionalID, engine.TopicPartition{Topic: t.Topic, Partition: p.Partition}}] = p.ErrorCode
			}
		}
	}
	for _, c := range checks {
		if !seen[c.id] {
			c.answerAll(kerr.NetworkException.Code) // not answered: retriable, never assumed verified
			continue
		}
		out := make([]int16, len(c.parts))
		for i, tp := range c.parts {
			out[i] = codes[key{c.id, tp}]
		}
		c.done(out)
	}
}
