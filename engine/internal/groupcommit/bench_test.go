package groupcommit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// BenchmarkFixedRate measures what the group commit adds to an append's latency at a fixed
// offered load, the way a produce request with acks=all sees it: P partition files on the
// disk under TMPDIR, appends of -fixedrate.size bytes spread round-robin over them at
// -fixedrate.mbps in total, each timed from the write to its release by Notify. One op is one
// append. Reported: wait percentiles (ms), appends per round and the achieved rate, so a run
// whose machine could not keep the rate is visible. Variants: how the written range was
// prepared (as in BenchmarkFdatasync) and whether write-back is started right after each
// write (sync_file_range SYNC_FILE_RANGE_WRITE, "sfr"); rounds in flight (Config.Depth).
// With -count, the variants take turns, so a disk that other work slows hits them alike.
func BenchmarkFixedRate(b *testing.B) {
	for _, prep := range []string{"append", "append+sfr", "zerofilled"} {
		for _, depth := range []int{1, 2} {
			b.Run(fmt.Sprintf("prep=%s/depth=%d", prep, depth), func(b *testing.B) {
				benchFixedRate(b, prep, depth, *fixedRateMBps, *fixedRateSize, *fixedRateParts)
			})
		}
	}
}

var (
	fixedRateMBps  = flag.Float64("fixedrate.mbps", 60, "BenchmarkFixedRate: offered load in MB/s")
	fixedRateSize  = flag.Int("fixedrate.size", 64<<10, "BenchmarkFixedRate: bytes per append")
	fixedRateParts = flag.Int("fixedrate.partitions", 6, "BenchmarkFixedRate: partition files")
)

