package index

import (
	"errors"
	"math"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// exerciseOffsetIndex runs every operation on an index of unknown content; nothing may panic.
// When SanityCheck passes, lookups must agree with a linear scan, and a trimmed reopen must
// give the same entries.
func exerciseOffsetIndex(t testing.TB, fs vfs.FS, x *OffsetIndex, rng *rand.Rand) {
	base := x.BaseOffset()
	sane := x.SanityCheck() == nil
	es := offsetEntries(x)
	if len(es) != x.Entries() {
		t.Fatalf("At gave %d entries, Entries() = %d", len(es), x.Entries())
	}
	targets := []int64{math.MinInt64, base - 1, base, base + 1, math.MaxInt64}
	positions := []int32{math.MinInt32, -1, 0, 1, math.MaxInt32}
	for _, e := range sample(es, rng) {
		targets = append(targets, e.Offset-1, e.Offset, e.Offset+1)
		positions = append(positions, e.Position-1, e.Position, e.Position+1)
	}
	for _, o := range targets {
		got := x.Lookup(o)
		if !sane {
			continue
		}
		want := Entry{Offset: base}
		for _, e := range es {
			if e.Offset <= o {
				want = e
			}
		}
		if got != want {
			t.Fatalf("Lookup(%d) = %v, linear scan says %v", o, got, want)
		}
	}
	for _, p := range positions {
		got := x.LookupPosition(p)
		if !sane {
			continue
		}
		want := Entry{Offset: base}
		for _, e := range es {
			if e.Position <= p {
				want = e
			}
		}
		if got != want {
			t.Fatalf("LookupPosition(%d) = %v, linear scan says %v", p, got, want)
		}
	}
	last := x.LastEntry()
	x.IsFull()
	if err := x.Append(last.Offset+1, last.Position+1); err == nil && sane {
		es = append(es, Entry{last.Offset + 1, last.Position + 1})
	}
	if len(es) > 0 && rng.IntN(2) == 0 {
		cut := es[rng.IntN(len(es))].Offset
		if err := x.TruncateTo(cut); err != nil {
			t.Fatal(err)
		}
		for len(es) > 0 && es[len(es)-1].Offset >= cut {
			es = es[:len(es)-1]
		}
		if sane && x.Entries() != len(es) {
			t.Fatalf("TruncateTo(%d) left %d entries, want %d", cut, x.Entries(), len(es))
		}
	}
	if err := x.TrimToValidSize(); err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y, err := OpenOffsetIndex(fs, x.Path(), base, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if !sane {
		return
	}
	if len(es) == 1 && es[0] == (Entry{Offset: base}) {
		es = nil // the lone all-zero entry rule
	}
	if got := offsetEntries(y); !slices.Equal(got, es) {
		t.Fatalf("reopened trimmed index: %v, want %v", got, es)
	}
	if err := y.SanityCheck(); err != nil {
		t.Fatal(err)
	}
}

func exerciseTimeIndex(t testing.TB, fs vfs.FS, x *TimeIndex, rng *rand.Rand) {
	base := x.BaseOffset()
	sane := x.SanityCheck() == nil
	es := timeEntries(x)
	if len(es) != x.Entries() {
		t.Fatalf("At gave %d entries, Entries() = %d", len(es), x.Entries())
	}
	targets := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64}
	for _, e := range sample(es, rng) {
		targets = append(targets, e.Timestamp-1, e.Timestamp, e.Timestamp+1)
	}
	for _, ts := range targets {
		got := x.Lookup(ts)
		if !sane {
			continue
		}
		want := TimestampOffset{NoTimestamp, base}
		for _, e := range es {
			if e.Timestamp < ts {
				want = e
			}
		}
		if got != want {
			t.Fatalf("Lookup(%d) = %v, linear scan says %v", ts, got, want)
		}
	}
	last := x.LastEntry()
	x.IsFull()
	if err := x.Append(last.Timestamp+1, last.Offset+1); err == nil && sane {
		es = append(es, TimestampOffset{last.Timestamp + 1, last.Offset + 1})
	}
	if len(es) > 0 && rng.IntN(2) == 0 {
		cut := es[rng.IntN(len(es))].Offset
		if err := x.TruncateTo(cut); err != nil {
			t.Fatal(err)
		}
		for len(es) > 0 && es[len(es)-1].Offset >= cut {
			es = es[:len(es)-1]
		}
		if sane && x.Entries() != len(es) {
			t.Fatalf("TruncateTo(%d) left %d entries, want %d", cut, x.Entries(), len(es))
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	y, err := OpenTimeIndex(fs, x.Path(), base, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	if !sane {
		return
	}
	if len(es) == 1 && es[0] == (TimestampOffset{0, base}) {
		es = nil
	}
	if got := timeEntries(y); !slices.Equal(got, es) {
		t.Fatalf("reopened trimmed index: %v, want %v", got, es)
	}
	if err := y.SanityCheck(); err != nil {
		t.Fatal(err)
	}
}

// sample returns up to 32 elements of s: the first, the last and random ones, so that the
// linear-scan cross-check stays cheap on large files.
func sample[E any](s []E, rng *rand.Rand) []E {
	if len(s) <= 32 {
		return s
	}
	out := []E{s[0], s[len(s)-1]}
	for range 30 {
		out = append(out, s[rng.IntN(len(s))])
	}
	return out
}

func writeFile(t testing.TB, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 {
		if _, err := f.WriteAt(data, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGarbageFiles(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		rng := rand.New(rand.NewPCG(1, 2))
		var files [][]byte
		for _, n := range []int{1, 5, 7, 8, 9, 11, 12, 13, 24, 100, 4095, 4096, 4097, 65539} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			files = append(files, b)
			ff := make([]byte, n)
			for i := range ff {
				ff[i] = 0xff
			}
			files = append(files, ff, make([]byte, n))
			// A valid prefix, then garbage, then zeros.
			v := make([]byte, n)
			for i := 0; i+8 <= n/2; i += 8 {
				v[i+3], v[i+7] = byte(i/8+1), byte(i/8+1)
			}
			for i := n / 2; i < 3*n/4; i++ {
				v[i] = byte(rng.IntN(256))
			}
			files = append(files, v)
		}
		for i, data := range files {
			p := OffsetIndexPath(dir, int64(i))
			writeFile(t, fs, p, data)
			if x, err := OpenOffsetIndex(fs, p, 10, 4096); err == nil {
				exerciseOffsetIndex(t, fs, x, rng)
			}
			p = TimeIndexPath(dir, int64(i))
			writeFile(t, fs, p, data)
			if x, err := OpenTimeIndex(fs, p, 10, 4096); err == nil {
				exerciseTimeIndex(t, fs, x, rng)
			}
		}
	})
}

func TestGarbageSizeMultipleReported(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		p := OffsetIndexPath(dir, 0)
		writeFile(t, fs, p, []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0})
		x := mustOffsetIndex(t, fs, p, 0, 4096)
		defer x.Close()
		if err := x.SanityCheck(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("SanityCheck of an 11-byte file: %v", err)
		}
		if x.Entries() != 1 || x.Lookup(5) != (Entry{1, 1}) {
			t.Fatalf("entries %d, Lookup %v", x.Entries(), x.Lookup(5))
		}
	})
}

func TestAbsurdSize(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		size int64
		ok   bool
	}{{3 << 30, false}, {1<<31 - 5, true}} {
		p := OffsetIndexPath(dir, c.size)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, c.size); err != nil { // sparse
			t.Fatal(err)
		}
		x, err := OpenOffsetIndex(vfs.Default, p, 0, 4096)
		if !c.ok {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("size %d: %v, want ErrCorrupt", c.size, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if x.Entries() != 0 || x.Lookup(100) != (Entry{}) {
			t.Fatalf("entries %d", x.Entries())
		}
		if err := x.SanityCheck(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("SanityCheck: %v", err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Size() != 0 {
			t.Fatalf("size after close %d", fi.Size())
		}
	}
}

// TestMemFSCrash checks that only synced entries survive power loss and that an index whose
// preallocation never became durable reopens as new.
func TestMemFSCrash(t *testing.T) {
	fs := vfs.NewMemFS()
	if err := fs.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	p := OffsetIndexPath("/d", 0)
	q := TimeIndexPath("/d", 0)
	x := mustOffsetIndex(t, fs, p, 0, 4096)
	y := mustTimeIndex(t, fs, q, 0, 4096)
	if err := fs.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	for i := int64(1); i <= 15; i++ {
		if i == 11 {
			if err := x.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := y.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		x.Append(i, int32(i*10))
		y.Append(i*100, i)
	}
	fs.Crash(mrand.New(mrand.NewSource(3)))
	x = mustOffsetIndex(t, fs, p, 0, 4096)
	y = mustTimeIndex(t, fs, q, 0, 4096)
	if x.Entries() != 10 || y.Entries() != 10 || x.MaxEntries() != 512 || y.MaxEntries() != 341 {
		t.Fatalf("after crash: %d/%d and %d/%d entries", x.Entries(), x.MaxEntries(), y.Entries(), y.MaxEntries())
	}
	// Truncate, sync, crash: the truncation survives.
	if err := x.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	if err := y.TruncateTo(4); err != nil {
		t.Fatal(err)
	}
	x.Sync()
	y.Sync()
	fs.Crash(nil)
	x = mustOffsetIndex(t, fs, p, 0, 4096)
	y = mustTimeIndex(t, fs, q, 0, 4096)
	if x.Entries() != 3 || y.Entries() != 3 {
		t.Fatalf("after truncate and crash: %d and %d entries", x.Entries(), y.Entries())
	}
	// Never synced: the file comes back empty, like a trimmed empty index; Resize makes it
	// writable.
	r := OffsetIndexPath("/d", 99)
	z := mustOffsetIndex(t, fs, r, 99, 4096)
	fs.SyncDir("/d")
	z.Append(100, 1)
	fs.Crash(nil)
	z = mustOffsetIndex(t, fs, r, 99, 4096)
	defer z.Close()
	if z.Entries() != 0 || z.MaxEntries() != 0 || !z.IsFull() {
		t.Fatalf("unsynced index: %d entries, %d slots", z.Entries(), z.MaxEntries())
	}
	if err := z.Resize(4096); err != nil {
		t.Fatal(err)
	}
	if z.MaxEntries() != 512 || z.Append(100, 1) != nil {
		t.Fatalf("after Resize: %d slots", z.MaxEntries())
	}
}
