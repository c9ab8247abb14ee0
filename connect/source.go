package connect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runSource runs a source task until ctx is done or it fails (WorkerSourceTask): poll,
// transform, convert, produce; every offset.flush.interval.ms, the offsets of the records the
// cluster acknowledged — up to the first record still in flight, in poll order — are written
// to the offset store and then handed to SourceTask.Commit. A produce error fails the task;
// conversion and transform errors fail it unless errors.tolerance=all.
func (h *Herder) runSource(ctx context.Context, run *taskRun, plugin *Plugin, config, taskConfig map[string]string) error {
	pipe, err := newPipeline(h.cfg, config)
	if err != nil {
		return err
	}
	prod := h.producer
	var txn *sourceTxn
	if h.cfg.exactlyOnceEnabled() {
		if txn, err = h.newSourceTxn(ctx, run, config); err != nil {
			return err
		}
		defer txn.close()
		prod = txn.cl
	}
	task := plugin.NewSourceTask()
	if err := task.Start(&sourceTaskContext{h: h, connector: run.id.Connector}, taskConfig); err != nil {
		return fmt.Errorf("starting task %s: %w", run.id, err)
	}
	defer func() {
		if err := task.Stop(); err != nil {
			h.log.Warn("stopping task", "task", run.id.String(), "err", err)
		}
	}()
	m := h.metrics.task(run.id)
	inflight := &sourceInflight{}
	flush := func(final bool) error {
		if txn != nil {
			return txn.commit(h, run, inflight, task)
		}
		if final {
			// Wait (bounded) for what is in flight so that a clean stop commits it.
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			inflight.wait(fctx)
			cancel()
		}
		// The acknowledged prefix is in the cluster: its offsets are stored even when a later
		// record failed, so that the task's next instance does not send it again.
		failed := inflight.failure()
		list, commit := acknowledged(inflight)
		if len(list) > 0 {
			if err := h.offsets.put(run.id.Connector, list); err != nil {
				return fmt.Errorf("storing offsets: %w", err)
			}
			h.committed(run, task, commit)
		}
		return failed
	}
	interval := h.cfg.FlushInterval
	if txn != nil && txn.interval > 0 {
		interval = txn.interval
	}
	nextFlush := time.Now().Add(interval)
	for ctx.Err() == nil {
		wait := min(max(time.Until(nextFlush), 10*time.Millisecond), time.Second)
		pctx, cancel := context.WithTimeout(ctx, wait)
		recs, err := task.Poll(pctx)
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("poll: %w", err)
		}
		m.polled.Add(float64(len(recs)))
		if txn != nil && len(recs) > 0 {
			if err := txn.begin(); err != nil {
				return err
			}
		}
		for i := range recs {
			if err := h.sendSource(ctx, run, prod, pipe, inflight, &recs[i]); err != nil {
				return err
			}
		}
		if err := inflight.failure(); err != nil {
			return err
		}
		if (txn != nil && txn.boundary == "poll" && len(recs) > 0) || !time.Now().Before(nextFlush) {
			if err := flush(false); err != nil {
				return err
			}
			nextFlush = time.Now().Add(interval)
		}
	}
	return flush(true)
}

// acknowledged takes the acknowledged prefix of inflight: its offsets for the store and, keyed
// by source partition, for SourceTask.Commit.
func acknowledged(inflight *sourceInflight) ([]PartitionOffset, map[string]map[string]any) {
	offsets := inflight.takeAcked()
	list := make([]PartitionOffset, 0, len(offsets))
	commit := make(map[string]map[string]any, len(offsets))
	for k, po := range offsets {
		list = append(list, po)
		commit[k] = po.Offset
	}
	return list, commit
}

// committed counts an offset commit of a source task and hands the offsets to the task.
func (h *Herder) committed(run *taskRun, task SourceTask, commit map[string]map[string]any) {
	h.metrics.task(run.id).committed.Inc()
	if err := task.Commit(commit); err != nil {
		h.log.Warn("source task commit", "task", run.id.String(), "err", err)
	}
}

