package loadgen

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBucketsContiguous(t *testing.T) {
	n := len(NewHistogram().counts)
	for i := 0; i < n-1; i++ {
		lo, hi := lowerBound(i), lowerBound(i+1)-1
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: [%d,%d] maps to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		// 3 significant digits: a bucket is at most 1/1024 of its values wide.
		if lo >= 1<<subBits && float64(hi-lo+1)/float64(lo) > 1.0/(1<<subBits) {
			t.Fatalf("bucket %d [%d,%d] too wide", i, lo, hi)
		}
	}
	if bucketOf(1<<maxBits+12345) != n-1 || bucketOf(-5) != 0 {
		t.Fatal("out-of-range values are not clamped")
	}
}

// TestQuantileModel compares quantiles with a sorted copy (in whole microseconds): the
// histogram never reports less than the true value and at most 1/1024 more.
func TestQuantileModel(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	h := NewHistogram()
	var vals []int64
	for i := 0; i < 100000; i++ {
		v := int64(r.ExpFloat64() * 1e4) // µs
		if i%1000 == 0 {
			v *= 1000 // a long tail
		}
		vals = append(vals, v)
		h.Record(time.Duration(v) * time.Microsecond)
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
		rank := max(int(q*float64(len(vals))+0.999999)-1, 0)
		want := vals[rank]
		got := h.Quantile(q).Microseconds()
		if got < want || float64(got-want) > float64(want)/(1<<subBits)+1 {
			t.Fatalf("seed %d: q=%v got %d want %d", seed, q, got, want)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1])*time.Microsecond || h.Min() != time.Duration(vals[0])*time.Microsecond {
		t.Fatalf("seed %d: min %v max %v", seed, h.Min(), h.Max())
	}
}

// TestConcurrentRecord: records from many goroutines are all counted.
func TestConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10000 {
				h.RecordN(time.Duration(g*1000+i)*time.Microsecond, 2)
			}
		}()
	}
	wg.Wait()
	if h.Count() != 160000 {
		t.Fatalf("count %d", h.Count())
	}
	if h.Max() != 16999*time.Microsecond || h.Min() != 0 {
		t.Fatalf("min %v max %v", h.Min(), h.Max())
	}
}

// TestSince: a window's histogram holds exactly what was recorded after the snapshot.
func TestSince(t *testing.T) {
	h := NewHistogram()
	for i := range 1000 {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	prev := h.Snapshot()
	for range 500 {
		h.Record(5 * time.Second)
	}
	w := h.Since(prev)
	if w.Count() != 500 || w.Quantile(0) != 5*time.Second || w.Max() != 5*time.Second || w.Mean() != 5*time.Second {
		t.Fatalf("window: %v mean %v", w, w.Mean())
	}
	if h.Count() != 1500 || h.Quantile(0.5) < 749*time.Millisecond || h.Quantile(0.5) > 750*time.Millisecond {
		t.Fatalf("whole: %v", h)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i * 977))
	}
}
