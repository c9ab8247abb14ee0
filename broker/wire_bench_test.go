package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testbatch"
)

// BenchmarkProduceDecode measures what handle does with a Produce frame before the handler
// runs: kmsg.RequestForKey and ReadFrom over the body. The shape is the socket benchmark's
// (bench/socket_test.go): 1 KiB records, 64 per batch, two partitions per request, so one op
// decodes about 130 KB of which all but the framing are record bytes (sub-sliced, not copied).
func BenchmarkProduceDecode(b *testing.B) {
	for _, v := range []int16{9, 11} {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = v, -1, 30_000
			t := kmsg.NewProduceRequestTopic()
			t.Topic = "bench"
			for p := int32(0); p < 2; p++ {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = testbatch.Build(testbatch.Options{Records: 64, ValueSize: 1024, BaseTimestamp: 1_700_000_000_000, TimestampStep: 1})
				t.Partitions = append(t.Partitions, rp)
			}
			req.Topics = append(req.Topics, t)
			body := req.AppendTo(nil)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				kreq := kmsg.RequestForKey(int16(kmsg.Produce))
				kreq.SetVersion(v)
				if err := kreq.ReadFrom(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFetchEncode measures appendFetchResponse for a consumer's fetch of six partitions
// whose records go out as file regions (writeFetch's path: the callback appends nothing, the
// bytes are sent with sendfile), into a reused buffer as the pooled response buffers are.
func BenchmarkFetchEncode(b *testing.B) {
	for _, v := range []int16{11, 16} {
		b.Run(fmt.Sprintf("v%d", v), func(b *testing.B) {
			r := &fetchResponse{version: v, sessionID: 7}
			t := fetchTopic{name: "bench", id: [16]byte{1, 2, 3}}
			for p := int32(0); p < 6; p++ {
				t.parts = append(t.parts, fetchPartition{partition: p, highWatermark: 1 << 20, lastStableOffset: 1 << 20,
					logStartOffset: 0, abortedNull: true, preferredReadReplica: -1, records: make([]byte, 1<<20)})
			}
			r.topics = append(r.topics, t)
			regions := func(dst []byte, p *fetchPartition) []byte { return dst } // sent by sendfile
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendFetchResponse(buf[:0], r, regions)
			}
		})
	}
}
