package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/segment"
)

// txnProducerDP is a producer writing transactional batches by hand over a raw connection, its
// id and epoch from a non-transactional InitProducerId (the transaction coordinator is not
// involved: this is the partition side).
type txnProducerDP struct {
	rc    *rawConnDP
	id    int64
	epoch int16
	seq   int32
}

func newTxnProducerDP(t *testing.T, rc *rawConnDP) *txnProducerDP {
	r := initProducerIDDP(t, rc, 4, -1, -1, nil)
	if r.ErrorCode != 0 {
		t.Fatalf("init producer id: %+v", r)
	}
	return &txnProducerDP{rc: rc, id: r.ProducerID, epoch: r.ProducerEpoch}
}

// produce sends n transactional records to partition 0 and returns the partition's answer.
func (p *txnProducerDP) produce(t *testing.T, topic string, n int) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return p.produceTo(t, 9, "txn-test", topic, 0, n)
}

// produceTo sends n transactional records of transactional id txnID to topic's partition
// with Produce version v and returns the partition's answer.
func (p *txnProducerDP) produceTo(t *testing.T, v int16, txnID, topic string, partition int32, n int) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = time.Now().UnixMilli()
	}
	b := batchDP{idempotent: true, producerID: p.id, epoch: p.epoch, sequence: p.seq, timestamps: ts}.encode()
	h, _ := segment.ParseHeader(b)
	h.Attributes |= segment.AttrTransactional
	b = segment.AppendBatch(nil, h, b[segment.HeaderSize:])
	req := produceReqDP(v, -1, topic, partition, b)
	req.TransactionID = &txnID
	part := producePartDP(t, p.rc.request(req))
	if part.ErrorCode == 0 {
		p.seq += int32(n)
	}
	return part
}

// writeMarkerDP sends one WriteTxnMarkers v1 for topic's partition 0 and returns its code.
func writeMarkerDP(t *testing.T, rc *rawConnDP, topic string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	return writeMarkerVersionDP(t, rc, topic, 1, 0, pid, epoch, commit)
}

// writeMarkerVersionDP sends one WriteTxnMarkers of version v whose marker has transaction
// version tv (sent from v2) for topic's partition 0, and returns its code.
func writeMarkerVersionDP(t *testing.T, rc *rawConnDP, topic string, v int16, tv int8, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = v
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.TransactionVersion = pid, epoch, commit, tv
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{0}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	resp := rc.request(req).(*kmsg.WriteTxnMarkersResponse)
	if len(resp.Markers) != 1 || len(resp.Markers[0].Topics) != 1 || len(resp.Markers[0].Topics[0].Partitions) != 1 {
		t.Fatalf("WriteTxnMarkers response shape: %+v", resp)
	}
	return resp.Markers[0].Topics[0].Partitions[0].ErrorCode
}

