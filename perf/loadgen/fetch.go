package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/segment"
)

// FetchConfig describes a consumer catch-up run: every partition is read from offset 0 until
// the high watermark its responses report (or until MaxTotalBytes or Duration).
type FetchConfig struct {
	Bootstrap  string
	Topic      string // default "logd-load"
	Partitions int32  // default 1
	Conns      int    // default 1

	MaxBytes          int32 // response MaxBytes (default 64 MiB)
	PartitionMaxBytes int32 // per-partition MaxBytes (default 8 MiB)

	MaxTotalBytes int64         // stop after this many record bytes (0: no limit)
	Duration      time.Duration // stop after this long (0: no limit)

	// Tail keeps reading past the high watermark, with long polls (MaxWait), until ctx ends or
	// Duration passes: a live consumer of a topic being produced, from offset 0 (a fresh topic).
	Tail    bool
	MaxWait time.Duration // long-poll wait when caught up (default 500ms)

	// E2E, when set, records each batch's end-to-end latency, receive time minus the send
	// time the producer stamped into it (loadgen's Stamp: nanoseconds in the first value,
	// else CreateTime in ms), once per record of the batch. Producer and consumer must share
	// a clock: the same host.
	E2E *Histogram
	// Stats, when set, is counted into while the run goes.
	Stats *FetchStats
}

// FetchStats are a fetch run's live counters, safe to read while it runs.
type FetchStats struct {
	Bytes   atomic.Int64 // record-batch bytes received
	Records atomic.Int64 // records in complete batches
	// CoarseStamps counts batches whose end-to-end latency came from a millisecond CreateTime
	// (compressed batches, or values shorter than the 8-byte stamp).
	CoarseStamps atomic.Int64
}

// FetchResult is what a fetch run measured.
type FetchResult struct {
	Version  int16
	Requests int64
	Bytes    int64 // record-batch bytes received
	Batches  int64 // complete batches received
	Elapsed  time.Duration
}

// MBPerSec is the record-batch throughput in MB/s (10^6 bytes).
func (r *FetchResult) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

func (r *FetchResult) String() string {
	return fmt.Sprintf("fetch v%d: %d requests, %d batches, %.1f MB in %v: %.1f MB/s",
		r.Version, r.Requests, r.Batches, float64(r.Bytes)/1e6, r.Elapsed.Round(time.Millisecond), r.MBPerSec())
}

// fetcher is one connection. It keeps one Fetch in flight per partition it owns, so the
// pipeline depth is its partition count; responses come back in order, so a FIFO of
// partitions matches them. Requests are encoded per send (the offset changes) — at most a
// few thousand a second, far from mattering — and records are never parsed: the next
// offset comes from the last complete batch header (baseOffset + lastOffsetDelta + 1).
type fetcher struct {
	kc      *kwire.Conn
	version int16
	topic   string
	parts   []int
	next    map[int]int64
	cfg     *FetchConfig

	res  FetchResult
	last time.Time
}

// RunFetch runs a catch-up fetch load.
func RunFetch(ctx context.Context, cfg FetchConfig) (*FetchResult, error) {
	if cfg.Topic == "" {
		cfg.Topic = "logd-load"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 1
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.PartitionMaxBytes <= 0 {
		cfg.PartitionMaxBytes = 8 << 20
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 500 * time.Millisecond
	}
	if cfg.Stats == nil {
		cfg.Stats = &FetchStats{}
	}
	boot, err := Dial(cfg.Bootstrap, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer boot.Close()
	version := boot.Version(kmsg.Fetch, minFetchVersion, maxFetchVersion)
	if version < 0 {
		return nil, fmt.Errorf("broker does not support Fetch v%d-%d", minFetchVersion, maxFetchVersion)
	}
	leaders, err := boot.Leaders(cfg.Topic, cfg.Partitions, false)
	if err != nil {
		return nil, err
	}
	assign := assignPartitions(int(cfg.Partitions), min(cfg.Conns, int(cfg.Partitions)))
	fs := make([]*fetcher, len(assign))
	defer func() {
		for _, f := range fs {
			if f != nil {
				f.kc.Close()
			}
		}
	}()
	for i, parts := range assign {
		addr := leaders[parts[0]]
		for _, p := range parts {
			if leaders[p] != addr {
				return nil, fmt.Errorf("connection %d's partitions %v have different leaders; use -conns %d", i, parts, cfg.Partitions)
			}
		}
		readBuf := 16 << 20 // a catch-up response is up to MaxBytes
		if cfg.Tail {
			readBuf = 1 << 20
		}
		kc, err := dial(addr, 10*time.Second, readBuf)
		if err != nil {
			return nil, err
		}
		f := &fetcher{kc: kc, version: version, topic: cfg.Topic, parts: parts, next: map[int]int64{}, cfg: &cfg}
		f.res.Version = version
		fs[i] = f
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(fs))
	var budget *int64
	if cfg.MaxTotalBytes > 0 {
		per := cfg.MaxTotalBytes / int64(len(fs))
		budget = &per
	}
	for i, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { f.kc.SetDeadline(time.Now()) })
			defer stop()
			if cfg.Tail {
				errs[i] = f.tail()
			} else {
				errs[i] = f.run(budget)
			}
			if ctx.Err() != nil {
				errs[i] = nil // stopped by the deadline
			}
		}()
	}
	wg.Wait()
	res := &FetchResult{Version: version}
	var last time.Time
	for _, f := range fs {
		res.Requests += f.res.Requests
		res.Bytes += f.res.Bytes
		res.Batches += f.res.Batches
		if f.last.After(last) {
			last = f.last
		}
	}
	res.Elapsed = last.Sub(start)
	return res, errors.Join(errs...)
}

