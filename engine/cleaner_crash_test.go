package engine

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// crashFS wraps a MemFS and counts the operations that change it (writes, syncs, truncations,
// creates, renames, removes, directory syncs) once armed. At operation crashAt it keeps what a
// power loss right before that operation would leave (MemFS.CrashClone) and fails that
// operation and every later one, as a dead process does nothing more.
type crashFS struct {
	*vfs.MemFS
	mu      sync.Mutex
	armed   bool
	ops     int
	crashAt int // 0: never
	image   *vfs.MemFS
}

var errPowerLoss = errors.New("simulated power loss")

// op counts one mutating operation and reports whether it must fail.
func (c *crashFS) op() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return nil
	}
	if c.image != nil {
		return errPowerLoss
	}
	c.ops++
	if c.ops == c.crashAt {
		c.image = c.MemFS.CrashClone(nil)
		return errPowerLoss
	}
	return nil
}

func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	if flag&os.O_CREATE != 0 {
		if err := c.op(); err != nil {
			return nil, err
		}
	}
	f, err := c.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &crashFile{File: f, fs: c}, nil
}

func (c *crashFS) Remove(name string) error {
	if err := c.op(); err != nil {
		return err
	}
	return c.MemFS.Remove(name)
}

func (c *crashFS) Rename(oldname, newname string) error {
	if err := c.op(); err != nil {
		return err
	}
	return c.MemFS.Rename(oldname, newname)
}

func (c *crashFS) SyncDir(dir string) error {
	if err := c.op(); err != nil {
		return err
	}
	return c.MemFS.SyncDir(dir)
}

type crashFile struct {
	vfs.File
	fs *crashFS
}

