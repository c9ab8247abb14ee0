package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/perf/loadgen"
)

// The first value byte of a transactional record says how its transaction ends, so a
// read_committed consumer can tell an aborted record it must never have been given.
const (
	markCommitted = 'C'
	markAborted   = 'A'
)

// TxnSummary is what the transactional producers did (whole run, warm-up included, for the
// counts) and, for a read_committed catch-up, what its consumers saw.
type TxnSummary struct {
	RecordsPerTxn int   `json:"records_per_transaction"`
	Committed     int64 `json:"committed"`
	Aborted       int64 `json:"aborted"`
	// PerSec is committed transactions per second of the measured phase (transactions workload).
	PerSec float64 `json:"committed_per_sec,omitempty"`
	// Commit is the EndTxn round trip of the measured phase: from the commit call to its
	// return (the same histogram as the report's produce latency).
	Commit Percentiles `json:"commit_latency_ms"`
	// ExpectedRecords is how many committed records the catch-up consumers had to read;
	// AbortedRead counts records of aborted transactions they were given (must be 0).
	ExpectedRecords int64 `json:"expected_records,omitempty"`
	AbortedRead     int64 `json:"aborted_records_read"`
	// Requests are the producers' requests per transaction (whole run), by API: where a
	// transaction's time goes. More than one AddPartitionsToTxn per transaction are retries
	// of CONCURRENT_TRANSACTIONS, answered while the previous transaction's markers are still
	// being written (the client backs off 20 ms each).
	Requests []TxnRequests `json:"requests,omitempty"`
}

// TxnRequests is one API's requests of the transactional producers.
type TxnRequests struct {
	API    string  `json:"api"`
	PerTxn float64 `json:"per_transaction"`
	MeanMs float64 `json:"mean_ms"` // round trip, written to read
	Errors int64   `json:"errors"`  // transport errors (error codes in answers are not seen here)
}

// requestCounter is a franz-go hook counting requests by API key and their round trips.
type requestCounter struct {
	mu    sync.Mutex
	byKey map[int16]*requestCount // guarded by mu
}

type requestCount struct {
	n, errs int64
	total   time.Duration
}

// OnBrokerE2E counts one request's round trip.
func (c *requestCounter) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := c.byKey[key]
	if rc == nil {
		rc = &requestCount{}
		c.byKey[key] = rc
	}
	rc.n++
	rc.total += e.DurationE2E()
	if e.WriteErr != nil || e.ReadErr != nil {
		rc.errs++
	}
}

// perTxn is what the counter saw, per transaction of txns, in API key order.
func (c *requestCounter) perTxn(txns int64) []TxnRequests {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := slices.Sorted(maps.Keys(c.byKey))
	out := make([]TxnRequests, 0, len(keys))
	for _, k := range keys {
		rc := c.byKey[k]
		out = append(out, TxnRequests{API: kmsg.NameForKey(k), PerTxn: float64(rc.n) / float64(max(txns, 1)),
			MeanMs: float64(rc.total) / float64(rc.n) / 1e6, Errors: rc.errs})
	}
	return out
}

// txnProducer is one transactional producer: a franz-go client with its own transactional id.
type txnProducer struct {
	cl         *kgo.Client
	topic      string
	partitions int32
	perTxn     int
	abortEvery int
	// committed and aborted are the record values of each kind: shared by every record (the
	// client only reads them), uncompressed, the first byte the mark.
	committed, aborted []byte
	txns               int64 // transactions begun
}

func newTxnProducer(bootstrap, topic, id string, w Workload, reqs *requestCounter) (*txnProducer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.TransactionalID(id), kgo.WithHooks(reqs),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ClientID("logd-bench"))
	if err != nil {
		return nil, fmt.Errorf("transactional producer %s: %w", id, err)
	}
	value := func(mark byte) []byte {
		v := make([]byte, w.MessageSize)
		for i := range v {
			v[i] = byte('a' + i%26)
		}
		v[0] = mark
		return v
	}
	return &txnProducer{cl: cl, topic: topic, partitions: int32(w.Partitions), perTxn: w.TxnRecords, abortEvery: w.AbortEvery,
		committed: value(markCommitted), aborted: value(markAborted)}, nil
}