// sendSource transforms, converts and produces one source record with prod.
func (h *Herder) sendSource(ctx context.Context, run *taskRun, prod *kgo.Client, pipe *pipeline, inflight *sourceInflight, sr *SourceRecord) error {
	m := h.metrics.task(run.id)
	rec := &Record{Topic: sr.Topic, Partition: sr.Partition, KeySchema: sr.KeySchema, Key: sr.Key,
		ValueSchema: sr.ValueSchema, Value: sr.Value, Timestamp: sr.Timestamp, Headers: sr.Headers}
	out, err := pipe.transforms.apply(rec)
	if err != nil {
		if err := pipe.errors.tolerate(h, run.id, "TRANSFORMATION", err, nil); err != nil {
			return err
		}
		m.skipped.Inc()
		inflight.add(sr, true) // skipped records still advance the offset
		return nil
	}
	if out == nil { // filtered
		m.filtered.Inc()
		inflight.add(sr, true)
		return nil
	}
	kr, err := pipe.toKafka(out)
	if err != nil {
		if err := pipe.errors.tolerate(h, run.id, "VALUE_CONVERTER", err, nil); err != nil {
			return err
		}
		m.skipped.Inc()
		inflight.add(sr, true)
		return nil
	}
	h.noteTopic(run.id.Connector, kr.Topic)
	entry := inflight.add(sr, false)
	// Stopping the task (ctx done) does not fail what it already sent: the final flush waits
	// for it and stores its offsets, as Java's worker does on a clean stop.
	prod.Produce(context.WithoutCancel(ctx), kr, func(_ *kgo.Record, err error) {
		if err == nil {
			m.written.Inc()
		}
		inflight.ack(entry, err)
	})
	return nil
}

// sourceInflight is a source task's records between poll and acknowledgement, in poll order.
type sourceInflight struct {
	mu      sync.Mutex
	entries []*inflightEntry // guarded by mu; poll order
	err     error            // guarded by mu; the first produce error
	changed chan struct{}    // guarded by mu; closed and replaced on every ack
}

type inflightEntry struct {
	partition map[string]any
	offset    map[string]any
	acked     bool
}

func (s *sourceInflight) add(sr *SourceRecord, acked bool) *inflightEntry {
	e := &inflightEntry{partition: sr.SourcePartition, offset: sr.SourceOffset, acked: acked}
	s.mu.Lock()
	s.entries = append(s.entries, e)
	s.mu.Unlock()
	return e
}

func (s *sourceInflight) ack(e *inflightEntry, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("producing a record: %w", err)
	}
	e.acked = err == nil
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *sourceInflight) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// takeAcked removes the acknowledged prefix and returns the newest offset of each of its
// source partitions, keyed by the partition's JSON.
func (s *sourceInflight) takeAcked() map[string]PartitionOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.entries) && s.entries[n].acked {
		n++
	}
	out := make(map[string]PartitionOffset)
	for _, e := range s.entries[:n] {
		if e.partition == nil || e.offset == nil {
			continue
		}
		k, err := schemalessJSON.FromConnect("", nil, e.partition)
		if err != nil {
			continue
		}
		out[string(k)] = PartitionOffset{Partition: e.partition, Offset: e.offset}
	}
	s.entries = s.entries[n:]
	return out
}

// wait blocks until nothing is in flight or ctx is done.
func (s *sourceInflight) wait(ctx context.Context) {
	for {
		s.mu.Lock()
		pending := false
		for _, e := range s.entries {
			if !e.acked {
				pending = true
				break
			}
		}
		if !pending || s.err != nil {
			s.mu.Unlock()
			return
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// sourceTaskContext gives a source task its stored offsets.
type sourceTaskContext struct {
	h         *Herder
	connector string
}

func (c *sourceTaskContext) Offset(partition map[string]any) (map[string]any, error) {
	return c.h.offsets.get(c.connector, partition)
}

// sourcePartitioner sends a record to its Partition when the task chose one (>= 0) and
// otherwise lets the default partitioner choose by key, as Java's producer does.
type sourcePartitioner struct{ fallback kgo.Partitioner }

func (p sourcePartitioner) ForTopic(topic string) kgo.TopicPartitioner {
	return sourceTopicPartitioner{p.fallback.ForTopic(topic)}
}

type sourceTopicPartitioner struct{ fallback kgo.TopicPartitioner }

func (p sourceTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.fallback.RequiresConsistency(r)
}

func (p sourceTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition) % n
	}
	return p.fallback.Partition(r, n)
}

// OnNewBatch lets a sticky fallback move on to another partition.
func (p sourceTopicPartitioner) OnNewBatch() {
	if nb, ok := p.fallback.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}