func (f *crashFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.op(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *crashFile) Sync() error {
	if err := f.fs.op(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *crashFile) Truncate(size int64) error {
	if err := f.fs.op(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// crashTestLog builds the same compacted log every time: segments of keyed records,
// compressed and not, tombstones, an idempotent producer, cleaned once (so the next clean
// merges small segments) and appended to again; all of it synced.
func crashTestLog(t *testing.T, fs vfs.FS) (*testEnv, *Log) {
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, compactConfig(600))
	rng := rand.New(rand.NewSource(1))
	seq := int32(0)
	for i := 0; i < 50; i++ {
		if i == 30 {
			if _, err := env.e.Clean(tp0); err != nil {
				t.Fatal(err)
			}
		}
		recs := []kv{{key: fmt.Sprintf("k%d", rng.Intn(8)), value: []byte(fmt.Sprintf("value-%d", i))}}
		if i%7 == 3 {
			recs[0].value = nil
		}
		var p producerOpts
		if i%5 == 0 {
			p = producerOpts{id: 9, seq: seq}
			seq++
		}
		if _, err := l.Append(keyedBatch(cleanCodecs[i%len(cleanCodecs)], env.clock.Now().UnixMilli()+int64(i), p, recs...), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	return env, l
}

// TestCleanCrashAtEveryOp crashes a clean at each of its filesystem operations in turn (count
// them in a clean run, then crash at op 1, 2, …, n) and reopens what the crash left: the log
// must hold exactly its records from before the clean or a state the clean could have left
// (every record the clean keeps present, nothing it never had, offsets increasing), the same
// end offset, and no leftover temporary files after recovery.
func TestCleanCrashAtEveryOp(t *testing.T) {
	base := vfs.NewMemFS()
	cfs := &crashFS{MemFS: base}
	env, l := crashTestLog(t, cfs)
	before, _ := readRecords(t, l)
	end := l.LogEndOffset()
	cfs.armed = true
	st, err := env.e.Clean(tp0)
	if err != nil {
		t.Fatal(err)
	}
	total := cfs.ops
	cfs.armed = false
	after, _ := readRecords(t, l)
	if st.SegmentsOut >= st.SegmentsIn || len(after) >= len(before) {
		t.Fatalf("the clean did nothing: %+v", st)
	}
	env.close()
	t.Logf("a clean of %d segments into %d takes %d filesystem operations", st.SegmentsIn, st.SegmentsOut, total)

	byOffset := map[int64]storedRecord{}
	for _, r := range before {
		byOffset[r.offset] = r
	}
	stride := 1
	if testing.Short() {
		stride = 5
	}
	for i := 1; i <= total; i += stride {
		cfs := &crashFS{MemFS: vfs.NewMemFS()}
		env, _ := crashTestLog(t, cfs)
		cfs.crashAt, cfs.armed = i, true
		env.e.Clean(tp0) // fails at op i
		env.e.Close()
		if cfs.image == nil {
			t.Fatalf("op %d: the clean stopped after %d operations", i, cfs.ops)
		}
		renv := newTestEnv(t, cfs.image, "/data")
		rl := renv.log(tp0, compactConfig(600))
		if rl.LogEndOffset() != end {
			t.Fatalf("crash at op %d: log end offset %d, was %d", i, rl.LogEndOffset(), end)
		}
		got, _ := readRecords(t, rl)
		present := map[int64]bool{}
		for _, r := range got {
			want, ok := byOffset[r.offset]
			if !ok || want.key != r.key || string(want.value) != string(r.value) {
				t.Fatalf("crash at op %d: offset %d holds %q=%q, never appended there", i, r.offset, r.key, r.value)
			}
			present[r.offset] = true
		}
		for _, r := range after {
			if !present[r.offset] {
				t.Fatalf("crash at op %d: record %q at %d, kept by the clean, lost", i, r.key, r.offset)
			}
		}
		names, _ := cfs.image.ReadDir("/data/" + tp0.dirName())
		for _, n := range names {
			if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) || strings.HasSuffix(n, deletedSuffix) {
				t.Fatalf("crash at op %d: %s left behind after recovery", i, n)
			}
		}
		// And the recovered log cleans again to the same records as the uninterrupted clean.
		if _, err := renv.e.Clean(tp0); err != nil {
			t.Fatalf("crash at op %d: clean after recovery: %v", i, err)
		}
		again, _ := readRecords(t, rl)
		if len(again) != len(after) {
			t.Fatalf("crash at op %d: clean after recovery keeps %d records, the uninterrupted one %d", i, len(again), len(after))
		}
		renv.close()
	}
}

// TestCleanWhileReading holds a fetch's Region on a segment the cleaner then replaces: the
// Region keeps reading the old bytes, the replaced files go only when it is released, and
// appends made while a throttled clean copies are not held up by it (the copy takes no log
// lock).
func TestCleanWhileReading(t *testing.T) {
	fs := vfs.NewMemFS()
	env, l := crashTestLog(t, fs)
	r, err := l.Read(l.LogStartOffset(), 1<<20, l.HighWatermark())
	if err != nil || r.Len == 0 {
		t.Fatalf("read: %v %+v", err, r)
	}
	old := make([]byte, r.Len)
	r.File.ReadAt(old, r.Pos)

	env.e.cleaner.throttle = newThrottler(8 << 10) // 8 KiB/s: the clean takes a second or so
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := env.e.Clean(tp0)
		done <- err
	}()
	var slowest time.Duration
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t0 := time.Now()
			if _, err := l.Append(keyedBatch(0, env.clock.Now().UnixMilli(), producerOpts{}, kv{key: "hot", value: []byte("x")}), AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(t0))
			time.Sleep(time.Millisecond)
			continue
		}
		break
	}
	took := time.Since(start)
	if took < 500*time.Millisecond {
		t.Fatalf("a clean throttled to 8 KiB/s took %v", took)
	}
	if slowest > took/4 {
		t.Fatalf("an append waited %v during a clean of %v", slowest, took)
	}
	again := make([]byte, r.Len)
	if _, err := r.File.ReadAt(again, r.Pos); err != nil || string(again) != string(old) {
		t.Fatalf("the held region changed under the reader: %v", err)
	}
	names, _ := fs.ReadDir("/data/" + tp0.dirName())
	deleted := 0
	for _, n := range names {
		if strings.HasSuffix(n, deletedSuffix) {
			deleted++
		}
	}
	if deleted == 0 {
		t.Fatal("the replaced segment's files went while a reader held them")
	}
	r.Release()
	names, _ = fs.ReadDir("/data/" + tp0.dirName())
	for _, n := range names {
		if strings.HasSuffix(n, deletedSuffix) {
			t.Fatalf("%s left after the last reader released it", n)
		}
	}
	t.Logf("clean took %v; slowest append meanwhile %v", took, slowest)
	env.close()
}
