package groupcommit

import (
	"fmt"

	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// BenchmarkGroupCommit: each writer owns one file (a partition) on a real disk and loops
// write 1 KiB → MarkDirty → Wait. b.TempDir lives under os.TempDir; run with TMPDIR on a
// disk-backed filesystem (not tmpfs), or fdatasync measures nothing.
//
// waiters/sync is appends released per fsync round, syncs/op its inverse.
func BenchmarkGroupCommit(b *testing.B) {
	for _, writers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			dir := b.TempDir()
			c := New(Config{Dir: dir})
			defer c.Close()
			files := make([]vfs.File, writers)
			for i := range files {
				f, err := vfs.Create(vfs.Default, filepath.Join(dir, fmt.Sprintf("%020d.log", i)))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				files[i] = f
			}
			if err := vfs.Default.SyncDir(dir); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1024)
			b.ReportAllocs()
			before := c.Stats()
			var left atomic.Int64
			left.Store(int64(b.N))
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, f := range files {
				wg.Add(1)
				go func() {
					defer wg.Done()
					buf := make([]byte, 1024)
					var off int64
					for left.Add(-1) >= 0 {
						if _, err := f.WriteAt(buf, off); err != nil {
							b.Error(err)
							return
						}
						off += int64(len(buf))
						seq, err := c.MarkDirty(f)
						if err == nil {
							err = c.Wait(seq)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			after := c.Stats()
			rounds := float64(after.Rounds - before.Rounds)
			b.ReportMetric(float64(after.Appends-before.Appends)/rounds, "waiters/sync")
			b.ReportMetric(rounds/float64(b.N), "syncs/op")
			b.ReportMetric(float64(after.FilesSynced-before.FilesSynced)/rounds, "files/sync")
		})
	}
}
