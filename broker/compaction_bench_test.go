package broker

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/perf/loadgen"
)

var (
	cleanBenchWindow = flag.Duration("clean.window", 10*time.Second,
		"BenchmarkProduceWhileCleaning: length of one measured produce run")
	cleanBenchRate = flag.Float64("clean.io-rate", 32<<20,
		"BenchmarkProduceWhileCleaning: log.cleaner.io.max.bytes.per.second of the throttled run")
)

// BenchmarkProduceWhileCleaning measures produce latency into a compacted topic through the
// broker socket (franz-go, acks=all, idempotent, no linger, the broker's default fsync before
// the answer) at a steady 2,000 records/s of 200-byte values over 1,000 keys, with the log
// cleaner idle and busy in the same run, so benchstat compares the three:
//
//   - cleaner=idle: no clean runs (the cleaner threads are off; nothing else changes);
//   - cleaner=busy-throttled: another compacted topic of 32 MiB (4 MiB segments, distinct
//     keys, so each clean keeps every record) is cleaned back to back through Engine.Clean —
//     the cleaner threads' own path — at log.cleaner.io.max.bytes.per.second = -clean.io-rate;
//   - cleaner=busy-unthrottled: the same at Kafka's default rate (unlimited);
//   - cleaner=busy-same-topic: the measured topic itself holds the 32 MiB below its active
//     segment and is cleaned back to back, unthrottled: its appends also meet each swap,
//     which holds the partition lock across two directory fsyncs (never across the copy).
//
// A clean of a log that keeps everything is the cleaner's heaviest I/O per byte: every
// segment read, rewritten, fsync'd and swapped in (two directory fsyncs each). One op is one
// -clean.window run; latency is taken from each record's intended send time (no coordinated
// omission) to its acknowledgement. cleaned-MB/s counts the bytes read by the cleans that
// finished within the window. Two means from the broker's metrics say where the time went:
// fsync-wait-mean-µs, a produce request's wait for the group commit covering it, and
// flush-mean-µs, one group-commit round (the fdatasyncs themselves).
func BenchmarkProduceWhileCleaning(b *testing.B) {
	for _, mode := range []struct {
		name    string
		busy    bool
		rate    float64
		cleaned string // the topic cleaned back to back
	}{
		{"cleaner=idle", false, 0, "dirty"},
		{"cleaner=busy-throttled", true, *cleanBenchRate, "dirty"},
		{"cleaner=busy-unthrottled", true, 0, "dirty"},
		{"cleaner=busy-same-topic", true, 0, "latency"},
	} {
		b.Run(mode.name, func(b *testing.B) {
			reg := metrics.New()
			tb := startBroker(b, func(c *Config) {
				cc := engine.DefaultCleanerConfig
				cc.Enable = false // cleans run only when this benchmark asks
				cc.IOMaxBytesPerSecond = mode.rate
				c.Cleaner = &cc
				c.Metrics = reg
			})
			ctx := context.Background()
			segs := map[string]*string{"segment.bytes": kmsg.StringPtr(fmt.Sprint(4 << 20))}
			createCompacted(b, tb, "latency", segs)
			createCompacted(b, tb, "dirty", segs)
			fill := tb.client(kgo.DefaultProduceTopic(mode.cleaned), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			val := make([]byte, 1000)
			for i := 0; i < cleanBenchDirtyBytes/len(val); i++ {
				fill.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "dirty-%08d", i), Value: val}, nil)
			}
			if err := fill.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			dirty := engine.TopicPartition{Topic: mode.cleaned, Partition: 0}
			if _, err := tb.b.Engine().Clean(dirty); err != nil { // the first clean maps every key
				b.Fatal(err)
			}

			// The cleaner: cleans back to back until stopped; cleaned holds the bytes read by
			// every clean finished so far.
			var cleaned atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if mode.busy {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						st, err := tb.b.Engine().Clean(dirty)
						if err != nil {
							b.Error(err)
							return
						}
						cleaned.Add(st.BytesRead)
					}
				}()
			}
			defer func() {
				close(stop)
				wg.Wait()
			}()

			cl := tb.client(kgo.DefaultProduceTopic("latency"), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.ProducerLinger(0), kgo.RequiredAcks(kgo.AllISRAcks()))
			run := func(d time.Duration, lat *loadgen.Histogram) {
				b.Helper()
				const rate = 2000
				var failed atomic.Pointer[error]
				var inflight sync.WaitGroup
				start := time.Now()
				for i := 0; ; i++ {
					due := start.Add(time.Duration(i) * time.Second / rate)
					if due.Sub(start) >= d {
						break
					}
					time.Sleep(time.Until(due))
					inflight.Add(1)
					r := &kgo.Record{Key: fmt.Appendf(nil, "key-%04d", i%1000), Value: val[:200]}
					cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
						defer inflight.Done()
						if err != nil {
							failed.Store(&err)
							return
						}
						lat.Record(time.Since(due))
					})
				}
				inflight.Wait()
				if err := failed.Load(); err != nil {
					b.Fatal(*err)
				}
			}
			run(time.Second, loadgen.NewHistogram()) // warm up: connections, metadata, producer id

			lat := loadgen.NewHistogram()
			var cleanedBytes int64
			var elapsed time.Duration
			var fsyncWait, flush histogramSum
			b.ResetTimer()
			for range b.N {
				from, start := cleaned.Load(), time.Now()
				waitFrom, flushFrom := gatherSum(b, reg, metrics.ProduceFsyncWait), gatherSum(b, reg, metrics.LogFlushDuration)
				run(*cleanBenchWindow, lat)
				cleanedBytes += cleaned.Load() - from
				elapsed += time.Since(start)
				fsyncWait.add(gatherSum(b, reg, metrics.ProduceFsyncWait), waitFrom)
				flush.add(gatherSum(b, reg, metrics.LogFlushDuration), flushFrom)
			}
			b.StopTimer()
			for _, q := range []struct {
				q    float64
				unit string
			}{{0.5, "p50-µs"}, {0.99, "p99-µs"}, {0.999, "p99.9-µs"}} {
				b.ReportMetric(float64(lat.Quantile(q.q).Microseconds()), q.unit)
			}
			b.ReportMetric(float64(cleanedBytes)/1e6/elapsed.Seconds(), "cleaned-MB/s")
			b.ReportMetric(fsyncWait.meanMicros(), "fsync-wait-mean-µs")
			b.ReportMetric(flush.meanMicros(), "flush-mean-µs")
		})
	}
}

