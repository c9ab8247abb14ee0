package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// WorkloadConfig shapes a workload.
type WorkloadConfig struct {
	Bootstrap  []string // seed brokers
	Topic      string   // an existing topic
	Partitions int32    // its partition count
	Producers  int      // idempotent acks=all producers, each writing to every partition
	Consumers  int      // assign-mode consumers, each reading every partition from the start
	Rate       int      // records per second per producer
	LeaderAck  bool     // acks=1 without idempotence instead: a negative control, it may lose writes
	// ReadCommitted makes the consumers (and the final read) read_committed instead of
	// read_uncommitted: they stop at the last stable offset and skip aborted records and
	// control batches, so the final read ends only where a partition's last record is one a
	// read_committed consumer returns (TxnWorkload writes such a record last).
	ReadCommitted bool
}

// Workload runs producers and consumers against a topic and records their History.
type Workload struct {
	cfg WorkloadConfig

	mu   sync.Mutex
	hist History // guarded by mu

	producers   []*kgo.Client
	stopProduce context.CancelFunc
	produceWG   sync.WaitGroup
	stopConsume context.CancelFunc
	consumeWG   sync.WaitGroup
}

// ClientOpts are the options of every client the workload makes: short timeouts and quick
// metadata refreshes, so that failovers show up as the cluster's delay, not the client's.
func ClientOpts(bootstrap []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(bootstrap...),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestTimeoutOverhead(3 * time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.MetadataMaxAge(5 * time.Second),
	}
}

// ProducerOpts are ClientOpts plus an idempotent acks=all producer that places each record in
// the partition it names and never gives up on a record by itself.
func ProducerOpts(bootstrap []string) []kgo.Opt {
	return append(ClientOpts(bootstrap),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProduceRequestTimeout(5*time.Second),
		kgo.UnknownTopicRetries(-1),
		kgo.MaxBufferedRecords(50_000),
	)
}

// StartWorkload starts the producers and consumers.
func StartWorkload(cfg WorkloadConfig) (*Workload, error) {
	w := &Workload{cfg: cfg}
	w.hist.Start = time.Now()
	pctx, pcancel := context.WithCancel(context.Background())
	cctx, ccancel := context.WithCancel(context.Background())
	w.stopProduce, w.stopConsume = pcancel, ccancel
	for i := range cfg.Producers {
		opts := ProducerOpts(cfg.Bootstrap)
		if cfg.LeaderAck {
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			w.StopProducers(context.Background())
			w.stopConsumers()
			return nil, err
		}
		w.producers = append(w.producers, cl)
		w.produceWG.Go(func() { w.produce(pctx, cl, i) })
	}
	for i := range cfg.Consumers {
		w.consumeWG.Go(func() { w.consume(cctx, i) })
	}
	return w, nil
}

// produce writes unique values p<id>-<seq> at the configured rate, round-robin over the
// partitions, until ctx ends.
func (w *Workload) produce(ctx context.Context, cl *kgo.Client, id int) {
	tick := time.NewTicker(time.Second / time.Duration(max(w.cfg.Rate, 1)))
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r := &kgo.Record{Topic: w.cfg.Topic, Partition: int32(seq) % w.cfg.Partitions,
			Value: fmt.Appendf(nil, "p%d-%d", id, seq)}
		// Not ctx: a record must not be failed by the end of the run, only by the client.
		cl.Produce(context.Background(), r, w.produced)
	}
}

// produced records the outcome of one write.
func (w *Workload) produced(r *kgo.Record, err error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.hist.Acks = append(w.hist.Acks, Ack{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value), At: now})
		return
	}
	w.hist.Failures = append(w.hist.Failures, Failure{Partition: r.Partition, Value: string(r.Value),
		Err: err.Error(), Definite: definite(err)})
}

// definite reports whether a produce error means the record was certainly not appended: the
// client never sent it, or the broker refused the batch before appending.
func definite(err error) bool {
	switch {
	case errors.Is(err, kgo.ErrMaxBuffered),
		errors.Is(err, kerr.MessageTooLarge),
		errors.Is(err, kerr.RecordListTooLarge),
		errors.Is(err, kerr.InvalidRecord),
		errors.Is(err, kerr.CorruptMessage),
		errors.Is(err, kerr.InvalidTopicException):
		return true
	}
	return false
}

// consume reads every partition from the start until ctx ends, a new session after each
// reset (OFFSET_OUT_OF_RANGE: the partition is fatal for the client, NoResetOffset).
func (w *Workload) consume(ctx context.Context, id int) {
	for session := 0; ctx.Err() == nil; session++ {
		cl, err := w.newConsumer()
		if err != nil {
			return
		}
		reset := w.consumeSession(ctx, cl, id, session, nil)
		cl.Close()
		if !reset {
			return
		}
		w.mu.Lock()
		w.hist.Resets++
		w.mu.Unlock()
	}
}

// newConsumer makes an assign-mode client for every partition from the start.
func (w *Workload) newConsumer() (*kgo.Client, error) {
	parts := map[int32]kgo.Offset{}
	for p := range w.cfg.Partitions {
		parts[p] = kgo.NewOffset().AtStart()
	}
	isolation := kgo.ReadUncommitted()
	if w.cfg.ReadCommitted {
		isolation = kgo.ReadCommitted()
	}
	return kgo.NewClient(append(ClientOpts(w.cfg.Bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{w.cfg.Topic: parts}),
		kgo.ConsumeResetOffset(kgo.NoResetOffset()),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchIsolationLevel(isolation),
	)...)
}

