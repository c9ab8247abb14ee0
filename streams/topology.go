package streams

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Builder collects a topology: sources, operators, stores and sinks. Operators add to it
// through the streams they are called on; the first mistake (a duplicate store name, a
// nil function, …) is kept and returned by Build, so a topology is written without an
// error check per line.
type Builder struct {
	sources map[string]*node     // input topic (user or repartition) → its source node
	stores  map[string]storeSpec // store name → spec
	sinks   map[string]bool      // topics written by To
	parts   map[string]bool      // internal topics' names less `<app>-` (repartition and FK-join topics)
	names   map[string]int       // operator kind → how many so far, for node names
	inits   []func(*task) error  // run when a task opens: the processors of Process
	err     error
}

// NewBuilder returns an empty topology builder.
func NewBuilder() *Builder {
	return &Builder{
		sources: map[string]*node{},
		stores:  map[string]storeSpec{},
		sinks:   map[string]bool{},
		parts:   map[string]bool{},
		names:   map[string]int{},
	}
}

// fail keeps the first build error.
func (b *Builder) fail(format string, args ...any) {
	if b.err == nil {
		b.err = fmt.Errorf("streams: "+format, args...)
	}
}

// storeSpec describes one state store of the topology.
type storeSpec struct {
	name string
	kind storeKind
	size int64 // windowed aggregations: the window size (sliding: the time difference), ms; 0 for other stores
	dups bool  // keyedWindowStore: retains duplicates (join buffers), each entry under its own seqnum
	// retention is how long (ms, behind stream time) a windowed store keeps a window
	// after its start (a join buffer: a record after its timestamp); the changelog's
	// retention.ms is this plus Config.WindowChangelogAdditionalRetention. 0 for
	// key-value stores.
	retention int64
}

// storeKind is the layout of a store's keys, locally and in its changelog.
type storeKind int

const (
	// keyValueStore: the key as it is, locally and in the changelog.
	keyValueStore storeKind = iota
	// timeWindowStore: start ‖ key locally, Kafka's key ‖ start ‖ seqnum 0 in the
	// changelog (tumbling, hopping).
	timeWindowStore
	// keyedWindowStore: a keyed layout (see keyedTimeKey) with one time (a sliding
	// window's start, a join buffer's record timestamp); the changelog key is Kafka's
	// key ‖ time ‖ seqnum (see windowChangelogKey).
	keyedWindowStore
	// sessionStore: a keyed layout with suffix end ‖ start; the changelog key is
	// key ‖ end ‖ start (Kafka's session key schema).
	sessionStore
)

// windowed reports whether the store holds windows: it keeps a stream time and its
// changelog is compact,delete.
func (k storeKind) windowed() bool { return k != keyValueStore }

// keyed reports whether the store keeps the keyed layout with a time index.
func (k storeKind) keyed() bool { return k == keyedWindowStore || k == sessionStore }

// node is one processor. proc handles a record and calls forward for each output;
// source nodes get the raw key and value bytes.
type node struct {
	name     string
	children []*node
	proc     func(c *recordContext, key, value any) error
}

// forward hands a record to every child, in the order they were added.
func (n *node) forward(c *recordContext, key, value any) error {
	for _, ch := range n.children {
		if err := ch.proc(c, key, value); err != nil {
			return err
		}
	}
	return nil
}

// child adds a node under parent; mk builds its proc given the node (to forward from).
func (b *Builder) child(parent *node, kind string, mk func(n *node) func(*recordContext, any, any) error) *node {
	b.names[kind]++
	n := &node{name: fmt.Sprintf("%s-%d", kind, b.names[kind])}
	n.proc = mk(n)
	if parent != nil {
		parent.children = append(parent.children, n)
	}
	return n
}

// source returns the source node of topic, creating it the first time; raw bytes are
// decoded by the serdes of each reader below it.
func (b *Builder) source(topic string) *node {
	if n, ok := b.sources[topic]; ok {
		return n
	}
	n := b.child(nil, "source", func(n *node) func(*recordContext, any, any) error {
		return n.forward
	})
	b.sources[topic] = n
	return n
}

// addStore registers a store name once.
func (b *Builder) addStore(spec storeSpec) {
	if spec.name == "" || strings.ContainsAny(spec.name, "/\\ ") {
		b.fail("store name %q: want a non-empty name without slashes or spaces", spec.name)
		return
	}
	if _, dup := b.stores[spec.name]; dup {
		b.fail("store name %q used twice", spec.name)
		return
	}
	b.stores[spec.name] = spec
}

