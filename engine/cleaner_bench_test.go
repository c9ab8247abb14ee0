package engine

import (
	"fmt"
	"testing"

	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// BenchmarkClean measures one clean of a 32 MiB compacted log on real files: batches of 16
// records of 100-byte values over 10,000 keys (each key rewritten about 20 times), so the clean
// keeps about a twentieth. MB/s is log bytes cleaned (read) per second; reclaimed% the share
// of the log the clean freed. Setup (writing the log) is outside the timer.
func BenchmarkClean(b *testing.B) {
	for _, codec := range []int{segment.CompressionNone, segment.CompressionZstd} {
		b.Run(fmt.Sprintf("codec=%d", codec), func(b *testing.B) {
			b.ReportAllocs()
			var reclaimed float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				env := newTestEnv(b, vfs.Default, b.TempDir())
				cfg := compactConfig(4 << 20)
				cfg.IndexIntervalBytes = 4096
				l := env.log(tp0, cfg)
				val := make([]byte, 100)
				key := 0
				for l.Size() < benchCleanLogBytes {
					recs := make([]kv, 16)
					for j := range recs {
						recs[j] = kv{key: fmt.Sprintf("key-%05d", key%10_000), value: val}
						key += 7
					}
					if _, err := l.Append(keyedBatch(codec, 1_700_000_000_000, producerOpts{}, recs...), AppendOptions{}); err != nil {
						b.Fatal(err)
					}
				}
				before := l.Size()
				b.SetBytes(before)
				b.StartTimer()
				if _, err := env.e.Clean(tp0); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				reclaimed = 100 * float64(before-l.Size()) / float64(before)
				env.close()
			}
			b.ReportMetric(reclaimed, "reclaimed%")
		})
	}
}

const benchCleanLogBytes = 32 << 20