// consumeSession polls until ctx ends (false) or the client resets (true). Each record is
// recorded as a Poll; if done is not nil it is called after every poll and ends the session
// (false) when it returns true.
func (w *Workload) consumeSession(ctx context.Context, cl *kgo.Client, id, session int, done func() bool) bool {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return false
		}
		at := time.Now()
		reset := false
		w.mu.Lock()
		fs.EachError(func(_ string, _ int32, err error) {
			var dl *kgo.ErrDataLoss
			switch {
			case errors.Is(err, kerr.OffsetOutOfRange):
				reset = true
			case errors.As(err, &dl):
				w.hist.DataLoss++
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			w.hist.Polls = append(w.hist.Polls, Poll{Consumer: id, Session: session, Partition: r.Partition,
				Offset: r.Offset, Value: string(r.Value), At: at})
		})
		w.mu.Unlock()
		if reset {
			return true
		}
		if done != nil && done() {
			return false
		}
	}
}

// StopProducers stops writing, waits within ctx for outstanding writes and gives up on the
// rest (they count as indeterminate). The producers' window ends when it is called.
func (w *Workload) StopProducers(ctx context.Context) {
	w.mu.Lock()
	w.hist.End = time.Now()
	w.mu.Unlock()
	w.stopProduce()
	w.produceWG.Wait()
	for _, cl := range w.producers {
		cl.Flush(ctx)
		cl.Close()
	}
	w.producers = nil
}

func (w *Workload) stopConsumers() {
	w.stopConsume()
	w.consumeWG.Wait()
}

// Finish stops the producers (if StopProducers was not called), reads every partition from
// its start to its end within ctx, stops the consumers and returns the history.
func (w *Workload) Finish(ctx context.Context) (*History, error) {
	return w.finishAt(ctx, nil)
}

// finishAt is Finish with the final read ending at until's offsets instead of the partitions'
// end offsets, if until is not nil.
func (w *Workload) finishAt(ctx context.Context, until map[int32]int64) (*History, error) {
	if w.producers != nil {
		w.StopProducers(ctx)
	}
	err := w.finalRead(ctx, until)
	w.stopConsumers()
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hist
	return &h, err
}

// finalRead reads every partition from its start offset to its end offset (the high
// watermark, or until's offset if until is not nil), as consumer -1: its polls are checked
// like any other consumer's.
func (w *Workload) finalRead(ctx context.Context, until map[int32]int64) error {
	cl, err := kgo.NewClient(ClientOpts(w.cfg.Bootstrap)...)
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	starts, ends, err := listOffsets(ctx, adm, w.cfg.Topic)
	cl.Close()
	if err != nil {
		return fmt.Errorf("final read: %w", err)
	}
	if until != nil {
		ends = until
	}
	w.mu.Lock()
	w.hist.LogStart = starts
	w.mu.Unlock()
	cons, err := w.newConsumer()
	if err != nil {
		return err
	}
	defer cons.Close()
	next, scanned := map[int32]int64{}, 0
	done := func() bool { // has every partition been read to its end? REQUIRES: w.mu not held
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, p := range w.hist.Polls[scanned:] {
			if p.Consumer == -1 {
				next[p.Partition] = max(next[p.Partition], p.Offset+1)
			}
		}
		scanned = len(w.hist.Polls)
		for p, end := range ends {
			if next[p] < end && starts[p] < end {
				return false
			}
		}
		return true
	}
	if !done() && w.consumeSession(ctx, cons, -1, 0, done) {
		return errors.New("final read: the consumer was reset")
	}
	if !done() {
		return fmt.Errorf("final read: %v; read to %v, ends %v", ctx.Err(), next, ends)
	}
	w.collectFinal()
	return nil
}

// collectFinal builds the final log from the final reader's polls.
func (w *Workload) collectFinal() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hist.Final = map[int32][]Record{}
	for p := range w.cfg.Partitions {
		w.hist.Final[p] = nil
	}
	for _, p := range w.hist.Polls {
		if p.Consumer == -1 {
			w.hist.Final[p.Partition] = append(w.hist.Final[p.Partition], Record{p.Offset, p.Value})
		}
	}
}

// retry calls f every 250ms until it succeeds or ctx ends.
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (last: %w)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// listOffsets returns every partition's start and end offsets, retrying within ctx until all
// partitions answer.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string) (starts, ends map[int32]int64, err error) {
	for {
		starts, ends, err = tryListOffsets(ctx, adm, topic)
		if err == nil {
			return starts, ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%v (last: %v)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tryListOffsets(ctx context.Context, adm *kadm.Client, topic string) (starts, ends map[int32]int64, err error) {
	starts, ends = map[int32]int64{}, map[int32]int64{}
	for _, c := range []struct {
		list func(context.Context, ...string) (kadm.ListedOffsets, error)
		into map[int32]int64
	}{{adm.ListStartOffsets, starts}, {adm.ListEndOffsets, ends}} {
		listed, err := c.list(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		if err != nil {
			return nil, nil, err
		}
		listed.Each(func(o kadm.ListedOffset) { c.into[o.Partition] = o.Offset })
	}
	return starts, ends, nil
}
