package streams

import (
	"encoding/binary"
	"fmt"
	"time"
)

// JoinWindows bound a stream–stream join in event time (Kafka's JoinWindows): a record
// of the left stream at t joins the right stream's records of its key timestamped in
// [t−Before, t+After] (so a right record at t joins left ones in [t−After, t+Before]).
// Records are buffered until stream time passes their window by Grace; a left (or,
// outer, right) record that found no partner is emitted with none only then, once no
// partner can come — never early and then again joined (Kafka's fix of spurious
// left/outer results, 3.1+). The buffers keep a record Before + After + Grace behind
// stream time; an older record is not buffered (counted in Metrics.LateRecordsDropped)
// but still joins what is buffered and, on an outer side, is emitted alone at once.
type JoinWindows struct {
	Before time.Duration
	After  time.Duration
	Grace  time.Duration
}

// JoinWindow returns symmetric join windows: records at most timeDifference apart
// join (Kafka's JoinWindows.ofTimeDifferenceAndGrace).
func JoinWindow(timeDifference, grace time.Duration) JoinWindows {
	return JoinWindows{Before: timeDifference, After: timeDifference, Grace: grace}
}

// check reports what is wrong with w, if anything.
func (w JoinWindows) check() error {
	if w.Before < 0 || w.After < 0 || w.Grace < 0 || w.Before+w.After == 0 {
		return fmt.Errorf("join windows before %v after %v grace %v: want before, after, grace ≥ 0 and before + after > 0", w.Before, w.After, w.Grace)
	}
	return nil
}

// StreamJoined names a stream–stream join and gives the serdes of its buffers. Its
// stores are Kafka Streams' `<Name>-this-join-store` and `<Name>-other-join-store`
// (`-outer-this-join-store`, `-outer-other-join-store` for the outer sides) and, for
// left and outer joins, `<Name>-left-shared-join-store` or
// `<Name>-outer-shared-join-store`, each with its changelog.
type StreamJoined[K, V, VO any] struct {
	Name        string
	Keys        Serde[K]
	Values      Serde[V]  // the left (this) stream's values
	OtherValues Serde[VO] // the right (other) stream's values
}

// JoinStreams joins s with other in the windows w (an inner KStream–KStream join): each
// pair of records of one key within the windows becomes f(key, left value, right value),
// timestamped with the later of the two. Both streams must be partitioned by key the
// same way (Run checks their topics' partition counts) and must not have changed keys
// since their sources.
func JoinStreams[K, V, VO, VR any](s *Stream[K, V], other *Stream[K, VO], w JoinWindows, j StreamJoined[K, V, VO], f func(K, V, VO) VR) *Stream[K, VR] {
	if f == nil {
		s.b.fail("JoinStreams(%q): nil function", j.Name)
	}
	return joinStreams(s, other, w, j, false, false, func(k K, v *V, vo *VO) VR { return f(k, *v, *vo) })
}

// LeftJoinStreams is JoinStreams keeping every left record: one that joined nothing
// becomes f(key, value, nil) once its window closed (at once if it is already closed).
func LeftJoinStreams[K, V, VO, VR any](s *Stream[K, V], other *Stream[K, VO], w JoinWindows, j StreamJoined[K, V, VO], f func(K, V, *VO) VR) *Stream[K, VR] {
	if f == nil {
		s.b.fail("LeftJoinStreams(%q): nil function", j.Name)
	}
	return joinStreams(s, other, w, j, true, false, func(k K, v *V, vo *VO) VR { return f(k, *v, vo) })
}

// OuterJoinStreams is JoinStreams keeping every record of both sides: one that joined
// nothing becomes f(key, value, nil) or f(key, nil, other value) once its window closed.
func OuterJoinStreams[K, V, VO, VR any](s *Stream[K, V], other *Stream[K, VO], w JoinWindows, j StreamJoined[K, V, VO], f func(K, *V, *VO) VR) *Stream[K, VR] {
	if f == nil {
		s.b.fail("OuterJoinStreams(%q): nil function", j.Name)
	}
	return joinStreams(s, other, w, j, true, true, f)
}

// Join sides, the first byte of an outer-store key.
const (
	leftSide  = 'L'
	rightSide = 'R'
)

