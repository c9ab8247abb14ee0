package streams

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// SlidingWindows are Kafka Streams' sliding windows (SlidingWindows.
// ofTimeDifferenceAndGrace): windows [Start, Start+TimeDifference], both ends
// inclusive, that exist only where records are — each record creates the window
// ending at it and, if later records are near, the window starting just after it — so
// every distinct set of records no more than TimeDifference apart has exactly one
// window. A window closes when stream time passes its end + Grace; a record none of
// whose windows is open is late: dropped and counted in Metrics.LateRecordsDropped. As
// in Kafka, windows start at 0 or later: records earlier than TimeDifference share the
// window [0, TimeDifference].
type SlidingWindows struct {
	TimeDifference time.Duration
	Grace          time.Duration
}

// Sliding returns sliding windows of the time difference and grace period given.
func Sliding(timeDifference, grace time.Duration) SlidingWindows {
	return SlidingWindows{TimeDifference: timeDifference, Grace: grace}
}

// check reports what is wrong with w, if anything.
func (w SlidingWindows) check() error {
	if w.TimeDifference < time.Millisecond || w.Grace < 0 {
		return fmt.Errorf("sliding windows time difference %v grace %v: want time difference ≥ 1ms and grace ≥ 0", w.TimeDifference, w.Grace)
	}
	return nil
}

// SlidingWindowedStream is a grouped stream cut into sliding windows (Kafka's
// TimeWindowedKStream over SlidingWindows).
type SlidingWindowedStream[K, V any] struct {
	g *GroupedStream[K, V]
	w SlidingWindows
}

// WindowedBySliding cuts the grouped stream into the sliding windows w.
func (g *GroupedStream[K, V]) WindowedBySliding(w SlidingWindows) *SlidingWindowedStream[K, V] {
	if err := w.check(); err != nil {
		g.b.fail("WindowedBySliding: %v", err)
	}
	return &SlidingWindowedStream[K, V]{g: g, w: w}
}

// Count counts records per key and sliding window into the windowed store name.
func (s *SlidingWindowedStream[K, V]) Count(name string) *Table[Windowed[K], int64] {
	return AggregateSliding(s, name, func() int64 { return 0 },
		func(_ K, _ V, agg int64) int64 { return agg + 1 }, Int64())
}

// slidingWindow is one stored sliding window: its start, the largest record timestamp
// in it and its aggregate (stored as that timestamp, 8 bytes BE, ‖ the aggregate).
type slidingWindow[VA any] struct {
	start, maxTS int64
	agg          VA
}

