package engine

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
)

// benchBatch returns one batch of about size bytes (16 records).
func benchBatch(size int) []byte {
	const records = 16
	// 61 bytes of batch header; each record adds about 8 bytes of framing to its value.
	return testbatch.Build(testbatch.Options{Records: records, ValueSize: (size-61)/records - 8, BaseTimestamp: 1_700_000_000_000, TimestampStep: 1})
}

// BenchmarkAppend measures Log.Append alone: one batch per call, into the page cache, with no
// wait for the fsync (acks=1 on a topic without flush.messages). Append stamps the batch in
// place (offset and leader epoch, outside the CRC), so one buffer is appended again and again.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			env := newTestEnv(b, vfs.Default, b.TempDir())
			defer env.close()
			cfg := DefaultLogConfig // segment.bytes 1 GiB: a roll every 1M (1 KiB) or 64K (16 KiB) appends
			l := env.log(tp0, cfg)
			data := benchBatch(size)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(data, AppendOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer() // the deferred close fsyncs everything written: not part of Append
		})
	}
}

// BenchmarkAppendDurable: every writer goroutine loops Append 1 KiB → WaitDurable (acks=all
// with fsync-before-ack), either all on one partition or one partition each. appends/fsync is
// the group committer's sequence numbers covered per round, waiters/fsync the blocked waiters
// each round released. Run with TMPDIR on a disk-backed filesystem (not tmpfs), or fdatasync
// costs nothing and there is little to batch.
//
// One engine with 256 partitions serves every sub-benchmark: creating and cleanly closing 256
// partitions costs three fsyncs each, too slow to repeat for every b.N.
func BenchmarkAppendDurable(b *testing.B) {
	env := newTestEnv(b, vfs.Default, b.TempDir())
	defer env.close()
	logs := make([]*Log, 256)
	for i := range logs {
		logs[i] = env.log(TopicPartition{Topic: "bench", Partition: int32(i)}, DefaultLogConfig)
	}
	for _, shared := range []bool{true, false} {
		for _, writers := range []int{1, 16, 256} {
			name := fmt.Sprintf("partition=per-writer/writers=%d", writers)
			if shared {
				name = fmt.Sprintf("partition=shared/writers=%d", writers)
			}
			b.Run(name, func(b *testing.B) {
				mine := logs[:writers]
				if shared {
					mine = make([]*Log, writers)
					for i := range mine {
						mine[i] = logs[0]
					}
				}
				benchAppendDurable(b, env.e, mine)
			})
		}
	}
}

// benchAppendDurable runs one writer per entry of logs.
func benchAppendDurable(b *testing.B, e *Engine, logs []*Log) {
	bufs := make([][]byte, len(logs))
	for i := range bufs {
		bufs[i] = benchBatch(1 << 10)
	}
	b.SetBytes(int64(len(bufs[0])))
	b.ReportAllocs()
	before := e.gc.Stats()
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.ResetTimer()
	for w, l := range logs {
		wg.Add(1)
		go func(l *Log, data []byte) {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				res, err := l.Append(data, AppendOptions{})
				if err == nil {
					err = l.WaitDurable(res.SyncSeq)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}(l, bufs[w])
	}
	wg.Wait()
	b.StopTimer()
	after := e.gc.Stats()
	rounds := float64(after.Rounds - before.Rounds)
	if rounds > 0 {
		b.ReportMetric(float64(after.Appends-before.Appends)/rounds, "appends/fsync")
		b.ReportMetric(float64(after.WaitersReleased-before.WaitersReleased)/rounds, "waiters/fsync")
	}
}

const readBenchBatches = 20_000

// readBenchLog builds a log of 1 KiB batches (16 records; record i has timestamp i) over 100
// segments of 200 KiB, with index entries every 4 KiB. Every roll fsyncs a producer snapshot,
// so callers build it once and run their measurement as a sub-benchmark.
func readBenchLog(b *testing.B) (*testEnv, *Log) {
	env := newTestEnv(b, vfs.Default, b.TempDir())
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 200 << 10
	l := env.log(tp0, cfg)
	for i := 0; i < readBenchBatches; i++ {
		data := testbatch.Build(testbatch.Options{Records: 16, ValueSize: 50, BaseTimestamp: int64(i) * 16, TimestampStep: 1})
		if _, err := l.Append(data, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	return env, l
}

// BenchmarkRead measures Log.Read lookups of random offsets (a fetch's region, not its bytes:
// the region is sent with sendfile).
func BenchmarkRead(b *testing.B) {
	env, l := readBenchLog(b)
	defer env.close()
	end := l.LogEndOffset()
	b.Logf("%d segments, end offset %d", l.Segments(), end)
	rng := rand.New(rand.NewSource(1))
	offs := make([]int64, 4096)
	for i := range offs {
		offs[i] = rng.Int63n(end)
	}
	b.Run("random", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r, err := l.Read(offs[i%len(offs)], 64<<10, end)
			if err != nil || r.Len == 0 {
				b.Fatal(r, err)
			}
			r.Release()
		}
	})
}

// BenchmarkOffsetForTimestamp measures ListOffsets by time for random timestamps.
func BenchmarkOffsetForTimestamp(b *testing.B) {
	env, l := readBenchLog(b)
	defer env.close()
	rng := rand.New(rand.NewSource(1))
	tss := make([]int64, 4096)
	for i := range tss {
		tss[i] = rng.Int63n(readBenchBatches * 16)
	}
	b.Run("random", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, found, err := l.OffsetForTimestamp(tss[i%len(tss)]); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	})
}
