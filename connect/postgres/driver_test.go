package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/connect"
)

// The test driver: the smallest loop that runs a task against the contract the way the
// runtime does (poll, produce, wait for the acknowledgements, store the offset, Commit), with
// offsets kept as JSON the way the offsets topic keeps them. It is not a runtime: one task,
// no converters beyond jsonconv_test.go, no REST.

// offsetStore keeps source offsets as JSON, as Kafka Connect's offsets topic does.
type offsetStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (s *offsetStore) key(p map[string]any) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// Offset returns the stored offset of a partition (numbers come back as float64).
func (s *offsetStore) Offset(p map[string]any) (map[string]any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.m[s.key(p)]
	if !ok {
		return nil, nil
	}
	var off map[string]any
	err := json.Unmarshal(b, &off)
	return off, err
}

func (s *offsetStore) put(p, off map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	b, _ := json.Marshal(off)
	s.m[s.key(p)] = b
}

// runSource starts a source task and runs it until ctx is done; it returns the first error.
// Stopping through ctx is a crash as far as the task knows: records polled but not yet
// acknowledged are never committed.
func runSource(ctx context.Context, cl *kgo.Client, config map[string]string, store *offsetStore) error {
	task := &SourceTask{}
	if err := task.Start(store, config); err != nil {
		return err
	}
	defer task.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		recs, err := task.Poll(pctx)
		cancel()
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		krs := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			krs[i] = &kgo.Record{Topic: r.Topic, Key: encodeJSON(r.KeySchema, r.Key), Value: encodeJSON(r.ValueSchema, r.Value), Timestamp: r.Timestamp}
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		last := recs[len(recs)-1]
		store.put(last.SourcePartition, last.SourceOffset)
		stored, _ := store.Offset(last.SourcePartition)
		if err := task.Commit(map[string]map[string]any{last.SourcePartition["server"].(string): stored}); err != nil {
			return err
		}
	}
	return nil
}

// runSink starts a sink task consuming the topics matching topicRegex from the start and
// runs it until ctx is done, flushing after every fetch.
func runSink(ctx context.Context, brokers []string, topicRegex string, config map[string]string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeRegex(), kgo.ConsumeTopics(topicRegex),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMaxAge(500*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	task := &SinkTask{}
	if err := task.Start(nil, config); err != nil {
		return err
	}
	defer task.Stop()
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollFetches(fctx)
		cancel()
		var recs []connect.SinkRecord
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if err != nil {
				return
			}
			sr := connect.SinkRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
			if sr.KeySchema, sr.Key, err = decodeJSON(r.Key); err != nil {
				return
			}
			sr.ValueSchema, sr.Value, err = decodeJSON(r.Value)
			recs = append(recs, sr)
		})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			continue
		}
		if err := retry(ctx, func() error { return task.Put(recs) }); err != nil {
			return err
		}
		if err := retry(ctx, func() error { return task.Flush(nil) }); err != nil {
			return err
		}
	}
	return nil
}

// retry calls f until it succeeds, fails without connect.ErrRetriable, or ctx is done, waiting
// a little between attempts as the runtime does.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || !errors.Is(err, connect.ErrRetriable) {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}
