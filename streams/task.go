package streams

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// task processes partition number id of every input topic, owns that partition's
// stores, and writes their changelog partition id.
type task struct {
	a            *App
	th           *thread
	id           int32
	stores       map[string]*kvStore
	procs        map[*node]*procInstance // the task's processor of each Process node
	punctuations []*Punctuation          // scheduled by the processors, cancelled ones dropped
	streamTime   int64                   // largest record timestamp processed since open; math.MinInt64 before
}

// recordContext is the record being processed: its task, timestamp (event time, ms) and
// the input record (nil in a punctuation).
type recordContext struct {
	t   *task
	ts  int64
	rec *kgo.Record
}

// openTask opens and restores every store of the topology for partition id.
func openTask(ctx context.Context, th *thread, id int32) (*task, error) {
	t := &task{a: th.a, th: th, id: id, stores: map[string]*kvStore{}, procs: map[*node]*procInstance{}, streamTime: math.MinInt64}
	names := make([]string, 0, len(th.a.topo.stores))
	for name := range th.a.topo.stores {
		names = append(names, name)
	}
	sort.Strings(names)
	start := time.Now()
	for _, name := range names {
		s, err := openStore(ctx, th.a, th.a.topo.stores[name], id)
		if err != nil {
			t.close()
			return nil, err
		}
		t.stores[name] = s
	}
	if len(names) > 0 {
		th.a.log.Info("task restored", "task", id, "stores", len(names), "took", time.Since(start))
	}
	for _, init := range th.a.topo.inits {
		if err := init(t); err != nil {
			t.close()
			return nil, err
		}
	}
	th.a.liveMu.Lock()
	th.a.live[id] = t
	th.a.liveMu.Unlock()
	return t, nil
}

// store returns the task's store name; the topology guarantees it exists.
func (t *task) store(name string) *kvStore { return t.stores[name] }

// process runs one input record through the topology from its topic's source.
func (t *task) process(r *kgo.Record) error {
	src := t.a.sources[r.Topic]
	if src == nil {
		return fmt.Errorf("streams: a record of %s, which the topology does not read", r.Topic)
	}
	began := time.Now()
	c := recordContext{t: t, ts: r.Timestamp.UnixMilli(), rec: r}
	t.streamTime = max(t.streamTime, c.ts)
	if err := src.proc(&c, r.Key, r.Value); err != nil {
		return fmt.Errorf("streams: task %d, %s offset %d: %w", t.id, r.Topic, r.Offset, err)
	}
	err := t.punctuate(StreamTime, t.streamTime)
	t.a.metrics.RecordsProcessed.Add(1)
	t.a.metrics.latency.observe(time.Since(began))
	return err
}

// send produces a record of the topology's output (partition -1: by key).
func (t *task) send(topic string, partition int32, key, value []byte, ts int64) {
	r := &kgo.Record{Topic: topic, Partition: partition, Key: key, Value: value, Timestamp: time.UnixMilli(ts)}
	t.th.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			t.th.fail(fmt.Errorf("streams: producing to %s: %w", r.Topic, err))
		}
	})
}

// sendChangelog produces a store write to the store's changelog partition and, once
// acknowledged, moves the checkpoint the next apply records: the offset after the write
// or, exactly once, after the COMMIT marker that follows it (the task is the partition's
// only writer, and a transaction's marker comes right after its last batch), so that a
// restart over intact state finds nothing to restore.
func (t *task) sendChangelog(s *kvStore, key, value []byte, ts int64) {
	next := int64(1)
	if t.th.sess != nil {
		next = 2
	}
	r := &kgo.Record{Topic: s.changelog, Partition: s.partition, Key: key, Value: value, Timestamp: time.UnixMilli(ts)}
	t.th.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
		if err != nil {
			t.th.fail(fmt.Errorf("streams: producing to changelog %s: %w", r.Topic, err))
			return
		}
		s.pending.Store(r.Offset + next)
	})
}

// apply makes the task's uncommitted store writes local.
func (t *task) apply() error {
	var errs []error
	for _, s := range t.stores {
		errs = append(errs, s.apply())
	}
	return errors.Join(errs...)
}

// discard drops the task's uncommitted store writes.
func (t *task) discard() {
	for _, s := range t.stores {
		s.discard()
	}
}

// close closes the task's processors, drops uncommitted writes and closes the stores;
// the local state stays on disk with its checkpoint, so a later assignment restores
// only what it lacks.
func (t *task) close() {
	t.a.liveMu.Lock() // no query reads the stores from here on
	if t.a.live[t.id] == t {
		delete(t.a.live, t.id)
	}
	t.a.liveMu.Unlock()
	for _, p := range t.procs {
		if err := p.close(); err != nil {
			t.a.log.Warn("closing a processor", "task", t.id, "err", err)
		}
	}
	for name, s := range t.stores {
		if err := s.close(); err != nil {
			t.a.log.Warn("closing store", "store", name, "task", t.id, "err", err)
		}
	}
}

// taskPartitioner sends records with an explicit partition (changelogs: the task's
// number) there, and the rest by key as Kafka's default partitioner does (murmur2),
// so repartitioned keys land where a Java Kafka Streams application would put them.
type taskPartitioner struct{}

func (taskPartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return taskTopicPartitioner{byKey: kgo.StickyKeyPartitioner(nil).ForTopic(topic)}
}

type taskTopicPartitioner struct {
	byKey kgo.TopicPartitioner
}

func (p taskTopicPartitioner) RequiresConsistency(*kgo.Record) bool { return true }

func (p taskTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition)
	}
	return p.byKey.Partition(r, n)
}
