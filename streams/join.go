package streams

import "fmt"

// JoinTable joins each record of s with the table's current value for its key (an inner
// KStream–KTable join): records whose key the table lacks are dropped, the others become
// f(key, value, table value). The stream and the table's source must be co-partitioned
// (Run checks the partition counts) and s must not have changed keys since its source:
// group or write it through a topic first.
func JoinTable[K, V, VT, VR any](s *Stream[K, V], t *Table[K, VT], f func(K, V, VT) VR) *Stream[K, VR] {
	if f == nil {
		s.b.fail("JoinTable: nil function")
	}
	return joinTable(s, t, "join", func(k K, v V, tv *VT) (VR, bool) {
		if tv == nil {
			var zero VR
			return zero, false
		}
		return f(k, v, *tv), true
	})
}

// LeftJoinTable is JoinTable keeping every record: f gets nil when the table lacks the key.
func LeftJoinTable[K, V, VT, VR any](s *Stream[K, V], t *Table[K, VT], f func(K, V, *VT) VR) *Stream[K, VR] {
	if f == nil {
		s.b.fail("LeftJoinTable: nil function")
	}
	return joinTable(s, t, "left-join", func(k K, v V, tv *VT) (VR, bool) { return f(k, v, tv), true })
}

func joinTable[K, V, VT, VR any](s *Stream[K, V], t *Table[K, VT], kind string, f func(K, V, *VT) (VR, bool)) *Stream[K, VR] {
	switch {
	case s.b != t.b:
		s.b.fail("%s: the stream and the table are of different builders", kind)
	case s.keyChanged:
		s.b.fail("%s with table %s: the stream's keys changed since its source (Map, FlatMap), so its partitions do not match the table's; write it through a topic keyed as the table first", kind, t.store)
	case t.wagg != nil:
		s.b.fail("%s with table %s: a windowed table cannot be joined by key", kind, t.store)
	}
	n := s.derive(kind, func(n *node, c *recordContext, k K, v V) error {
		kb, err := t.keys.Encode(k)
		if err != nil {
			return fmt.Errorf("streams: encoding a key to look up in %s: %w", t.store, err)
		}
		var tv *VT
		if kb != nil {
			raw, found, err := c.t.store(t.store).get(kb)
			if err != nil {
				return err
			}
			if found {
				val, err := t.values.Decode(raw)
				if err != nil {
					return fmt.Errorf("streams: decoding store %s: %w", t.store, err)
				}
				tv = &val
			}
		}
		out, ok := f(k, v, tv)
		if !ok {
			return nil
		}
		return n.forward(c, k, out)
	})
	return &Stream[K, VR]{b: s.b, n: n}
}
