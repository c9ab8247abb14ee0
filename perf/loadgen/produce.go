package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testbatch"
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

	RecordSize      int // value bytes per record (default 1024)
	RecordsPerBatch int // records per partition batch (default 16)

	// Rate is the target in record-value bytes per second over all connections; 0 sends as
	// fast as the in-flight window allows. In fixed-rate mode each request has an intended
	// send time on a fixed schedule and its latency is measured from that time, so a stall
	// (broker or generator) is charged to every request it delayed, not hidden
	// (coordinated omission).
	Rate float64

	// The run stops after Requests requests (over all connections) or after Duration,
	// whichever comes first; at least one must be set.
	Requests int64
	Duration time.Duration

	// TimeoutMillis is the Produce request timeout (default 30000).
	TimeoutMillis int32
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
	if c.RecordSize <= 0 {
		c.RecordSize = 1024
	}
	if c.RecordsPerBatch <= 0 {
		c.RecordsPerBatch = 16
	}
	if c.TimeoutMillis <= 0 {
		c.TimeoutMillis = 30000
	}
	if c.Acks != 0 && c.Acks != 1 && c.Acks != -1 {
		return fmt.Errorf("acks %d: want 0, 1 or -1", c.Acks)
	}
	if c.Requests <= 0 && c.Duration <= 0 {
		return errors.New("set Requests or Duration")
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

// producer is one connection's pre-encoded request and counters.
type producer struct {
	nc       net.Conn
	frame    []byte // the whole request frame; only the correlation id changes
	records  int64  // per request
	bytes    int64  // record-value bytes per request
	quota    int64  // requests to send (0: until the deadline)
	interval time.Duration
	acks     int16
	version  int16

	sent  atomic.Int64
	acked atomic.Int64
	lat   *Histogram      // reader-owned
	lag   *Histogram      // writer-owned
	errs  map[int16]int64 // reader-owned
	werr  error           // writer-owned
	rerr  error           // reader-owned
	last  time.Time       // reader-owned (acks=0: writer)
}

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
	leaders, err := boot.Leaders(cfg.Topic, cfg.Partitions, cfg.Create)
	if err != nil {
		return nil, err
	}

	batch := testbatch.Build(testbatch.Options{
		Records: cfg.RecordsPerBatch, ValueSize: cfg.RecordSize, BaseTimestamp: time.Now().UnixMilli(),
	})
	assign := assignPartitions(int(cfg.Partitions), cfg.Conns)
	ps := make([]*producer, cfg.Conns)
	defer func() {
		for _, p := range ps {
			if p != nil && p.nc != nil {
				p.nc.Close()
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
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		req.Acks, req.TimeoutMillis = cfg.Acks, cfg.TimeoutMillis
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = cfg.Topic
		for _, p := range parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = int32(p), batch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return nil, err
		}
		nc.(*net.TCPConn).SetNoDelay(true)
		p := &producer{
			nc: nc, frame: appendFrame(nil, req, 0), acks: cfg.Acks, version: version,
			records: int64(len(parts) * cfg.RecordsPerBatch),
			lat:     NewHistogram(), lag: NewHistogram(), errs: map[int16]int64{},
		}
		p.bytes = p.records * int64(cfg.RecordSize)
		if cfg.Requests > 0 {
			p.quota = cfg.Requests / int64(cfg.Conns)
			if int64(i) < cfg.Requests%int64(cfg.Conns) {
				p.quota++
			}
		}
		if cfg.Rate > 0 {
			share := cfg.Rate * float64(len(parts)) / float64(totalAssigned(assign))
			p.interval = time.Duration(float64(p.bytes) / share * 1e9)
		}
		ps[i] = p
	}

	var deadline time.Time
	start := time.Now()
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
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

	res := &ProduceResult{Version: version, Latency: NewHistogram(), SendLag: NewHistogram(), Errors: map[int16]int64{}}
	var last time.Time
	var errs []error
	for _, p := range ps {
		n := p.sent.Load()
		res.Requests += n
		res.Acked += p.acked.Load()
		res.Records += n * p.records
		res.Bytes += n * p.bytes
		res.WireBytes += n * int64(len(p.frame))
		res.Latency.Merge(p.lat)
		res.SendLag.Merge(p.lag)
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
// puts before writing, the reader takes after a response. sent carries each written
// request's send time (or intended send time) to the reader, which matches it with the next
// response (Kafka answers in order); closing it tells the reader nothing more is coming.
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
	next := start
	if p.interval > 0 {
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
		if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		intended := now
		if p.interval > 0 {
			intended = next
			next = next.Add(p.interval)
			if intended.After(now) {
				sleepUntil(intended)
			}
			now = time.Now()
			p.lag.Record(now.Sub(intended))
		}
		patchCorrelation(p.frame, int32(i))
		if _, err := p.nc.Write(p.frame); err != nil {
			fail(fmt.Errorf("write: %w", err))
			break
		}
		p.sent.Add(1)
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

// read consumes responses in order, one per entry of window.
func (p *producer) read(window chan int64, slots chan struct{}, done chan struct{}) {
	defer close(done)
	r := newFrameReader(p.nc, 256<<10)
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(p.version)
	flex := resp.IsFlexible()
	for corr := int32(0); ; corr++ {
		intended, ok := <-window
		if !ok {
			return
		}
		buf, err := r.next()
		if err != nil {
			p.rerr = fmt.Errorf("read: %w", err)
			p.nc.Close() // fails the writer's next write
			return
		}
		now := time.Now()
		p.lat.Record(time.Duration(now.UnixNano() - intended))
		p.last = now
		c, body, err := responseBody(buf, flex)
		if err == nil && c != corr {
			err = fmt.Errorf("correlation id %d, want %d", c, corr)
		}
		if err == nil {
			resp.Topics = resp.Topics[:0]
			err = resp.ReadFrom(body)
		}
		if err != nil {
			p.rerr = fmt.Errorf("produce response: %w", err)
			p.nc.Close()
			return
		}
		for _, t := range resp.Topics {
			for _, pt := range t.Partitions {
				if pt.ErrorCode != 0 {
					p.errs[pt.ErrorCode]++
				}
			}
		}
		p.acked.Add(1)
		<-slots
	}
}
