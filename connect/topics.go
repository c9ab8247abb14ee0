package connect

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topicLog tails every partition of one of the distributed worker's internal topics from the
// start (Kafka Connect's KafkaBasedLog) and hands each record to apply, in order per
// partition, from one goroutine.
type topicLog struct {
	topic  string
	cl     *kgo.Client
	adm    *kadm.Client
	apply  func(r *kgo.Record)
	cancel context.CancelFunc
	done   chan struct{}
	// committed: the log is read with read_committed up to the last stable offset (the
	// offsets topic when source tasks write it in transactions).
	committed bool

	mu      sync.Mutex
	next    map[int32]int64 // guarded by mu: next offset to read per partition
	changed chan struct{}   // guarded by mu: closed and replaced when next moves
}

// startTopicLog starts tailing topic; committed reads it with read_committed (transaction
// markers then count as read, aborted records are never applied).
func startTopicLog(cfg *WorkerConfig, adm *kadm.Client, topic string, committed bool, apply func(r *kgo.Record)) (*topicLog, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(cfg.Bootstrap...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200 * time.Millisecond)}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &topicLog{topic: topic, cl: cl, adm: adm, apply: apply, cancel: cancel, done: make(chan struct{}),
		committed: committed, next: make(map[int32]int64), changed: make(chan struct{})}
	go l.run(ctx)
	return l, nil
}

func (l *topicLog) run(ctx context.Context) {
	defer close(l.done)
	for ctx.Err() == nil {
		fetches := l.cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				l.apply(r)
			}
		})
		l.mu.Lock()
		fetches.EachRecord(func(r *kgo.Record) { l.next[r.Partition] = r.Offset + 1 })
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	}
}

// readToEnd waits until everything written to the topic before the call has been applied.
func (l *topicLog) readToEnd(ctx context.Context) error {
	list := l.adm.ListEndOffsets
	if l.committed {
		list = l.adm.ListCommittedOffsets
	}
	ends, err := list(ctx, l.topic)
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", l.topic, err)
	}
	if err := ends.Error(); err != nil {
		return fmt.Errorf("end offsets of %s: %w", l.topic, err)
	}
	for {
		l.mu.Lock()
		caught := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset > 0 && l.next[o.Partition] < o.Offset {
				caught = false
			}
		})
		ch := l.changed
		l.mu.Unlock()
		if caught {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("reading %s to its end: %w", l.topic, ctx.Err())
		}
	}
}

// position is the next offset to read of partition 0 (the config topic's only one).
func (l *topicLog) position() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next[0]
}

func (l *topicLog) close() {
	l.cancel()
	<-l.done
	l.cl.Close()
}

// ensureCompactedTopic creates topic compacted if it is missing and refuses one whose
// cleanup.policy is not compact only (Java's TopicAdmin.verifyTopicCleanupPolicyOnlyCompact).
func ensureCompactedTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) error {
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, partitions, rf, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describing %s: %w", topic, err)
	}
	rc, err := cfgs.On(topic, nil)
	if err != nil {
		return fmt.Errorf("describing %s: %w", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" && c.Value != nil && *c.Value != "compact" {
			return fmt.Errorf("topic %s has cleanup.policy=%s; Kafka Connect's internal topics must be compact only", topic, *c.Value)
		}
	}
	return nil
}

// topicOffsets is the distributed worker's offset store: the offsets topic (Kafka Connect's
// KafkaOffsetBackingStore), read whole into memory and written with the shared producer.
type topicOffsets struct {
	producer *kgo.Client
	topic    string
	log      *topicLog
	mu       sync.Mutex
	data     map[string][]byte // guarded by mu: key text → value JSON
}

func (o *topicOffsets) applyRecord(r *kgo.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Value == nil {
		delete(o.data, string(r.Key))
		return
	}
	o.data[string(r.Key)] = r.Value
}

func (o *topicOffsets) get(connector string, partition map[string]any) (map[string]any, error) {
	k, err := offsetKey(connector, partition)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	v, ok := o.data[string(k)]
	o.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return parseOffsetValue(v)
}

func (o *topicOffsets) put(connector string, offsets []PartitionOffset) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := o.records(connector, offsets)
	if err != nil {
		return err
	}
	if err := o.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing offsets to %s: %w", o.topic, err)
	}
	for _, r := range recs {
		o.applyRecord(r)
	}
	return nil
}

// records renders offsets as the offsets topic's records.
func (o *topicOffsets) records(connector string, offsets []PartitionOffset) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, 0, len(offsets))
	for _, po := range offsets {
		k, err := offsetKey(connector, po.Partition)
		if err != nil {
			return nil, err
		}
		var v []byte
		if po.Offset != nil {
			if v, err = schemalessJSON.FromConnect("", nil, po.Offset); err != nil {
				return nil, err
			}
		}
		recs = append(recs, &kgo.Record{Topic: o.topic, Partition: -1, Key: k, Value: v})
	}
	return recs, nil
}

func (o *topicOffsets) list(connector string) ([]PartitionOffset, error) {
	o.mu.Lock()
	snapshot := make(map[string][]byte, len(o.data))
	for k, v := range o.data {
		snapshot[k] = v
	}
	o.mu.Unlock()
	var out []PartitionOffset
	for _, k := range slices.Sorted(maps.Keys(snapshot)) {
		v := snapshot[k]
		name, partition, ok := parseOffsetKey([]byte(k))
		if !ok || name != connector {
			continue
		}
		off, err := parseOffsetValue(v)
		if err != nil {
			return nil, err
		}
		out = append(out, PartitionOffset{Partition: partition, Offset: off})
	}
	return out, nil
}