// histogramSum is the sum and count of a Prometheus histogram's observations (seconds).
type histogramSum struct {
	sum   float64
	count uint64
}

// add accumulates what was observed between from and to.
func (h *histogramSum) add(to, from histogramSum) {
	h.sum += to.sum - from.sum
	h.count += to.count - from.count
}

func (h histogramSum) meanMicros() float64 {
	if h.count == 0 {
		return 0
	}
	return h.sum / float64(h.count) * 1e6
}

// gatherSum reads the histogram name from the broker's metrics, summed over its label sets.
func gatherSum(b testing.TB, m *metrics.Metrics, name string) histogramSum {
	b.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		b.Fatal(err)
	}
	var h histogramSum
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			h.sum += s.GetHistogram().GetSampleSum()
			h.count += s.GetHistogram().GetSampleCount()
		}
	}
	return h
}

// cleanBenchDirtyBytes is the size of BenchmarkProduceWhileCleaning's continuously cleaned log.
const cleanBenchDirtyBytes = 32 << 20

// BenchmarkCompactionReclaim measures the disk space the cleaner reclaims on a keyed workload
// through the broker: 100,000 records of 200-byte values (uncompressed, acks=all, each key
// rewritten in turn) over K keys into a compacted topic with 1 MiB segments, then one clean
// (Engine.Clean, the cleaner threads' path). before-MB and after-MB are the partition's log
// bytes on disk (the active segment included: it is never cleaned), reclaimed% the share
// freed. The timer covers the clean only; MB/s is log bytes cleaned per second.
func BenchmarkCompactionReclaim(b *testing.B) {
	const records, valueSize = 100_000, 200
	for _, keys := range []int{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			b.ReportAllocs()
			var before, after int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tb := startBroker(b, func(c *Config) {
					cc := engine.DefaultCleanerConfig
					cc.Enable = false
					c.Cleaner = &cc
				})
				ctx := context.Background()
				createCompacted(b, tb, "keyed", map[string]*string{"segment.bytes": kmsg.StringPtr(fmt.Sprint(1 << 20))})
				cl := tb.client(kgo.DefaultProduceTopic("keyed"), kgo.ProducerBatchCompression(kgo.NoCompression()))
				val := make([]byte, valueSize)
				for r := 0; r < records; r++ {
					val[r%valueSize]++ // every value differs from the last one of its key
					cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "key-%06d", r%keys), Value: append([]byte{}, val...)}, nil)
				}
				if err := cl.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				tp := engine.TopicPartition{Topic: "keyed", Partition: 0}
				l := tb.b.Engine().Log(tp)
				before = l.Size()
				b.SetBytes(before)
				b.StartTimer()
				st, err := tb.b.Engine().Clean(tp)
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				after = l.Size()
				if st.RecordsKept < int64(keys) || after >= before {
					b.Fatalf("clean kept %d records of %d keys, log %d -> %d bytes", st.RecordsKept, keys, before, after)
				}
				tb.stop()
			}
			b.ReportMetric(float64(before)/1e6, "before-MB")
			b.ReportMetric(float64(after)/1e6, "after-MB")
			b.ReportMetric(100*float64(before-after)/float64(before), "reclaimed%")
		})
	}
}

// createCompacted creates a one-partition cleanup.policy=compact topic with extra configs.
func createCompacted(b *testing.B, tb *testBroker, topic string, configs map[string]*string) {
	b.Helper()
	cfg := map[string]*string{"cleanup.policy": kmsg.StringPtr("compact")}
	for k, v := range configs {
		cfg[k] = v
	}
	resp, err := tb.admin().CreateTopics(context.Background(), 1, 1, cfg, topic)
	if err != nil || resp[topic].Err != nil {
		b.Fatalf("create compacted topic %s: %v %v", topic, err, resp[topic].Err)
	}
}
