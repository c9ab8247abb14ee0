package connect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SinkGroup is the consumer group of a sink connector's tasks, as Java names it.
func SinkGroup(connector string) string { return "connect-" + connector }

// sinkRun is one sink task's consumer and what it consumed but has not committed.
// mu serializes the task's calls (Put, Flush) between the task goroutine and the consumer's
// revoke callback, and guards next; amu guards assigned (the task reads it from Put).
type sinkRun struct {
	ctx      context.Context // done when the task is being stopped
	h        *Herder
	id       TaskID
	task     SinkTask
	cl       *kgo.Client
	mu       sync.Mutex
	next     map[TopicPartition]int64 // next offset to read, per partition consumed since the last commit
	amu      sync.Mutex
	assigned map[TopicPartition]bool
}

// runSink runs a sink task until ctx is done or it fails (WorkerSinkTask): consume with the
// group connect-<name>, convert, transform, Put; every offset.flush.interval.ms (and before
// partitions are revoked, and at the end) Flush and then commit the offsets Flush covered.
func (h *Herder) runSink(ctx context.Context, run *taskRun, plugin *Plugin, config, taskConfig map[string]string) error {
	pipe, err := newPipeline(h.cfg, config)
	if err != nil {
		return err
	}
	s := &sinkRun{ctx: ctx, h: h, id: run.id, task: plugin.NewSinkTask(), next: make(map[TopicPartition]int64), assigned: make(map[TopicPartition]bool)}
	opts := []kgo.Opt{
		kgo.SeedBrokers(h.cfg.Bootstrap...),
		kgo.ConsumerGroup(SinkGroup(run.id.Connector)),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), // Java's sink consumers: auto.offset.reset=earliest
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			s.amu.Lock()
			defer s.amu.Unlock()
			for t, ps := range m {
				for _, p := range ps {
					s.assigned[TopicPartition{t, p}] = true
				}
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			if err := s.flushCommit(ctx); err != nil {
				h.log.Warn("sink task: committing before a rebalance", "task", run.id.String(), "err", err)
			}
			s.forget(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			s.forget(m)
		}),
	}
	// The worker's consumer.* properties Java passes to sink consumers, the group timing ones.
	for _, t := range []struct {
		key string
		opt func(time.Duration) kgo.GroupOpt
	}{{"consumer.session.timeout.ms", kgo.SessionTimeout}, {"consumer.heartbeat.interval.ms", kgo.HeartbeatInterval}} {
		if v, ok := h.cfg.Props[t.key]; ok {
			ms, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || ms <= 0 {
				return fmt.Errorf("invalid value %s for configuration %s: expected a positive number of milliseconds", v, t.key)
			}
			opts = append(opts, t.opt(time.Duration(ms)*time.Millisecond))
		}
	}
	switch topics, re := strings.TrimSpace(config["topics"]), config["topics.regex"]; {
	case topics != "":
		opts = append(opts, kgo.ConsumeTopics(aliases(topics)...))
	case re != "":
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("invalid topics.regex %q: %w", re, err)
		}
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(re))
	default:
		return errors.New("must configure one of topics or topics.regex")
	}
	if s.cl, err = kgo.NewClient(opts...); err != nil {
		return err
	}
	if err := s.task.Start(s, taskConfig); err != nil {
		s.cl.Close()
		return fmt.Errorf("starting task %s: %w", run.id, err)
	}
	err = s.loop(ctx, pipe)
	// A clean stop commits what was put; a failure commits nothing more.
	if err == nil {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if ferr := s.flushCommit(cctx); ferr != nil {
			h.log.Warn("sink task: final commit", "task", run.id.String(), "err", ferr)
		}
		cancel()
	}
	s.cl.CloseAllowingRebalance()
	if serr := s.task.Stop(); serr != nil {
		h.log.Warn("stopping task", "task", run.id.String(), "err", serr)
	}
	return err
}

