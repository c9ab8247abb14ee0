package loadgen

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram is an HdrHistogram-style log-linear latency histogram in microseconds with 3
// significant digits, written here rather than imported (github.com/HdrHistogram/hdrhistogram-go)
// because it must take concurrent records without a lock: one histogram is shared by every
// connection of a run (10,000 connections cannot each own 200 KB).
//
// Values are bucketed by their power of two, and each power of two is split into 2^subBits
// (1024) linear sub-buckets, so a recorded value is kept to within 1/1024 (0.098%) relative
// error — HdrHistogram's 3 significant digits — from 1 µs to 2^maxBits µs (19 hours; larger
// values count in the top bucket, Max stays exact).
//
//	bucket index = (exponent << subBits) | top subBits bits below the leading one
//	exponent 0 holds values < 2^subBits µs exactly (one sub-bucket per microsecond).
//
// Recording is one bits.Len64, two shifts and a few atomic adds: no allocation, no lock, safe
// from any number of goroutines. Quantiles report a bucket's highest equivalent value (never
// below the true value), as HdrHistogram's ValueAtPercentile does.
type Histogram struct {
	counts [(maxBits - subBits + 1) << subBits]atomic.Uint64
	n      atomic.Uint64
	sumUs  atomic.Uint64
	min    atomic.Int64 // µs; math.MaxInt64 when empty
	max    atomic.Int64 // µs
}

const (
	subBits = 10 // 1024 sub-buckets per power of two: 3 significant digits
	maxBits = 36 // values up to 2^36 µs
)

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

func bucketOf(v int64) int {
	if v < 1<<subBits {
		return int(max(v, 0))
	}
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	e := bits.Len64(uint64(v)) - subBits // ≥ 1
	return e<<subBits | int(uint64(v)>>(e-1))&(1<<subBits-1)
}

// lowerBound is the smallest value in bucket i; the highest is lowerBound(i+1)-1.
func lowerBound(i int) int64 {
	e := i >> subBits
	if e == 0 {
		return int64(i)
	}
	sub := int64(i & (1<<subBits - 1))
	return (1<<subBits | sub) << (e - 1)
}

// toMicros rounds a duration to whole microseconds.
func toMicros(d time.Duration) int64 { return (int64(d) + 500) / 1000 }

// Record adds one value.
func (h *Histogram) Record(d time.Duration) { h.RecordN(d, 1) }

// RecordN adds n values equal to d (a batch of records that share one latency).
func (h *Histogram) RecordN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	v := max(toMicros(d), 0)
	h.counts[bucketOf(v)].Add(n)
	h.n.Add(n)
	h.sumUs.Add(uint64(v) * n)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
	for m := h.min.Load(); v < m && !h.min.CompareAndSwap(m, v); m = h.min.Load() {
	}
}

// Merge adds o's counts to h. o should not be recorded into meanwhile.
func (h *Histogram) Merge(o *Histogram) {
	if o.n.Load() == 0 {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sumUs.Add(o.sumUs.Load())
	if v := o.max.Load(); v > h.max.Load() {
		h.max.Store(v)
	}
	if v := o.min.Load(); v < h.min.Load() {
		h.min.Store(v)
	}
}

// Snapshot returns a copy of h. Taken while others record, it may be off by the records in
// flight (a count without its sum, say): negligible for reporting.
func (h *Histogram) Snapshot() *Histogram {
	s := NewHistogram()
	s.Merge(h)
	return s
}

// Since returns what was recorded into h after prev, an earlier Snapshot of h: the histogram
// of one reporting window. Its min and max are those of the lowest and highest non-empty
// buckets (within 0.1%), as the exact ones of a window are not kept.
func (h *Histogram) Since(prev *Histogram) *Histogram {
	d := NewHistogram()
	lo, hi := -1, -1
	for i := range h.counts {
		c := h.counts[i].Load() - prev.counts[i].Load()
		if c == 0 {
			continue
		}
		d.counts[i].Store(c)
		if lo < 0 {
			lo = i
		}
		hi = i
	}
	d.n.Store(h.n.Load() - prev.n.Load())
	d.sumUs.Store(h.sumUs.Load() - prev.sumUs.Load())
	if hi >= 0 {
		d.min.Store(lowerBound(lo))
		d.max.Store(min(lowerBound(hi+1)-1, h.max.Load()))
	}
	return d
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest recorded value (exact, to the microsecond).
func (h *Histogram) Max() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(h.max.Load()) * time.Microsecond
}

// Min is the smallest recorded value.
func (h *Histogram) Min() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(h.min.Load()) * time.Microsecond
}

// Mean is the mean of the recorded values.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(float64(h.sumUs.Load()) / float64(n) * 1e3)
}

// Quantile returns the value at quantile q in [0, 1]: the highest value equivalent to the
// ceil(q·n)-th smallest recorded one (never below it, at most 0.1% above), clamped to the
// exact max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	mx := h.max.Load()
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(lowerBound(i+1)-1, mx)) * time.Microsecond
		}
	}
	return time.Duration(mx) * time.Microsecond
}

// String summarizes the distribution.
func (h *Histogram) String() string {
	return fmt.Sprintf("n=%d p50=%v p90=%v p99=%v p99.9=%v max=%v", h.Count(),
		h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999), h.Max())
}
