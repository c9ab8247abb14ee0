package broker

import (
	"bytes"
	"context"
	"flag"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

var fetchSeedDP = flag.Int64("fetch-seed", 0, "seed for TestFetchEncodeMatchesKmsg (0: time-based)")

// TestFetchEncodeMatchesKmsg proves the hand-written Fetch encoder byte-identical to kmsg's
// generated one for every served version, on random responses with materialized records.
func TestFetchEncodeMatchesKmsg(t *testing.T) {
	seed := *fetchSeedDP
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -fetch-seed)", seed)
	rng := rand.New(rand.NewSource(seed))
	a := lookupAPI(int16(kmsg.Fetch))
	for v := a.min; v <= a.max; v++ {
		for iter := 0; iter < 200; iter++ {
			ours, ref := randomFetchResponseDP(rng, v)
			got := appendFetchResponse(nil, ours, appendRecordBytes)
			want := ref.AppendTo(nil)
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d iteration %d: encodings differ\n got % x\nwant % x", v, iter, got, want)
			}
			// And kmsg reads ours back.
			back := kmsg.NewPtrFetchResponse()
			back.Version = v
			if err := back.ReadFrom(got); err != nil {
				t.Fatalf("v%d: kmsg cannot read our encoding: %v", v, err)
			}
		}
	}
}

func randomFetchResponseDP(rng *rand.Rand, v int16) (*fetchResponse, *kmsg.FetchResponse) {
	ours := &fetchResponse{version: v}
	ref := kmsg.NewPtrFetchResponse()
	ref.Version = v
	if v >= 7 {
		ours.errorCode = int16(rng.Intn(100))
		ours.sessionID = rng.Int31()
		ref.ErrorCode, ref.SessionID = ours.errorCode, ours.sessionID
	}
	for ti := rng.Intn(4); ti > 0; ti-- {
		ft := fetchTopic{name: randomStringDP(rng)}
		rng.Read(ft.id[:])
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = ft.name, ft.id
		for pi := rng.Intn(5); pi > 0; pi-- {
			fp := fetchPartition{
				partition: rng.Int31(), errorCode: int16(rng.Intn(120)),
				highWatermark: rng.Int63(), lastStableOffset: rng.Int63(), logStartOffset: rng.Int63(),
				abortedNull: rng.Intn(2) == 0, preferredReadReplica: rng.Int31n(10) - 1,
				records: make([]byte, []int{0, 1, 61, 300, 70000}[rng.Intn(5)]),
			}
			rng.Read(fp.records)
			if !fp.abortedNull {
				for i := rng.Intn(3); i > 0; i-- {
					fp.aborted = append(fp.aborted, engine.AbortedTxn{ProducerID: rng.Int63(), FirstOffset: rng.Int63()})
				}
			}
			ft.parts = append(ft.parts, fp)
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = fp.partition, fp.errorCode
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = fp.highWatermark, fp.lastStableOffset, fp.logStartOffset
			if !fp.abortedNull {
				rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				for _, a := range fp.aborted {
					at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
					rp.AbortedTransactions = append(rp.AbortedTransactions, at)
				}
			}
			rp.PreferredReadReplica = fp.preferredReadReplica
			rp.RecordBatches = fp.records
			if v >= 12 && rng.Intn(3) == 0 {
				fp.hasLeader, fp.leaderID, fp.leaderEpoch = true, rng.Int31n(5), rng.Int31n(100)
				ft.parts[len(ft.parts)-1] = fp
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = fp.leaderID, fp.leaderEpoch
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		ours.topics = append(ours.topics, ft)
		ref.Topics = append(ref.Topics, rt)
	}
	if v >= 16 {
		for i := rng.Intn(3); i > 0; i-- {
			e := fetchEndpoint{id: rng.Int31n(5), host: randomStringDP(rng), port: rng.Int31n(65536)}
			ours.endpoints = append(ours.endpoints, e)
			be := kmsg.NewFetchResponseBroker()
			be.NodeID, be.Host, be.Port = e.id, e.host, e.port
			ref.Brokers = append(ref.Brokers, be)
		}
	}
	return ours, ref
}

func randomStringDP(rng *rand.Rand) string {
	b := make([]byte, rng.Intn(300))
	for i := range b {
		b[i] = byte('a' + rng.Intn(26))
	}
	return string(b)
}

// fetchReqDP is a one-partition consumer fetch request.
func fetchReqDP(v int16, topic string, id [16]byte, partition int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.Version = v
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 10<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchPartDP(t testing.TB, resp kmsg.Response) kmsg.FetchResponseTopicPartition {
	t.Helper()
	r := resp.(*kmsg.FetchResponse)
	if r.ErrorCode != 0 || len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response: error %d, %d topics", r.ErrorCode, len(r.Topics))
	}
	return r.Topics[0].Partitions[0]
}

// batchesDP decodes a partition's record batches with kmsg and returns them.
func batchesDP(t testing.TB, b []byte) []kmsg.RecordBatch {
	t.Helper()
	var out []kmsg.RecordBatch
	for len(b) > 0 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("record batch: %v", err)
		}
		out = append(out, rb)
		b = b[12+int(rb.Length):]
	}
	return out
}