func (s *sinkRun) loop(ctx context.Context, pipe *pipeline) error {
	m := s.h.metrics.task(s.id)
	nextFlush := time.Now().Add(s.h.cfg.FlushInterval)
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, min(max(time.Until(nextFlush), 10*time.Millisecond), time.Second))
		fetches := s.cl.PollRecords(pctx, 1000)
		cancel()
		var fatal error
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			s.h.log.Warn("sink task: fetch", "task", s.id.String(), "topic", t, "partition", p, "err", err)
			if errors.Is(err, kerr.GroupAuthorizationFailed) || errors.Is(err, kerr.TopicAuthorizationFailed) {
				fatal = err
			}
		})
		if fatal != nil {
			s.cl.AllowRebalance()
			return fatal
		}
		var batch []SinkRecord
		var lagSum int64
		var err error
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			if err != nil {
				return
			}
			for _, kr := range p.Records {
				if err = s.convert(pipe, kr, &batch); err != nil {
					return
				}
			}
			if len(p.Records) > 0 {
				lagSum += max(0, p.HighWatermark-p.Records[len(p.Records)-1].Offset-1)
			}
		})
		if err != nil {
			s.cl.AllowRebalance()
			return err
		}
		m.polled.Add(float64(len(fetches.Records())))
		if len(fetches.Records()) > 0 {
			m.lag.Set(float64(lagSum))
		}
		if err := s.put(ctx, batch, fetches); err != nil {
			s.cl.AllowRebalance()
			return err
		}
		m.written.Add(float64(len(batch)))
		s.cl.AllowRebalance()
		if !time.Now().Before(nextFlush) {
			if err := s.flushCommit(ctx); err != nil && ctx.Err() == nil {
				return err
			}
			nextFlush = time.Now().Add(s.h.cfg.FlushInterval)
		}
	}
	return nil
}

// convert turns one consumed record into a SinkRecord (appended to batch) unless a transform
// drops it or a tolerated error skips it.
func (s *sinkRun) convert(pipe *pipeline, kr *kgo.Record, batch *[]SinkRecord) error {
	r, stage, err := pipe.fromKafka(kr)
	if err == nil {
		stage = "TRANSFORMATION"
		r, err = pipe.transforms.apply(r)
	}
	if err != nil {
		return pipe.errors.tolerate(s.h, s.id, stage, err, kr)
	}
	if r == nil {
		s.h.metrics.task(s.id).filtered.Inc()
		return nil
	}
	s.h.noteTopic(s.id.Connector, kr.Topic)
	*batch = append(*batch, SinkRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
		KeySchema: r.KeySchema, Key: r.Key, ValueSchema: r.ValueSchema, Value: r.Value, Timestamp: r.Timestamp, Headers: r.Headers})
	return nil
}

// put hands a batch to the task, retrying while it answers ErrRetriable, then records the
// offsets consumed.
func (s *sinkRun) put(ctx context.Context, batch []SinkRecord, fetches kgo.Fetches) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	backoff := 100 * time.Millisecond
	for len(batch) > 0 {
		err := s.task.Put(batch)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrRetriable) {
			return fmt.Errorf("put: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	fetches.EachRecord(func(kr *kgo.Record) {
		s.next[TopicPartition{kr.Topic, kr.Partition}] = kr.Offset + 1
	})
	return nil
}

// flushCommit flushes the task and commits the offsets it covered.
func (s *sinkRun) flushCommit(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.next) == 0 {
		return nil
	}
	offsets := make(map[TopicPartition]int64, len(s.next))
	commit := make(map[string]map[int32]kgo.EpochOffset)
	for tp, o := range s.next {
		offsets[tp] = o
		if commit[tp.Topic] == nil {
			commit[tp.Topic] = make(map[int32]kgo.EpochOffset)
		}
		commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	if err := s.task.Flush(offsets); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	var cerr error
	s.cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
					cerr = fmt.Errorf("committing %s-%d: %w", t.Topic, p.Partition, e)
				}
			}
		}
	})
	if cerr != nil {
		return cerr
	}
	s.h.metrics.task(s.id).committed.Inc()
	clear(s.next)
	return nil
}

// forget drops revoked or lost partitions.
func (s *sinkRun) forget(m map[string][]int32) {
	s.mu.Lock()
	s.amu.Lock()
	defer s.mu.Unlock()
	defer s.amu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(s.assigned, TopicPartition{t, p})
			delete(s.next, TopicPartition{t, p})
		}
	}
}

// Context is done when the task is being stopped (SinkTaskContext).
func (s *sinkRun) Context() context.Context { return s.ctx }

// Assignment returns the partitions assigned to the task (SinkTaskContext).
func (s *sinkRun) Assignment() []TopicPartition {
	s.amu.Lock()
	defer s.amu.Unlock()
	out := make([]TopicPartition, 0, len(s.assigned))
	for tp := range s.assigned {
		out = append(out, tp)
	}
	return out
}
