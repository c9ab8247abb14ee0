package segment

import (
	"errors"
	"io"
	"sync"

	"github.com/logd/logd/internal/vfs"
)

// headerWindow is how many bytes of the .log one read takes while walking batch headers.
//
// Every lookup walks headers: Find from the offset index entry at or before the offset it
// wants (entries are IndexIntervalBytes, 4 KiB by default, apart), BoundaryAtOrBefore to the
// last batch that fits a fetch, the scans of a whole segment (ScanHeadersAt, the recovery of
// the largest timestamp). Reading one 61-byte header per pread cost a syscall per batch: a
// walk over 4 KiB of 100-byte batches was ~40 preads. One 8 KiB read covers the index
// interval plus a batch of up to ~4 KiB, so such a walk is now two reads: the entry's header,
// then one window (BenchmarkSegmentFind; results in bench/results/2026-12-07-perf2).
const headerWindow = 8 << 10

// headerWalker reads the batch headers of one .log below a size bound. Its first read takes
// one header; after that each read takes headerWindow bytes when the batch just walked over
// was smaller than the window, else one header again. So a walk over small batches costs
// about one read per window instead of one per batch, and a walk over large batches (the
// catch-up workload's 64 KiB ones, each with its own index entry) reads exactly what the
// one-header reads did. Not safe for concurrent use; walkers come from walkerPool, so a walk
// allocates nothing.
type headerWalker struct {
	f     vfs.File
	size  int64 // bytes at or past size are never read (a concurrent append's, not published)
	start int64 // .log position of buf[0]
	n     int   // valid bytes in buf
	last  int64 // position of the last header decoded; -1 before the first
	buf   [headerWindow]byte
}

var walkerPool = sync.Pool{New: func() any { return new(headerWalker) }}

// newWalker returns a pooled walker over f below size; release it with put.
func newWalker(f vfs.File, size int64) *headerWalker {
	w := walkerPool.Get().(*headerWalker)
	w.f, w.size, w.start, w.n, w.last = f, size, 0, 0, -1
	return w
}

// put returns w to the pool; w must not be used after.
func (w *headerWalker) put() {
	w.f = nil
	walkerPool.Put(w)
}

// header decodes the batch header at pos (below the walker's size).
func (w *headerWalker) header(pos int64) (Header, error) {
	if pos < w.start || pos+HeaderSize > w.start+int64(w.n) {
		want := int64(HeaderSize)
		if w.last >= 0 && pos > w.last && pos-w.last < headerWindow {
			want = headerWindow
		}
		if err := w.fill(pos, want); err != nil {
			return Header{}, err
		}
	}
	w.last = pos
	return ParseHeader(w.buf[pos-w.start : w.n])
}

// fill reads up to want bytes at pos, never at or past size.
func (w *headerWalker) fill(pos, want int64) error {
	want = min(want, w.size-pos)
	w.start, w.n = pos, 0
	if want <= 0 {
		return batchErr(ErrTruncated, "no header at position %d", pos)
	}
	n, err := w.f.ReadAt(w.buf[:want], pos)
	w.n = n
	if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
		if errors.Is(err, io.EOF) {
			return batchErr(ErrTruncated, "no header at position %d", pos)
		}
		return err
	}
	return nil
}