func topicIDDP(t testing.TB, tb *testBroker, name string) [16]byte {
	t.Helper()
	topic, ok := tb.b.cluster.Topic(name)
	if !ok {
		t.Fatalf("no topic %s", name)
	}
	return topic.ID
}

// TestFetchEveryVersion fetches over the wire with each served version and decodes with kmsg.
func TestFetchEveryVersion(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "fv", 1, nil)
	rc := dialDP(t, tb)
	for i := 0; i < 3; i++ {
		if p := producePartDP(t, rc.request(produceReqDP(9, 1, "fv", 0, batchDP{timestamps: []int64{1, 2, 3}}.encode()))); p.ErrorCode != 0 {
			t.Fatalf("produce: %d", p.ErrorCode)
		}
	}
	id := topicIDDP(t, tb, "fv")
	a := lookupAPI(int16(kmsg.Fetch))
	for v := a.min; v <= a.max; v++ {
		for _, iso := range []int8{0, 1} {
			req := fetchReqDP(v, "fv", id, 0, 4)
			req.IsolationLevel = iso
			p := fetchPartDP(t, rc.request(req))
			if p.ErrorCode != 0 || p.HighWatermark != 9 || p.LastStableOffset != 9 {
				t.Fatalf("v%d: error %d hw %d lso %d", v, p.ErrorCode, p.HighWatermark, p.LastStableOffset)
			}
			if v >= 5 && p.LogStartOffset != 0 {
				t.Fatalf("v%d: log start %d", v, p.LogStartOffset)
			}
			if v >= 11 && p.PreferredReadReplica != -1 {
				t.Fatalf("v%d: preferred read replica %d", v, p.PreferredReadReplica)
			}
			if (iso == 1) != (p.AbortedTransactions != nil) {
				t.Fatalf("v%d isolation %d: aborted transactions %v", v, iso, p.AbortedTransactions)
			}
			bs := batchesDP(t, p.RecordBatches)
			// Offset 4 is inside the second batch (3-5): the batch holding it comes first.
			if len(bs) != 2 || bs[0].FirstOffset != 3 || bs[1].FirstOffset != 6 || bs[1].NumRecords != 3 {
				t.Fatalf("v%d: got %d batches", v, len(bs))
			}
		}
	}

	// Unknown topic id (v13+) and unknown name.
	var bogus [16]byte
	bogus[0] = 42
	if p := fetchPartDP(t, rc.request(fetchReqDP(13, "", bogus, 0, 0))); p.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: error %d", p.ErrorCode)
	}
	if p := fetchPartDP(t, rc.request(fetchReqDP(12, "nope", [16]byte{}, 0, 0))); p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d", p.ErrorCode)
	}
	// Out of range: HW and log start are filled in.
	if p := fetchPartDP(t, rc.request(fetchReqDP(11, "fv", id, 0, 100))); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.HighWatermark != 9 || p.LogStartOffset != 0 {
		t.Fatalf("out of range: error %d hw %d start %d", p.ErrorCode, p.HighWatermark, p.LogStartOffset)
	}
	// At the end: no records, no error.
	if p := fetchPartDP(t, rc.request(fetchReqDP(11, "fv", id, 0, 9))); p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("at end: error %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	// A session we never created, a follower, and a future leader epoch.
	req := fetchReqDP(11, "fv", id, 0, 0)
	req.SessionID, req.SessionEpoch = 7, 1
	if r := rc.request(req).(*kmsg.FetchResponse); r.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", r.ErrorCode)
	}
	req = fetchReqDP(11, "fv", id, 0, 0)
	req.ReplicaID = 2
	if p := fetchPartDP(t, rc.request(req)); p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("replica fetch: error %d", p.ErrorCode)
	}
	req = fetchReqDP(11, "fv", id, 0, 0)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 5
	if p := fetchPartDP(t, rc.request(req)); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("future leader epoch: error %d", p.ErrorCode)
	}
}

