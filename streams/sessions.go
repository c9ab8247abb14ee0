package streams

import (
	"fmt"
	"math"
	"time"
)

// SessionWindows group each key's records into sessions: a record joins every session
// of its key that ends Gap or less before it or starts Gap or less after it, merging
// them into one session [first record's timestamp, last record's timestamp] (Kafka's
// SessionWindows.ofInactivityGapAndGrace). A session closes when stream time passes
// its end + Gap + Grace; a record whose session would end before that (end < stream
// time − Gap − Grace) is late: dropped and counted in Metrics.LateRecordsDropped.
type SessionWindows struct {
	Gap   time.Duration
	Grace time.Duration
}

// Sessions returns session windows with the inactivity gap and grace period given.
func Sessions(gap, grace time.Duration) SessionWindows {
	return SessionWindows{Gap: gap, Grace: grace}
}

// check reports what is wrong with w, if anything.
func (w SessionWindows) check() error {
	if w.Gap < time.Millisecond || w.Grace < 0 {
		return fmt.Errorf("session windows gap %v grace %v: want gap ≥ 1ms and grace ≥ 0", w.Gap, w.Grace)
	}
	return nil
}

// SessionWindowedStream is a grouped stream cut into sessions (Kafka's
// SessionWindowedKStream).
type SessionWindowedStream[K, V any] struct {
	g *GroupedStream[K, V]
	w SessionWindows
}

// WindowedBySession cuts the grouped stream into the sessions w.
func (g *GroupedStream[K, V]) WindowedBySession(w SessionWindows) *SessionWindowedStream[K, V] {
	if err := w.check(); err != nil {
		g.b.fail("WindowedBySession: %v", err)
	}
	return &SessionWindowedStream[K, V]{g: g, w: w}
}

// Count counts records per key and session into the session store name.
func (s *SessionWindowedStream[K, V]) Count(name string) *Table[Windowed[K], int64] {
	return AggregateSessions(s, name, func() int64 { return 0 },
		func(_ K, _ V, agg int64) int64 { return agg + 1 },
		func(_ K, a, b int64) int64 { return a + b }, Int64())
}

// AggregateSessions folds the values of each key and session into an aggregate of type
// VA, starting from init(), kept in the session store name (changelog key ‖ end ‖ start,
// cleanup.policy compact,delete). When a record joins sessions, their aggregates are
// combined with merge (from init(), oldest first) and the record folded in with f; the
// sessions merged away are deleted from the store (tombstones in its changelog). The
// table emits each new or grown session on every update — Kafka Streams also forwards
// a null value for each session merged away, which a typed Go stream cannot carry, so
// readers wanting one record per session use SuppressUntilWindowClose. Closed sessions
// are dropped from the store. Records with a null key are dropped, as in Kafka.
func AggregateSessions[K, V, VA any](s *SessionWindowedStream[K, V], name string, init func() VA, f func(K, V, VA) VA, merge func(K, VA, VA) VA, aggs Serde[VA]) *Table[Windowed[K], VA] {
	g := s.g
	if init == nil || f == nil || merge == nil || aggs == nil {
		g.b.fail("AggregateSessions(%q): nil function or serde", name)
	}
	gap, grace := s.w.Gap.Milliseconds(), s.w.Grace.Milliseconds()
	g.b.addStore(storeSpec{name: name, kind: sessionStore, retention: gap + grace}) // Kafka's default
	wa := &windowAgg{}
	n := g.b.child(g.n, "session-aggregate", func(n *node) func(*recordContext, any, any) error {
		decodeAgg := func(b []byte) (VA, error) {
			agg, err := aggs.Decode(b)
			if err != nil {
				return agg, fmt.Errorf("streams: decoding store %s: %w", name, err)
			}
			return agg, nil
		}
		emit := func(c *recordContext, sk, ab []byte) error {
			kb, times, err := splitKeyedTimeKey(sk, 2)
			if err != nil {
				return err
			}
			k, err := decode(g.keys, kb, "key of store "+name)
			if err != nil {
				return err
			}
			agg, err := decodeAgg(ab)
			if err != nil {
				return err
			}
			return n.forward(c, Windowed[K]{Key: k, Start: times[1], End: times[0]}, agg)
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
			streamTime := max(st.streamTime, c.ts)
			st.streamTime = streamTime
			closeTime := streamTime - gap - grace
			// The key's sessions ending at ts−gap or later, by end; sessions of one key
			// never overlap, so the ones starting by ts+gap come first.
			found, err := st.fetchKeyed(kb, c.ts-gap, math.MaxInt64-1)
			if err != nil {
				return err
			}
			start, end, agg := c.ts, c.ts, init()
			var merged []keyedEntry
			for _, e := range found {
				_, times, err := splitKeyedTimeKey(e.sk, 2)
				if err != nil {
					return err
				}
				if times[1] > c.ts+gap {
					break
				}
				old, err := decodeAgg(e.value)
				if err != nil {
					return err
				}
				agg = merge(kk, agg, old)
				start, end = min(start, times[1]), max(end, times[0])
				merged = append(merged, e)
			}
			if end < closeTime {
				c.t.a.metrics.LateRecordsDropped.Add(1)
			} else {
				for _, e := range merged {
					if err := st.delete(c, e.sk); err != nil {
						return err
					}
				}
				agg = f(kk, v.(V), agg)
				ab, err := aggs.Encode(agg)
				if err != nil {
					return fmt.Errorf("streams: encoding an aggregate for store %s: %w", name, err)
				}
				if err := st.put(c, keyedTimeKey(kb, end, start), ab); err != nil {
					return err
				}
				if !wa.suppress {
					if err := n.forward(c, Windowed[K]{Key: kk, Start: start, End: end}, agg); err != nil {
						return err
					}
				}
			}
			// Close every session ending before closeTime, oldest first: nothing can
			// change it any more.
			var final func(sk, ab []byte) error
			if wa.suppress {
				final = func(sk, ab []byte) error { return emit(c, sk, ab) }
			}
			return st.expireKeyed(c, math.MinInt64, closeTime-1, closeTime-1, final)
		}
	})
	return &Table[Windowed[K], VA]{b: g.b, n: n, store: name, keys: SessionWindowedSerde(g.keys), values: aggs, wagg: wa}
}
