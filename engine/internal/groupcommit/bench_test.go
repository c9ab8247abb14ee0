package groupcommit

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

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

// BenchmarkFdatasync measures what one write + fdatasync costs on the filesystem under
// TMPDIR, by how the written range was prepared: append (the write extends the file, as a
// segment's appends do: the sync must also commit the new size and block allocation),
// fallocate (blocks reserved, unwritten: the first write to them still changes the extent
// tree) and zerofilled (blocks written with zeros and synced beforehand: a pure overwrite,
// no metadata to commit). The gap between append and zerofilled is the most segment
// preallocation could save per sync (bench/results/2026-12-07-append). Run it on the log
// directory's filesystem, with TMPDIR set there.
func BenchmarkFdatasync(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, prep := range []string{"append", "fallocate", "zerofilled"} {
			b.Run(fmt.Sprintf("%s/%dKiB", prep, size>>10), func(b *testing.B) {
				f, err := os.Create(filepath.Join(b.TempDir(), "f"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				total := int64(b.N) * int64(size)
				fd := int(f.Fd())
				switch prep {
				case "fallocate":
					err = unix.Fallocate(fd, 0, 0, total)
				case "zerofilled":
					zeros := make([]byte, 1<<20)
					for off := int64(0); off < total && err == nil; off += int64(len(zeros)) {
						_, err = f.WriteAt(zeros[:min(int64(len(zeros)), total-off)], off)
					}
				}
				if err == nil {
					err = unix.Fsync(fd)
				}
				if err != nil {
					b.Fatal(err)
				}
				buf := bytes.Repeat([]byte{0x5a}, size)
				b.SetBytes(int64(size))
				b.ResetTimer()
				for i := range b.N {
					if _, err := f.WriteAt(buf, int64(i)*int64(size)); err != nil {
						b.Fatal(err)
					}
					if err := unix.Fdatasync(fd); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