// one runs one transaction: begin, produce perTxn records round-robin over the partitions,
// flush, then commit (or abort, every abortEvery-th). commitLat gets the EndTxn round trip;
// st counts committed records and value bytes once the commit returned.
func (p *txnProducer) one(ctx context.Context, commitLat *loadgen.Histogram, st *loadgen.Stats) (committed bool, err error) {
	n := p.txns
	p.txns++
	abort := p.abortEvery > 1 && n%int64(p.abortEvery) == int64(p.abortEvery-1)
	if err := p.cl.BeginTransaction(); err != nil {
		return false, err
	}
	v := p.committed
	if abort {
		v = p.aborted
	}
	var failed atomic.Pointer[error]
	for i := range p.perTxn {
		r := &kgo.Record{Topic: p.topic, Partition: int32((n*int64(p.perTxn) + int64(i)) % int64(p.partitions)), Value: v}
		p.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := p.cl.Flush(ctx); err != nil {
		return false, err
	}
	if e := failed.Load(); e != nil {
		// The records failed: abort what the broker may hold, then report the cause.
		abortErr := p.cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort)
		return false, errors.Join(fmt.Errorf("produce in transaction %d: %w", n, *e), abortErr)
	}
	end := kgo.TryCommit
	if abort {
		end = kgo.TryAbort
	}
	// Never cancelled: a cancelled EndTxn leaves the transaction's outcome unknown.
	start := time.Now()
	err = p.cl.EndTransaction(context.WithoutCancel(ctx), end)
	took := time.Since(start)
	if err != nil {
		return false, fmt.Errorf("end transaction %d (commit %v): %w", n, !abort, err)
	}
	if abort {
		return false, nil
	}
	if commitLat != nil {
		commitLat.Record(took)
	}
	st.Records.Add(int64(p.perTxn))
	st.Bytes.Add(int64(p.perTxn) * int64(len(v)))
	return true, nil
}

// committedTxns is how many of the producer's transactions committed: every one it ran but
// each abortEvery-th.
func (p *txnProducer) committedTxns() int64 {
	if p.abortEvery > 1 {
		return p.txns - p.txns/int64(p.abortEvery)
	}
	return p.txns
}