func (f *fetcher) send(p int) error {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(f.version)
	req.ReplicaID = -1
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = f.cfg.MaxBytes
	req.SessionEpoch = -1 // no fetch session: a full fetch each time
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = f.topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), f.next[p], f.cfg.PartitionMaxBytes
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	f.res.Requests++
	return f.kc.Send(req)
}

func (f *fetcher) run(budget *int64) error {
	var queue []int // partitions with a fetch in flight, oldest first
	for _, p := range f.parts {
		if err := f.send(p); err != nil {
			return err
		}
		queue = append(queue, p)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(f.version)
	empty := map[int]int{}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		resp.Topics = resp.Topics[:0]
		err := f.kc.Receive(resp)
		if err == nil {
			f.last = time.Now()
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			return fmt.Errorf("fetch response: %w", err)
		}
		hw := int64(-1)
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					return fmt.Errorf("partition %d at offset %d: %w", rp.Partition, f.next[p], e)
				}
				if int(rp.Partition) != p {
					return fmt.Errorf("response for partition %d, want %d", rp.Partition, p)
				}
				hw = rp.HighWatermark
				next, n, batches := walkBatches(rp.RecordBatches)
				f.res.Bytes += int64(len(rp.RecordBatches))
				f.res.Batches += batches
				f.count(rp.RecordBatches[:n])
				if n > 0 && next > f.next[p] {
					f.next[p] = next
					empty[p] = 0
				} else if f.next[p] < hw {
					if empty[p]++; empty[p] > 100 {
						return fmt.Errorf("partition %d: no progress at offset %d (high watermark %d): raise the partition max bytes", p, f.next[p], hw)
					}
				}
			}
		}
		if budget != nil && f.res.Bytes >= *budget {
			continue // drain what is in flight, send no more
		}
		if f.next[p] < hw {
			if err := f.send(p); err != nil {
				return err
			}
			queue = append(queue, p)
		}
	}
	return nil
}

// tail is a live consumer: one Fetch at a time for all the connection's partitions (as a Kafka
// consumer sends one per broker), long-polling when caught up, until the connection's
// deadline is set by the run's end.
func (f *fetcher) tail() error {
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(f.version)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(f.version)
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(f.cfg.MaxWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = f.cfg.MaxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = f.topic
	for _, p := range f.parts {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.PartitionMaxBytes = int32(p), f.cfg.PartitionMaxBytes
		rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for {
		for i := range req.Topics[0].Partitions {
			rp := &req.Topics[0].Partitions[i]
			rp.FetchOffset = f.next[int(rp.Partition)]
		}
		if err := f.kc.Send(req); err != nil {
			return err
		}
		f.res.Requests++
		resp.Topics = resp.Topics[:0]
		err := f.kc.Receive(resp)
		if err == nil {
			f.last = time.Now()
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			return fmt.Errorf("fetch response: %w", err)
		}
		for _, t := range resp.Topics {
			for _, rp := range t.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					return fmt.Errorf("partition %d at offset %d: %w", rp.Partition, f.next[int(rp.Partition)], e)
				}
				next, n, batches := walkBatches(rp.RecordBatches)
				f.res.Bytes += int64(len(rp.RecordBatches))
				f.res.Batches += batches
				f.count(rp.RecordBatches[:n])
				if n > 0 && next > f.next[int(rp.Partition)] {
					f.next[int(rp.Partition)] = next
				}
			}
		}
	}
}

// count adds complete batches to the live stats and, when measuring it, records their
// end-to-end latency.
func (f *fetcher) count(b []byte) {
	st := f.cfg.Stats
	st.Bytes.Add(int64(len(b)))
	now := time.Now().UnixNano()
	var records int64
	for pos := 0; pos+segment.HeaderSize <= len(b); {
		l := int(int32(binary.BigEndian.Uint32(b[pos+8:])))
		batch := b[pos : pos+12+l]
		pos += 12 + l
		sent, n, ns := batchStamp(batch, now)
		records += n
		if f.cfg.E2E != nil {
			f.cfg.E2E.RecordN(time.Duration(now-sent), uint64(max(n, 0)))
			if !ns {
				st.CoarseStamps.Add(1)
			}
		}
	}
	st.Records.Add(records)
}

// walkBatches returns the offset after the last complete batch in b (a broker may end a
// response with a partial batch), the bytes of complete batches, and their count.
//
//	baseOffset int64 | batchLength int32 | leaderEpoch int32 | magic int8 | crc uint32 |
//	attributes int16 | lastOffsetDelta int32 | ...
func walkBatches(b []byte) (next int64, n int, batches int64) {
	for pos := 0; pos+27 <= len(b); {
		base := int64(binary.BigEndian.Uint64(b[pos:]))
		l := int(int32(binary.BigEndian.Uint32(b[pos+8:])))
		if l < 15 || pos+12+l > len(b) {
			break
		}
		next = base + int64(int32(binary.BigEndian.Uint32(b[pos+23:]))) + 1
		pos += 12 + l
		n = pos
		batches++
	}
	return next, n, batches
}