func listLatestDP(t *testing.T, rc *rawConnDP, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 5
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := rc.request(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

// consumeOffsetsDP reads the topic from the start with franz-go's consumer at the isolation
// level until want records arrived, then for one more second, and returns the offsets read.
func consumeOffsetsDP(t *testing.T, tb *testBroker, topic string, level kgo.IsolationLevel, want int) []int64 {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	var got []int64
	deadline := time.Now().Add(20 * time.Second)
	var settle time.Time
	for time.Now().Before(deadline) && (settle.IsZero() || time.Now().Before(settle)) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
		if len(got) >= want && settle.IsZero() {
			settle = time.Now().Add(time.Second)
		}
	}
	return got
}

// TestTransactionsPartitionSide: transactional produce, WriteTxnMarkers, read_committed and
// read_uncommitted fetches (franz-go's consumer), ListOffsets, DescribeProducers, and the last
// stable offset across a restart.
func TestTransactionsPartitionSide(t *testing.T) {
	// The batches belong to no coordinator's transaction: KIP-890's verification would
	// refuse them (TestTxnProduceVerified).
	noVerify := func(c *Config) { c.TransactionPartitionVerification = false }
	tb := startBroker(t, noVerify)
	const topic = "txn"
	createTopicDP(t, tb, topic, 1, nil)
	rc := dialDP(t, tb)
	a, b, c := newTxnProducerDP(t, rc), newTxnProducerDP(t, rc), newTxnProducerDP(t, rc)
	plain := func() {
		t.Helper()
		if p := producePartDP(t, rc.request(produceReqDP(9, -1, topic, 0, batchDP{}.encode()))); p.ErrorCode != 0 {
			t.Fatalf("plain produce: %v", kerr.ErrorForCode(p.ErrorCode))
		}
	}
	if p := a.produce(t, topic, 2); p.ErrorCode != 0 || p.BaseOffset != 0 { // 0-1, aborted below
		t.Fatalf("transactional produce: %+v", p)
	}
	plain()                                                                   // 2
	b.produce(t, topic, 1)                                                    // 3, committed below
	if code := writeMarkerDP(t, rc, topic, a.id, a.epoch, false); code != 0 { // 4
		t.Fatalf("abort marker: %v", kerr.ErrorForCode(code))
	}
	plain()                                                                  // 5
	if code := writeMarkerDP(t, rc, topic, b.id, b.epoch, true); code != 0 { // 6
		t.Fatalf("commit marker: %v", kerr.ErrorForCode(code))
	}
	plain()                // 7
	c.produce(t, topic, 1) // 8, left open

	// Refusals.
	noID := produceReqDP(9, -1, topic, 0, func() []byte {
		bt := batchDP{idempotent: true, producerID: c.id, epoch: c.epoch, sequence: c.seq}.encode()
		h, _ := segment.ParseHeader(bt)
		h.Attributes |= segment.AttrTransactional
		return segment.AppendBatch(nil, h, bt[segment.HeaderSize:])
	}())
	if p := producePartDP(t, rc.request(noID)); p.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("transactional batch without a transactional id: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	inTxn := produceReqDP(9, -1, topic, 0, batchDP{idempotent: true, producerID: c.id, epoch: c.epoch, sequence: c.seq}.encode())
	if p := producePartDP(t, rc.request(inTxn)); p.ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("non-transactional batch inside a transaction: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if code := writeMarkerDP(t, rc, "no-such-topic", a.id, a.epoch, true); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("marker for an unknown topic: %v", kerr.ErrorForCode(code))
	}

	check := func(stage string) {
		t.Helper()
		if got := listLatestDP(t, rc, topic, 1); got != 8 {
			t.Fatalf("%s: read_committed latest = %d, want the LSO 8", stage, got)
		}
		if got := listLatestDP(t, rc, topic, 0); got != 9 {
			t.Fatalf("%s: read_uncommitted latest = %d, want 9", stage, got)
		}
		if got := consumeOffsetsDP(t, tb, topic, kgo.ReadCommitted(), 4); !slices.Equal(got, []int64{2, 3, 5, 7}) {
			t.Fatalf("%s: read_committed offsets %v, want [2 3 5 7]", stage, got)
		}
		if got := consumeOffsetsDP(t, tb, topic, kgo.ReadUncommitted(), 7); !slices.Equal(got, []int64{0, 1, 2, 3, 5, 7, 8}) {
			t.Fatalf("%s: read_uncommitted offsets %v, want [0 1 2 3 5 7 8]", stage, got)
		}
		fetch := kmsg.NewPtrFetchRequest()
		fetch.Version, fetch.IsolationLevel, fetch.MaxBytes, fetch.ReplicaID = 11, 1, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
		p := rc.request(fetch).(*kmsg.FetchResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LastStableOffset != 8 || p.HighWatermark != 9 || len(p.AbortedTransactions) != 1 ||
			p.AbortedTransactions[0].ProducerID != a.id || p.AbortedTransactions[0].FirstOffset != 0 {
			t.Fatalf("%s: read_committed fetch: error %d LSO %d HW %d aborted %+v", stage, p.ErrorCode, p.LastStableOffset, p.HighWatermark, p.AbortedTransactions)
		}
		dp := kmsg.NewPtrDescribeProducersRequest()
		dt := kmsg.NewDescribeProducersRequestTopic()
		dt.Topic, dt.Partitions = topic, []int32{0}
		dp.Topics = append(dp.Topics, dt)
		dr := rc.request(dp).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0]
		starts := map[int64]int64{}
		for _, ap := range dr.ActiveProducers {
			starts[ap.ProducerID] = ap.CurrentTxnStartOffset
		}
		if dr.ErrorCode != 0 || len(starts) != 3 || starts[a.id] != -1 || starts[b.id] != -1 || starts[c.id] != 8 {
			t.Fatalf("%s: DescribeProducers: error %d producers %+v", stage, dr.ErrorCode, dr.ActiveProducers)
		}
	}
	check("before the restart")
	tb.stop()
	tb.start(noVerify)
	rc = dialDP(t, tb)
	c.rc = rc
	check("after a restart")

	// A marker with a bumped epoch fences the producer's old epoch.
	if code := writeMarkerDP(t, rc, topic, c.id, c.epoch+1, false); code != 0 {
		t.Fatalf("abort with a bumped epoch: %v", kerr.ErrorForCode(code))
	}
	if code := writeMarkerDP(t, rc, topic, c.id, c.epoch, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("marker of the fenced epoch: %v", kerr.ErrorForCode(code))
	}
	if p := c.produce(t, topic, 1); p.ErrorCode != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("zombie produce: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if got := listLatestDP(t, rc, topic, 1); got != 10 {
		t.Fatalf("read_committed latest with no open transaction = %d, want 10 (the end)", got)
	}
}

// TestTxnMarkersReplicated: a marker is answered only once the ISR has it (acks=all), the
// leader's last stable offset stays at the transaction until then, and the follower, copying
// the leader's batches, ends up with the same transaction state (LSO and aborted
// transactions), also after truncating below the marker.
func TestTxnMarkersReplicated(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.Logger = quietLogger()
		c.TransactionPartitionVerification = false // a transaction of no coordinator
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const topic = "rtxn"
	createTopicDP(t, tb, topic, 1, nil)
	tp := engine.TopicPartition{Topic: topic, Partition: 0}
	waitLeading(t, tb, topic, 0)
	const epoch = 3
	st := replication.PartitionState{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if _, err := tb.b.Lead(topic, 0, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 1}, st, &acceptingController{}); err != nil {
		t.Fatal(err)
	}
	leaderLog := tb.b.Engine().Log(tp)
	conn, err := replication.Dial(ctx, tb.addr, 2, kwire.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.MaxWait = 50 * time.Millisecond
	followerLog, step := testFollower(ctx, t, tp, epoch, conn)

	rc := dialDP(t, tb)
	p := newTxnProducerDP(t, rc)
	produced := make(chan kmsg.ProduceResponseTopicPartition, 1)
	go func() { produced <- p.produce(t, topic, 2) }() // 0-1, acks=all: answered once replicated
	for leaderLog.LogEndOffset() == 0 {
		time.Sleep(time.Millisecond)
	}
	step()
	step()
	if r := <-produced; r.ErrorCode != 0 {
		t.Fatalf("transactional produce: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if leaderLog.HighWatermark() != 2 || followerLog.LastStableOffset() != 0 || leaderLog.LastStableOffset() != 0 {
		t.Fatalf("open transaction: leader HW %d LSO %d, follower LSO %d", leaderLog.HighWatermark(), leaderLog.LastStableOffset(), followerLog.LastStableOffset())
	}
	mc := dialDP(t, tb)
	done := make(chan int16, 1)
	go func() { done <- writeMarkerDP(t, mc, topic, p.id, p.epoch, false) }()
	for leaderLog.LogEndOffset() == 2 {
		time.Sleep(time.Millisecond)
	}
	select {
	case code := <-done:
		t.Fatalf("WriteTxnMarkers answered (%v) before the follower had the marker", kerr.ErrorForCode(code))
	case <-time.After(200 * time.Millisecond):
	}
	if got := leaderLog.LastStableOffset(); got != 0 {
		t.Fatalf("leader LSO with the abort marker not replicated = %d, want 0", got)
	}
	step()
	step()
	if code := <-done; code != 0 {
		t.Fatalf("abort marker: %v", kerr.ErrorForCode(code))
	}
	if leaderLog.LastStableOffset() != 3 || followerLog.LastStableOffset() != 3 {
		t.Fatalf("after the replicated abort: leader LSO %d, follower LSO %d, want 3", leaderLog.LastStableOffset(), followerLog.LastStableOffset())
	}
	want := leaderLog.AbortedTxns(0, 3)
	if got := followerLog.AbortedTxns(0, 3); len(want) != 1 || !slices.Equal(got, want) {
		t.Fatalf("follower aborted %+v, leader %+v", got, want)
	}
	// A follower truncating below the marker reopens the transaction.
	if err := followerLog.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if got := followerLog.AbortedTxns(0, 3); len(got) != 0 || followerLog.LastStableOffset() != 0 {
		t.Fatalf("after truncating the marker: follower aborted %+v, LSO %d", got, followerLog.LastStableOffset())
	}
}