// txnProducers starts w.Producers transactional producers spread over topics (transactional
// ids named after the run's topics, so runs never fence each other).
func txnProducers(bootstrap string, w Workload, topics []string, reqs *requestCounter) ([]*txnProducer, error) {
	var ps []*txnProducer
	for i := range w.Producers {
		t := topics[i%len(topics)]
		p, err := newTxnProducer(bootstrap, t, fmt.Sprintf("%s-txn-%d", t, i), w, reqs)
		if err != nil {
			closeTxnProducers(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func closeTxnProducers(ps []*txnProducer) {
	for _, p := range ps {
		p.cl.Close()
	}
}

// runTxnProducers runs every producer's transactions until until returns true (checked
// between transactions, so each ends with its commit), and counts them in s.
func runTxnProducers(ctx context.Context, ps []*txnProducer, s *TxnSummary, commitLat *loadgen.Histogram, st *loadgen.Stats, until func(*txnProducer) bool) error {
	var wg sync.WaitGroup
	var committed, aborted atomic.Int64
	errs := make([]error, len(ps))
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && !until(p) {
				ok, err := p.one(ctx, commitLat, st)
				if err != nil {
					errs[i] = fmt.Errorf("transactional producer %d on %s: %w", i, p.topic, err)
					return
				}
				if ok {
					committed.Add(1)
				} else {
					aborted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	s.Committed += committed.Load()
	s.Aborted += aborted.Load()
	return errors.Join(errs...)
}

// runTransactions runs transactional producers for warm-up plus duration: committed records
// are the produce throughput, the EndTxn round trip the produce latency.
func runTransactions(ctx context.Context, o Options, w Workload, topics []string, r *Report) error {
	for _, t := range topics {
		if _, _, err := createTopic(o.Bootstrap, t, int32(w.Partitions), w.ReplicationFactor, r); err != nil {
			return err
		}
	}
	reqs := &requestCounter{byKey: map[int16]*requestCount{}}
	ps, err := txnProducers(o.Bootstrap, w, topics, reqs)
	if err != nil {
		return err
	}
	defer closeTxnProducers(ps)
	commitLat, st := loadgen.NewHistogram(), &loadgen.Stats{}
	sum := &TxnSummary{RecordsPerTxn: w.TxnRecords}
	// Each producer's first transaction runs before the clock starts: its InitProducerId, and
	// on Kafka the creation of __transaction_state's 50 partitions, take seconds that are
	// start-up, not transactions.
	if err := runTxnProducers(ctx, ps, sum, nil, &loadgen.Stats{}, func(p *txnProducer) bool { return p.txns > 0 }); err != nil {
		return fmt.Errorf("first transactions: %w", err)
	}
	total := time.Duration(w.Warmup + w.Duration)
	s := newSampler(o, r, total, time.Duration(w.Warmup))
	s.produce, s.lat = st, commitLat
	s.start()
	deadline := time.Now().Add(total)
	err = runTxnProducers(ctx, ps, sum, commitLat, st, func(*txnProducer) bool { return !time.Now().Before(deadline) })
	s.producersDone()
	s.stop()
	if err != nil {
		return err
	}
	sum.Requests = reqs.perTxn(sum.Committed + sum.Aborted)
	sum.Commit = r.Produce.Latency
	sum.PerSec = r.Produce.RecordsPerSec / float64(w.TxnRecords)
	r.Transactions = sum
	return nil
}

// runTxnCatchUp writes a backlog of transactions (every AbortEvery-th aborted; not measured),
// then measures read_committed consumers reading every committed record from offset 0, and
// fails if one aborted record is delivered or a committed one is missing or repeated.
func runTxnCatchUp(ctx context.Context, o Options, w Workload, topics []string, r *Report) error {
	for _, t := range topics {
		if _, _, err := createTopic(o.Bootstrap, t, int32(w.Partitions), w.ReplicationFactor, r); err != nil {
			return err
		}
	}
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "producing a %d MB backlog of transactions (not measured)\n", w.BacklogMB)
	}
	reqs := &requestCounter{byKey: map[int16]*requestCount{}}
	ps, err := txnProducers(o.Bootstrap, w, topics, reqs)
	if err != nil {
		return err
	}
	commitLat, pst := loadgen.NewHistogram(), &loadgen.Stats{}
	sum := &TxnSummary{RecordsPerTxn: w.TxnRecords}
	perProducer := int64(w.BacklogMB) * 1e6 / int64(len(ps))
	start := time.Now()
	// until runs on each producer's own goroutine, between its transactions.
	err = runTxnProducers(ctx, ps, sum, commitLat, pst, func(p *txnProducer) bool {
		return p.committedTxns()*int64(p.perTxn)*int64(len(p.committed)) >= perProducer
	})
	closeTxnProducers(ps)
	if err != nil {
		return fmt.Errorf("backlog: %w", err)
	}
	sum.Requests = reqs.perTxn(sum.Committed + sum.Aborted)
	expected := map[string]int64{}
	for _, p := range ps {
		expected[p.topic] += p.committedTxns() * int64(p.perTxn)
		sum.ExpectedRecords += p.committedTxns() * int64(p.perTxn)
	}
	cl := percentiles(commitLat)
	r.Notes = append(r.Notes, fmt.Sprintf("backlog: %.0f MB of record values in %d committed and %d aborted transactions of %d records, produced in %.1f s before measuring (commit p50 %.2f ms, p99 %.2f ms)",
		float64(pst.Bytes.Load())/1e6, sum.Committed, sum.Aborted, w.TxnRecords, time.Since(start).Seconds(), cl.P50, cl.P99))
	time.Sleep(2 * time.Second) // let the broker finish background work (flushes) before measuring

	var abortedRead atomic.Int64
	mctx, cancel := context.WithTimeout(ctx, time.Duration(w.Duration))
	defer cancel()
	fst, err := measureCatchUp(o, r, w, topics, func(_ int, t string, fst *loadgen.FetchStats) error {
		return readCommitted(mctx, o.Bootstrap, t, int32(w.Partitions), max(1, w.Consumers/len(topics)), expected[t], fst, &abortedRead)
	})
	sum.AbortedRead = abortedRead.Load()
	r.Transactions = sum
	r.Notes = append(r.Notes, "consume MB/s counts record keys and values delivered by franz-go read_committed consumers (not record-batch bytes, as the plain catch-up does)")
	if err != nil {
		return err
	}
	if sum.AbortedRead > 0 {
		return fmt.Errorf("read_committed consumers were given %d records of aborted transactions", sum.AbortedRead)
	}
	if got := fst.Records.Load(); got > sum.ExpectedRecords {
		return fmt.Errorf("read_committed consumers read %d records, but only %d were committed", got, sum.ExpectedRecords)
	} else if got < sum.ExpectedRecords {
		r.Notes = append(r.Notes, fmt.Sprintf("consumers read %d of %d committed records before the duration ended", got, sum.ExpectedRecords))
	}
	return nil
}

// readCommitted reads topic from offset 0 with isolation level read_committed, over conns
// franz-go clients that split its partitions, until want records arrived or ctx ends. Records
// of aborted transactions are counted in abortedRead.
func readCommitted(ctx context.Context, bootstrap, topic string, partitions int32, conns int, want int64, st *loadgen.FetchStats, abortedRead *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got atomic.Int64
	var wg sync.WaitGroup
	conns = min(conns, int(partitions))
	errs := make([]error, conns)
	for i := range conns {
		assign := map[int32]kgo.Offset{}
		for p := int32(i); p < partitions; p += int32(conns) {
			assign[p] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxBytes(16<<20), kgo.FetchMaxPartitionBytes(1<<20),
			kgo.FetchMaxWait(500*time.Millisecond), kgo.ClientID("logd-bench"))
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			errs[i] = pollEach(ctx, cl, func(r *kgo.Record, _ time.Time) {
				if len(r.Value) == 0 || r.Value[0] != markCommitted {
					abortedRead.Add(1)
				}
				st.Records.Add(1)
				st.Bytes.Add(int64(len(r.Key) + len(r.Value)))
				if got.Add(1) >= want {
					cancel()
				}
			})
			if errs[i] != nil {
				errs[i] = fmt.Errorf("read_committed consumer %d: %w", i, errs[i])
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
