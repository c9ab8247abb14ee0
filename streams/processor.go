package streams

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Processor is a custom operator, for what the DSL cannot say (Kafka's Processor API).
// Each task makes its own with the factory given to Process: Init runs when the task
// opens (its stores restored), Process for each record, Close when the task closes.
// A processor reads and writes state stores (AddKeyValueStore), forwards any number of
// records downstream, and schedules punctuations.
type Processor[K, V, KO, VO any] interface {
	Init(ctx *ProcessorContext[KO, VO]) error
	Process(ctx *ProcessorContext[KO, VO], key K, value V) error
	Close() error
}

// Process runs the records of s through a processor per task, made by newProcessor;
// what the processors forward is the returned stream. name names the operator in
// errors. A processor may change keys, so grouping after it repartitions.
func Process[K, V, KO, VO any](s *Stream[K, V], name string, newProcessor func() Processor[K, V, KO, VO]) *Stream[KO, VO] {
	if newProcessor == nil {
		s.b.fail("Process(%q): nil factory", name)
	}
	n := s.derive("process", func(n *node, c *recordContext, k K, v V) error {
		inst := c.t.procs[n]
		ctx := inst.ctx.(*ProcessorContext[KO, VO])
		ctx.c = c
		err := inst.p.(Processor[K, V, KO, VO]).Process(ctx, k, v)
		ctx.c = nil
		if err != nil {
			return fmt.Errorf("processor %s: %w", name, err)
		}
		return nil
	})
	s.b.inits = append(s.b.inits, func(t *task) error {
		p := newProcessor()
		ctx := &ProcessorContext[KO, VO]{processorState: &processorState{t: t, n: n, name: name}}
		t.procs[n] = &procInstance{p: p, ctx: ctx, close: p.Close}
		if err := p.Init(ctx); err != nil {
			return fmt.Errorf("streams: processor %s, task %d: init: %w", name, t.id, err)
		}
		return nil
	})
	return &Stream[KO, VO]{b: s.b, n: n, keyChanged: true}
}

// procInstance is one task's processor of one Process node.
type procInstance struct {
	p     any // Processor[K, V, KO, VO]
	ctx   any // *ProcessorContext[KO, VO]
	close func() error
}

// ProcessorContext is a processor's view of its task: forwarding, the record being
// processed, stream time, punctuation, and (through StoreContext) state stores.
type ProcessorContext[K, V any] struct {
	*processorState
}

// Forward passes a record downstream with the timestamp of the record being processed
// (in a punctuation: the punctuation's time).
func (c *ProcessorContext[K, V]) Forward(key K, value V) error {
	if c.c == nil {
		return fmt.Errorf("streams: processor %s: Forward outside Process or a punctuation", c.name)
	}
	return c.n.forward(c.c, key, value)
}

// ForwardAt passes a record downstream with timestamp ts (ms).
func (c *ProcessorContext[K, V]) ForwardAt(key K, value V, ts int64) error {
	if c.c == nil {
		return fmt.Errorf("streams: processor %s: ForwardAt outside Process or a punctuation", c.name)
	}
	rc := *c.c
	rc.ts = ts
	return c.n.forward(&rc, key, value)
}

// processorState is the untyped part of a ProcessorContext.
type processorState struct {
	t    *task
	n    *node
	name string
	c    *recordContext // the record being processed or the punctuation running; nil otherwise
}

// RecordMetadata locates the input record being processed.
type RecordMetadata struct {
	Topic     string
	Partition int32
	Offset    int64
}

// TaskID returns the task's number: the partition number it processes of every input.
func (p *processorState) TaskID() int32 { return p.t.id }

// Metadata returns where the record being processed comes from; false in a
// punctuation or in Init, where there is no input record.
func (p *processorState) Metadata() (RecordMetadata, bool) {
	if p.c == nil || p.c.rec == nil {
		return RecordMetadata{}, false
	}
	return RecordMetadata{Topic: p.c.rec.Topic, Partition: p.c.rec.Partition, Offset: p.c.rec.Offset}, true
}

// Timestamp returns the timestamp (ms) of the record being processed, or the time of
// the punctuation running.
func (p *processorState) Timestamp() int64 {
	if p.c == nil {
		return 0
	}
	return p.c.ts
}

// StreamTime returns the task's stream time: the largest record timestamp (ms) it has
// processed since it opened, math.MinInt64 before its first record.
func (p *processorState) StreamTime() int64 { return p.t.streamTime }

// state gives store handles the task and the current record.
func (p *processorState) state() *processorState { return p }

// PunctuationType says what clock drives a punctuation.
type PunctuationType int

const (
	// StreamTime punctuations follow the task's stream time: the first runs at the
	// task's first record, then each time stream time reaches the next multiple of the
	// interval after it; a jump over several intervals runs the punctuation once.
	StreamTime PunctuationType = iota
	// WallClockTime punctuations run every interval of wall-clock time, whether records
	// arrive or not (a jump over several intervals runs once).
	WallClockTime
)

// Punctuation is a scheduled call of a processor's function; Cancel stops it.
type Punctuation struct {
	ps        *processorState
	typ       PunctuationType
	interval  int64 // ms
	next      int64 // the time (stream or wall, ms) at or after which it runs; math.MinInt64: at the first record
	f         func(ts int64) error
	cancelled bool
}

// Cancel stops the punctuation; a call running now completes.
func (p *Punctuation) Cancel() { p.cancelled = true }

// Schedule calls f every interval of stream or wall-clock time (Kafka's
// ProcessorContext.schedule) with the time (ms) it runs at: the stream time, or the
// wall clock. f runs on the stream thread between records, with the task's stores
// and Forward available; records it forwards carry that time. It may be called from
// Init, Process or a punctuation.
func (p *processorState) Schedule(interval time.Duration, typ PunctuationType, f func(ts int64) error) (*Punctuation, error) {
	if interval < time.Millisecond || f == nil || (typ != StreamTime && typ != WallClockTime) {
		return nil, fmt.Errorf("streams: processor %s: Schedule(%v, %d): want an interval ≥ 1ms, a known type and a function", p.name, interval, typ)
	}
	pu := &Punctuation{ps: p, typ: typ, interval: interval.Milliseconds(), next: math.MinInt64, f: f}
	if typ == WallClockTime {
		pu.next = time.Now().UnixMilli() + pu.interval
	}
	p.t.punctuations = append(p.t.punctuations, pu)
	return pu, nil
}

// run calls the punctuation at now (stream or wall time) if it is due, and moves next
// past now on the interval grid.
func (pu *Punctuation) run(now int64) error {
	if pu.cancelled || now < pu.next {
		return nil
	}
	if pu.next == math.MinInt64 {
		pu.next = now
	}
	pu.next += ((now-pu.next)/pu.interval + 1) * pu.interval
	c := &recordContext{t: pu.ps.t, ts: now}
	prev := pu.ps.c
	pu.ps.c = c
	err := pu.f(now)
	pu.ps.c = prev
	if err != nil {
		return fmt.Errorf("streams: processor %s, task %d: punctuation: %w", pu.ps.name, pu.ps.t.id, err)
	}
	return nil
}

// punctuate runs the task's due punctuations of type typ at now, and forgets the
// cancelled ones.
func (t *task) punctuate(typ PunctuationType, now int64) error {
	live := t.punctuations[:0]
	var err error
	for _, pu := range t.punctuations {
		if pu.typ == typ && err == nil {
			err = pu.run(now)
		}
		if !pu.cancelled {
			live = append(live, pu)
		}
	}
	clear(t.punctuations[len(live):])
	t.punctuations = live
	return err
}

// nextWallClock returns the earliest wall-clock time (ms) a punctuation of the task is
// due, math.MaxInt64 if none.
func (t *task) nextWallClock() int64 {
	next := int64(math.MaxInt64)
	for _, pu := range t.punctuations {
		if pu.typ == WallClockTime && !pu.cancelled {
			next = min(next, pu.next)
		}
	}
	return next
}

// StoreContext is what a state store needs of its caller: a ProcessorContext (the
// task whose store it is, and the record or punctuation whose time its changelog
// writes carry).
type StoreContext interface {
	state() *processorState
}

// KeyValueStore is a key-value state store for processors, declared with
// AddKeyValueStore: one pebble database per task, changelog `<application>-<name>-changelog`
// (compacted), restored like every store. Its methods take the processor's context.
type KeyValueStore[K, V any] struct {
	name   string
	keys   Serde[K]
	values Serde[V]
}

// AddKeyValueStore declares a key-value store for processors.
func AddKeyValueStore[K, V any](b *Builder, name string, keys Serde[K], values Serde[V]) *KeyValueStore[K, V] {
	if keys == nil || values == nil {
		b.fail("AddKeyValueStore(%q): nil serde", name)
	}
	b.addStore(storeSpec{name: name})
	return &KeyValueStore[K, V]{name: name, keys: keys, values: values}
}

// errNoRecord is the error of a store write outside Process and punctuations.
var errNoRecord = errors.New("a store write outside Process or a punctuation (its changelog record needs a timestamp)")

// open returns the task's store and the current record context.
func (s *KeyValueStore[K, V]) open(ctx StoreContext) (*kvStore, *recordContext) {
	ps := ctx.state()
	return ps.t.store(s.name), ps.c
}

// Get returns the value of key k.
func (s *KeyValueStore[K, V]) Get(ctx StoreContext, k K) (V, bool, error) {
	var zero V
	kb, err := s.keys.Encode(k)
	if err != nil {
		return zero, false, fmt.Errorf("streams: encoding a key for store %s: %w", s.name, err)
	}
	st, _ := s.open(ctx)
	raw, found, err := st.get(kb)
	if err != nil || !found {
		return zero, false, err
	}
	v, err := decodeStored(s.values, raw, s.name)
	return v, err == nil, err
}

// writable returns the task's store, the current record context and k's bytes, for
// a write.
func (s *KeyValueStore[K, V]) writable(ctx StoreContext, k K) (*kvStore, *recordContext, []byte, error) {
	st, c := s.open(ctx)
	if c == nil {
		return nil, nil, nil, fmt.Errorf("streams: store %s: %w", s.name, errNoRecord)
	}
	kb, err := s.keys.Encode(k)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("streams: encoding a key for store %s: %w", s.name, err)
	}
	return st, c, kb, nil
}

