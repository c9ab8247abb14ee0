package streams

import (
	"fmt"
	"math"
	"time"
)

// TimeWindows are fixed-size windows on event time (the record timestamp): tumbling when
// Advance equals Size, hopping when Advance is smaller. A record whose window ended
// Grace or more before the stream time (the largest timestamp the task has seen) is late:
// it is dropped and counted in Metrics.LateRecordsDropped.
type TimeWindows struct {
	Size    time.Duration
	Advance time.Duration
	Grace   time.Duration
}

// Tumbling returns back-to-back windows of size with the grace period given.
func Tumbling(size, grace time.Duration) TimeWindows {
	return TimeWindows{Size: size, Advance: size, Grace: grace}
}

// Hopping returns windows of size starting every advance, with the grace period given.
func Hopping(size, advance, grace time.Duration) TimeWindows {
	return TimeWindows{Size: size, Advance: advance, Grace: grace}
}

// check reports what is wrong with w, if anything.
func (w TimeWindows) check() error {
	if w.Size < time.Millisecond || w.Advance < time.Millisecond || w.Advance > w.Size || w.Grace < 0 {
		return fmt.Errorf("windows size %v advance %v grace %v: want 1ms ≤ advance ≤ size and grace ≥ 0", w.Size, w.Advance, w.Grace)
	}
	return nil
}

// WindowedStream is a grouped stream cut into time windows (Kafka's TimeWindowedKStream).
type WindowedStream[K, V any] struct {
	g         *GroupedStream[K, V]
	w         TimeWindows
	retention time.Duration // 0: size + grace
}

// WithRetention keeps the aggregation's windows in its store, for interactive queries,
// until stream time passes their start by retention (Kafka's Materialized.withRetention),
// instead of size + grace, Kafka's default. It must be at least size + grace: a window
// must outlive its close. The changelog's retention.ms is retention plus
// Config.WindowChangelogAdditionalRetention.
func (ws *WindowedStream[K, V]) WithRetention(retention time.Duration) *WindowedStream[K, V] {
	if retention < ws.w.Size+ws.w.Grace {
		ws.g.b.fail("WithRetention: retention %v is less than the window size %v plus grace %v", retention, ws.w.Size, ws.w.Grace)
	}
	out := *ws
	out.retention = retention
	return &out
}

// WindowedBy cuts the grouped stream into the windows w.
func (g *GroupedStream[K, V]) WindowedBy(w TimeWindows) *WindowedStream[K, V] {
	if err := w.check(); err != nil {
		g.b.fail("WindowedBy: %v", err)
	}
	return &WindowedStream[K, V]{g: g, w: w}
}

// Count counts records per key and window into the windowed store name.
func (ws *WindowedStream[K, V]) Count(name string) *Table[Windowed[K], int64] {
	return AggregateWindowed(ws, name, func() int64 { return 0 },
		func(_ K, _ V, agg int64) int64 { return agg + 1 }, Int64())
}

// windowAgg is the state of one windowed aggregation shared by its node and Suppress.
type windowAgg struct {
	suppress bool // emit each window once, when it closes, instead of on every update
}

// AggregateWindowed folds the values of each key and window into an aggregate of type VA,
// starting from init(), kept in the windowed store name (changelog cleanup.policy
// compact,delete, retention.ms set: see WithRetention). The table emits the new
// aggregate on every update, or only each window's final value with
// SuppressUntilWindowClose. A window closes when end + grace ≤ stream time (nothing
// changes it afterwards) and leaves the store when start + retention ≤ stream time
// (retention is size + grace unless WithRetention says more): the store drops expired
// windows as Kafka's segmented stores drop segments, without a tombstone per window —
// the changelog's retention.ms removes them there, and a restore drops what it brings
// back expired.
func AggregateWindowed[K, V, VA any](ws *WindowedStream[K, V], name string, init func() VA, f func(K, V, VA) VA, aggs Serde[VA]) *Table[Windowed[K], VA] {
	g := ws.g
	if init == nil || f == nil || aggs == nil {
		g.b.fail("AggregateWindowed(%q): nil function or serde", name)
	}
	size, adv, grace := ws.w.Size.Milliseconds(), ws.w.Advance.Milliseconds(), ws.w.Grace.Milliseconds()
	retention := max(ws.retention.Milliseconds(), size+grace)
	g.b.addStore(storeSpec{name: name, kind: timeWindowStore, size: size, retention: retention})
	wa := &windowAgg{}
	emit := func(n *node, c *recordContext, kb []byte, start int64, ab []byte) error {
		k, err := decode(g.keys, kb, "key of store "+name)
		if err != nil {
			return err
		}
		agg, err := aggs.Decode(ab)
		if err != nil {
			return fmt.Errorf("streams: decoding store %s: %w", name, err)
		}
		return n.forward(c, Windowed[K]{Key: k, Start: start, End: start + size}, agg)
	}
	n := g.b.child(g.n, "window-aggregate", func(n *node) func(*recordContext, any, any) error {
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
			prev := st.streamTime
			streamTime := max(prev, c.ts)
			st.streamTime = streamTime
			// Windows [start, start+size) holding c.ts: starts are multiples of adv.
			first := c.ts - c.ts%adv
			late := true
			for start := first; start > c.ts-size && start >= 0; start -= adv {
				if start+size+grace <= streamTime {
					continue // closed
				}
				late = false
				lk := windowStoreKey(start, kb)
				old, found, err := st.get(lk)
				if err != nil {
					return err
				}
				agg := init()
				if found {
					if agg, err = aggs.Decode(old); err != nil {
						return fmt.Errorf("streams: decoding store %s: %w", name, err)
					}
				}
				agg = f(kk, v.(V), agg)
				ab, err := aggs.Encode(agg)
				if err != nil {
					return fmt.Errorf("streams: encoding an aggregate for store %s: %w", name, err)
				}
				if err := st.put(c, lk, ab); err != nil {
					return err
				}
				if !wa.suppress {
					if err := n.forward(c, Windowed[K]{Key: kk, Start: start, End: start + size}, agg); err != nil {
						return err
					}
				}
			}
			if late {
				c.t.a.metrics.LateRecordsDropped.Add(1)
			}
			if !wa.suppress || streamTime == prev {
				return nil
			}
			// Emit every window that closed (start+size+grace ≤ stream time) since the
			// previous stream time, oldest first.
			from := int64(math.MinInt64)
			if prev != math.MinInt64 {
				from = prev - size - grace
			}
			return st.closedWindows(from, streamTime-size-grace, func(start int64, kb, ab []byte) error {
				return emit(n, c, kb, start, ab)
			})
		}
	})
	return &Table[Windowed[K], VA]{b: g.b, n: n, store: name, keys: WindowedSerde(g.keys, size), values: aggs, wagg: wa}
}

// SuppressUntilWindowClose makes a windowed aggregation emit each window once, with its
// final value, when stream time passes the window's end plus grace (Kafka's
// suppress(untilWindowCloses)). It must come right after the aggregation.
func SuppressUntilWindowClose[K, V any](t *Table[Windowed[K], V]) *Table[Windowed[K], V] {
	switch {
	case t.wagg == nil:
		t.b.fail("SuppressUntilWindowClose: the table is not a windowed aggregation")
	case len(t.n.children) > 0:
		t.b.fail("SuppressUntilWindowClose: must come right after the windowed aggregation, before any reader of it")
	default:
		t.wagg.suppress = true
	}
	return t
}