// TestFetchMaxBytes checks PartitionMaxBytes and MaxBytes, and that a first batch larger than
// both still goes out whole.
func TestFetchMaxBytes(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "mb", 2, nil)
	rc := dialDP(t, tb)
	var size int
	for i := 0; i < 10; i++ {
		for p := int32(0); p < 2; p++ {
			b := batchDP{valueSize: 1000}.encode()
			size = len(b)
			if r := producePartDP(t, rc.request(produceReqDP(9, 1, "mb", p, b))); r.ErrorCode != 0 {
				t.Fatal(r.ErrorCode)
			}
		}
	}
	two := func(maxBytes, partMax int32) (int, int) {
		req := fetchReqDP(11, "mb", [16]byte{}, 0, 0)
		req.MaxBytes = maxBytes
		rp := req.Topics[0].Partitions[0]
		rp.Partition = 1
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
		for i := range req.Topics[0].Partitions {
			req.Topics[0].Partitions[i].PartitionMaxBytes = partMax
		}
		r := rc.request(req).(*kmsg.FetchResponse)
		ps := r.Topics[0].Partitions
		return len(batchesDP(t, ps[0].RecordBatches)), len(batchesDP(t, ps[1].RecordBatches))
	}
	cases := []struct {
		maxBytes, partMax int32
		want0, want1      int
	}{
		{50 << 20, 50 << 20, 10, 10},
		{50 << 20, int32(3*size + 10), 3, 3},        // per partition
		{int32(5*size + 10), 50 << 20, 5, 0},        // response bound, batches never cut
		{int32(12*size + 10), 50 << 20, 10, 2},      // the rest goes to the next partition
		{1, 1, 1, 0},                                // first batch whole, nothing else
		{50 << 20, 1, 1, 0},                         // ditto with a tiny partition limit
		{int32(3*size + 10), int32(size - 1), 1, 0}, // second partition's first batch does not fit
	}
	for _, c := range cases {
		g0, g1 := two(c.maxBytes, c.partMax)
		if g0 != c.want0 || g1 != c.want1 {
			t.Errorf("max %d part max %d: got %d+%d batches, want %d+%d", c.maxBytes, c.partMax, g0, g1, c.want0, c.want1)
		}
	}
}

// TestFetchLongPoll: a fetch parked on an empty partition returns the record produced while
// it waits, long before MaxWait; one that nobody feeds returns empty after MaxWait.
func TestFetchLongPoll(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "lp", 3, nil)
	rc := dialDP(t, tb)
	req := fetchReqDP(11, "lp", [16]byte{}, 0, 0)
	for p := int32(1); p < 3; p++ {
		rp := req.Topics[0].Partitions[0]
		rp.Partition = p
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	req.MaxWaitMillis = 20000
	start := time.Now()
	corr := rc.send(req)
	go func() {
		time.Sleep(200 * time.Millisecond)
		cl := tb.client(kgo.DefaultProduceTopic("lp"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		cl.ProduceSync(context.Background(), &kgo.Record{Partition: 2, Value: []byte("wake")})
	}()
	r := rc.recv(req, corr).(*kmsg.FetchResponse)
	elapsed := time.Since(start)
	if elapsed > 15*time.Second {
		t.Fatalf("long poll took %v: not woken by the append", elapsed)
	}
	ps := r.Topics[0].Partitions
	if len(batchesDP(t, ps[2].RecordBatches)) != 1 || ps[2].HighWatermark != 1 {
		t.Fatalf("woken fetch: partition 2 has %d bytes, hw %d", len(ps[2].RecordBatches), ps[2].HighWatermark)
	}

	// Nobody produces: the fetch waits MaxWait and answers empty.
	req.MaxWaitMillis = 300
	req.Topics[0].Partitions = req.Topics[0].Partitions[:1]
	start = time.Now()
	p := fetchPartDP(t, rc.request(req))
	if time.Since(start) < 250*time.Millisecond || len(p.RecordBatches) != 0 || p.ErrorCode != 0 {
		t.Fatalf("idle fetch: returned after %v with %d bytes, error %d", time.Since(start), len(p.RecordBatches), p.ErrorCode)
	}
}

// TestFetchParkingCap: past MaxParkedFetches, an empty fetch is answered at once instead of
// parking.
func TestFetchParkingCap(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.MaxParkedFetches = 1 })
	createTopicDP(t, tb, "cap", 1, nil)
	req := fetchReqDP(11, "cap", [16]byte{}, 0, 0)
	req.MaxWaitMillis = 20000
	parked := dialDP(t, tb)
	parked.send(req) // takes the only parking place
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	p := fetchPartDP(t, dialDP(t, tb).request(req))
	if time.Since(start) > 10*time.Second || p.ErrorCode != 0 {
		t.Fatalf("fetch over the parking cap: %v, error %d", time.Since(start), p.ErrorCode)
	}
}

// TestFetchFranzSessionless consumes with franz-go at the newest fetch version we serve, so the
// client's own decoding (sessions answered with id 0) is exercised end to end.
func TestFetchFranzSessionless(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "fs", 1, nil)
	cl := tb.client(kgo.DefaultProduceTopic("fs"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(round), byte(i)}}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	got := consumeDP(t, tb, "fs", 30)
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}