// AggregateSliding folds the values of each key and sliding window into an aggregate
// of type VA, starting from init(), kept in the windowed store name (changelog key ‖
// start, cleanup.policy compact,delete). The windows and their aggregates are those of
// Kafka Streams' sliding-window aggregation (KStreamSlidingWindowAggregate), ported: a
// new window copies the aggregate of the window it is derived from, so f needs no
// inverse. The table emits every updated or created window, or, with
// SuppressUntilWindowClose, each window's final value once it closes. Records with a
// null key are dropped, as in Kafka.
func AggregateSliding[K, V, VA any](s *SlidingWindowedStream[K, V], name string, init func() VA, f func(K, V, VA) VA, aggs Serde[VA]) *Table[Windowed[K], VA] {
	g := s.g
	if init == nil || f == nil || aggs == nil {
		g.b.fail("AggregateSliding(%q): nil function or serde", name)
	}
	diff, grace := s.w.TimeDifference.Milliseconds(), s.w.Grace.Milliseconds()
	g.b.addStore(storeSpec{name: name, kind: keyedWindowStore, size: diff, retention: 2*diff + grace})
	wa := &windowAgg{}
	n := g.b.child(g.n, "sliding-aggregate", func(n *node) func(*recordContext, any, any) error {
		decodeWin := func(sk, b []byte) (kb []byte, w slidingWindow[VA], err error) {
			kb, times, err := splitKeyedTimeKey(sk, 1)
			if err != nil {
				return nil, w, err
			}
			if len(b) < 8 {
				return nil, w, fmt.Errorf("streams: store %s: a sliding window value of %d bytes, want at least 8", name, len(b))
			}
			w.start, w.maxTS = times[0], int64(binary.BigEndian.Uint64(b))
			if w.agg, err = aggs.Decode(b[8:]); err != nil {
				return nil, w, fmt.Errorf("streams: decoding store %s: %w", name, err)
			}
			return kb, w, nil
		}
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			kb, err := g.keys.Encode(kk)
			if err != nil {
				return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
			}
			if kb == nil {
				return nil
			}
			st := c.t.store(name)
			emitted := int64(math.MinInt64) // windows up to this start were closed (and emitted)
			if st.streamTime != math.MinInt64 {
				emitted = st.streamTime - grace - diff - 1
			}
			streamTime := max(st.streamTime, c.ts)
			st.streamTime = streamTime
			closeTime := streamTime - grace
			ts := c.ts
			// put stores window w and forwards it unless suppressed.
			put := func(w slidingWindow[VA]) error {
				ab, err := aggs.Encode(w.agg)
				if err != nil {
					return fmt.Errorf("streams: encoding an aggregate for store %s: %w", name, err)
				}
				val := append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(ab)), uint64(w.maxTS)), ab...)
				if err := st.put(c, keyedTimeKey(kb, w.start), val); err != nil {
					return err
				}
				if wa.suppress {
					return nil
				}
				return n.forward(c, Windowed[K]{Key: kk, Start: w.start, End: w.start + diff}, w.agg)
			}
			// update folds the record into w, if w is still open.
			update := func(w slidingWindow[VA]) error {
				if w.start+diff < closeTime {
					return nil
				}
				w.agg, w.maxTS = f(kk, v.(V), w.agg), max(ts, w.maxTS)
				return put(w)
			}
			fresh := func(start int64) slidingWindow[VA] {
				return slidingWindow[VA]{start: start, maxTS: ts, agg: init()}
			}
			if ts+diff < closeTime {
				c.t.a.metrics.LateRecordsDropped.Add(1)
			} else {
				found, err := st.fetchKeyed(kb, max(0, ts-2*diff), ts+1)
				if err != nil {
					return err
				}
				wins := make([]slidingWindow[VA], len(found))
				starts := make(map[int64]bool, len(found))
				for i, e := range found {
					if _, wins[i], err = decodeWin(e.sk, e.value); err != nil {
						return err
					}
					starts[wins[i].start] = true
				}
				var (
					left, right           *slidingWindow[VA] // the windows the new ones copy
					leftDone, rightDone   bool               // the record's left or right window exists
					prev                  int64              // the previous record's timestamp, if hasPrev
					hasPrev, earlyWinSeen bool
					early                 slidingWindow[VA] // ts < diff: the window [0, diff]
				)
				for i := range wins {
					w := &wins[i]
					end := w.start + diff
					switch {
					case ts < diff && w.start == 0:
						early, earlyWinSeen = *w, true
						if w.maxTS < ts {
							prev, hasPrev = w.maxTS, true
						}
					case ts >= diff && end < ts:
						left, prev, hasPrev = w, w.maxTS, true
					case ts >= diff && end == ts:
						leftDone = true
						if w.maxTS < ts {
							prev, hasPrev = w.maxTS, true
						}
						if err := update(*w); err != nil {
							return err
						}
					case w.start <= ts && end > ts:
						right = w
						if err := update(*w); err != nil {
							return err
						}
					case w.start == ts+1:
						rightDone = true
					default:
						return fmt.Errorf("streams: store %s: a sliding window starting at %d where a record at %d finds none", name, w.start, ts)
					}
				}
				if ts < diff {
					// Kafka's processEarly: the window [0, diff] stands for the record's left window.
					if right == nil && earlyWinSeen && early.maxTS > ts {
						right = &early
					}
					if !rightDone && right != nil && right.maxTS > ts {
						if err := put(slidingWindow[VA]{start: ts + 1, maxTS: right.maxTS, agg: right.agg}); err != nil {
							return err
						}
					}
					if hasPrev && !starts[prev+1] {
						if err := update(fresh(prev + 1)); err != nil {
							return err
						}
					}
					w := fresh(0)
					if earlyWinSeen {
						w = early
					}
					if err := update(w); err != nil {
						return err
					}
				} else {
					// Kafka's createWindows.
					if hasPrev && !starts[prev+1] && prev+1+diff >= ts {
						if err := update(fresh(prev + 1)); err != nil {
							return err
						}
					}
					if !leftDone {
						w := fresh(ts - diff)
						if hasPrev && ts-diff <= prev {
							w.agg = left.agg
						}
						if err := update(w); err != nil {
							return err
						}
					}
					if !rightDone && right != nil && right.maxTS > ts {
						if err := put(slidingWindow[VA]{start: ts + 1, maxTS: right.maxTS, agg: right.agg}); err != nil {
							return err
						}
					}
				}
			}
			// Windows ending before closeTime (start + diff < closeTime) are closed: emit
			// the ones this record closed. Keep them, as Kafka does, for grace + 2·diff
			// after their start: a later record's new windows copy their aggregates.
			var final func(sk, b []byte) error
			if wa.suppress {
				final = func(sk, b []byte) error {
					wkb, w, err := decodeWin(sk, b)
					if err != nil {
						return err
					}
					wk, err := decode(g.keys, wkb, "key of store "+name)
					if err != nil {
						return err
					}
					return n.forward(c, Windowed[K]{Key: wk, Start: w.start, End: w.start + diff}, w.agg)
				}
			}
			return st.expireKeyed(c, emitted, closeTime-diff-1, streamTime-grace-2*diff, final)
		}
	})
	return &Table[Windowed[K], VA]{b: g.b, n: n, store: name, keys: WindowedSerde(g.keys, diff), values: aggs, wagg: wa}
}
