package broker

import (
	"encoding/binary"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testbatch"
)

// BenchmarkProduceRequest: one Produce request per op through the real broker over a loopback
// socket, acks=1 (answered after the append, no fsync wait): framing, decode, validation
// (CRC-32C once per batch), the appends and the response. Two partitions of one batch each,
// in the shapes of bench's workloads: 64 records of 1 KiB (max-throughput) and 1000 of 100 B
// (iot-100b). The client reuses one encoded frame (the broker stamps offsets into its own
// copy) and one read buffer, so allocs/op is the broker's (the process's, GC and background
// included). cpu-ns/op is getrusage time per op, broker and client together: on a loaded
// machine it means more than the wall time.
func BenchmarkProduceRequest(b *testing.B) {
	for _, shape := range []struct {
		name             string
		records, valueSz int
	}{{"1KiBx64", 64, 1024}, {"100Bx1000", 1000, 100}} {
		b.Run(shape.name, func(b *testing.B) {
			tb := startBroker(b, nil)
			createTopicDP(b, tb, "bench", 2, nil)
			req := kmsg.NewPtrProduceRequest()
			req.Version, req.Acks, req.TimeoutMillis = 11, 1, 30_000
			t := kmsg.NewProduceRequestTopic()
			t.Topic = "bench"
			for p := range int32(2) {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rp.Records = testbatch.Build(testbatch.Options{Records: shape.records, ValueSize: shape.valueSz, BaseTimestamp: time.Now().UnixMilli(), TimestampStep: 1})
				t.Partitions = append(t.Partitions, rp)
			}
			req.Topics = append(req.Topics, t)
			frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("bench")).AppendRequest(nil, req, 1)

			c, err := net.Dial("tcp", tb.addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var size [4]byte
			resp := make([]byte, 0, 4096)
			roundTrip := func() {
				if _, err := c.Write(frame); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, size[:]); err != nil {
					b.Fatal(err)
				}
				n := int(binary.BigEndian.Uint32(size[:]))
				if n > cap(resp) {
					b.Fatalf("response of %d bytes", n)
				}
				if _, err := io.ReadFull(c, resp[:n]); err != nil {
					b.Fatal(err)
				}
			}
			roundTrip() // the first append opens the partitions' segments
			var pr kmsg.ProduceResponse
			pr.Version = 11
			if err := pr.ReadFrom(resp[4+1 : int(binary.BigEndian.Uint32(size[:]))]); err != nil {
				b.Fatal(err)
			}
			for _, p := range pr.Topics[0].Partitions {
				if p.ErrorCode != 0 {
					b.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
				}
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			cpu0 := rusageCPU()
			for b.Loop() {
				roundTrip()
			}
			b.ReportMetric(float64(rusageCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// rusageCPU is the process's user and system CPU time.
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