func benchFixedRate(b *testing.B, prep string, depth int, mbps float64, size, parts int) {
	dir := b.TempDir()
	c := New(Config{Dir: dir, Depth: depth})
	defer c.Close()
	perFile := (int64(b.N)/int64(parts) + 1) * int64(size)
	files := make([]vfs.File, parts)
	for i := range files {
		f, err := vfs.Create(vfs.Default, filepath.Join(dir, fmt.Sprintf("%020d.log", i)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if prep == "zerofilled" {
			zeros := make([]byte, 1<<20)
			for off := int64(0); off < perFile; off += int64(len(zeros)) {
				if _, err := f.WriteAt(zeros[:min(int64(len(zeros)), perFile-off)], off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		files[i] = f
	}
	if err := vfs.Default.SyncDir(dir); err != nil {
		b.Fatal(err)
	}
	var afterWrite func(f vfs.File, off int64) error
	if prep == "append+sfr" {
		afterWrite = func(f vfs.File, off int64) error {
			return unix.SyncFileRange(int(f.(vfs.FdFile).Fd()), off, int64(size), unix.SYNC_FILE_RANGE_WRITE)
		}
	}
	runFixedRate(b, c, files, size, mbps, afterWrite)
}

// runFixedRate is BenchmarkFixedRate's open-loop generator: b.N appends of size bytes at mbps
// in total, round-robin over files, each timed from its write to its release. afterWrite, if
// set, runs right after each write.
func runFixedRate(b *testing.B, c *Committer, files []vfs.File, size int, mbps float64, afterWrite func(f vfs.File, off int64) error) {
	parts := len(files)
	buf := bytes.Repeat([]byte{0x5a}, size)
	interval := time.Duration(float64(size) / (mbps * 1e6) * float64(time.Second))
	waits := make([]time.Duration, b.N)
	var released sync.WaitGroup
	released.Add(b.N)
	offs := make([]int64, parts)
	before := c.Stats()
	b.SetBytes(int64(size))
	b.ResetTimer()
	begin := time.Now()
	for i := range b.N {
		// Open loop: append i is due at begin+i·interval whether or not earlier ones are
		// released; a late generator sends at once (its lateness is not in the wait).
		if d := time.Until(begin.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		p := i % parts
		f := files[p]
		start := time.Now()
		if _, err := f.WriteAt(buf, offs[p]); err != nil {
			b.Fatal(err)
		}
		if afterWrite != nil {
			if err := afterWrite(f, offs[p]); err != nil {
				b.Fatal(err)
			}
		}
		offs[p] += int64(size)
		seq, err := c.MarkDirty(f)
		if err != nil {
			b.Fatal(err)
		}
		c.Notify(seq, func(err error) {
			if err != nil {
				b.Error(err)
			}
			waits[i] = time.Since(start)
			released.Done()
		})
	}
	released.Wait()
	elapsed := time.Since(begin)
	b.StopTimer()
	after := c.Stats()
	slices.Sort(waits)
	q := func(p float64) float64 { return waits[int(p*float64(len(waits)-1))].Seconds() * 1e3 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(0.999), "p99.9-ms")
	b.ReportMetric(float64(after.Appends-before.Appends)/float64(after.Rounds-before.Rounds), "appends/round")
	b.ReportMetric(float64(b.N)*float64(size)/elapsed.Seconds()/1e6, "achieved-MB/s")
}

// BenchmarkModelDisk is BenchmarkFixedRate on a modelled disk, which holds still on a loaded
// machine where the real one does not (other work's I/O shares it): a file's Sync writes the
// bytes written since its last sync through one device at -model.mbps (transfers queue
// behind each other) and then waits a fixed -model.commit (the flush and journal commit,
// which overlap between syncs). Defaults: this machine's disk, 128 KiB synced writes at
// 208 MB/s and 4 KiB ones in 0.30 ms (bench/results/2026-12-07-quiet-compare). It shows what
// the commit pipeline itself does to the wait; whether the real disk overlaps the same way is
// BenchmarkConcurrentSync's question.
func BenchmarkModelDisk(b *testing.B) {
	for _, depth := range []int{1, 2} {
		b.Run(fmt.Sprintf("depth=%d", depth), func(b *testing.B) {
			fs := vfs.NewMemFS()
			disk := &modelDisk{bw: *modelMBps * 1e6, commit: *modelCommit}
			c := New(Config{FS: fs, Depth: depth})
			defer c.Close()
			files := make([]vfs.File, *fixedRateParts)
			for i := range files {
				f, err := vfs.Create(fs, fmt.Sprintf("/%020d.log", i))
				if err != nil {
					b.Fatal(err)
				}
				files[i] = &modelFile{File: f, disk: disk}
			}
			runFixedRate(b, c, files, *fixedRateSize, *fixedRateMBps, nil)
		})
	}
}

var (
	modelMBps   = flag.Float64("model.mbps", 208, "BenchmarkModelDisk: device bandwidth in MB/s")
	modelCommit = flag.Duration("model.commit", 300*time.Microsecond, "BenchmarkModelDisk: fixed latency of a sync")
)

// modelDisk is one device: transfers queue on it, the fixed part of a sync does not.
type modelDisk struct {
	bw        float64 // bytes per second
	commit    time.Duration
	mu        sync.Mutex
	busyUntil time.Time
}

// modelFile counts the bytes written since its last Sync, and keeps none of them (MemFS's
// copies would cost more CPU than the model's timing can bear); Sync takes the time modelDisk
// says.
type modelFile struct {
	vfs.File
	disk  *modelDisk
	dirty atomic.Int64
}

func (f *modelFile) WriteAt(p []byte, off int64) (int, error) {
	f.dirty.Add(int64(len(p)))
	return len(p), nil
}

func (f *modelFile) Sync() error {
	n := f.dirty.Swap(0)
	d := f.disk
	d.mu.Lock()
	start := time.Now()
	if start.Before(d.busyUntil) {
		start = d.busyUntil
	}
	d.busyUntil = start.Add(time.Duration(float64(n) / d.bw * float64(time.Second)))
	end := d.busyUntil.Add(d.commit)
	d.mu.Unlock()
	time.Sleep(time.Until(end))
	return nil
}
