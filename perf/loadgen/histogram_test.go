package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsContiguous(t *testing.T) {
	for i := 0; i < len(Histogram{}.counts)-1; i++ {
		lo, hi := lowerBound(i), lowerBound(i+1)-1
		if lo < 0 || hi < lo {
			break // past 2^63: overflow
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: [%d,%d] maps to %d,%d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= 1<<subBits && float64(hi-lo+1)/float64(lo) > 1.0/(1<<(subBits-1)) {
			t.Fatalf("bucket %d [%d,%d] too wide", i, lo, hi)
		}
	}
}

// TestQuantileModel compares quantiles with a sorted copy: the histogram never reports less
// than the true value and at most 1/2^(subBits-1) more.
func TestQuantileModel(t *testing.T) {
	seed := rand.Uint64()
	r := rand.New(rand.NewPCG(seed, 0))
	h := NewHistogram()
	var vals []int64
	for i := 0; i < 100000; i++ {
		v := int64(r.ExpFloat64() * 1e6)
		vals = append(vals, v)
		h.Record(time.Duration(v))
	}
	slices.Sort(vals)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(q*float64(len(vals))+0.999999) - 1
		rank = max(rank, 0)
		want := vals[rank]
		got := int64(h.Quantile(q))
		if got < want || float64(got-want) > float64(want)/(1<<(subBits-1))+1 {
			t.Fatalf("seed %d: q=%v got %d want %d", seed, q, got, want)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) {
		t.Fatalf("max %v", h.Max())
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i * 977))
	}
}
