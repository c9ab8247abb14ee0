package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/kwire"
)

// ProduceConfig describes a produce run. Zero values take the defaults noted.
type ProduceConfig struct {
	Bootstrap  string // "host:port" of any broker
	Topic      string // default "logd-load"
	Partitions int32  // default 1
	Create     bool   // create the topic when missing

	Conns    int   // connections (default 1)
	InFlight int   // pipelined requests per connection (default 8)
	Acks     int16 // 0, 1 or -1

	RecordSize      int // value bytes per record (default 1024); Shape.Size wins when set
	RecordsPerBatch int // records per partition batch (default 16)
	// Shape gives value size distribution, keys and compression (default: fixed RecordSize
	// values, null keys, uncompressed).
	Shape RecordShape
	// Stamp writes each request's send time (intended send time at a fixed rate) into its
	// batches before sending: CreateTime in ms and, uncompressed, nanoseconds in the first
	// record's value, from which a consumer measures end-to-end latency. It costs one CRC-32C
	// of the request per send.
	Stamp bool
	Seed  uint64 // record content and key draws (default 1)

	// Rate is the target in record-value bytes per second over all connections; 0 sends as
	// fast as the in-flight window allows. In fixed-rate mode each request has an intended
	// send time on a fixed schedule and its latency is measured from that time, so a stall
	// (broker or generator) is charged to every request it delayed, not hidden
	// (coordinated omission). Connections' schedules are staggered evenly over one interval.
	Rate float64

	// The run stops after Requests requests (over all connections) or after Duration,
	// whichever comes first; at least one must be set.
	Requests int64
	Duration time.Duration

	// TimeoutMillis is the Produce request timeout (default 30000).
	TimeoutMillis int32

	// Latency, SendLag and Stats, when set, are recorded into while the run goes (a caller
	// reads them for progress and per-window reports); otherwise the run makes its own.
	Latency *Histogram
	SendLag *Histogram
	Stats   *Stats
}

// Stats are a run's live counters, safe to read while it runs.
type Stats struct {
	Requests  atomic.Int64 // requests written
	Acked     atomic.Int64 // responses received
	Records   atomic.Int64 // records written
	Bytes     atomic.Int64 // record-value bytes written
	WireBytes atomic.Int64 // request bytes written
}

