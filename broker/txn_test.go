package broker

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// markerLog records the marker sender's retry warnings: until the partition side
// (WriteTxnMarkers on the leaders) exists, they show the markers were sent and refused.
type markerLog struct {
	slog.Handler
	mu   sync.Mutex
	seen []string // partitions a marker was retried for
}

func (h *markerLog) Handle(ctx context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "cannot write a transaction marker yet") {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "partition" {
				h.mu.Lock()
				h.seen = append(h.seen, a.Value.String())
				h.mu.Unlock()
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h *markerLog) retried(tp string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.seen {
		if s == tp {
			return true
		}
	}
	return false
}

// txnEnv is a broker with a small __transaction_state and a topic "t" of two partitions, at
// transaction version 0.
type txnEnv struct {
	t    *testing.T
	tb   *testBroker
	cl   *kgo.Client
	adm  *kadm.Client
	logs *markerLog
}

// startTxnBroker starts the txnEnv broker at transaction version 0: its tests speak the
// classic protocol (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn without an epoch bump)
// through franz-go's negotiated versions; txn_v2_test.go covers version 2.
func startTxnBroker(t *testing.T) *txnEnv {
	logs := &markerLog{Handler: quietLogger().Handler()}
	tb := startBroker(t, func(c *Config) {
		c.TransactionTopicPartitions = 3
		c.TransactionVersion = 0
		c.Logger = slog.New(logs)
	})
	e := &txnEnv{t: t, tb: tb, cl: tb.client(), logs: logs}
	e.adm = kadm.NewClient(e.cl)
	if _, err := e.adm.CreateTopic(context.Background(), 2, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *txnEnv) init(id string, timeoutMs int32) *kmsg.InitProducerIDResponse {
	e.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = &id, timeoutMs, -1, -1
	resp, err := req.RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func (e *txnEnv) add(id string, pid int64, epoch int16, topic string, parts ...int32) []int16 {
	e.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatal(err)
	}
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func (e *txnEnv) end(id string, pid int64, epoch int16, commit bool) int16 {
	e.t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	resp, err := req.RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.ErrorCode
}

func (e *txnEnv) describe(id string) kadm.DescribedTransaction {
	e.t.Helper()
	ds, err := e.adm.DescribeTransactions(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	d := ds[id]
	if d.Err != nil {
		e.t.Fatalf("describe %s: %v", id, d.Err)
	}
	return d
}

// waitMarkers waits until the transaction of id reached done, or its markers were sent to
// every partition of parts and refused (the partition side not being there yet).
func (e *txnEnv) waitMarkers(id, done string, parts ...string) kadm.DescribedTransaction {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := e.describe(id)
		retried := true
		for _, tp := range parts {
			retried = retried && e.logs.retried(tp)
		}
		if d.State == done || retried {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: state %s; no markers were sent", id, d.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTxnCoordinatorCommit(t *testing.T) {
	e := startTxnBroker(t)
	r := e.init("tx", 60_000)
	if r.ErrorCode != 0 || r.ProducerID < 0 || r.ProducerEpoch != 0 {
		t.Fatalf("init: %+v", r)
	}
	if codes := e.add("tx", r.ProducerID, r.ProducerEpoch, "nope", 0); len(codes) != 1 || codes[0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("add unknown topic: %v", codes)
	}
	if codes := e.add("tx", r.ProducerID, r.ProducerEpoch, "t", 0, 1); len(codes) != 2 || codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("add: %v", codes)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "tx", r.ProducerID, r.ProducerEpoch, "g"
	if resp, err := ao.RequestWith(context.Background(), e.cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("add offsets: %v %+v", err, resp)
	}
	d := e.describe("tx")
	if d.State != "Ongoing" || d.ProducerID != r.ProducerID || d.TimeoutMillis != 60_000 || d.StartTimestamp <= 0 ||
		len(d.Topics["t"]) != 2 || len(d.Topics["__consumer_offsets"]) != 1 {
		t.Fatalf("describe: %+v", d)
	}
	listed, err := e.adm.ListTransactions(context.Background(), nil, []string{"Ongoing"})
	if err != nil || len(listed) != 1 || listed["tx"].ProducerID != r.ProducerID {
		t.Fatalf("list: %v %+v", err, listed)
	}
	// v2's pattern (KIP-1152) must match the whole id, as Kafka 4.3.1's does.
	for _, c := range []struct {
		pattern string
		n       int
		code    int16
	}{{"", 1, 0}, {"tx", 1, 0}, {"t.*", 1, 0}, {"t", 0, 0}, {"x", 0, 0}, {"a)|(b", 0, kerr.InvalidRegularExpression.Code}, {"[", 0, kerr.InvalidRegularExpression.Code}} {
		lr := kmsg.NewPtrListTransactionsRequest()
		lr.Version = 2
		lr.TransactionalIDPattern = kmsg.StringPtr(c.pattern)
		resp, err := e.cl.Request(context.Background(), lr)
		if err != nil {
			t.Fatal(err)
		}
		if lt := resp.(*kmsg.ListTransactionsResponse); lt.ErrorCode != c.code || len(lt.TransactionStates) != c.n {
			t.Errorf("list with pattern %q: error %d, %d transactions; want %d, %d", c.pattern, lt.ErrorCode, len(lt.TransactionStates), c.code, c.n)
		}
	}
	if code := e.end("tx", r.ProducerID, r.ProducerEpoch+1, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("end with another epoch: %v", kerr.ErrorForCode(code))
	}
	if code := e.txnOffsetCommit("tx", "g", r.ProducerID, r.ProducerEpoch, 0, 42); code != 0 {
		t.Fatalf("txn offset commit: %v", kerr.ErrorForCode(code))
	}
	if code := e.end("tx", r.ProducerID, r.ProducerEpoch, true); code != 0 {
		t.Fatalf("end: %v", kerr.ErrorForCode(code))
	}
	if d := e.waitMarkers("tx", "CompleteCommit", "t-0", "t-1"); d.State != "CompleteCommit" {
		t.Fatalf("state %s after the commit, want CompleteCommit (markers refused)", d.State)
	}
	if off, code := e.fetchOffset("g", 0, true); off != 42 || code != 0 {
		t.Fatalf("committed offset: %d, %v; want 42", off, kerr.ErrorForCode(code))
	}
	if r2 := e.init("tx", 60_000); r2.ErrorCode != 0 || r2.ProducerEpoch != 1 {
		t.Fatalf("init after commit: %+v", r2)
	}
}

// TestTxnOffsetCommitSurvivesCoordinatorRestart: offsets committed in a transaction are in
// __consumer_offsets before EndTxn; a restart between TxnOffsetCommit and EndTxn keeps them
// pending (unstable), the COMMIT then makes them the group's offsets, and an ABORT after
// another restart drops the next transaction's.
func TestTxnOffsetCommitSurvivesCoordinatorRestart(t *testing.T) {
	e := startTxnBroker(t)
	restart := func() {
		e.tb.restart()
		e.cl = e.tb.client()
		e.adm = kadm.NewClient(e.cl)
	}
	for i, commit := range []bool{true, false} {
		r := e.init("tx", 600_000)
		if r.ErrorCode != 0 {
			t.Fatalf("init: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if codes := e.add("tx", r.ProducerID, r.ProducerEpoch, "t", 0); codes[0] != 0 {
			t.Fatalf("add: %v", codes)
		}
		e.addOffsets("tx", r.ProducerID, r.ProducerEpoch, "g")
		offset := int64(100 + i)
		if code := e.txnOffsetCommit("tx", "g", r.ProducerID, r.ProducerEpoch, 0, offset); code != 0 {
			t.Fatalf("txn offset commit: %v", kerr.ErrorForCode(code))
		}
		restart()
		if _, code := e.fetchOffset("g", 0, true); code != kerr.UnstableOffsetCommit.Code {
			t.Fatalf("after the restart, pending offset: %v, want UNSTABLE_OFFSET_COMMIT", kerr.ErrorForCode(code))
		}
		if code := e.end("tx", r.ProducerID, r.ProducerEpoch, commit); code != 0 {
			t.Fatalf("end: %v", kerr.ErrorForCode(code))
		}
		done := map[bool]string{true: "CompleteCommit", false: "CompleteAbort"}[commit]
		if d := e.waitMarkers("tx", done, "t-0"); d.State != done {
			t.Fatalf("state %s, want %s", d.State, done)
		}
		// The marker's answer waits for the coordinator to apply it: stable at once.
		if off, code := e.fetchOffset("g", 0, true); code != 0 || off != 100 {
			t.Fatalf("transaction %d (commit %v): offset %d, %v; want 100", i, commit, off, kerr.ErrorForCode(code))
		}
		restart()
		if off, code := e.fetchOffset("g", 0, true); code != 0 || off != 100 {
			t.Fatalf("transaction %d after a restart: offset %d, %v; want 100", i, off, kerr.ErrorForCode(code))
		}
	}
}

// addOffsets adds group's __consumer_offsets partition to producer pid's transaction
// (AddOffsetsToTxn).
func (e *txnEnv) addOffsets(id string, pid int64, epoch int16, group string) {
	e.t.Helper()
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = id, pid, epoch, group
	if resp, err := ao.RequestWith(context.Background(), e.cl); err != nil || resp.ErrorCode != 0 {
		e.t.Fatalf("AddOffsetsToTxn: %v %+v", err, resp)
	}
}

// txnOffsetCommit commits offset of t's partition p for group in producer pid's transaction.
func (e *txnEnv) txnOffsetCommit(id, group string, pid int64, epoch int16, p int32, offset int64) int16 {
	e.t.Helper()
	resp, err := txnOffsetCommitReq(id, group, pid, epoch, p, offset).RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// txnOffsetCommitReq is a TxnOffsetCommit of offset for t's partition p.
func txnOffsetCommitReq(id, group string, pid int64, epoch int16, p int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch, tc.Generation = id, group, pid, epoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = p, offset
	rt.Partitions = append(rt.Partitions, rp)
	tc.Topics = append(tc.Topics, rt)
	return tc
}

// fetchOffset is group's committed offset of t's partition p (OffsetFetch, RequireStable
// as asked) and its error code.
func (e *txnEnv) fetchOffset(group string, p int32, stable bool) (int64, int16) {
	e.t.Helper()
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group, of.RequireStable = group, stable
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "t", []int32{p}
	of.Topics = append(of.Topics, ft)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = "t", []int32{p}
	rg.Topics = append(rg.Topics, gt)
	of.Groups = append(of.Groups, rg)
	fr, err := of.RequestWith(context.Background(), e.cl)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(fr.Groups) > 0 {
		if fr.Groups[0].ErrorCode != 0 {
			return -1, fr.Groups[0].ErrorCode
		}
		rp := fr.Groups[0].Topics[0].Partitions[0]
		return rp.Offset, rp.ErrorCode
	}
	if fr.ErrorCode != 0 {
		return -1, fr.ErrorCode
	}
	rp := fr.Topics[0].Partitions[0]
	return rp.Offset, rp.ErrorCode
}

func TestTxnCoordinatorFencesAndTimesOut(t *testing.T) {
	e := startTxnBroker(t)
	old := e.init("fence", 60_000)
	if codes := e.add("fence", old.ProducerID, old.ProducerEpoch, "t", 0); codes[0] != 0 {
		t.Fatalf("add: %v", codes)
	}
	// A new producer with the same id: the old one's transaction is aborted first.
	if r := e.init("fence", 60_000); r.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init over an ongoing transaction: %+v", r)
	}
	d := e.waitMarkers("fence", "CompleteAbort", "t-0")
	if d.ProducerEpoch != old.ProducerEpoch+1 || (d.State != "PrepareAbort" && d.State != "CompleteAbort") {
		t.Fatalf("after fencing: %+v", d)
	}
	if code := e.end("fence", old.ProducerID, old.ProducerEpoch, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("zombie commit: %v", kerr.ErrorForCode(code))
	}

	r := e.init("slow", 1_000)
	if codes := e.add("slow", r.ProducerID, r.ProducerEpoch, "t", 1); codes[0] != 0 {
		t.Fatalf("add: %v", codes)
	}
	deadline := time.Now().Add(10 * time.Second)
	for d := e.describe("slow"); d.State == "Ongoing"; d = e.describe("slow") {
		if time.Now().After(deadline) {
			t.Fatal("the transaction did not time out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := e.describe("slow"); d.ProducerEpoch != r.ProducerEpoch+1 {
		t.Fatalf("timed out: %+v, want epoch %d", d, r.ProducerEpoch+1)
	}
	if code := e.end("slow", r.ProducerID, r.ProducerEpoch, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("commit after the timeout: %v", kerr.ErrorForCode(code))
	}
}

func TestTxnCoordinatorSurvivesRestart(t *testing.T) {
	e := startTxnBroker(t)
	r := e.init("tx", 600_000)
	if codes := e.add("tx", r.ProducerID, r.ProducerEpoch, "t", 0, 1); codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("add: %v", codes)
	}
	before := e.describe("tx")
	e.tb.restart()
	e.cl = e.tb.client()
	e.adm = kadm.NewClient(e.cl)
	after := e.describe("tx")
	if after.State != "Ongoing" || after.ProducerID != before.ProducerID || after.ProducerEpoch != before.ProducerEpoch ||
		after.StartTimestamp != before.StartTimestamp || len(after.Topics["t"]) != 2 {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	if code := e.end("tx", r.ProducerID, r.ProducerEpoch, false); code != 0 {
		t.Fatalf("abort after restart: %v", kerr.ErrorForCode(code))
	}
}

func TestTxnOffsetCommitPendingIsUnstable(t *testing.T) {
	e := startTxnBroker(t)
	ctx := context.Background()
	ir := e.init("tx", 60_000)
	e.addOffsets("tx", ir.ProducerID, ir.ProducerEpoch, "g")
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch, tc.Generation = "tx", "g", ir.ProducerID, ir.ProducerEpoch, -1
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 42
	rt.Partitions = append(rt.Partitions, rp)
	missing := kmsg.NewTxnOffsetCommitRequestTopic()
	missing.Topic, missing.Partitions = "nope", []kmsg.TxnOffsetCommitRequestTopicPartition{rp}
	tc.Topics = append(tc.Topics, rt, missing)
	resp, err := tc.RequestWith(ctx, e.cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 2 || resp.Topics[0].Partitions[0].ErrorCode != 0 || resp.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("txn offset commit: %+v", resp.Topics)
	}
	// A member id the group does not know (KIP-447 fencing).
	tc.MemberID, tc.Generation = "zombie", 3
	tc.Topics = tc.Topics[:1]
	if resp, err := tc.RequestWith(ctx, e.cl); err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("fenced member: %v %+v", err, resp)
	}
	for _, stable := range []bool{true, false} {
		offset, code := e.fetchOffset("g", 0, stable)
		want := int16(0)
		if stable {
			want = kerr.UnstableOffsetCommit.Code
		}
		if offset != -1 || code != want {
			t.Fatalf("fetch (require stable %v): offset %d, %v", stable, offset, kerr.ErrorForCode(code))
		}
	}
}

// TestTxnOffsetCommitVerified (KIP-890 part 1): transactional offsets are written only once
// the coordinator confirms the group's __consumer_offsets partition is in the producer's
// transaction: without AddOffsetsToTxn they are refused (TRANSACTION_ABORTABLE from v4,
// INVALID_TXN_STATE before) and nothing is pending; a fenced epoch is INVALID_PRODUCER_EPOCH;
// after AddOffsetsToTxn they are written.
func TestTxnOffsetCommitVerified(t *testing.T) {
	e := startTxnBroker(t)
	e.init("tx", 60_000)
	ir := e.init("tx", 60_000) // epoch 1: epoch 0 is fenced
	rc := dialDP(t, e.tb)
	commitV := func(v int16, epoch int16) int16 {
		t.Helper()
		tc := txnOffsetCommitReq("tx", "g", ir.ProducerID, epoch, 0, 7)
		tc.Version = v
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			code := rc.request(tc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			switch {
			case time.Now().After(deadline):
			case code == kerr.NotCoordinator.Code, code == kerr.CoordinatorLoadInProgress.Code: // the group's coordinator starts
				continue
			}
			return code
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	if _, err := fc.RequestWith(context.Background(), e.cl); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v    int16
		want *kerr.Error
	}{{4, kerr.TransactionAbortable}, {3, kerr.InvalidTxnState}} {
		if code := commitV(c.v, ir.ProducerEpoch); code != c.want.Code {
			t.Fatalf("TxnOffsetCommit v%d without AddOffsetsToTxn: %v, want %v", c.v, kerr.ErrorForCode(code), c.want)
		}
	}
	if _, code := e.fetchOffset("g", 0, true); code != 0 {
		t.Fatalf("refused offsets are pending: %v", kerr.ErrorForCode(code))
	}
	e.addOffsets("tx", ir.ProducerID, ir.ProducerEpoch, "g")
	if code := commitV(4, ir.ProducerEpoch-1); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("TxnOffsetCommit of a fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commitV(4, ir.ProducerEpoch); code != 0 {
		t.Fatalf("TxnOffsetCommit after AddOffsetsToTxn: %v", kerr.ErrorForCode(code))
	}
	if _, code := e.fetchOffset("g", 0, true); code != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("written offsets: %v, want UNSTABLE_OFFSET_COMMIT until the transaction ends", kerr.ErrorForCode(code))
	}
}

// TestTxnAddPartitionsBatched sends AddPartitionsToTxn v4+, the brokers' batched form: one
// id adds partitions, another only verifies (KIP-890 part 1).
func TestTxnAddPartitionsBatched(t *testing.T) {
	e := startTxnBroker(t)
	a, b := e.init("a", 60_000), e.init("b", 60_000)
	if codes := e.add("b", b.ProducerID, b.ProducerEpoch, "t", 0); codes[0] != 0 {
		t.Fatalf("add: %v", codes)
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	for _, tx := range []struct {
		id     string
		r      *kmsg.InitProducerIDResponse
		verify bool
	}{{"a", a, false}, {"b", b, true}} {
		rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
		rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = tx.id, tx.r.ProducerID, tx.r.ProducerEpoch, tx.verify
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = "t", []int32{0, 1}
		rt.Topics = append(rt.Topics, tt)
		req.Transactions = append(req.Transactions, rt)
	}
	resp, err := req.RequestWith(context.Background(), e.cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int16{}
	for _, tr := range resp.Transactions {
		for _, tt := range tr.Topics {
			for _, p := range tt.Partitions {
				got[tr.TransactionalID] = append(got[tr.TransactionalID], p.ErrorCode)
			}
		}
	}
	if a := got["a"]; len(a) != 2 || a[0] != 0 || a[1] != 0 {
		t.Errorf("a (add): %v", a)
	}
	if b := got["b"]; len(b) != 2 || b[0] != 0 || b[1] != kerr.TransactionAbortable.Code {
		t.Errorf("b (verify): %v, want [0 %d]", b, kerr.TransactionAbortable.Code)
	}
	if d := e.describe("a"); d.State != "Ongoing" || len(d.Topics["t"]) != 2 {
		t.Errorf("a after the batched add: %+v", d)
	}
	if d := e.describe("b"); len(d.Topics["t"]) != 1 {
		t.Errorf("b changed by a verification: %+v", d)
	}
}

// TestTxnStateTopicIsInternal: __transaction_state is listed as internal and clients can
// neither delete it nor grow it (ids map to partitions by hash modulo its count).
func TestTxnStateTopicIsInternal(t *testing.T) {
	e := startTxnBroker(t)
	if r := e.init("tx", 60_000); r.ErrorCode != 0 {
		t.Fatalf("init: %+v", r)
	}
	ctx := context.Background()
	md, err := e.adm.Metadata(ctx, txnTopic)
	if err != nil || !md.Topics[txnTopic].IsInternal || len(md.Topics[txnTopic].Partitions) != 3 {
		t.Fatalf("metadata: %v %+v", err, md.Topics[txnTopic])
	}
	if r, err := e.adm.CreatePartitions(ctx, 1, txnTopic); err != nil || r[txnTopic].Err == nil {
		t.Fatalf("grow: %v %+v", err, r)
	}
	if r, err := e.adm.DeleteTopics(ctx, txnTopic); err != nil || r[txnTopic].Err == nil {
		t.Fatalf("delete: %v %+v", err, r)
	}
	if d := e.describe("tx"); d.State != "Empty" {
		t.Fatalf("describe: %+v", d)
	}
}

// TestTxnProduceVerified (KIP-890 part 1): with transaction.partition.verification.enable a
// transactional batch is appended only to a partition in its producer's ongoing transaction:
// one never added is refused (TRANSACTION_ABORTABLE from Produce v11, INVALID_TXN_STATE
// before), nothing is appended and the last stable offset stays; an added one is accepted;
// once the transaction is committed, a late batch of it is refused too.
func TestTxnProduceVerified(t *testing.T) {
	e := startTxnBroker(t)
	const id = "verified"
	ir := e.init(id, 60_000)
	if ir.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	rc := dialDP(t, e.tb)
	p := &txnProducerDP{rc: rc, id: ir.ProducerID, epoch: ir.ProducerEpoch}
	for _, c := range []struct {
		v    int16
		want *kerr.Error
	}{{11, kerr.TransactionAbortable}, {9, kerr.InvalidTxnState}} {
		if r := p.produceTo(t, c.v, id, "t", 1, 1); r.ErrorCode != c.want.Code || r.ErrorMessage == nil {
			t.Fatalf("Produce v%d to a partition never added: %v %v, want %v", c.v, kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage, c.want)
		}
	}
	if end := listLatestDP(t, rc, "t", 0); end != 0 {
		t.Fatalf("refused batches were appended: end offset %d", end)
	}
	if codes := e.add(id, ir.ProducerID, ir.ProducerEpoch, "t", 0); codes[0] != 0 {
		t.Fatalf("AddPartitionsToTxn: %v", kerr.ErrorForCode(codes[0]))
	}
	for i := 0; i < 2; i++ { // the second needs no verification: the transaction is open here
		if r := p.produceTo(t, 11, id, "t", 0, 1); r.ErrorCode != 0 {
			t.Fatalf("batch %d to the added partition: %v", i, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	if code := e.end(id, ir.ProducerID, ir.ProducerEpoch, true); code != 0 {
		t.Fatalf("EndTxn: %v", kerr.ErrorForCode(code))
	}
	e.waitMarkers(id, "CompleteCommit", "t-0")
	end := listLatestDP(t, rc, "t", 0)
	if r := p.produceTo(t, 11, id, "t", 0, 1); r.ErrorCode != kerr.TransactionAbortable.Code {
		t.Fatalf("late batch after the commit: %v, want TRANSACTION_ABORTABLE", kerr.ErrorForCode(r.ErrorCode))
	}
	if lso, hw := listLatestDP(t, rc, "t", 1), listLatestDP(t, rc, "t", 0); hw != end || lso != hw {
		t.Fatalf("after the refused late batch: high watermark %d (was %d), last stable offset %d", hw, end, lso)
	}

	// franz-go's transactional producer adds its partitions before producing: verified.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.tb.client(kgo.TransactionalID("franz"), kgo.DefaultProduceTopic("t"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, commit := range []kgo.TransactionEndTry{kgo.TryAbort, kgo.TryCommit} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < 2; p++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("franz-go transactional produce to partition %d: %v", p, err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("franz-go EndTransaction(%v): %v", commit, err)
		}
	}
}
