package engine

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

var partitionsFlag = flag.Int("partitions", 10_000, "partitions TestManyPartitions creates")

// TestManyPartitions creates 10,000 partitions on real files with one batch each, shuts down
// cleanly, reopens all of them and checks that the open descriptors and memory mappings stay
// within the process limits (ulimit -n, vm.max_map_count). Each open partition holds its
// active segment: the .log descriptor plus two index mappings (segment.index.bytes is 4 KiB
// here, one page each; Kafka's 10 MiB default would reserve 200 GiB of address space).
func TestManyPartitions(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 partitions: slow")
	}
	n := *partitionsFlag
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	maxMaps := readIntFile(t, "/proc/sys/vm/max_map_count")
	fd0, maps0 := countFDs(t), countMaps(t)
	t.Logf("limits: %d descriptors, %d mappings; at start %d descriptors, %d mappings", rl.Cur, maxMaps, fd0, maps0)

	cfg := DefaultLogConfig
	cfg.MaxIndexBytes = 4096
	tpOf := func(i int) TopicPartition { return TopicPartition{Topic: "many", Partition: int32(i)} }
	env := newTestEnv(t, vfs.Default, t.TempDir())
	// Close on failure too: the logs' descriptors and mappings would leak into later tests.
	defer func() { env.e.Close() }()

	start := time.Now()
	for i := 0; i < n; i++ {
		l, err := env.e.OpenLog(tpOf(i), cfg, true)
		if err != nil {
			t.Fatalf("create partition %d: %v (%d descriptors, %d mappings open)", i, err, countFDs(t), countMaps(t))
		}
		if _, err := l.Append(batch(1, 10, int64(i)), AppendOptions{}); err != nil {
			t.Fatalf("append to partition %d: %v", i, err)
		}
	}
	created := time.Since(start)
	fd1, maps1 := countFDs(t), countMaps(t)
	t.Logf("created %d partitions in %v: %d descriptors (+%d), %d mappings (+%d)", n, created.Round(time.Millisecond), fd1, fd1-fd0, maps1, maps1-maps0)

	start = time.Now()
	if err := env.e.Close(); err != nil {
		t.Fatal(err)
	}
	closed := time.Since(start)
	fd2, maps2 := countFDs(t), countMaps(t)
	t.Logf("clean shutdown in %v: %d descriptors, %d mappings", closed.Round(time.Millisecond), fd2, maps2)

	start = time.Now()
	env.open()
	if got := len(env.e.Partitions()); got != n {
		t.Fatalf("reopened directory lists %d partitions, want %d", got, n)
	}
	opened := time.Since(start)
	for i := 0; i < n; i++ {
		l, err := env.e.OpenLog(tpOf(i), cfg, false)
		if err != nil {
			t.Fatalf("reopen partition %d after %v: %v (%d descriptors, %d mappings open)", i, time.Since(start), err, countFDs(t), countMaps(t))
		}
		if l.LogEndOffset() != 1 {
			t.Fatalf("partition %d: end offset %d after reopen, want 1", i, l.LogEndOffset())
		}
	}
	reopened := time.Since(start)
	fd3, maps3 := countFDs(t), countMaps(t)
	t.Logf("clean reopen of %d partitions in %v (engine Open %v): %d descriptors (+%d, %.2f per partition), %d mappings (+%d, %.2f per partition)",
		n, reopened.Round(time.Millisecond), opened.Round(time.Millisecond), fd3, fd3-fd0, float64(fd3-fd0)/float64(n), maps3, maps3-maps0, float64(maps3-maps0)/float64(n))
	if strings.Contains(env.logs.String(), "recovered partition") {
		t.Error("clean reopen recovered partitions")
	}
	if fd3 >= int(rl.Cur) || maps3 >= maxMaps {
		t.Errorf("over the limits: %d/%d descriptors, %d/%d mappings", fd3, rl.Cur, maps3, maxMaps)
	}
	// Everything reads back.
	for i := 0; i < n; i += 997 {
		if hs := readAll(t, env.e.Log(tpOf(i)), 0, 1); len(hs) != 1 || hs[0].BaseOffset != 0 {
			t.Fatalf("partition %d: read %v", i, hs)
		}
	}
	start = time.Now()
	if err := env.e.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("second clean shutdown in %v", time.Since(start).Round(time.Millisecond))
}

// countFDs counts the process's open file descriptors.
func countFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory being read
}

// countMaps counts the process's memory mappings (what vm.max_map_count limits).
func countMaps(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte{'\n'})
}

func readIntFile(t *testing.T, name string) int {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(fmt.Errorf("%s: %w", name, err))
	}
	return v
}