// Topology is a built, checked topology, ready for New.
type Topology struct {
	sources map[string]*node
	stores  map[string]storeSpec
	sinks   []string
	parts   []string            // internal topics' names less `<app>-`
	inits   []func(*task) error // per-task processor set-up, in the order of the Process calls
}

// Build checks the topology and returns it, or the first mistake made while building it.
func (b *Builder) Build() (*Topology, error) {
	if b.err != nil {
		return nil, b.err
	}
	if len(b.sources) == 0 {
		return nil, errors.New("streams: the topology reads no topic")
	}
	t := &Topology{sources: b.sources, stores: b.stores, inits: b.inits}
	for s := range b.sinks {
		t.sinks = append(t.sinks, s)
	}
	for p := range b.parts {
		t.parts = append(t.parts, p)
	}
	sort.Strings(t.sinks)
	sort.Strings(t.parts)
	return t, nil
}

// decode runs a serde's Decode on raw record bytes, nil meaning the zero value
// (Kafka's null key).
func decode[T any](s Serde[T], raw any, what string) (T, error) {
	b, _ := raw.([]byte)
	if b == nil {
		var zero T
		return zero, nil
	}
	v, err := s.Decode(b)
	if err != nil {
		return v, fmt.Errorf("streams: decoding %s: %w", what, err)
	}
	return v, nil
}

// KeyValue is one output record of FlatMap.
type KeyValue[K, V any] struct {
	Key   K
	Value V
}

// Stream is an unbounded stream of records with keys K and values V (Kafka's KStream).
// Operators that keep K and V are methods; operators that change a type are package
// functions taking the stream first (Go methods cannot add type parameters), e.g.
// Map(s, f). Every user function gets the key and the value.
type Stream[K, V any] struct {
	b          *Builder
	n          *node
	keyChanged bool // a Map or FlatMap ran since the source: grouping must repartition
}

// From reads topic as a stream, decoding keys and values with the serdes. Two From of one
// topic share a source.
func From[K, V any](b *Builder, topic string, keys Serde[K], values Serde[V]) *Stream[K, V] {
	if keys == nil || values == nil {
		b.fail("From(%q): nil serde", topic)
	}
	src := b.source(topic)
	n := b.child(src, "decode", func(n *node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk, err := decode(keys, k, "key of "+topic)
			if err != nil {
				return err
			}
			vv, err := decode(values, v, "value of "+topic)
			if err != nil {
				return err
			}
			return n.forward(c, kk, vv)
		}
	})
	return &Stream[K, V]{b: b, n: n}
}

// derive adds an operator below s.
func (s *Stream[K, V]) derive(kind string, f func(n *node, c *recordContext, k K, v V) error) *node {
	return s.b.child(s.n, kind, func(n *node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error { return f(n, c, k.(K), v.(V)) }
	})
}

// Filter keeps the records for which keep is true.
func (s *Stream[K, V]) Filter(keep func(K, V) bool) *Stream[K, V] {
	if keep == nil {
		s.b.fail("Filter: nil function")
	}
	n := s.derive("filter", func(n *node, c *recordContext, k K, v V) error {
		if keep(k, v) {
			return n.forward(c, k, v)
		}
		return nil
	})
	return &Stream[K, V]{b: s.b, n: n, keyChanged: s.keyChanged}
}

// Peek calls f on every record and passes it on unchanged.
func (s *Stream[K, V]) Peek(f func(K, V)) *Stream[K, V] {
	if f == nil {
		s.b.fail("Peek: nil function")
	}
	n := s.derive("peek", func(n *node, c *recordContext, k K, v V) error {
		f(k, v)
		return n.forward(c, k, v)
	})
	return &Stream[K, V]{b: s.b, n: n, keyChanged: s.keyChanged}
}

// Foreach calls f on every record; the stream ends there.
func (s *Stream[K, V]) Foreach(f func(K, V)) {
	if f == nil {
		s.b.fail("Foreach: nil function")
	}
	s.derive("foreach", func(_ *node, _ *recordContext, k K, v V) error {
		f(k, v)
		return nil
	})
}

