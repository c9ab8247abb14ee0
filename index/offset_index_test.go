package index

import (
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

func TestPaths(t *testing.T) {
	if got, want := OffsetIndexPath("/d", 42), "/d/00000000000000000042.index"; got != want {
		t.Errorf("OffsetIndexPath = %q, want %q", got, want)
	}
	if got, want := TimeIndexPath("/d", 0), "/d/00000000000000000000.timeindex"; got != want {
		t.Errorf("TimeIndexPath = %q, want %q", got, want)
	}
}

func TestOffsetIndexRoundTrip(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		const base = 1000
		path := OffsetIndexPath(dir, base)
		x := mustOffsetIndex(t, fs, path, base, 1000) // 125 slots
		if got := fileSize(t, fs, path); got != 1000 {
			t.Fatalf("preallocated size %d, want 1000", got)
		}
		if x.MaxEntries() != 125 || x.Entries() != 0 || x.IsFull() {
			t.Fatalf("new index: max %d entries %d full %v", x.MaxEntries(), x.Entries(), x.IsFull())
		}
		var want []Entry
		for i := int64(0); i < 100; i++ {
			e := Entry{Offset: base + i*3, Position: int32(i * 4096)}
			if err := x.Append(e.Offset, e.Position); err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
		}
		check := func(x *OffsetIndex) {
			t.Helper()
			if got := offsetEntries(x); !slices.Equal(got, want) {
				t.Fatalf("entries differ:\n got %v\nwant %v", got, want)
			}
			if err := x.SanityCheck(); err != nil {
				t.Fatal(err)
			}
			for _, w := range want {
				for d := int64(0); d < 3; d++ {
					if got := x.Lookup(w.Offset + d); got != w {
						t.Fatalf("Lookup(%d) = %v, want %v", w.Offset+d, got, w)
					}
				}
				for d := int32(0); d < 3; d++ {
					if got := x.LookupPosition(w.Position + d); got != w {
						t.Fatalf("LookupPosition(%d) = %v, want %v", w.Position+d, got, w)
					}
				}
			}
			if got := x.LastEntry(); got != want[len(want)-1] {
				t.Fatalf("LastEntry = %v", got)
			}
		}
		check(x)
		if err := x.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, fs, path); got != 800 {
			t.Fatalf("trimmed size %d, want 800", got)
		}
		x = mustOffsetIndex(t, fs, path, base, 1000)
		check(x)
		if !x.IsFull() || x.MaxEntries() != 100 {
			t.Fatalf("reopened trimmed index: full %v max %d", x.IsFull(), x.MaxEntries())
		}
		if err := x.Append(base+1000, 1<<30); !errors.Is(err, ErrFull) {
			t.Fatalf("Append to trimmed index: %v, want ErrFull", err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOffsetIndexTrimKeepsMapping(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		x := mustOffsetIndex(t, fs, OffsetIndexPath(dir, 0), 0, DefaultMaxIndexSize)
		for i := int64(1); i <= 10; i++ {
			if err := x.Append(i*10, int32(i*100)); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.TrimToValidSize(); err != nil {
			t.Fatal(err)
		}
		if err := x.TrimToValidSize(); err != nil { // idempotent
			t.Fatal(err)
		}
		if got := fileSize(t, fs, x.Path()); got != 80 {
			t.Fatalf("size %d", got)
		}
		if got := x.Lookup(55); got != (Entry{50, 500}) {
			t.Fatalf("Lookup after trim = %v", got)
		}
		if !x.IsFull() {
			t.Fatal("trimmed index not full")
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOffsetIndexReopenUntrimmed reopens a preallocated file that was never trimmed, as after
// kill -9, and keeps appending.
func TestOffsetIndexReopenUntrimmed(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		cases := []struct {
			name string
			in   []Entry
			want []Entry
		}{
			{"empty", nil, nil},
			{"first entry is (base, 0)", []Entry{{100, 0}, {105, 4000}, {107, 9000}}, []Entry{{100, 0}, {105, 4000}, {107, 9000}}},
			{"lone (base, 0) reads as empty", []Entry{{100, 0}}, nil},
			{"lone entry", []Entry{{101, 0}}, []Entry{{101, 0}}},
			{"many", nil, nil},
		}
		for i := int64(0); i < 300; i++ {
			cases[4].in = append(cases[4].in, Entry{100 + i, int32(i * 10)})
		}
		cases[4].want = cases[4].in
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				path := OffsetIndexPath(dir, int64(i))
				x := mustOffsetIndex(t, fs, path, 100, 4096)
				for _, e := range c.in {
					if err := x.Append(e.Offset, e.Position); err != nil {
						t.Fatal(err)
					}
				}
				x.abandon()
				x = mustOffsetIndex(t, fs, path, 100, 4096)
				defer x.Close()
				if got := offsetEntries(x); !slices.Equal(got, c.want) {
					t.Fatalf("reopened entries %v, want %v", got, c.want)
				}
				if x.MaxEntries() != 512 {
					t.Fatalf("MaxEntries %d, want 512", x.MaxEntries())
				}
				if err := x.SanityCheck(); err != nil {
					t.Fatal(err)
				}
				last := x.LastEntry()
				if err := x.Append(last.Offset+1000, last.Position+1000); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}

// TestOffsetIndexTornLastEntry reopens a file whose last append was torn (half its bytes).
func TestOffsetIndexTornLastEntry(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		path := OffsetIndexPath(dir, 0)
		x := mustOffsetIndex(t, fs, path, 0, 4096)
		for i := int64(1); i <= 5; i++ {
			if err := x.Append(i, int32(i*100)); err != nil {
				t.Fatal(err)
			}
		}
		x.mmap[5*8+3] = 9 // relative offset 9 written, position still 0
		x.abandon()
		x = mustOffsetIndex(t, fs, path, 0, 4096)
		defer x.Close()
		if x.Entries() != 5 {
			t.Fatalf("entries %d, want 5", x.Entries())
		}
		if err := x.Append(6, 600); err != nil {
			t.Fatal(err)
		}
		if err := x.SanityCheck(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOffsetIndexTruncateTo(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		const base = 50
		path := OffsetIndexPath(dir, base)
		x := mustOffsetIndex(t, fs, path, base, 4096)
		fill := func() {
			if err := x.TruncateTo(0); err != nil {
				t.Fatal(err)
			}
			for i := int64(0); i < 10; i++ { // offsets 50, 60, ..., 140
				if err := x.Append(base+i*10, int32(i*100)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range []struct {
			to   int64
			want int
		}{
			{math.MinInt64, 0}, {0, 0}, {base, 0}, {base + 1, 1}, {base + 10, 1}, {base + 11, 2},
			{140, 9}, {141, 10}, {1 << 40, 10}, {math.MaxInt64, 10},
		} {
			fill()
			if err := x.TruncateTo(c.to); err != nil {
				t.Fatal(err)
			}
			if x.Entries() != c.want {
				t.Fatalf("TruncateTo(%d): %d entries, want %d", c.to, x.Entries(), c.want)
			}
			if c.want > 0 {
				if got := x.LastEntry().Offset; got >= c.to {
					t.Fatalf("TruncateTo(%d) kept offset %d", c.to, got)
				}
			}
		}
		fill()
		if err := x.TruncateTo(95); err != nil { // keeps 50..90
			t.Fatal(err)
		}
		if got := x.Lookup(1000); got != (Entry{90, 400}) {
			t.Fatalf("Lookup after truncate = %v", got)
		}
		if err := x.Append(95, 450); err != nil {
			t.Fatal(err)
		}
		// The dropped slots were zeroed: a crash does not bring them back.
		x.abandon()
		x = mustOffsetIndex(t, fs, path, base, 4096)
		defer x.Close()
		want := []Entry{{50, 0}, {60, 100}, {70, 200}, {80, 300}, {90, 400}, {95, 450}}
		if got := offsetEntries(x); !slices.Equal(got, want) {
			t.Fatalf("after crash: %v, want %v", got, want)
		}
	})
}

func TestOffsetIndexFull(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		x := mustOffsetIndex(t, fs, OffsetIndexPath(dir, 0), 0, 3*8+5)
		defer x.Close()
		if fileSize(t, fs, x.Path()) != 24 || x.MaxEntries() != 3 {
			t.Fatalf("size %d max %d", fileSize(t, fs, x.Path()), x.MaxEntries())
		}
		for i := int64(1); i <= 3; i++ {
			if x.IsFull() {
				t.Fatalf("full after %d entries", i-1)
			}
			if err := x.Append(i, int32(i)); err != nil {
				t.Fatal(err)
			}
		}
		if !x.IsFull() {
			t.Fatal("not full")
		}
		if err := x.Append(4, 4); !errors.Is(err, ErrFull) {
			t.Fatalf("Append to full index: %v", err)
		}
		if err := x.SanityCheck(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestOffsetIndexAppendErrors(t *testing.T) {
	fs := vfs.NewMemFS()
	const base = 1000
	x := mustOffsetIndex(t, fs, "/0.index", base, 4096)
	defer x.Close()
	if err := x.Append(base-1, 0); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("offset below base: %v", err)
	}
	if err := x.Append(base+math.MaxInt32+1, 0); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("relative offset overflow: %v", err)
	}
	if err := x.Append(base, -1); !errors.Is(err, ErrNotIncreasing) {
		t.Fatalf("negative position: %v", err)
	}
	if err := x.Append(base+10, 100); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		off int64
		pos int32
	}{{base + 10, 200}, {base + 9, 200}, {base + 11, 100}, {base + 11, 99}} {
		if err := x.Append(c.off, c.pos); !errors.Is(err, ErrNotIncreasing) {
			t.Fatalf("Append(%d, %d): %v, want ErrNotIncreasing", c.off, c.pos, err)
		} else if !strings.Contains(err.Error(), "/0.index") {
			t.Fatalf("error does not name the file: %v", err)
		}
	}
	if err := x.Append(base+math.MaxInt32, math.MaxInt32); err != nil {
		t.Fatalf("largest relative offset: %v", err)
	}
	if x.Entries() != 2 {
		t.Fatalf("entries %d", x.Entries())
	}
}

func TestOffsetIndexLookupEdges(t *testing.T) {
	fs := vfs.NewMemFS()
	const base = 1 << 40
	x := mustOffsetIndex(t, fs, "/a.index", base, 1<<20)
	defer x.Close()
	none := Entry{Offset: base}
	for _, o := range []int64{math.MinInt64, -1, 0, base, base + 1, math.MaxInt64} {
		if got := x.Lookup(o); got != none {
			t.Fatalf("empty Lookup(%d) = %v", o, got)
		}
	}
	for _, p := range []int32{math.MinInt32, -1, 0, 1, math.MaxInt32} {
		if got := x.LookupPosition(p); got != none {
			t.Fatalf("empty LookupPosition(%d) = %v", p, got)
		}
	}
	if got := x.LastEntry(); got != none {
		t.Fatalf("empty LastEntry = %v", got)
	}
	// Enough entries to exercise the warm-tail search (1024 entries per 8 KiB).
	const n = 5000
	for i := int64(0); i < n; i++ {
		if err := x.Append(base+5+i*2, int32(10+i*7)); err != nil {
			t.Fatal(err)
		}
	}
	first, last := Entry{base + 5, 10}, Entry{base + 5 + (n-1)*2, 10 + (n-1)*7}
	for _, c := range []struct {
		o    int64
		want Entry
	}{
		{math.MinInt64, none}, {base, none}, {base + 4, none}, {base + 5, first}, {base + 6, first},
		{last.Offset, last}, {last.Offset - 1, Entry{last.Offset - 2, last.Position - 7}},
		{math.MaxInt64, last},
	} {
		if got := x.Lookup(c.o); got != c.want {
			t.Fatalf("Lookup(%d) = %v, want %v", c.o, got, c.want)
		}
	}
	for _, c := range []struct {
		p    int32
		want Entry
	}{
		{math.MinInt32, none}, {9, none}, {10, first}, {16, first}, {17, Entry{base + 7, 17}},
		{last.Position, last}, {math.MaxInt32, last},
	} {
		if got := x.LookupPosition(c.p); got != c.want {
			t.Fatalf("LookupPosition(%d) = %v, want %v", c.p, got, c.want)
		}
	}
	for i := int64(0); i < n; i++ {
		e := Entry{base + 5 + i*2, int32(10 + i*7)}
		if got := x.Lookup(e.Offset + 1); got != e {
			t.Fatalf("Lookup(%d) = %v, want %v", e.Offset+1, got, e)
		}
		if got := x.LookupPosition(e.Position + 6); got != e {
			t.Fatalf("LookupPosition(%d) = %v, want %v", e.Position+6, got, e)
		}
	}
}

func TestOffsetIndexSanityCheckReportsEntry(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		path := OffsetIndexPath(dir, 0)
		x := mustOffsetIndex(t, fs, path, 0, 4096)
		for i := int64(1); i <= 10; i++ {
			if err := x.Append(i, int32(i*100)); err != nil {
				t.Fatal(err)
			}
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := fs.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte{0, 0, 0, 1}, 4*8); err != nil { // entry 4: relative offset 1
			t.Fatal(err)
		}
		f.Close()
		x = mustOffsetIndex(t, fs, path, 0, 4096)
		defer x.Close()
		err = x.SanityCheck()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "entry 4") || !strings.Contains(err.Error(), path) {
			t.Fatalf("SanityCheck = %v", err)
		}
	})
}

func TestClosedIndex(t *testing.T) {
	fs := vfs.NewMemFS()
	x := mustOffsetIndex(t, fs, "/c.index", 7, 4096)
	y := mustTimeIndex(t, fs, "/c.timeindex", 7, 4096)
	if err := x.Append(8, 1); err != nil {
		t.Fatal(err)
	}
	if err := y.Append(5, 8); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := y.Close(); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{x.Close(), x.Append(9, 2), x.Sync(), x.TruncateTo(0), x.TrimToValidSize(), x.SanityCheck(),
		y.Close(), y.Append(6, 9), y.Sync(), y.TruncateTo(0), y.TrimToValidSize(), y.SanityCheck()} {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
	}
	if got := x.Lookup(100); got != (Entry{Offset: 7}) {
		t.Fatalf("Lookup after Close = %v", got)
	}
	if got := y.Lookup(100); got != (TimestampOffset{NoTimestamp, 7}) {
		t.Fatalf("Lookup after Close = %v", got)
	}
}

func TestOpenArguments(t *testing.T) {
	fs := vfs.NewMemFS()
	if _, err := OpenOffsetIndex(fs, "/x.index", -1, 4096); err == nil {
		t.Fatal("negative base offset accepted")
	}
	if _, err := OpenOffsetIndex(fs, "/x.index", 0, 7); err == nil {
		t.Fatal("max size below one entry accepted")
	}
	if _, err := OpenTimeIndex(fs, "/x.timeindex", 0, 11); err == nil {
		t.Fatal("max size below one entry accepted")
	}
	if _, err := OpenOffsetIndex(fs, "/nodir/x.index", 0, 4096); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestAllocs(t *testing.T) {
	fs := vfs.NewMemFS()
	x := mustOffsetIndex(t, fs, "/a.index", 0, 1<<20)
	y := mustTimeIndex(t, fs, "/a.timeindex", 0, 1<<20)
	defer x.Close()
	defer y.Close()
	for i := int64(0); i < 10000; i++ {
		x.Append(i*3, int32(i*100))
		y.Append(1e12+i*10, i*3)
	}
	var sink int64
	check := func(name string, f func()) {
		t.Helper()
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s allocates %v times per run", name, a)
		}
	}
	check("OffsetIndex.Lookup", func() { sink += x.Lookup(12345).Offset })
	check("OffsetIndex.LookupPosition", func() { sink += x.LookupPosition(12345).Offset })
	check("TimeIndex.Lookup", func() { sink += y.Lookup(1e12 + 12345).Offset })
	check("LastEntry", func() { sink += x.LastEntry().Offset + y.LastEntry().Offset })
	off := int64(1 << 20)
	check("OffsetIndex.Append", func() {
		off++
		if err := x.Append(off, int32(off)); err != nil {
			t.Fatal(err)
		}
	})
	check("TimeIndex.Append", func() {
		off++
		if err := y.Append(2e12+off, off); err != nil {
			t.Fatal(err)
		}
	})
	_ = sink
}

// TestResize reopens a trimmed index as the active one, as the engine does after a clean
// restart, and checks that Resize never drops entries.
func TestResize(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		p, q := OffsetIndexPath(dir, 0), TimeIndexPath(dir, 0)
		x := mustOffsetIndex(t, fs, p, 0, 4096)
		y := mustTimeIndex(t, fs, q, 0, 4096)
		for i := int64(1); i <= 20; i++ {
			x.Append(i, int32(i))
			y.Append(i, i)
		}
		x.Close()
		y.Close()
		x = mustOffsetIndex(t, fs, p, 0, 4096)
		y = mustTimeIndex(t, fs, q, 0, 4096)
		defer x.Close()
		defer y.Close()
		if !x.IsFull() || !y.IsFull() {
			t.Fatal("trimmed index not full")
		}
		if err := x.Resize(4096 + 3); err != nil {
			t.Fatal(err)
		}
		if err := y.Resize(4096); err != nil {
			t.Fatal(err)
		}
		if x.MaxEntries() != 512 || y.MaxEntries() != 341 || fileSize(t, fs, p) != 4096 || fileSize(t, fs, q) != 4092 {
			t.Fatalf("after Resize: %d and %d slots", x.MaxEntries(), y.MaxEntries())
		}
		if err := x.Append(21, 21); err != nil {
			t.Fatal(err)
		}
		if err := y.Append(21, 21); err != nil {
			t.Fatal(err)
		}
		if err := x.Resize(0); err != nil { // never below the entries
			t.Fatal(err)
		}
		if x.Entries() != 21 || x.MaxEntries() != 21 || x.Lookup(100) != (Entry{21, 21}) {
			t.Fatalf("Resize(0): %d entries, %d slots, last %v", x.Entries(), x.MaxEntries(), x.LastEntry())
		}
		if err := x.SanityCheck(); err != nil {
			t.Fatal(err)
		}
		// An untrimmed (crashed) file reopened and resized keeps its entries too.
		x.Resize(4096)
		x.abandon()
		x = mustOffsetIndex(t, fs, p, 0, 4096)
		if x.Entries() != 21 {
			t.Fatalf("reopened: %d entries", x.Entries())
		}
	})
}
