package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Timeouts of the transactional clients. txnTimeout is the transaction timeout each producer
// asks for: a transaction its producer lost track of is aborted within it. endTimeout bounds a
// produce or an EndTxn; a context is never cancelled under a transaction, which would leave its
// outcome unknown for no reason of the cluster's.
const (
	txnTimeout = 20 * time.Second
	endTimeout = time.Minute
)

// TxnWorkloadConfig shapes a transactional workload.
type TxnWorkloadConfig struct {
	Bootstrap  []string // seed brokers
	Input      string   // an existing topic the input producer writes and the workers read
	Output     string   // an existing topic the workers and the direct producers write
	Partitions int32    // each topic's partition count
	InputRate  int      // input records per second (one idempotent acks=all producer)
	Workers    int      // consume-transform-produce workers, one group, one transactional id each
	Direct     int      // producers writing multi-partition transactions of their own
	Consumers  int      // read_committed assign-mode consumers of the output during the run
	AbortRatio float64  // the share of transactions the workers and direct producers abort on purpose
	// RecordGap is how long a direct producer waits between the records of a transaction, so
	// that it spends most of its time inside one.
	RecordGap time.Duration
	// Dial, if not nil, dials every connection of direct producer 0 (see EndTxnDelayer).
	Dial func(ctx context.Context, network, host string) (net.Conn, error)
	// ClientLog, if not nil, receives the franz-go log (debug level) of direct producer 0.
	ClientLog io.Writer
	// TxnIDs are the transactional ids: Workers for the workers, then Direct for the direct
	// producers.
	TxnIDs []string
}

// txnGroup is the workers' consumer group.
const txnGroup = "chaos-workers"

// TxnWorkload runs a transactional workload and records its TxnHistory: an input producer,
// workers that copy each input value into a transaction of the output topic with the input
// offsets (franz-go's GroupTransactSession), direct producers writing transactions across the
// output's partitions and committing or aborting them at random, and read_committed consumers
// of the output.
type TxnWorkload struct {
	cfg    TxnWorkloadConfig
	input  *Workload // the input producer, and the input's final read
	output *Workload // the read_committed consumers of the output, and its final read

	mu   sync.Mutex
	txns []Txn // guarded by mu

	stopDirect  context.CancelFunc
	directWG    sync.WaitGroup
	stopWorkers context.CancelFunc
	workersWG   sync.WaitGroup
}

// StartTxnWorkload starts every client of the workload.
func StartTxnWorkload(cfg TxnWorkloadConfig) (*TxnWorkload, error) {
	if len(cfg.TxnIDs) != cfg.Workers+cfg.Direct {
		return nil, fmt.Errorf("%d transactional ids for %d workers and %d direct producers", len(cfg.TxnIDs), cfg.Workers, cfg.Direct)
	}
	w := &TxnWorkload{cfg: cfg}
	var err error
	w.input, err = StartWorkload(WorkloadConfig{Bootstrap: cfg.Bootstrap, Topic: cfg.Input,
		Partitions: cfg.Partitions, Producers: 1, Rate: cfg.InputRate})
	if err != nil {
		return nil, err
	}
	w.output, err = StartWorkload(WorkloadConfig{Bootstrap: cfg.Bootstrap, Topic: cfg.Output,
		Partitions: cfg.Partitions, Consumers: cfg.Consumers, ReadCommitted: true})
	if err != nil {
		w.input.Finish(context.Background())
		return nil, err
	}
	dctx, dcancel := context.WithCancel(context.Background())
	wctx, wcancel := context.WithCancel(context.Background())
	w.stopDirect, w.stopWorkers = dcancel, wcancel
	for i := range cfg.Direct {
		w.directWG.Go(func() { w.direct(dctx, i) })
	}
	for i := range cfg.Workers {
		w.workersWG.Go(func() { w.work(wctx, i) })
	}
	return w, nil
}

// record adds a finished transaction to the history.
func (w *TxnWorkload) record(t Txn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.txns = append(w.txns, t)
}

// transactionalOpts are the options of a transactional producer with the given id.
func (w *TxnWorkload) transactionalOpts(id string) []kgo.Opt {
	return append(ProducerOpts(w.cfg.Bootstrap),
		kgo.TransactionalID(id),
		kgo.TransactionTimeout(txnTimeout),
	)
}

