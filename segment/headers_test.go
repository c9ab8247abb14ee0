package segment

import (
	"math/rand"
	"os"
	"sync/atomic"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// TestHeaderWalkMixedSizes checks every header walk (Find, BoundaryAtOrBefore, FindTimestamp,
// ScanHeaders; TruncateTo's offsetAfter and rescanMaxTime; Open's loadTail) against the model
// on batches of mixed sizes: small ones many to a window, ones around the window's size and
// ones several windows long, so walks refill inside a window, at its edge and after a hop
// past it. With an index interval of 1 MiB a walk crosses many windows from one entry.
func TestHeaderWalkMixedSizes(t *testing.T) {
	for _, cfg := range []Config{DefaultConfig, {IndexIntervalBytes: 1 << 20, MaxIndexBytes: 4096}} {
		forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
			rng := rand.New(rand.NewSource(testSeed(t)))
			s := mustCreate(t, fs, dir, testBase, cfg)
			m := &model{base: testBase}
			for i := 0; i < 300; i++ {
				var value int
				switch r := rng.Intn(10); {
				case r < 6:
					value = rng.Intn(400)
				case r < 8:
					value = headerWindow - 200 + rng.Intn(400) // straddles the window's size
				default:
					value = 2*headerWindow + rng.Intn(4*headerWindow)
				}
				off := m.next()
				appendSet(t, s, m, mkBatch(off, 1, value, 10_000+off, 0))
			}
			checkSegment(t, s, m)

			i := rng.Intn(len(m.batches))
			if _, err := s.TruncateTo(m.batches[i].base); err != nil {
				t.Fatal(err)
			}
			m.keep(i)
			checkSegment(t, s, m)

			mustClose(t, s)
			s = mustOpen(t, fs, dir, testBase, cfg, true)
			defer mustClose(t, s)
			checkSegment(t, s, m)
		})
	}
}

// TestFindReadsTwice pins the point of the windowed walk: with the default index interval and
// small batches (~23 between two index entries: up to 23 one-header reads before), every Find
// reads the .log at most twice (the entry's header, then one window).
func TestFindReadsTwice(t *testing.T) {
	fs := &countingFS{FS: vfs.Default}
	s := mustCreate(t, fs, t.TempDir(), 0, DefaultConfig)
	defer mustClose(t, s)
	m := &model{}
	for i := 0; i < 2000; i++ {
		appendSet(t, s, m, mkBatch(m.next(), 3, 30, int64(i), 0))
	}
	for off := int64(0); off < m.next(); off++ {
		before := fs.reads.Load()
		if _, _, found, err := s.Find(off); !found || err != nil {
			t.Fatalf("Find(%d): found %v, %v", off, found, err)
		}
		if n := fs.reads.Load() - before; n > 2 {
			t.Fatalf("Find(%d) read the log %d times, want at most 2", off, n)
		}
	}
}

// countingFS counts the ReadAt calls on the files it opens.
type countingFS struct {
	vfs.FS
	reads atomic.Int64
}

func (c *countingFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, reads: &c.reads}, nil
}

type countingFile struct {
	vfs.File
	reads *atomic.Int64
}

func (f *countingFile) ReadAt(p []byte, off int64) (int, error) {
	f.reads.Add(1)
	return f.File.ReadAt(p, off)
}
