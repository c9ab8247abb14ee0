package index

import (
	"flag"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

var seedFlag = flag.Int64("seed", 0, "seed for randomized tests (0: derive from the clock)")

// forEachFS runs fn on the OS filesystem (real mmap) and on MemFS.
func forEachFS(t *testing.T, fn func(t *testing.T, fs vfs.FS, dir string)) {
	t.Helper()
	t.Run("os", func(t *testing.T) { fn(t, vfs.Default, t.TempDir()) })
	t.Run("mem", func(t *testing.T) {
		fs := vfs.NewMemFS()
		if err := fs.MkdirAll("/data", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fs.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		fn(t, fs, "/data")
	})
}

// abandon drops an index the way kill -9 does: no trim, the mapping's writes stay in the file.
func (x *mappedIndex) abandon() {
	x.f.Unmap()
	x.f.Close()
	x.closed = true
	x.mmap = nil
	x.entries.Store(0)
	x.capacity.Store(0)
}

func fileSize(t *testing.T, fs vfs.FS, path string) int64 {
	t.Helper()
	fi, err := fs.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func mustOffsetIndex(t testing.TB, fs vfs.FS, path string, base int64, max int) *OffsetIndex {
	t.Helper()
	x, err := OpenOffsetIndex(fs, path, base, max)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustTimeIndex(t testing.TB, fs vfs.FS, path string, base int64, max int) *TimeIndex {
	t.Helper()
	x, err := OpenTimeIndex(fs, path, base, max)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func offsetEntries(x *OffsetIndex) []Entry {
	var es []Entry
	for i := 0; ; i++ {
		e, ok := x.At(i)
		if !ok {
			return es
		}
		es = append(es, e)
	}
}

func timeEntries(x *TimeIndex) []TimestampOffset {
	var es []TimestampOffset
	for i := 0; ; i++ {
		e, ok := x.At(i)
		if !ok {
			return es
		}
		es = append(es, e)
	}
}