// Put sets key k to v.
func (s *KeyValueStore[K, V]) Put(ctx StoreContext, k K, v V) error {
	st, c, kb, err := s.writable(ctx, k)
	if err != nil {
		return err
	}
	vb, err := s.values.Encode(v)
	if err != nil {
		return fmt.Errorf("streams: encoding a value for store %s: %w", s.name, err)
	}
	if vb == nil {
		vb = []byte{} // nil is the changelog's tombstone
	}
	return st.put(c, kb, vb)
}

// Delete removes key k.
func (s *KeyValueStore[K, V]) Delete(ctx StoreContext, k K) error {
	st, c, kb, err := s.writable(ctx, k)
	if err != nil {
		return err
	}
	return st.delete(c, kb)
}

// Range calls f with every entry whose encoded key is in [from, to] (bytewise; nil:
// unbounded), in that order, until f returns false.
func (s *KeyValueStore[K, V]) Range(ctx StoreContext, from, to *K, f func(K, V) bool) error {
	st, _ := s.open(ctx)
	lower, upper := []byte{dataPrefix}, []byte{dataPrefix + 1}
	if from != nil {
		kb, err := s.keys.Encode(*from)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for store %s: %w", s.name, err)
		}
		lower = append(lower, kb...)
	}
	if to != nil {
		kb, err := s.keys.Encode(*to)
		if err != nil {
			return fmt.Errorf("streams: encoding a key for store %s: %w", s.name, err)
		}
		upper = append(append([]byte{dataPrefix}, kb...), 0)
	}
	entries, err := st.scan(lower, upper, false)
	if err != nil {
		return err
	}
	for _, e := range entries {
		k, err := decode(s.keys, e.sk, "key of store "+s.name)
		if err != nil {
			return err
		}
		v, err := decodeStored(s.values, e.value, s.name)
		if err != nil {
			return err
		}
		if !f(k, v) {
			return nil
		}
	}
	return nil
}
