package loadgen

import (
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the HDR style: values (nanoseconds) are
// bucketed by their power of two, and each power of two is split into 2^subBits linear
// sub-buckets, so every recorded value is kept to within 1/2^subBits (0.8% with 7 bits)
// relative error from 1 ns to 2^63 ns. Recording is one bits.Len64, two shifts and an
// increment: no allocation, no lock (a Histogram belongs to one goroutine; Merge combines).
//
//	bucket index = (exponent << subBits) | top subBits bits below the leading one
//	exponent 0 holds values < 2^subBits exactly (one sub-bucket per nanosecond).
type Histogram struct {
	counts [64 << subBits]uint64
	n      uint64
	min    int64
	max    int64
	sum    float64
}

const subBits = 7

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxInt64} }

func bucketOf(v int64) int {
	if v < 1<<subBits {
		if v < 0 {
			v = 0
		}
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits // ≥ 1
	return e<<subBits | int(uint64(v)>>(e-1))&(1<<subBits-1)
}

// lowerBound is the smallest value in bucket i; highest(i) = lowerBound(i+1)-1.
func lowerBound(i int) int64 {
	e := i >> subBits
	if e == 0 {
		return int64(i)
	}
	sub := int64(i & (1<<subBits - 1))
	return (1<<subBits | sub) << (e - 1)
}

// Record adds one value.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest recorded value (exact).
func (h *Histogram) Max() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Mean is the mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value at quantile q in [0, 1]: the upper bound of the bucket holding
// the ceil(q·n)-th smallest value (never below the true value), clamped to the exact max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(lowerBound(i+1)-1, h.max))
		}
	}
	return time.Duration(h.max)
}

// String summarizes the distribution.
func (h *Histogram) String() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v p99.9=%v max=%v", h.n,
		h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999), h.Max())
}
