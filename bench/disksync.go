package bench

import (
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/logd/logd/perf/loadgen"
)

// The disk's own limit, measured in the same invocation as a comparison: appends of a fixed
// size to a new file in the brokers' data directory, each followed by fdatasync — what
// `dd if=/dev/zero of=F bs=SIZE oflag=dsync` does (dsync is O_DSYNC: every write returns once
// its data and the metadata needed to read it, the growing file size among them, are on the
// device). A fsyncing broker's group commit cannot acknowledge faster than this disk
// completes one synced write, so a missed latency or throughput goal can be set against it.

// DiskSync is one size's synced-write rate and latency on the data directory's disk.
type DiskSync struct {
	WriteKiB  int     `json:"write_kib"`
	Writes    int     `json:"writes"`
	PerSec    float64 `json:"writes_per_sec"`
	MBps      float64 `json:"mb_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	Err       string  `json:"error,omitempty"`
	DurationS float64 `json:"duration_s"`
}

// diskSyncSizes are the write sizes of the fingerprint: a small record batch and a large one.
var diskSyncSizes = []int{4 << 10, 128 << 10}

// diskSyncBudget bounds each size's measurement: this long, or diskSyncMaxBytes written.
const (
	diskSyncBudget   = 2 * time.Second
	diskSyncMaxBytes = 256 << 20
)

// measureDiskSyncs measures every size of diskSyncSizes in dir.
func measureDiskSyncs(dir string) []DiskSync {
	var out []DiskSync
	for _, size := range diskSyncSizes {
		out = append(out, measureDiskSync(dir, size, diskSyncBudget))
	}
	return out
}

// measureDiskSync appends size-byte writes to a new file in dir, each followed by fdatasync,
// for d (or diskSyncMaxBytes), and removes the file.
func measureDiskSync(dir string, size int, d time.Duration) DiskSync {
	res := DiskSync{WriteKiB: size >> 10}
	f, err := os.CreateTemp(dir, "disk-sync-*")
	if err != nil {
		res.Err = err.Error()
		return res
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 7) // not zeros: no filesystem may elide them
	}
	h := loadgen.NewHistogram()
	start := time.Now()
	for written := 0; time.Since(start) < d && written+size <= diskSyncMaxBytes; written += size {
		t := time.Now()
		if _, err := f.Write(buf); err != nil {
			res.Err = err.Error()
			break
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			res.Err = "fdatasync: " + err.Error()
			break
		}
		h.Record(time.Since(t))
		res.Writes++
	}
	sec := time.Since(start).Seconds()
	res.DurationS = sec
	res.PerSec = float64(res.Writes) / sec
	res.MBps = float64(res.Writes) * float64(size) / 1e6 / sec
	ms := func(v time.Duration) float64 { return float64(v) / 1e6 }
	res.P50Ms, res.P99Ms, res.MaxMs = ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Max())
	return res
}

// diskSyncLine is the fingerprint in one line of prose, for reports.
func diskSyncLine(ds []DiskSync) string {
	var parts []string
	for _, d := range ds {
		if d.Err != "" {
			parts = append(parts, fmt.Sprintf("%d KiB: %s", d.WriteKiB, d.Err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%d KiB writes %.0f/s (%.1f MB/s), p50 %.2f ms, p99 %.2f ms, max %.2f ms",
			d.WriteKiB, d.PerSec, d.MBps, d.P50Ms, d.P99Ms, d.MaxMs))
	}
	return strings.Join(parts, "; ")
}
