package broker

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/segment"
)

// Helpers for the data-path tests (produce, fetch, list offsets, idempotence). Names end in
// DP so they do not collide with other test files of the package.

// createTopicDP creates a topic directly in the broker (no admin API needed).
func createTopicDP(t testing.TB, tb *testBroker, name string, partitions int32, configs map[string]string) {
	t.Helper()
	if _, err := tb.b.createTopic(name, partitions, configs); err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// rawConnDP is a bare Kafka connection: it sends kmsg requests at the version they carry and
// decodes the responses, so tests pin versions exactly.
type rawConnDP struct {
	t    testing.TB
	c    net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func dialDP(t testing.TB, tb *testBroker) *rawConnDP {
	t.Helper()
	c, err := net.Dial("tcp", tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConnDP{t: t, c: c, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("dp-test"))}
}

// send writes a request and returns its correlation id.
func (rc *rawConnDP) send(req kmsg.Request) int32 {
	rc.t.Helper()
	rc.corr++
	if _, err := rc.c.Write(rc.f.AppendRequest(nil, req, rc.corr)); err != nil {
		rc.t.Fatal(err)
	}
	return rc.corr
}

// recv reads the next response frame and decodes it as req's response.
func (rc *rawConnDP) recv(req kmsg.Request, corr int32) kmsg.Response {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.c, size[:]); err != nil {
		rc.t.Fatalf("read response size: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.c, body); err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	body = body[4:]
	if req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			rc.t.Fatalf("response header tagged fields: % x", body[:min(len(body), 4)])
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode %T v%d: %v", resp, req.GetVersion(), err)
	}
	return resp
}

func (rc *rawConnDP) request(req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	return rc.recv(req, rc.send(req))
}

// batchDP is one hand-made record batch.
type batchDP struct {
	codec      int16 // attribute bits 0-2; the records are never actually compressed
	idempotent bool  // else producerID, epoch and sequence are written as -1
	producerID int64
	epoch      int16
	sequence   int32
	timestamps []int64 // one record per timestamp
	valueSize  int
}

// encode builds a valid record batch v2 (CRC-32C included).
func (bt batchDP) encode() []byte {
	if len(bt.timestamps) == 0 {
		bt.timestamps = []int64{time.Now().UnixMilli()}
	}
	if !bt.idempotent {
		bt.producerID = -1
		bt.epoch = -1
		bt.sequence = -1
	}
	base, maxTS := bt.timestamps[0], bt.timestamps[0]
	for _, ts := range bt.timestamps {
		maxTS = max(maxTS, ts)
	}
	var recs []byte
	value := bytes.Repeat([]byte{'v'}, bt.valueSize)
	for i, ts := range bt.timestamps {
		recs = segment.AppendRecord(recs, kmsg.Record{TimestampDelta64: ts - base, OffsetDelta: int32(i), Value: value})
	}
	if bt.codec == 1 { // really gzip the records, as a client would
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(recs)
		zw.Close()
		recs = zb.Bytes()
	}
	return segment.AppendBatch(nil, segment.Header{Attributes: bt.codec, LastOffsetDelta: int32(len(bt.timestamps) - 1),
		BaseTimestamp: base, MaxTimestamp: maxTS, ProducerID: bt.producerID, ProducerEpoch: bt.epoch,
		BaseSequence: bt.sequence, RecordCount: int32(len(bt.timestamps))}, recs)
}

// produceReqDP is a one-partition produce request.
func produceReqDP(version int16, acks int16, topic string, partition int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = version
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = partition
	rp.Records = records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func producePartDP(t testing.TB, resp kmsg.Response) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response shape: %+v", r)
	}
	return r.Topics[0].Partitions[0]
}

// consumeDP reads n records from the start of topic.
func consumeDP(t testing.TB, tb *testBroker, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := tb.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestProduceConsumeCodecsAndAcks(t *testing.T) {
	tb := startBroker(t, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()},
	}
	acks := []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"acksall", kgo.AllISRAcks()}}
	for _, c := range codecs {
		for _, a := range acks {
			t.Run(c.name+"/"+a.name, func(t *testing.T) {
				topic := "codec-" + c.name + "-" + a.name
				createTopicDP(t, tb, topic, 2, nil)
				opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(c.codec), kgo.RequiredAcks(a.acks)}
				if a.name != "acksall" {
					opts = append(opts, kgo.DisableIdempotentWrite())
				}
				cl := tb.client(opts...)
				var want []*kgo.Record
				for i := 0; i < 50; i++ {
					r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{byte('a' + i%26)}, 100+i)}
					switch i % 10 {
					case 3:
						r.Key = nil
					case 4:
						r.Value = nil
					case 5:
						r.Headers = []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}}
					}
					want = append(want, r)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := cl.ProduceSync(ctx, want...).FirstErr(); err != nil {
					t.Fatal(err)
				}
				got := consumeDP(t, tb, topic, len(want))
				if len(got) != len(want) {
					t.Fatalf("got %d records, want %d", len(got), len(want))
				}
				byKeyValue := map[string]*kgo.Record{}
				for _, r := range got {
					byKeyValue[fmt.Sprintf("%q/%q/%v", r.Key, r.Value, r.Key == nil)] = r
				}
				for _, w := range want {
					g := byKeyValue[fmt.Sprintf("%q/%q/%v", w.Key, w.Value, w.Key == nil)]
					if g == nil {
						t.Fatalf("record key %q not consumed", w.Key)
					}
					if (g.Value == nil) != (w.Value == nil) || (g.Key == nil) != (w.Key == nil) {
						t.Fatalf("null key/value not kept: got key %v value %v", g.Key, g.Value)
					}
					if len(g.Headers) != len(w.Headers) {
						t.Fatalf("headers: got %v want %v", g.Headers, w.Headers)
					}
					for i := range w.Headers {
						if g.Headers[i].Key != w.Headers[i].Key || !bytes.Equal(g.Headers[i].Value, w.Headers[i].Value) {
							t.Fatalf("header %d: got %v want %v", i, g.Headers[i], w.Headers[i])
						}
					}
				}
			})
		}
	}
}