func (c *ProduceConfig) setDefaults() error {
	if c.Topic == "" {
		c.Topic = "logd-load"
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
	if c.Conns <= 0 {
		c.Conns = 1
	}
	if c.InFlight <= 0 {
		c.InFlight = 8
	}
	if c.Shape.Size <= 0 {
		c.Shape.Size = c.RecordSize
	}
	if err := c.Shape.setDefaults(); err != nil {
		return err
	}
	c.RecordSize = c.Shape.Size
	if c.RecordsPerBatch <= 0 {
		c.RecordsPerBatch = 16
	}
	if c.TimeoutMillis <= 0 {
		c.TimeoutMillis = 30000
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Acks != 0 && c.Acks != 1 && c.Acks != -1 {
		return fmt.Errorf("acks %d: want 0, 1 or -1", c.Acks)
	}
	if c.Requests <= 0 && c.Duration <= 0 {
		return errors.New("set Requests or Duration")
	}
	if c.Latency == nil {
		c.Latency = NewHistogram()
	}
	if c.SendLag == nil {
		c.SendLag = NewHistogram()
	}
	if c.Stats == nil {
		c.Stats = &Stats{}
	}
	return nil
}

// ProduceResult is what a produce run measured.
type ProduceResult struct {
	Version   int16         // Produce version used
	Requests  int64         // requests sent
	Acked     int64         // responses received (0 with acks=0)
	Records   int64         // records sent
	Bytes     int64         // record-value bytes sent
	WireBytes int64         // request bytes written to sockets
	Elapsed   time.Duration // first send to last response (acks=0: to last write)
	// Latency is per request: response received minus send time (fixed-rate mode: minus
	// intended send time).
	Latency *Histogram
	// SendLag (fixed-rate mode) is actual minus intended send time: how far the generator
	// (or a full in-flight window) fell behind schedule.
	SendLag *Histogram
	Errors  map[int16]int64 // partition responses with a non-zero error code, by code
}

// RecordsPerSec is the record throughput.
func (r *ProduceResult) RecordsPerSec() float64 { return float64(r.Records) / r.Elapsed.Seconds() }

// MBPerSec is the record-value throughput in MB/s (10^6 bytes).
func (r *ProduceResult) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// Err summarizes partition errors, or nil.
func (r *ProduceResult) Err() error {
	var errs []error
	for code, n := range r.Errors {
		errs = append(errs, fmt.Errorf("%d partition responses: %w", n, kerr.ErrorForCode(code)))
	}
	return errors.Join(errs...)
}

func (r *ProduceResult) String() string {
	s := fmt.Sprintf("produce v%d: %d requests, %d records, %.0f records/s, %.1f MB/s",
		r.Version, r.Requests, r.Records, r.RecordsPerSec(), r.MBPerSec())
	if r.Latency.Count() > 0 {
		s += "\nlatency: " + r.Latency.String()
	}
	if r.SendLag.Count() > 0 {
		s += "\nsend lag: " + r.SendLag.String()
	}
	if err := r.Err(); err != nil {
		s += "\nerrors: " + err.Error()
	}
	return s
}

// request is one pre-encoded request frame of a connection; only the correlation id and,
// when stamping, the batches' timestamps (and CRCs) change between sends.
type request struct {
	frame   []byte
	batches []batchRef
	records int64
	bytes   int64
}

// batchRef locates one batch in a frame.
type batchRef struct{ start, end, stampAt int }

// producer is one connection's pre-encoded requests and counters.
type producer struct {
	kc       *kwire.Conn
	reqs     []request // sent in turn
	quota    int64     // requests to send (0: until the deadline)
	interval time.Duration
	phase    time.Duration // offset of this connection's schedule
	acks     int16
	version  int16
	stamp    bool
	stats    *Stats

	lat  *Histogram      // shared
	lag  *Histogram      // shared
	errs map[int16]int64 // reader-owned
	werr error           // writer-owned
	rerr error           // reader-owned
	last time.Time       // reader-owned (acks=0: writer)
}

// maxVariantBytes bounds the memory of pre-encoded requests: up to 8 variants of each
// connection's request (different sizes and keys) while they fit.
const maxVariantBytes = 64 << 20

// RunProduce runs a produce load and returns what it measured. ctx cancels the run early.
func RunProduce(ctx context.Context, cfg ProduceConfig) (*ProduceResult, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	boot, err := Dial(cfg.Bootstrap, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer boot.Close()
	version := boot.Version(kmsg.Produce, minProduceVersion, maxProduceVersion)
	if version < 0 {
		return nil, fmt.Errorf("broker does not support Produce v%d-%d", minProduceVersion, maxProduceVersion)
	}
	if cfg.Shape.Codec == "zstd" && version < 7 {
		return nil, errors.New("zstd needs Produce v7 or later")
	}
	leaders, err := boot.Leaders(cfg.Topic, cfg.Partitions, cfg.Create)
	if err != nil {
		return nil, err
	}

	assign := assignPartitions(int(cfg.Partitions), cfg.Conns)
	gen := newRecordGen(cfg.Shape, cfg.Seed)
	variants := 8
	perVariant := int64(cfg.Partitions) * int64(cfg.RecordsPerBatch) * int64(cfg.Shape.Size+32)
	if cfg.Conns > int(cfg.Partitions) {
		perVariant = int64(cfg.Conns) * int64(cfg.RecordsPerBatch) * int64(cfg.Shape.Size+32)
	}
	variants = int(max(1, min(int64(variants), maxVariantBytes/max(perVariant, 1))))
	// Batches of each variant, per partition; connections beyond the partition count share
	// them when there are too many to draw for each.
	type batchSet struct {
		data    [][]byte
		stampAt []int
		records []int64
		bytes   []int64
	}
	sets := make([]batchSet, variants)
	for v := range sets {
		per := gen.spread(int(cfg.Partitions), cfg.RecordsPerBatch)
		s := batchSet{data: make([][]byte, len(per)), stampAt: make([]int, len(per)),
			records: make([]int64, len(per)), bytes: make([]int64, len(per))}
		for p, recs := range per {
			if len(recs) == 0 {
				continue
			}
			if s.data[p], s.stampAt[p], err = encodeBatch(recs, cfg.Shape.Codec); err != nil {
				return nil, err
			}
			s.records[p] = int64(len(recs))
			for _, r := range recs {
				s.bytes[p] += int64(len(r.value))
			}
		}
		sets[v] = s
	}

	ps := make([]*producer, cfg.Conns)
	defer func() {
		for _, p := range ps {
			if p != nil && p.kc != nil {
				p.kc.Close()
			}
		}
	}()
	for i := range ps {
		parts := assign[i]
		addr := leaders[parts[0]]
		for _, p := range parts {
			if leaders[p] != addr {
				return nil, fmt.Errorf("connection %d's partitions %v have different leaders; use -conns %d (one partition per connection)", i, parts, cfg.Partitions)
			}
		}
		p := &producer{
			acks: cfg.Acks, version: version, stamp: cfg.Stamp, stats: cfg.Stats,
			lat: cfg.Latency, lag: cfg.SendLag, errs: map[int16]int64{},
		}
		for _, s := range sets {
			req := kmsg.NewPtrProduceRequest()
			req.SetVersion(version)
			req.Acks, req.TimeoutMillis = cfg.Acks, cfg.TimeoutMillis
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = cfg.Topic
			var r request
			for _, part := range parts {
				if s.data[part] == nil {
					continue
				}
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = int32(part), s.data[part]
				rt.Partitions = append(rt.Partitions, rp)
				r.records += s.records[part]
				r.bytes += s.bytes[part]
			}
			if len(rt.Partitions) == 0 {
				continue // keys hashed to none of this connection's partitions
			}
			req.Topics = append(req.Topics, rt)
			r.frame = kwire.EncodeRequest(nil, req, clientID)
			// Locate the batches in the frame (they are encoded in order, byte for byte), so
			// stamping can patch them in place.
			at := 0
			for _, rp := range rt.Partitions {
				k := bytes.Index(r.frame[at:], rp.Records)
				if k < 0 {
					return nil, errors.New("batch not found in encoded request")
				}
				start := at + k
				r.batches = append(r.batches, batchRef{start: start, end: start + len(rp.Records),
					stampAt: s.stampAt[rp.Partition]})
				at = start + len(rp.Records)
			}
			p.reqs = append(p.reqs, r)
		}
		if len(p.reqs) == 0 {
			return nil, fmt.Errorf("connection %d: no records hashed to its partitions %v; use fewer connections or more keys", i, parts)
		}
		if cfg.Requests > 0 {
			p.quota = cfg.Requests / int64(cfg.Conns)
			if int64(i) < cfg.Requests%int64(cfg.Conns) {
				p.quota++
			}
		}
		if cfg.Rate > 0 {
			var avg float64
			for _, r := range p.reqs {
				avg += float64(r.bytes)
			}
			avg /= float64(len(p.reqs))
			share := cfg.Rate * float64(len(parts)) / float64(totalAssigned(assign))
			p.interval = time.Duration(avg / share * 1e9)
			p.phase = p.interval * time.Duration(i) / time.Duration(cfg.Conns)
		}
		ps[i] = p
	}
	for i, p := range ps {
		kc, err := dial(leaders[assign[i][0]], 10*time.Second, 16<<10)
		if err != nil {
			return nil, err
		}
		p.kc = kc
	}

	var deadline time.Time
	start := time.Now()
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	before := snapshotStats(cfg.Stats)
	var wg sync.WaitGroup
	for _, p := range ps {
		if p.quota == 0 && cfg.Requests > 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx, start, deadline, cfg.InFlight)
		}()
	}
	wg.Wait()

	after := snapshotStats(cfg.Stats)
	res := &ProduceResult{Version: version, Latency: cfg.Latency, SendLag: cfg.SendLag, Errors: map[int16]int64{},
		Requests: after[0] - before[0], Acked: after[1] - before[1], Records: after[2] - before[2],
		Bytes: after[3] - before[3], WireBytes: after[4] - before[4]}
	var last time.Time
	var errs []error
	for _, p := range ps {
		for c, k := range p.errs {
			res.Errors[c] += k
		}
		if p.last.After(last) {
			last = p.last
		}
		if p.rerr != nil {
			errs = append(errs, p.rerr)
		} else if p.werr != nil {
			errs = append(errs, p.werr)
		}
	}
	res.Elapsed = last.Sub(start)
	return res, errors.Join(errs...)
}

func snapshotStats(s *Stats) [5]int64 {
	return [5]int64{s.Requests.Load(), s.Acked.Load(), s.Records.Load(), s.Bytes.Load(), s.WireBytes.Load()}
}

// assignPartitions gives connection i the partitions p with p%conns == i, or partition
// i%partitions when there are more connections than partitions.
func assignPartitions(partitions, conns int) [][]int {
	out := make([][]int, conns)
	for i := range out {
		if conns >= partitions {
			out[i] = []int{i % partitions}
			continue
		}
		for p := i; p < partitions; p += conns {
			out[i] = append(out[i], p)
		}
	}
	return out
}

func totalAssigned(a [][]int) int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// run is one connection: this goroutine writes, a second reads responses in order.
//
// slots (capacity InFlight) bounds the requests written and not yet answered: the writer
// puts before writing, the reader takes after a response. window carries each written
// request's send time (or intended send time) to the reader, which matches it with
// the next response (Kafka answers in order); closing it tells the reader nothing more is
// coming.
func (p *producer) run(ctx context.Context, start, deadline time.Time, inflight int) {
	var window chan int64
	slots := make(chan struct{}, inflight)
	readerDone := make(chan struct{})
	if p.acks != 0 {
		window = make(chan int64, inflight)
		go p.read(window, slots, readerDone)
	} else {
		close(readerDone)
	}
	fail := func(err error) {
		if p.werr == nil {
			p.werr = err
		}
	}
	next := start.Add(p.phase)
	if p.interval > 0 && p.interval < 10*time.Millisecond {
		// Precise sleeps matter only for short intervals; an idle connection of a
		// many-connections run must not pin an OS thread.
		defer pacer()()
	}
	for i := int64(0); p.quota == 0 || i < p.quota; i++ {
		if ctx.Err() != nil {
			break
		}
		if window != nil {
			select {
			case slots <- struct{}{}:
			case <-readerDone:
				fail(errors.New("reader stopped"))
			}
			if p.werr != nil {
				break
			}
		}
		now := time.Now()
		intended := now
		if p.interval > 0 {
			intended = next
			next = next.Add(p.interval)
			if !deadline.IsZero() && !intended.Before(deadline) {
				break
			}
			if intended.After(now) {
				if !sleepUntilCtx(ctx, intended) {
					break
				}
			}
			now = time.Now()
			p.lag.Record(now.Sub(intended))
		} else if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		r := &p.reqs[int(i)%len(p.reqs)]
		if p.stamp {
			for _, b := range r.batches {
				stampBatch(r.frame[b.start:b.end], b.stampAt, intended)
			}
		}
		if err := p.kc.SendFrame(r.frame); err != nil {
			fail(fmt.Errorf("write: %w", err))
			break
		}
		p.stats.Requests.Add(1)
		p.stats.Records.Add(r.records)
		p.stats.Bytes.Add(r.bytes)
		p.stats.WireBytes.Add(int64(len(r.frame)))
		if window != nil {
			window <- intended.UnixNano() // never blocks: slots bounds it
		}
	}
	if window != nil {
		close(window)
	}
	<-readerDone
	if p.acks == 0 {
		p.last = time.Now()
	}
}

// sleepUntilCtx sleeps until t, or returns false when ctx ends first.
func sleepUntilCtx(ctx context.Context, t time.Time) bool {
	for {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if d > 100*time.Millisecond {
			// Long idle intervals sleep in slices so a cancelled run ends promptly.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sleepUntil(t)
		return true
	}
}

// read consumes responses in order, one per entry of window.
func (p *producer) read(window chan int64, slots chan struct{}, done chan struct{}) {
	defer close(done)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(p.version)
	for {
		sent, ok := <-window
		if !ok {
			return
		}
		resp.Topics = resp.Topics[:0]
		if err := p.kc.Receive(resp); err != nil {
			p.rerr = fmt.Errorf("produce response: %w", err)
			p.kc.Close() // fails the writer's next write
			return
		}
		now := time.Now()
		p.lat.Record(time.Duration(now.UnixNano() - sent))
		p.last = now
		for _, t := range resp.Topics {
			for _, pt := range t.Partitions {
				if pt.ErrorCode != 0 {
					p.errs[pt.ErrorCode]++
				}
			}
		}
		p.stats.Acked.Add(1)
		<-slots
	}
}