// Branch splits the stream: a record goes to the stream of the first predicate it
// satisfies, or nowhere. It returns one stream per predicate.
func (s *Stream[K, V]) Branch(preds ...func(K, V) bool) []*Stream[K, V] {
	out := make([]*Stream[K, V], len(preds))
	heads := make([]*node, len(preds))
	for i := range preds {
		if preds[i] == nil {
			s.b.fail("Branch: predicate %d is nil", i)
		}
		heads[i] = s.b.child(nil, "branch", func(n *node) func(*recordContext, any, any) error { return n.forward })
		out[i] = &Stream[K, V]{b: s.b, n: heads[i], keyChanged: s.keyChanged}
	}
	s.derive("branch-split", func(_ *node, c *recordContext, k K, v V) error {
		for i, p := range preds {
			if p(k, v) {
				return heads[i].proc(c, k, v)
			}
		}
		return nil
	})
	return out
}

// Merge returns one stream of the records of s and of others, each in its own order.
func (s *Stream[K, V]) Merge(others ...*Stream[K, V]) *Stream[K, V] {
	merged := s.b.child(nil, "merge", func(n *node) func(*recordContext, any, any) error { return n.forward })
	changed := s.keyChanged
	for _, o := range append([]*Stream[K, V]{s}, others...) {
		if o.b != s.b {
			s.b.fail("Merge: streams of different builders")
			continue
		}
		o.n.children = append(o.n.children, merged)
		changed = changed || o.keyChanged
	}
	return &Stream[K, V]{b: s.b, n: merged, keyChanged: changed}
}

// To writes every record to topic, which must exist when the application starts. Keys
// are partitioned as Kafka's default partitioner does (murmur2 of the key bytes).
func (s *Stream[K, V]) To(topic string, keys Serde[K], values Serde[V]) {
	if keys == nil || values == nil {
		s.b.fail("To(%q): nil serde", topic)
	}
	s.b.sinks[topic] = true
	s.derive("sink", func(_ *node, c *recordContext, k K, v V) error {
		kb, err := keys.Encode(k)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for %s: %w", topic, err)
		}
		vb, err := values.Encode(v)
		if err != nil {
			return fmt.Errorf("streams: encoding a value for %s: %w", topic, err)
		}
		c.t.send(topic, -1, kb, vb, c.ts)
		return nil
	})
}

// Map replaces every record by f's key and value; grouping after it repartitions.
func Map[K, V, K2, V2 any](s *Stream[K, V], f func(K, V) (K2, V2)) *Stream[K2, V2] {
	if f == nil {
		s.b.fail("Map: nil function")
	}
	n := s.derive("map", func(n *node, c *recordContext, k K, v V) error {
		k2, v2 := f(k, v)
		return n.forward(c, k2, v2)
	})
	return &Stream[K2, V2]{b: s.b, n: n, keyChanged: true}
}

// MapValues replaces every value by f's result; the key stays, so no repartition follows.
func MapValues[K, V, V2 any](s *Stream[K, V], f func(K, V) V2) *Stream[K, V2] {
	if f == nil {
		s.b.fail("MapValues: nil function")
	}
	n := s.derive("map-values", func(n *node, c *recordContext, k K, v V) error {
		return n.forward(c, k, f(k, v))
	})
	return &Stream[K, V2]{b: s.b, n: n, keyChanged: s.keyChanged}
}

