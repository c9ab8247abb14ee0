package streams

import "fmt"

// JoinTables joins two tables by key (an inner KTable–KTable join) into a table kept in
// store name: while both have a key, the result holds f(key, value, other value),
// updated on every change of either side; when either loses the key, so does the
// result (a tombstone to Table.To). Both tables must be partitioned alike (Run checks
// their topics' partition counts).
func JoinTables[K, V, VO, VR any](t *Table[K, V], other *Table[K, VO], name string, f func(K, V, VO) VR, results Serde[VR]) *Table[K, VR] {
	if f == nil {
		t.b.fail("JoinTables(%q): nil function", name)
	}
	return joinTables(t, other, name, results, func(k K, v *V, vo *VO) (VR, bool) {
		if v == nil || vo == nil {
			var zero VR
			return zero, false
		}
		return f(k, *v, *vo), true
	})
}

// LeftJoinTables is JoinTables keeping every key of t: f gets nil while other lacks it.
func LeftJoinTables[K, V, VO, VR any](t *Table[K, V], other *Table[K, VO], name string, f func(K, V, *VO) VR, results Serde[VR]) *Table[K, VR] {
	if f == nil {
		t.b.fail("LeftJoinTables(%q): nil function", name)
	}
	return joinTables(t, other, name, results, func(k K, v *V, vo *VO) (VR, bool) {
		if v == nil {
			var zero VR
			return zero, false
		}
		return f(k, *v, vo), true
	})
}

// OuterJoinTables is JoinTables keeping every key of either table: f gets nil for the
// side that lacks it.
func OuterJoinTables[K, V, VO, VR any](t *Table[K, V], other *Table[K, VO], name string, f func(K, *V, *VO) VR, results Serde[VR]) *Table[K, VR] {
	if f == nil {
		t.b.fail("OuterJoinTables(%q): nil function", name)
	}
	return joinTables(t, other, name, results, func(k K, v *V, vo *VO) (VR, bool) {
		if v == nil && vo == nil {
			var zero VR
			return zero, false
		}
		return f(k, v, vo), true
	})
}

// joinTables adds a node under each table: a change on one side is joined with the
// other side's current value by result, and the outcome put into (or, none, deleted
// from) the result store and forwarded.
func joinTables[K, V, VO, VR any](t *Table[K, V], other *Table[K, VO], name string, results Serde[VR], result func(K, *V, *VO) (VR, bool)) *Table[K, VR] {
	b := t.b
	switch {
	case other.b != b:
		b.fail("table join %q: the tables are of different builders", name)
	case t.wagg != nil || other.wagg != nil:
		b.fail("table join %q: a windowed table cannot be joined by key", name)
	case results == nil:
		b.fail("table join %q: nil serde", name)
	}
	b.addStore(storeSpec{name: name})
	out := b.child(nil, "table-join-merge", func(n *node) func(*recordContext, any, any) error { return n.forward })
	// lookup returns the value of key kb in a table's store, nil if it has none.
	lookup := func(c *recordContext, store string, kb []byte, values func([]byte) (any, error)) (any, error) {
		raw, found, err := c.t.store(store).get(kb)
		if err != nil || !found {
			return nil, err
		}
		return values(raw)
	}
	// update stores and forwards the join result of key k, or deletes it.
	update := func(c *recordContext, k K, kb []byte, v *V, vo *VO) error {
		r, ok := result(k, v, vo)
		return setResult(c, c.t.store(name), out, k, kb, r, ok, results)
	}
	decodeThis := func(raw []byte) (any, error) { return decodeStored(t.values, raw, t.store) }
	decodeOther := func(raw []byte) (any, error) { return decodeStored(other.values, raw, other.store) }
	b.child(t.n, "table-join-this", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			kb, err := t.keys.Encode(kk)
			if err != nil {
				return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
			}
			if kb == nil {
				return nil
			}
			var this *V
			if vv, ok := v.(V); ok {
				this = &vv
			}
			ov, err := lookup(c, other.store, kb, decodeOther)
			if err != nil {
				return err
			}
			var that *VO
			if ov != nil {
				vo := ov.(VO)
				that = &vo
			}
			return update(c, kk, kb, this, that)
		}
	})
	b.child(other.n, "table-join-other", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			kb, err := t.keys.Encode(kk)
			if err != nil {
				return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
			}
			if kb == nil {
				return nil
			}
			var that *VO
			if vo, ok := v.(VO); ok {
				that = &vo
			}
			tv, err := lookup(c, t.store, kb, decodeThis)
			if err != nil {
				return err
			}
			var this *V
			if tv != nil {
				vv := tv.(V)
				this = &vv
			}
			return update(c, kk, kb, this, that)
		}
	})
	return &Table[K, VR]{b: b, n: out, store: name, keys: t.keys, values: results}
}

// setResult puts r (ok) into the join result store st and forwards it from out, or
// (not ok) deletes key kb from st and forwards the deletion if it was there.
func setResult[K, VR any](c *recordContext, st *kvStore, out *node, k K, kb []byte, r VR, ok bool, results Serde[VR]) error {
	if !ok {
		if _, found, err := st.get(kb); err != nil || !found {
			return err
		}
		if err := st.delete(c, kb); err != nil {
			return err
		}
		return out.forward(c, k, tableDelete{})
	}
	rb, err := results.Encode(r)
	if err != nil {
		return fmt.Errorf("streams: encoding a result for store %s: %w", st.spec.name, err)
	}
	if err := st.put(c, kb, rb); err != nil {
		return err
	}
	return out.forward(c, k, r)
}

// decodeStored decodes a value read from store.
func decodeStored[T any](s Serde[T], raw []byte, store string) (T, error) {
	v, err := s.Decode(raw)
	if err != nil {
		return v, fmt.Errorf("streams: decoding store %s: %w", store, err)
	}
	return v, nil
}