// direct runs transactions of 2 to 5 records over the output's partitions until ctx ends,
// aborting AbortRatio of them on purpose. After any error it replaces its client: the new
// one's InitProducerId fences the old epoch and aborts whatever it left open.
func (w *TxnWorkload) direct(ctx context.Context, id int) {
	txnID := w.cfg.TxnIDs[w.cfg.Workers+id]
	var cl *kgo.Client
	defer func() {
		if cl != nil {
			cl.Close()
		}
	}()
	for seq := 0; ctx.Err() == nil; seq++ {
		if cl == nil {
			opts := w.transactionalOpts(txnID)
			if id == 0 && w.cfg.Dial != nil {
				opts = append(opts, kgo.Dialer(w.cfg.Dial))
			}
			if id == 0 && w.cfg.ClientLog != nil {
				opts = append(opts, kgo.WithLogger(kgo.BasicLogger(w.cfg.ClientLog, kgo.LogLevelDebug,
					func() string { return time.Now().UTC().Format("15:04:05.000 ") })))
			}
			var err error
			if cl, err = kgo.NewClient(opts...); err != nil {
				time.Sleep(time.Second)
				continue
			}
		}
		n := 2 + rand.IntN(4)
		t := Txn{ID: fmt.Sprintf("%s%d.%d", directPrefix, id, seq)}
		for k := range n {
			t.Records = append(t.Records, TxnRecord{Partition: int32(seq+k) % w.cfg.Partitions, Value: TxnValue(t.ID, k, n, "-"), Offset: -1})
		}
		if !w.runDirect(cl, &t) {
			cl.Close()
			cl = nil
		}
		w.record(t)
	}
}

// runDirect runs one transaction and sets its outcome; false if the client must be replaced.
func (w *TxnWorkload) runDirect(cl *kgo.Client, t *Txn) bool {
	if err := cl.BeginTransaction(); err != nil {
		t.Outcome, t.Err = TxnAborted, fmt.Sprintf("begin: %v", err)
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	var failed error
	for k, r := range t.Records {
		if k > 0 {
			time.Sleep(w.cfg.RecordGap)
		}
		rec := &kgo.Record{Topic: w.cfg.Output, Partition: r.Partition, Value: []byte(r.Value)}
		if failed = cl.ProduceSync(ctx, rec).FirstErr(); failed != nil {
			failed = fmt.Errorf("produce %d: %w", k, failed)
			break
		}
		t.Records[k].Offset = rec.Offset
	}
	commit := failed == nil && rand.Float64() >= w.cfg.AbortRatio
	if commit {
		t.CommitAt = time.Now()
	}
	err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit))
	switch {
	case commit && err == nil:
		t.Outcome = TxnCommitted
		return true
	case commit:
		t.Outcome, t.Err = TxnUnknown, fmt.Sprintf("commit: %v", err)
		// As EndTransaction asks: abort, which reloads the producer id if the commit's fate
		// is unknown. Whatever it says, the client is replaced.
		cl.EndTransaction(ctx, kgo.TryAbort)
		return false
	case failed != nil:
		t.Outcome, t.Err = TxnAborted, failed.Error()
	default:
		t.Outcome, t.Err = TxnAborted, "on purpose"
	}
	if err != nil {
		t.Err += fmt.Sprintf("; abort: %v", err)
	}
	return err == nil && failed == nil
}

// work copies input values into output transactions, with the input offsets, until ctx ends,
// replacing its session after any error End returns (franz-go: none is retryable).
func (w *TxnWorkload) work(ctx context.Context, id int) {
	seq := 0
	for ctx.Err() == nil {
		sess, err := kgo.NewGroupTransactSession(append(w.transactionalOpts(w.cfg.TxnIDs[id]),
			kgo.ConsumerGroup(txnGroup),
			kgo.ConsumeTopics(w.cfg.Input),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(500*time.Millisecond),
		)...)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		for ctx.Err() == nil && w.transform(ctx, sess, id, &seq) {
		}
		sess.Close()
	}
}