func TestProduceLargeRecords(t *testing.T) {
	tb := startBroker(t, nil)
	const limit = 200_000
	createTopicDP(t, tb, "large", 1, map[string]string{"max.message.bytes": fmt.Sprint(limit)})
	// Uncompressed: max.message.bytes bounds the batch as stored (compressed, when it is).
	cl := tb.client(kgo.DefaultProduceTopic("large"), kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(2), kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	near := &kgo.Record{Value: bytes.Repeat([]byte{'n'}, limit-200)}
	if err := cl.ProduceSync(ctx, near).FirstErr(); err != nil {
		t.Fatalf("record near max.message.bytes: %v", err)
	}
	over := &kgo.Record{Value: bytes.Repeat([]byte{'o'}, limit+1000)}
	if err := cl.ProduceSync(ctx, over).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("record over max.message.bytes: got %v, want MESSAGE_TOO_LARGE", err)
	}
	got := consumeDP(t, tb, "large", 1)
	if !bytes.Equal(got[0].Value, near.Value) {
		t.Fatalf("large record corrupted")
	}
}

func TestProduceManyPartitions(t *testing.T) {
	tb := startBroker(t, nil)
	const parts = 64
	createTopicDP(t, tb, "many", parts, nil)
	cl := tb.client(kgo.DefaultProduceTopic("many"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for i := 0; i < parts*5; i++ {
		recs = append(recs, &kgo.Record{Partition: int32(i % parts), Value: []byte(fmt.Sprint(i))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeDP(t, tb, "many", len(recs))
	perPart := map[int32]int{}
	for _, r := range got {
		perPart[r.Partition]++
	}
	for p := int32(0); p < parts; p++ {
		if perPart[p] != 5 {
			t.Fatalf("partition %d: %d records, want 5", p, perPart[p])
		}
	}
}

func TestProduceValidation(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "val", 1, nil)
	rc := dialDP(t, tb)
	one := func() []byte { return batchDP{}.encode() }
	cases := []struct {
		name    string
		req     *kmsg.ProduceRequest
		want    int16
		wantOff int64
	}{
		{"v2 unsupported", produceReqDP(2, 1, "val", 0, one()), kerr.UnsupportedVersion.Code, -1},
		{"acks 2", produceReqDP(9, 2, "val", 0, one()), kerr.InvalidRequiredAcks.Code, -1},
		{"unknown topic", produceReqDP(9, 1, "nope", 0, one()), kerr.UnknownTopicOrPartition.Code, -1},
		{"unknown partition", produceReqDP(9, 1, "val", 7, one()), kerr.UnknownTopicOrPartition.Code, -1},
		{"two batches", produceReqDP(9, 1, "val", 0, append(one(), one()...)), kerr.InvalidRecord.Code, -1},
		{"zstd on v6", produceReqDP(6, 1, "val", 0, batchDP{codec: 4}.encode()), kerr.UnsupportedCompressionType.Code, -1},
		{"corrupt crc", produceReqDP(9, 1, "val", 0, func() []byte { b := one(); b[len(b)-1] ^= 1; return b }()), kerr.CorruptMessage.Code, -1},
		{"transactional without a transactional id", produceReqDP(9, 1, "val", 0, batchDP{codec: 0x10}.encode()), kerr.TransactionalIDAuthorizationFailed.Code, -1},
		{"transactional without a producer id", func() *kmsg.ProduceRequest {
			r, id := produceReqDP(9, 1, "val", 0, batchDP{codec: 0x10}.encode()), "t"
			r.TransactionID = &id
			return r
		}(), kerr.InvalidRecord.Code, -1},
		{"control batch", produceReqDP(9, 1, "val", 0, batchDP{codec: 0x20}.encode()), kerr.InvalidRecord.Code, -1},
		{"ok v3", produceReqDP(3, 1, "val", 0, one()), 0, 0},
		{"ok v11 acks all", produceReqDP(11, -1, "val", 0, one()), 0, 1},
	}
	for _, c := range cases {
		p := producePartDP(t, rc.request(c.req))
		if p.ErrorCode != c.want || p.BaseOffset != c.wantOff {
			t.Errorf("%s: error %d offset %d, want %d offset %d", c.name, p.ErrorCode, p.BaseOffset, c.want, c.wantOff)
		}
		if c.want == 0 && c.req.Version >= 5 && p.LogStartOffset != 0 {
			t.Errorf("%s: log start offset %d", c.name, p.LogStartOffset)
		}
	}

	// acks=0: no response at all, but the append happens. The next request's response is the
	// next thing on the wire. (Pipelined requests may be handled in either order, so the
	// second may land at offset 2 or 3; both must be in the log.)
	rc.send(produceReqDP(9, 0, "val", 0, one()))
	corr := rc.send(produceReqDP(9, 1, "val", 0, one()))
	if p := producePartDP(t, rc.recv(produceReqDP(9, 1, "val", 0, nil), corr)); p.ErrorCode != 0 || (p.BaseOffset != 2 && p.BaseOffset != 3) {
		t.Fatalf("after acks=0: error %d offset %d, want offset 2 or 3", p.ErrorCode, p.BaseOffset)
	}
	deadline := time.Now().Add(10 * time.Second)
	for tb.b.eng.Log(engineTPDP("val", 0)).HighWatermark() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("acks=0 batch never appended: high watermark %d", tb.b.eng.Log(engineTPDP("val", 0)).HighWatermark())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProduceLogAppendTime(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	rc := dialDP(t, tb)
	before := time.Now().UnixMilli()
	p := producePartDP(t, rc.request(produceReqDP(9, 1, "lat", 0, batchDP{timestamps: []int64{1}}.encode())))
	if p.ErrorCode != 0 || p.LogAppendTime < before || p.LogAppendTime > time.Now().UnixMilli() {
		t.Fatalf("LogAppendTime topic: error %d log append time %d", p.ErrorCode, p.LogAppendTime)
	}
	got := consumeDP(t, tb, "lat", 1)
	if got[0].Timestamp.UnixMilli() != p.LogAppendTime {
		t.Fatalf("consumed timestamp %v, want log append time %d", got[0].Timestamp, p.LogAppendTime)
	}
}

func engineTPDP(topic string, p int32) engine.TopicPartition {
	return engine.TopicPartition{Topic: topic, Partition: p}
}