// joinStreams builds both sides of a stream–stream join: each side buffers its record
// in its store, looks up the other side's store, and forwards to one output node.
// leftOuter and rightOuter say which sides emit unjoined records.
func joinStreams[K, V, VO, VR any](s *Stream[K, V], other *Stream[K, VO], w JoinWindows, j StreamJoined[K, V, VO], leftOuter, rightOuter bool, f func(K, *V, *VO) VR) *Stream[K, VR] {
	b := s.b
	switch {
	case other.b != b:
		b.fail("join %q: the streams are of different builders", j.Name)
	case j.Keys == nil || j.Values == nil || j.OtherValues == nil:
		b.fail("join %q: nil serde", j.Name)
	case s.keyChanged || other.keyChanged:
		b.fail("join %q: a stream's keys changed since its source (Map, FlatMap), so its partitions do not match the other's; write it through a topic keyed for the join first", j.Name)
	}
	if err := w.check(); err != nil {
		b.fail("join %q: %v", j.Name, err)
	}
	thisStore, otherStore := j.Name+"-this-join-store", j.Name+"-other-join-store"
	if rightOuter {
		thisStore = j.Name + "-outer-this-join-store"
	}
	if leftOuter {
		otherStore = j.Name + "-outer-other-join-store"
	}
	before, after, grace := w.Before.Milliseconds(), w.After.Milliseconds(), w.Grace.Milliseconds()
	retention := before + after + grace // how long buffered records are kept, as Kafka's join stores
	b.addStore(storeSpec{name: thisStore, kind: keyedWindowStore, dups: true, retention: retention})
	b.addStore(storeSpec{name: otherStore, kind: keyedWindowStore, dups: true, retention: retention})
	outerStore := ""
	switch {
	case rightOuter:
		outerStore = j.Name + "-outer-shared-join-store"
	case leftOuter:
		outerStore = j.Name + "-left-shared-join-store"
	}
	if outerStore != "" {
		b.addStore(storeSpec{name: outerStore, kind: keyedWindowStore, retention: retention})
	}

	out := b.child(nil, "join-merge", func(n *node) func(*recordContext, any, any) error { return n.forward })
	// emit forwards f's result at the timestamp given.
	emit := func(c *recordContext, ts int64, k K, v *V, vo *VO) error {
		oc := *c
		oc.ts = ts
		return out.forward(&oc, k, f(k, v, vo))
	}
	// emitUnjoined forwards every unjoined record whose window closed by stream time
	// st: a left one at t once t + after + grace < st, a right one at t once t +
	// before + grace < st (Kafka's emitNonJoinedOuterRecords).
	emitUnjoined := func(c *recordContext, outs *kvStore, st int64) error {
		entries, err := outs.scan([]byte{indexPrefix},
			binary.BigEndian.AppendUint64([]byte{indexPrefix}, orderedTime(st-grace-min(before, after))), true)
		if err != nil {
			return err
		}
		for _, e := range entries {
			sideKey, times, err := splitKeyedTimeKey(e.sk, 1)
			if err != nil {
				return err
			}
			if len(sideKey) == 0 {
				return fmt.Errorf("streams: store %s: an entry without a join side", outerStore)
			}
			left := sideKey[0] == leftSide
			if (left && times[0]+after+grace >= st) || (!left && times[0]+before+grace >= st) {
				continue // its window is still open
			}
			k, err := decode(j.Keys, sideKey[1:], "key of store "+outerStore)
			if err != nil {
				return err
			}
			if err := eachListValue(e.value, func(raw []byte) error {
				if left {
					v, err := decode(j.Values, raw, "value of store "+outerStore)
					if err != nil {
						return err
					}
					return emit(c, times[0], k, &v, nil)
				}
				vo, err := decode(j.OtherValues, raw, "value of store "+outerStore)
				if err != nil {
					return err
				}
				return emit(c, times[0], k, nil, &vo)
			}); err != nil {
				return err
			}
			if err := outs.delete(c, e.sk); err != nil {
				return err
			}
		}
		return nil
	}

	// side returns the processor of one side: self is its store, peer the other's,
	// beforeMs/afterMs its window, outer whether it emits unjoined records, and
	// join(k, this value, peer's raw value) the result of a pair.
	side := func(mine byte, self, peer string, beforeMs, afterMs int64, outer bool, thisValue func(any) ([]byte, error),
		pair func(c *recordContext, ts int64, k K, v any, peerRaw []byte) error, alone func(c *recordContext, k K, v any) error) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			ts := c.ts
			ss, ps := c.t.store(self), c.t.store(peer)
			var outs *kvStore
			if outerStore != "" {
				outs = c.t.store(outerStore)
			}
			st := max(ss.streamTime, ps.streamTime, ts)
			ss.streamTime, ps.streamTime = st, st
			if outs != nil {
				outs.streamTime = st
			}
			kb, err := j.Keys.Encode(kk)
			if err != nil {
				return fmt.Errorf("streams: encoding a key for join %s: %w", j.Name, err)
			}
			if kb == nil {
				if outer {
					return alone(c, kk, v) // Kafka: a null key joins nothing, at once
				}
				return nil
			}
			// Buffer the record (Kafka's KStreamJoinWindow) unless older than the buffers keep.
			if ts > st-retention {
				vb, err := thisValue(v)
				if err != nil {
					return fmt.Errorf("streams: encoding a value for join %s: %w", j.Name, err)
				}
				if err := ss.putDup(c, keyedTimeKey(kb, ts), vb); err != nil {
					return err
				}
			} else {
				c.t.a.metrics.LateRecordsDropped.Add(1)
			}
			if outs != nil && ts == st {
				if err := emitUnjoined(c, outs, st); err != nil {
					return err
				}
			}
			from, to := max(0, ts-beforeMs), max(0, ts+afterMs)
			peers, err := ps.fetchKeyed(kb, max(from, st-retention+1), to)
			if err != nil {
				return err
			}
			for _, e := range peers {
				_, times, err := splitKeyedTimeKey(e.sk, 1)
				if err != nil {
					return err
				}
				if outs != nil {
					// The peer record joined: it is no longer a candidate to emit alone.
					other := rightSide
					if mine == rightSide {
						other = leftSide
					}
					ok := keyedTimeKey(append([]byte{byte(other)}, kb...), times[0])
					if _, found, err := outs.get(ok); err != nil {
						return err
					} else if found {
						if err := outs.delete(c, ok); err != nil {
							return err
						}
					}
				}
				if err := pair(c, max(ts, times[0]), kk, v, e.value); err != nil {
					return err
				}
			}
			if len(peers) == 0 && outer {
				if outs == nil || to < st {
					return alone(c, kk, v)
				}
				vb, err := thisValue(v)
				if err != nil {
					return fmt.Errorf("streams: encoding a value for join %s: %w", j.Name, err)
				}
				if err := appendListValue(c, outs, keyedTimeKey(append([]byte{mine}, kb...), ts), vb); err != nil {
					return err
				}
			}
			// Drop buffered records no window can reach any more.
			if err := ss.expireKeyed(c, 0, 0, st-retention, nil); err != nil {
				return err
			}
			return ps.expireKeyed(c, 0, 0, st-retention, nil)
		}
	}
	s.b.child(s.n, "join-this", func(*node) func(*recordContext, any, any) error {
		return side(leftSide, thisStore, otherStore, before, after, leftOuter,
			func(v any) ([]byte, error) { return j.Values.Encode(v.(V)) },
			func(c *recordContext, ts int64, k K, v any, raw []byte) error {
				vo, err := decode(j.OtherValues, raw, "value of store "+otherStore)
				if err != nil {
					return err
				}
				vv := v.(V)
				return emit(c, ts, k, &vv, &vo)
			},
			func(c *recordContext, k K, v any) error { vv := v.(V); return emit(c, c.ts, k, &vv, nil) })
	}).children = []*node{out}
	other.b.child(other.n, "join-other", func(*node) func(*recordContext, any, any) error {
		return side(rightSide, otherStore, thisStore, after, before, rightOuter,
			func(v any) ([]byte, error) { return j.OtherValues.Encode(v.(VO)) },
			func(c *recordContext, ts int64, k K, v any, raw []byte) error {
				lv, err := decode(j.Values, raw, "value of store "+thisStore)
				if err != nil {
					return err
				}
				vo := v.(VO)
				return emit(c, ts, k, &lv, &vo)
			},
			func(c *recordContext, k K, v any) error { vo := v.(VO); return emit(c, c.ts, k, nil, &vo) })
	}).children = []*node{out}
	return &Stream[K, VR]{b: b, n: out}
}

// appendListValue adds value to the list of values stored under key sk (unjoined records
// of one key, side and timestamp: the shared outer store keeps them all, as Kafka's
// ListValueStore does). A list is values each prefixed by its length (4 bytes BE).
func appendListValue(c *recordContext, s *kvStore, sk, value []byte) error {
	old, _, err := s.get(sk)
	if err != nil {
		return err
	}
	list := binary.BigEndian.AppendUint32(old, uint32(len(value)))
	return s.put(c, sk, append(list, value...))
}

// eachListValue calls f with every value of a list made by appendListValue.
func eachListValue(list []byte, f func([]byte) error) error {
	for len(list) > 0 {
		if len(list) < 4 || uint64(len(list)-4) < uint64(binary.BigEndian.Uint32(list)) {
			return fmt.Errorf("streams: a join buffer entry is truncated (%d bytes left)", len(list))
		}
		n := binary.BigEndian.Uint32(list)
		if err := f(list[4 : 4+n]); err != nil {
			return err
		}
		list = list[4+n:]
	}
	return nil
}