// transform runs one transaction of worker id over the next input records polled; false if
// the session must be replaced.
func (w *TxnWorkload) transform(ctx context.Context, sess *kgo.GroupTransactSession, id int, seq *int) bool {
	fs := sess.PollRecords(ctx, 20)
	recs := fs.Records()
	if ctx.Err() != nil || len(recs) == 0 {
		return true
	}
	if err := sess.Begin(); err != nil {
		return false
	}
	t := Txn{ID: fmt.Sprintf("%s%d.%d", workerPrefix, id, *seq)}
	*seq++
	out := make([]*kgo.Record, len(recs))
	for k, in := range recs {
		r := TxnRecord{Partition: int32(*seq+k) % w.cfg.Partitions, Value: TxnValue(t.ID, k, len(recs), string(in.Value)), Offset: -1}
		t.Records = append(t.Records, r)
		out[k] = &kgo.Record{Topic: w.cfg.Output, Partition: r.Partition, Value: []byte(r.Value)}
	}
	ectx, cancel := context.WithTimeout(context.Background(), endTimeout)
	defer cancel()
	failed := sess.ProduceSync(ectx, out...).FirstErr()
	if failed == nil {
		for k, r := range out {
			t.Records[k].Offset = r.Offset
		}
	}
	try := kgo.TransactionEndTry(failed == nil && rand.Float64() >= w.cfg.AbortRatio)
	if try {
		t.CommitAt = time.Now()
	}
	committed, err := sess.End(ectx, try)
	switch {
	case err != nil && bool(try):
		t.Outcome, t.Err = TxnUnknown, fmt.Sprintf("end: %v", err)
	case committed:
		t.Outcome = TxnCommitted
	case failed != nil:
		t.Outcome, t.Err = TxnAborted, fmt.Sprintf("produce: %v", failed)
	case bool(try):
		t.Outcome, t.Err = TxnAborted, "the session aborted it (rebalance or offset commit failure)"
	default:
		t.Outcome, t.Err = TxnAborted, "on purpose"
	}
	if err != nil && !bool(try) {
		t.Err += fmt.Sprintf("; abort: %v", err)
	}
	w.record(t)
	return err == nil
}

// StopWriters stops the input producer (waiting within ctx for its outstanding writes) and
// the direct producers (each finishes the transaction it is in).
func (w *TxnWorkload) StopWriters(ctx context.Context) {
	w.input.StopProducers(ctx)
	w.stopDirect()
	w.directWG.Wait()
}

// Drain waits within ctx until the workers' group has committed every input partition's end
// offset, then stops the workers. It reports whether the input was drained.
func (w *TxnWorkload) Drain(ctx context.Context) (bool, error) {
	defer func() {
		w.stopWorkers()
		w.workersWG.Wait()
	}()
	cl, err := kgo.NewClient(ClientOpts(w.cfg.Bootstrap)...)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	err = retry(ctx, func() error {
		_, ends, err := tryListOffsets(ctx, adm, w.cfg.Input)
		if err != nil {
			return err
		}
		committed, err := adm.FetchOffsets(ctx, txnGroup)
		if err != nil {
			return err
		}
		for p, end := range ends {
			if o, _ := committed.Lookup(w.cfg.Input, p); o.At != end {
				return fmt.Errorf("partition %d committed at %d, ends at %d", p, o.At, end)
			}
		}
		return nil
	})
	return err == nil, err
}

// Finish writes a sentinel to every output partition, reads the output with read_committed
// (it must reach every sentinel: no transaction may stay open) and with read_uncommitted,
// reads the input, and returns the history. Call StopWriters and Drain first.
func (w *TxnWorkload) Finish(ctx context.Context, drained bool) (*TxnHistory, error) {
	h := &TxnHistory{Drained: drained}
	w.mu.Lock()
	h.Txns = w.txns
	w.mu.Unlock()
	var errs []error
	until, err := w.writeSentinels(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	out, err := w.output.finishAt(ctx, until)
	if err != nil {
		errs = append(errs, fmt.Errorf("output read_committed: %w", err))
	}
	h.Output = out
	unc, err := StartWorkload(WorkloadConfig{Bootstrap: w.cfg.Bootstrap, Topic: w.cfg.Output, Partitions: w.cfg.Partitions})
	if err == nil {
		var uh *History
		uh, err = unc.finishAt(ctx, until)
		h.Uncommitted = uh.Final
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("output read_uncommitted: %w", err))
	}
	if h.Input, err = w.input.Finish(ctx); err != nil {
		errs = append(errs, fmt.Errorf("input: %w", err))
	}
	return h, errors.Join(errs...)
}

// writeSentinels appends a non-transactional record to every output partition and returns
// the offsets just past them: a final read that reached them has passed every transaction
// written before (read_committed returns them only once nothing before them is open), and a
// marker written after them cannot hold it up.
func (w *TxnWorkload) writeSentinels(ctx context.Context) (map[int32]int64, error) {
	cl, err := kgo.NewClient(ProducerOpts(w.cfg.Bootstrap)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range w.cfg.Partitions {
		recs = append(recs, &kgo.Record{Topic: w.cfg.Output, Partition: p, Value: fmt.Appendf(nil, "%s%d", sentinelPrefix, p)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return nil, fmt.Errorf("sentinels: %w", err)
	}
	until := map[int32]int64{}
	for _, r := range recs {
		until[r.Partition] = r.Offset + 1
	}
	return until, nil
}