// FlatMap replaces every record by the zero or more records f returns, in order.
func FlatMap[K, V, K2, V2 any](s *Stream[K, V], f func(K, V) []KeyValue[K2, V2]) *Stream[K2, V2] {
	if f == nil {
		s.b.fail("FlatMap: nil function")
	}
	n := s.derive("flat-map", func(n *node, c *recordContext, k K, v V) error {
		for _, kv := range f(k, v) {
			if err := n.forward(c, kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return nil
	})
	return &Stream[K2, V2]{b: s.b, n: n, keyChanged: true}
}

// Grouped names a grouping and gives the serdes of its keys and values, used by the
// repartition topic `<application>-<Name>-repartition` and by the stores downstream.
type Grouped[K, V any] struct {
	Name   string
	Keys   Serde[K]
	Values Serde[V]
}

// GroupedStream is a stream grouped by key, ready for an aggregation (Kafka's
// KGroupedStream). Its records are already partitioned by their key.
type GroupedStream[K, V any] struct {
	b      *Builder
	n      *node
	keys   Serde[K]
	values Serde[V]
}

// GroupByKey groups by the current key; if a Map or FlatMap changed keys since the
// source, records first go through the repartition topic so that each key is in one task.
func GroupByKey[K, V any](s *Stream[K, V], g Grouped[K, V]) *GroupedStream[K, V] {
	if g.Keys == nil || g.Values == nil {
		s.b.fail("GroupByKey(%q): nil serde", g.Name)
	}
	if !s.keyChanged {
		return &GroupedStream[K, V]{b: s.b, n: s.n, keys: g.Keys, values: g.Values}
	}
	return repartition(s, g)
}

// GroupBy groups by the key f selects; records always go through the repartition topic.
func GroupBy[K, V, K2 any](s *Stream[K, V], f func(K, V) K2, g Grouped[K2, V]) *GroupedStream[K2, V] {
	if f == nil {
		s.b.fail("GroupBy(%q): nil function", g.Name)
	}
	if g.Keys == nil || g.Values == nil {
		s.b.fail("GroupBy(%q): nil serde", g.Name)
	}
	return repartition(Map(s, func(k K, v V) (K2, V) { return f(k, v), v }), g)
}

// repartition writes s to `<app>-<name>-repartition` and reads it back as a grouped stream.
func repartition[K, V any](s *Stream[K, V], g Grouped[K, V]) *GroupedStream[K, V] {
	b := s.b
	if g.Name == "" || strings.ContainsAny(g.Name, "/\\ ") {
		b.fail("grouping name %q: want a non-empty name without slashes or spaces", g.Name)
		return &GroupedStream[K, V]{b: b, n: s.n, keys: g.Keys, values: g.Values}
	}
	suffix := g.Name + "-repartition"
	if b.parts[suffix] {
		b.fail("repartition name %q used twice", g.Name)
	}
	b.parts[suffix] = true
	topic := internalTopicPlaceholder(suffix)
	s.derive("repartition-sink", func(_ *node, c *recordContext, k K, v V) error {
		kb, err := g.Keys.Encode(k)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for repartition %s: %w", g.Name, err)
		}
		vb, err := g.Values.Encode(v)
		if err != nil {
			return fmt.Errorf("streams: encoding a value for repartition %s: %w", g.Name, err)
		}
		c.t.send(c.t.a.internalTopic(suffix), -1, kb, vb, c.ts)
		return nil
	})
	back := From(b, topic, g.Keys, g.Values)
	return &GroupedStream[K, V]{b: b, n: back.n, keys: g.Keys, values: g.Values}
}

// internalTopicPlaceholder is the source key of an internal topic inside a Topology;
// New replaces it by `<app>-<suffix>`.
func internalTopicPlaceholder(suffix string) string { return "\x00internal:" + suffix }

// Table is a changelog stream read as a table: the latest value per key, kept in a state
// store (Kafka's KTable). Its stream of updates is ToStream.
type Table[K, V any] struct {
	b      *Builder
	n      *node // emits (key, new value) on every update
	store  string
	keys   Serde[K]
	values Serde[V]
	wagg   *windowAgg // the windowed aggregation behind the table, if any
}

// tableDelete is the value a table's node forwards when a key leaves the table (Kafka's
// null value). Only the nodes reading a table directly see it — Table.To writes it as a
// tombstone, table–table joins act on it — and ToStream drops it: a typed stream has
// no null values.
type tableDelete struct{}

// ToStream returns the stream of the table's updates: (key, new value) per change.
// Deletions are not in it (a typed stream cannot carry Kafka's null value); Table.To
// writes them as tombstones.
func (t *Table[K, V]) ToStream() *Stream[K, V] {
	n := t.b.child(t.n, "to-stream", func(n *node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			if _, deleted := v.(tableDelete); deleted {
				return nil
			}
			return n.forward(c, k, v)
		}
	})
	return &Stream[K, V]{b: t.b, n: n}
}

// To writes the table's changes to topic, which must exist when the application
// starts: every update, and a tombstone (a null value) for every deletion, so that a
// compacted topic holds the table.
func (t *Table[K, V]) To(topic string, keys Serde[K], values Serde[V]) {
	if keys == nil || values == nil {
		t.b.fail("To(%q): nil serde", topic)
	}
	t.b.sinks[topic] = true
	t.b.child(t.n, "table-sink", func(*node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kb, err := keys.Encode(k.(K))
			if err != nil {
				return fmt.Errorf("streams: encoding a key for %s: %w", topic, err)
			}
			var vb []byte
			if _, deleted := v.(tableDelete); !deleted {
				if vb, err = values.Encode(v.(V)); err != nil {
					return fmt.Errorf("streams: encoding a value for %s: %w", topic, err)
				}
			}
			c.t.send(topic, -1, kb, vb, c.ts)
			return nil
		}
	})
}

