package cluster

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/segment"
)

// holdProxy is a TCP proxy in front of a node's listener, advertised in its place, that can
// hold the bytes going to the node (the node then looks hung to its peers). A connection
// the node closes is closed toward the peer at once.
type holdProxy struct {
	ln      net.Listener
	backend string

	mu   sync.Mutex
	cond sync.Cond
	held bool // guarded by mu
}

func newHoldProxy(t *testing.T, backend string) *holdProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, backend: backend}
	p.cond.L = &p.mu
	t.Cleanup(func() {
		p.hold(false)
		ln.Close()
	})
	go p.serve()
	return p
}

func (p *holdProxy) port() int32 { return int32(p.ln.Addr().(*net.TCPAddr).Port) }

// hold starts (true) or ends holding the bytes toward the node.
func (p *holdProxy) hold(on bool) {
	p.mu.Lock()
	p.held = on
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *holdProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *holdProxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.backend)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				p.mu.Lock()
				for p.held {
					p.cond.Wait()
				}
				p.mu.Unlock()
				if _, werr := s.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				s.Close()
				return
			}
		}
	}()
	io.Copy(c, s) // the node's side: ends when the node closes the connection
}

// txnClusterClient waits for the 3 nodes to be live, creates topic (partitions,
// replication factor rf) and returns a 90 s context with a client of the cluster.
func txnClusterClient(t *testing.T, nodes []*testNode, topic string, partitions int32, rf int16) (context.Context, *kgo.Client, *kadm.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	waitLive(t, nodes, 3)
	if _, err := adm.CreateTopic(ctx, partitions, rf, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return ctx, cl, adm
}

// txnBatchTo builds a transactional batch of one record for producer pid at epoch.
func txnBatchTo(pid int64, epoch int16, seq int32) []byte {
	return testbatch.Build(testbatch.Options{Idempotent: true, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq,
		Attributes: segment.AttrTransactional, BaseTimestamp: time.Now().UnixMilli()})
}

// txnProduceReq is a Produce request of version v (acks=all) with one batch for topic's
// partition p.
func txnProduceReq(v int16, id, topic string, p int32, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis, req.TransactionID = v, -1, 30_000, &id
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestTxnVerificationAcrossNodes (KIP-890 part 1, broker to broker): the transaction
// coordinator and the partition's leader are different nodes, so the leader asks the
// coordinator with AddPartitionsToTxn VerifyOnly and the produce waits for the answer. A
// transactional batch for a partition never added is refused and nothing is appended; a
// franz-go transaction (which adds its partitions first) commits and is read back
// read_committed; pipelined produces keep their order; TxnOffsetCommit on a group
// coordinator of a third node is verified too; and a produce parked while the coordinator is
// hung is answered
// NOT_ENOUGH_REPLICAS (retriable) when the coordinator node dies, with nothing appended.
func TestTxnVerificationAcrossNodes(t *testing.T) {
	const topic = "xverify"
	proxies := map[int32]*holdProxy{}
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		c.Broker.TransactionTopicPartitions = 1
		c.Broker.OffsetsTopicPartitions = 3
		p := newHoldProxy(t, net.JoinHostPort(c.Broker.AdvertisedHost, strconv.Itoa(int(c.Broker.AdvertisedPort))))
		proxies[c.Broker.NodeID] = p
		c.Broker.AdvertisedPort = p.port()
	})
	ctx, cl, adm := txnClusterClient(t, nodes, topic, 3, 1)
	init := func(id string) *kmsg.InitProducerIDResponse {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = &id, 60_000, -1, -1
		var resp *kmsg.InitProducerIDResponse
		waitFor(t, "InitProducerId of "+id, 20*time.Second, func() bool {
			r, err := req.RequestWith(ctx, cl)
			if err != nil || r.ErrorCode != 0 {
				return false
			}
			resp = r
			return true
		})
		return resp
	}
	ir := init("verify-1")
	coord := int32(-1)
	waitFor(t, "the transaction coordinator", 20*time.Second, func() bool {
		pa, ok := nodes[0].node.Partition("__transaction_state", 0)
		coord = pa.Leader
		return ok && pa.Leader >= 0
	})
	part, leader := int32(-1), int32(-1)
	waitFor(t, "a partition led away from the coordinator", 20*time.Second, func() bool {
		for p := int32(0); p < 3; p++ {
			if pa, ok := nodes[0].node.Partition(topic, p); ok && pa.Leader >= 0 && pa.Leader != coord {
				part, leader = p, pa.Leader
				return true
			}
		}
		return false
	})
	// kwire sends each request at the version set (franz-go would pick its own).
	dialLeader := func() *kwire.Conn {
		t.Helper()
		conn, err := kwire.Dial(ctx, nodes[leader-1].addr, kwire.Options{ClientID: "txn-verify-test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	lc := dialLeader()
	produce := func(req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp, err := lc.Request(ctx, req)
		if err != nil {
			t.Fatalf("produce to node %d: %v", leader, err)
		}
		return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	endOffset := func() int64 {
		t.Helper()
		var end int64
		// Retried: after the kill, leaderships move (the dead node may have been the
		// controller) and other partitions may have no leader.
		waitFor(t, "the end offset of "+topic+"-"+strconv.Itoa(int(part)), 20*time.Second, func() bool {
			ends, _ := adm.ListEndOffsets(ctx, topic)
			o, ok := ends.Lookup(topic, part)
			end = o.Offset
			return ok && o.Err == nil
		})
		return end
	}

	// Never added: refused by the remote coordinator, in each version's words.
	for _, c := range []struct {
		v    int16
		want *kerr.Error
	}{{11, kerr.TransactionAbortable}, {9, kerr.InvalidTxnState}} {
		r := produce(txnProduceReq(c.v, "verify-1", topic, part, txnBatchTo(ir.ProducerID, ir.ProducerEpoch, 0)))
		if r.ErrorCode != c.want.Code {
			t.Fatalf("Produce v%d to a partition never added (leader %d, coordinator %d): %v, want %v", c.v, leader, coord, kerr.ErrorForCode(r.ErrorCode), c.want)
		}
	}
	if end := endOffset(); end != 0 {
		t.Fatalf("refused batches were appended: end offset %d", end)
	}

	// A producer fenced by a newer epoch is INVALID_PRODUCER_EPOCH.
	if bumped := init("verify-1"); bumped.ProducerEpoch == ir.ProducerEpoch {
		t.Fatalf("InitProducerId did not bump the epoch: %+v", bumped)
	}
	if r := produce(txnProduceReq(11, "verify-1", topic, part, txnBatchTo(ir.ProducerID, ir.ProducerEpoch, 0))); r.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("Produce of a fenced epoch: %v, want INVALID_PRODUCER_EPOCH", kerr.ErrorForCode(r.ErrorCode))
	}

	// A real transactional producer adds the partition first: verified, committed, read back.
	tcl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.TransactionalID("verify-franz"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer tcl.Close()
	if err := tcl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := tcl.ProduceSync(ctx, &kgo.Record{Partition: part, Value: []byte("committed")}).FirstErr(); err != nil {
		t.Fatalf("transactional produce: %v", err)
	}
	if err := tcl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	ccl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	fs := ccl.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "committed" {
		t.Fatalf("read_committed after the commit: %v %d records", err, fs.NumRecords())
	}

	// Pipelined on one connection, a plain batch sent after a transactional one that waits
	// for its verification is appended after it.
	ir3 := init("verify-3")
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = "verify-3", ir3.ProducerID, ir3.ProducerEpoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = topic, []int32{part}
	add.Topics = append(add.Topics, at)
	if ar, err := add.RequestWith(ctx, cl); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("AddPartitionsToTxn: %v %+v", err, ar)
	}
	pc := dialLeader()
	plain := txnProduceReq(11, "", topic, part, testbatch.Build(testbatch.Options{BaseTimestamp: time.Now().UnixMilli()}))
	plain.TransactionID = nil
	for _, req := range []*kmsg.ProduceRequest{txnProduceReq(11, "verify-3", topic, part, txnBatchTo(ir3.ProducerID, ir3.ProducerEpoch, 0)), plain} {
		if err := pc.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	var offsets []int64
	for range 2 {
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 11
		if err := pc.Receive(resp); err != nil {
			t.Fatal(err)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("pipelined produce: %v", kerr.ErrorForCode(p.ErrorCode))
		} else {
			offsets = append(offsets, p.BaseOffset)
		}
	}
	if offsets[0] >= offsets[1] {
		t.Fatalf("pipelined produces appended out of order: offsets %v", offsets)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "verify-3", ir3.ProducerID, ir3.ProducerEpoch, false
	if er, err := end.RequestWith(ctx, cl); err != nil || er.ErrorCode != 0 {
		t.Fatalf("EndTxn: %v %+v", err, er)
	}

	// Transactional offsets written by a group coordinator on another node than the
	// transaction coordinator are verified the same way.
	ir4 := init("verify-4")
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "verify-group-0"
	if _, err := fc.RequestWith(ctx, cl); err != nil { // creates __consumer_offsets
		t.Fatal(err)
	}
	var grp string
	var grpNode int32
	waitFor(t, "a group coordinated away from the transaction coordinator", 20*time.Second, func() bool {
		for i := range 50 {
			g := "verify-group-" + strconv.Itoa(i)
			if pa, ok := nodes[0].node.Partition("__consumer_offsets", group.PartitionFor(g, 3)); ok && pa.Leader >= 0 && pa.Leader != coord {
				grp, grpNode = g, pa.Leader
				return true
			}
		}
		return false
	})
	gc, err := kwire.Dial(ctx, nodes[grpNode-1].addr, kwire.Options{ClientID: "txn-verify-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	commitOffsets := func() int16 {
		t.Helper()
		tc := kmsg.NewPtrTxnOffsetCommitRequest()
		tc.Version = 4
		tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch, tc.Generation = "verify-4", grp, ir4.ProducerID, ir4.ProducerEpoch, -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = part, 1
		rt.Partitions = append(rt.Partitions, rp)
		tc.Topics = append(tc.Topics, rt)
		var code int16
		waitFor(t, "the group coordinator", 20*time.Second, func() bool {
			resp, err := gc.Request(ctx, tc)
			if err != nil {
				t.Fatal(err)
			}
			code = resp.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			return code != kerr.NotCoordinator.Code && code != kerr.CoordinatorLoadInProgress.Code
		})
		return code
	}
	if code := commitOffsets(); code != kerr.TransactionAbortable.Code {
		t.Fatalf("TxnOffsetCommit without AddOffsetsToTxn (group coordinator %d, transaction coordinator %d): %v, want TRANSACTION_ABORTABLE", grpNode, coord, kerr.ErrorForCode(code))
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "verify-4", ir4.ProducerID, ir4.ProducerEpoch, grp
	if resp, err := ao.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
	if code := commitOffsets(); code != 0 {
		t.Fatalf("TxnOffsetCommit after AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}

	// The coordinator hangs with a produce parked on its verification, then dies.
	ir2 := init("verify-2")
	before := endOffset()
	proxies[coord].hold(true)
	type answer struct {
		r   kmsg.ProduceResponseTopicPartition
		err error
	}
	got := make(chan answer, 1)
	lc2 := dialLeader()
	go func() {
		resp, err := lc2.Request(ctx, txnProduceReq(11, "verify-2", topic, part, txnBatchTo(ir2.ProducerID, ir2.ProducerEpoch, 0)))
		if err != nil {
			got <- answer{err: err}
			return
		}
		got <- answer{r: resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]}
	}()
	select {
	case a := <-got:
		t.Fatalf("produce answered while its coordinator hangs: %+v", a)
	case <-time.After(time.Second):
	}
	nodes[coord-1].kill()
	select {
	case a := <-got:
		if a.err != nil {
			t.Fatalf("produce parked when the coordinator died: %v", a.err)
		}
		// NOT_LEADER_OR_FOLLOWER when the dead node was the controller too and the leader's
		// partition was between leaderships as the answer came: retriable as well.
		if err := kerr.ErrorForCode(a.r.ErrorCode); !errors.Is(err, kerr.NotEnoughReplicas) && !errors.Is(err, kerr.NotLeaderForPartition) {
			t.Fatalf("produce parked when the coordinator died: %v, want NOT_ENOUGH_REPLICAS", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("produce parked on a dead coordinator not answered")
	}
	if end := endOffset(); end != before {
		t.Fatalf("the unverified batch was appended: end offset %d, was %d", end, before)
	}
}
