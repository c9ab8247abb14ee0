package loadgen

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
)

func startSink(t *testing.T) *Sink {
	t.Helper()
	s, err := StartSink("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestProduceCounts: every request is sent, answered in order and counted, for every acks
// and for uneven partition assignments.
func TestProduceCounts(t *testing.T) {
	s := startSink(t)
	for _, tc := range []struct {
		acks       int16
		partitions int32
		conns      int
		requests   int64
	}{
		{acks: 1, partitions: 6, conns: 3, requests: 1000},
		{acks: -1, partitions: 6, conns: 4, requests: 999},
		{acks: 0, partitions: 2, conns: 5, requests: 500},
	} {
		res, err := RunProduce(context.Background(), ProduceConfig{
			Bootstrap: s.Addr(), Partitions: tc.partitions, Conns: tc.conns, InFlight: 4,
			Acks: tc.acks, RecordSize: 100, RecordsPerBatch: 10, Requests: tc.requests,
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Err() != nil {
			t.Fatal(res.Err())
		}
		if res.Requests != tc.requests {
			t.Errorf("acks=%d: sent %d requests, want %d", tc.acks, res.Requests, tc.requests)
		}
		wantAcked := tc.requests
		if tc.acks == 0 {
			wantAcked = 0
		}
		if res.Acked != wantAcked || res.Latency.Count() != uint64(wantAcked) {
			t.Errorf("acks=%d: acked %d (latencies %d), want %d", tc.acks, res.Acked, res.Latency.Count(), wantAcked)
		}
		if res.Bytes != res.Records*100 || res.Records == 0 {
			t.Errorf("records %d bytes %d", res.Records, res.Bytes)
		}
	}
}

// TestFixedRate: the generator keeps to the schedule and reports latency from intended send
// times (so never less than the send lag of the same request).
func TestFixedRate(t *testing.T) {
	s := startSink(t)
	res, err := RunProduce(context.Background(), ProduceConfig{
		Bootstrap: s.Addr(), Partitions: 2, Conns: 1, Acks: 1, RecordSize: 1000, RecordsPerBatch: 5,
		Rate: 10e6, Duration: time.Second, // 1000 requests of 10 KB
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 1000 {
		t.Errorf("sent %d requests, want the schedule's 1000", res.Requests)
	}
	// Never ahead of the schedule; behind it only as far as the send lag admits (a loaded
	// machine delays sends: the generator must report that, not hide it).
	got := res.MBPerSec()
	if got > 11 {
		t.Errorf("rate %.2f MB/s, above the 10 MB/s schedule", got)
	}
	if behind := res.Elapsed - time.Second; got < 9 && res.SendLag.Max() < behind/2 {
		t.Errorf("rate %.2f MB/s (%v behind the schedule) but the send lag shows at most %v", got, behind, res.SendLag.Max())
	}
	if res.SendLag.Count() != uint64(res.Requests) {
		t.Errorf("send lag recorded %d times for %d requests", res.SendLag.Count(), res.Requests)
	}
	t.Log(res)
}

// TestFetchCatchUp: against the sink (offsets renumbered from the fetch offset) the driver
// advances by whole batches and stops at its byte budget.
func TestFetchCatchUp(t *testing.T) {
	s := startSink(t)
	res, err := RunFetch(context.Background(), FetchConfig{
		Bootstrap: s.Addr(), Partitions: 4, Conns: 2, MaxTotalBytes: 20 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes < 20<<20 || res.Batches == 0 {
		t.Fatalf("fetched %d bytes in %d batches", res.Bytes, res.Batches)
	}
}

func TestWalkBatches(t *testing.T) {
	b1 := testbatch.Build(testbatch.Options{Records: 3})
	b2 := testbatch.Build(testbatch.Options{Records: 5})
	binary.BigEndian.PutUint64(b2, 3)
	all := append(append([]byte(nil), b1...), b2...)
	for cut := 0; cut <= len(all); cut++ {
		next, n, batches := walkBatches(all[:cut])
		switch {
		case cut >= len(all):
			if next != 8 || n != len(all) || batches != 2 {
				t.Fatalf("whole: next %d n %d batches %d", next, n, batches)
			}
		case cut >= len(b1):
			if next != 3 || n != len(b1) || batches != 1 {
				t.Fatalf("cut %d: next %d n %d batches %d", cut, next, n, batches)
			}
		default:
			if next != 0 || n != 0 || batches != 0 {
				t.Fatalf("cut %d: next %d n %d batches %d", cut, next, n, batches)
			}
		}
	}
}

// BenchmarkSinkProduce is the generator's ceiling on this machine with the sink in-process:
// one op is one request of 6 × 64 KiB batches.
func BenchmarkSinkProduce(b *testing.B) {
	s, err := StartSink("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	res, err := RunProduce(context.Background(), ProduceConfig{
		Bootstrap: s.Addr(), Partitions: 6, Conns: 1, InFlight: 8, Acks: 1,
		RecordSize: 1024, RecordsPerBatch: 64, Requests: int64(b.N),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(res.Bytes / res.Requests)
}