// TableFrom reads a (normally compacted) topic as a table kept in store name, whose
// changelog is `<application>-<name>-changelog`. A record with a null value (a
// tombstone) deletes its key.
func TableFrom[K, V any](b *Builder, topic, name string, keys Serde[K], values Serde[V]) *Table[K, V] {
	if keys == nil || values == nil {
		b.fail("TableFrom(%q): nil serde", topic)
	}
	b.addStore(storeSpec{name: name})
	src := b.source(topic)
	n := b.child(src, "table-source", func(n *node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kb, _ := k.([]byte)
			vb, _ := v.([]byte)
			if kb == nil {
				return nil // a table has no null keys; Kafka drops these too
			}
			st := c.t.store(name)
			kk, err := decode(keys, kb, "key of "+topic)
			if err != nil {
				return err
			}
			if vb == nil {
				if _, found, err := st.get(kb); err != nil || !found {
					return err
				}
				if err := st.delete(c, kb); err != nil {
					return err
				}
				return n.forward(c, kk, tableDelete{})
			}
			vv, err := decode(values, vb, "value of "+topic)
			if err != nil {
				return err
			}
			if err := st.put(c, kb, vb); err != nil {
				return err
			}
			return n.forward(c, kk, vv)
		}
	})
	return &Table[K, V]{b: b, n: n, store: name, keys: keys, values: values}
}

// Count counts records per key into store name; the table's values are the counts.
func (g *GroupedStream[K, V]) Count(name string) *Table[K, int64] {
	return Aggregate(g, name, func() int64 { return 0 },
		func(_ K, _ V, agg int64) int64 { return agg + 1 }, Int64())
}

// Reduce combines the values of each key with f (the first value as it is) into store name.
func (g *GroupedStream[K, V]) Reduce(name string, f func(agg, v V) V) *Table[K, V] {
	if f == nil {
		g.b.fail("Reduce(%q): nil function", name)
	}
	return aggregate(g, name, func(_ K, v V, agg V, found bool) V {
		if !found {
			return v
		}
		return f(agg, v)
	}, g.values)
}

// Aggregate folds the values of each key into an aggregate of type VA, starting from
// init(), kept in store name with the serde given.
func Aggregate[K, V, VA any](g *GroupedStream[K, V], name string, init func() VA, f func(K, V, VA) VA, aggs Serde[VA]) *Table[K, VA] {
	if init == nil || f == nil || aggs == nil {
		g.b.fail("Aggregate(%q): nil function or serde", name)
	}
	return aggregate(g, name, func(k K, v V, agg VA, found bool) VA {
		if !found {
			agg = init()
		}
		return f(k, v, agg)
	}, aggs)
}

// aggregate is the key-value aggregation under Count, Reduce and Aggregate.
func aggregate[K, V, VA any](g *GroupedStream[K, V], name string, f func(K, V, VA, bool) VA, aggs Serde[VA]) *Table[K, VA] {
	g.b.addStore(storeSpec{name: name})
	n := g.b.child(g.n, "aggregate", func(n *node) func(*recordContext, any, any) error {
		return func(c *recordContext, k, v any) error {
			kk := k.(K)
			kb, err := g.keys.Encode(kk)
			if err != nil {
				return fmt.Errorf("streams: encoding a key for store %s: %w", name, err)
			}
			if kb == nil {
				return nil // Kafka drops null keys in aggregations
			}
			st := c.t.store(name)
			old, found, err := st.get(kb)
			if err != nil {
				return err
			}
			var agg VA
			if found {
				if agg, err = aggs.Decode(old); err != nil {
					return fmt.Errorf("streams: decoding store %s: %w", name, err)
				}
			}
			agg = f(kk, v.(V), agg, found)
			ab, err := aggs.Encode(agg)
			if err != nil {
				return fmt.Errorf("streams: encoding an aggregate for store %s: %w", name, err)
			}
			if err := st.put(c, kb, ab); err != nil {
				return err
			}
			return n.forward(c, kk, agg)
		}
	})
	return &Table[K, VA]{b: g.b, n: n, store: name, keys: g.keys, values: aggs}
}
