package index

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

func TestTimeIndexRoundTrip(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		const base = 500
		path := TimeIndexPath(dir, base)
		x := mustTimeIndex(t, fs, path, base, 1000) // 83 slots
		if got := fileSize(t, fs, path); got != 996 {
			t.Fatalf("preallocated size %d, want 996", got)
		}
		if x.MaxEntries() != 83 {
			t.Fatalf("MaxEntries %d", x.MaxEntries())
		}
		var want []TimestampOffset
		for i := int64(0); i < 80; i++ {
			e := TimestampOffset{Timestamp: 1_700_000_000_000 + i*1000, Offset: base + i*5}
			if err := x.Append(e.Timestamp, e.Offset); err != nil {
				t.Fatal(err)
			}
			want = append(want, e)
		}
		check := func(x *TimeIndex) {
			t.Helper()
			if got := timeEntries(x); !slices.Equal(got, want) {
				t.Fatalf("entries differ:\n got %v\nwant %v", got, want)
			}
			if err := x.SanityCheck(); err != nil {
				t.Fatal(err)
			}
			for i, w := range want {
				if got := x.Lookup(w.Timestamp + 1); got != w {
					t.Fatalf("Lookup(%d) = %v, want %v", w.Timestamp+1, got, w)
				}
				prev := TimestampOffset{NoTimestamp, base}
				if i > 0 {
					prev = want[i-1]
				}
				if got := x.Lookup(w.Timestamp); got != prev {
					t.Fatalf("Lookup(%d) = %v, want %v (strictly below)", w.Timestamp, got, prev)
				}
			}
			if got := x.LastEntry(); got != want[len(want)-1] {
				t.Fatalf("LastEntry = %v", got)
			}
		}
		check(x)
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if got := fileSize(t, fs, path); got != 80*12 {
			t.Fatalf("trimmed size %d", got)
		}
		x = mustTimeIndex(t, fs, path, base, 1000)
		defer x.Close()
		check(x)
		if !x.IsFull() {
			t.Fatal("trimmed index not full")
		}
		if err := x.Append(2e12, base+1000); !errors.Is(err, ErrFull) {
			t.Fatalf("Append to trimmed index: %v", err)
		}
	})
}

func TestTimeIndexAppendRules(t *testing.T) {
	fs := vfs.NewMemFS()
	x := mustTimeIndex(t, fs, "/t.timeindex", 100, 4096)
	defer x.Close()
	// Negative timestamps are never indexed (not > NoTimestamp).
	if err := x.Append(-1, 100); err != nil || x.Entries() != 0 {
		t.Fatalf("Append(-1): %v, %d entries", err, x.Entries())
	}
	if err := x.Append(50, 99); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("offset below base: %v", err)
	}
	if err := x.Append(50, 100+math.MaxInt32+1); !errors.Is(err, ErrOffsetOverflow) {
		t.Fatalf("overflow: %v", err)
	}
	if err := x.Append(1000, 110); err != nil {
		t.Fatal(err)
	}
	// Not larger: ignored without error.
	for _, ts := range []int64{1000, 999, 0, math.MinInt64} {
		if err := x.Append(ts, 120); err != nil || x.Entries() != 1 {
			t.Fatalf("Append(%d): %v, %d entries", ts, err, x.Entries())
		}
	}
	// Offset going backwards is a caller bug, whatever the timestamp.
	for _, ts := range []int64{999, 2000} {
		if err := x.Append(ts, 109); !errors.Is(err, ErrNotIncreasing) {
			t.Fatalf("Append(%d, 109): %v", ts, err)
		}
	}
	// Same offset, larger timestamp: allowed (Kafka's rule).
	if err := x.Append(2000, 110); err != nil || x.Entries() != 2 {
		t.Fatalf("same offset: %v, %d entries", err, x.Entries())
	}
	if err := x.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	// Full is reported first, even for an append that would be ignored.
	y := mustTimeIndex(t, fs, "/u.timeindex", 0, 12)
	defer y.Close()
	if err := y.Append(5, 1); err != nil {
		t.Fatal(err)
	}
	if err := y.Append(1, 2); !errors.Is(err, ErrFull) {
		t.Fatalf("full: %v", err)
	}
}

func TestTimeIndexLookupEdges(t *testing.T) {
	fs := vfs.NewMemFS()
	const base = 77
	x := mustTimeIndex(t, fs, "/t.timeindex", base, 1<<20)
	defer x.Close()
	none := TimestampOffset{NoTimestamp, base}
	for _, ts := range []int64{math.MinInt64, -1, 0, 1, math.MaxInt64} {
		if got := x.Lookup(ts); got != none {
			t.Fatalf("empty Lookup(%d) = %v", ts, got)
		}
	}
	if got := x.LastEntry(); got != none {
		t.Fatalf("empty LastEntry = %v", got)
	}
	const n = 3000 // > 682 entries in the 8 KiB warm tail
	for i := int64(0); i < n; i++ {
		if err := x.Append(i*10, base+i/2); err != nil { // offsets repeat: non-decreasing
			t.Fatal(err)
		}
	}
	if err := x.SanityCheck(); err != nil {
		t.Fatal(err)
	}
	last := TimestampOffset{(n - 1) * 10, base + (n-1)/2}
	for _, c := range []struct {
		ts   int64
		want TimestampOffset
	}{
		{math.MinInt64, none}, {0, none}, {1, TimestampOffset{0, base}}, {10, TimestampOffset{0, base}},
		{11, TimestampOffset{10, base}}, {last.Timestamp, TimestampOffset{last.Timestamp - 10, base + (n-2)/2}},
		{last.Timestamp + 1, last}, {math.MaxInt64, last},
	} {
		if got := x.Lookup(c.ts); got != c.want {
			t.Fatalf("Lookup(%d) = %v, want %v", c.ts, got, c.want)
		}
	}
	for i := int64(0); i < n; i++ {
		want := TimestampOffset{i * 10, base + i/2}
		if got := x.Lookup(i*10 + 5); got != want {
			t.Fatalf("Lookup(%d) = %v, want %v", i*10+5, got, want)
		}
	}
	// TruncateTo with repeated offsets drops every entry at or after the offset.
	if err := x.TruncateTo(base + 10); err != nil {
		t.Fatal(err)
	}
	if x.Entries() != 20 || x.LastEntry() != (TimestampOffset{190, base + 9}) {
		t.Fatalf("after TruncateTo: %d entries, last %v", x.Entries(), x.LastEntry())
	}
}

// TestTimeIndexEarliestOffset checks the contract Lookup exists for: scanning the log from
// the batch holding the returned offset finds the earliest record with timestamp >= target.
// The writer here indexes every other batch with the running maximum timestamp and the last
// offset of the latest batch reaching it (>=), so a record before an entry's offset may carry
// the entry's timestamp: Kafka's "<=" lookup misses it, "<" does not.
func TestTimeIndexEarliestOffset(t *testing.T) {
	fs := vfs.NewMemFS()
	x := mustTimeIndex(t, fs, "/e.timeindex", 0, 1<<16)
	defer x.Close()
	// Records: offset -> timestamp; batches of 3 records, timestamps out of order, repeats.
	ts := []int64{5, 9, 2, 9, 7, 1, 12, 3, 12, 20, 14, 20, 21, 21, 21, 4, 4, 4}
	max, maxOff := NoTimestamp, int64(0)
	for b, last := 0, 2; last < len(ts); b, last = b+1, last+3 {
		for _, v := range ts[last-2 : last+1] {
			if v >= max {
				max, maxOff = v, int64(last)
			}
		}
		if b%2 == 1 {
			if err := x.Append(max, maxOff); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries := timeEntries(x)
	scan := func(start, target int64) int64 {
		for o := start - start%3; o < int64(len(ts)); o++ {
			if ts[o] >= target {
				return o
			}
		}
		return -1
	}
	kafkaMisses := 0
	for target := int64(0); target <= 22; target++ {
		want := scan(0, target)
		if got := scan(x.Lookup(target).Offset, target); got != want {
			t.Fatalf("target %d: scan from %v finds %d, want %d", target, x.Lookup(target), got, want)
		}
		le := int64(0) // Kafka's rule: largest entry with timestamp <= target
		for _, e := range entries {
			if e.Timestamp <= target {
				le = e.Offset
			}
		}
		if scan(le, target) != want {
			kafkaMisses++
		}
	}
	if kafkaMisses == 0 {
		t.Fatal("test lost its teeth: the <= rule finds every record too")
	}
}

func TestTimeIndexReopenUntrimmed(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		for i, c := range []struct {
			name string
			in   []TimestampOffset
			want []TimestampOffset
		}{
			{"empty", nil, nil},
			{"lone (0, base) reads as empty", []TimestampOffset{{0, 9}}, nil},
			{"first is (0, base)", []TimestampOffset{{0, 9}, {1, 9}, {5, 20}}, []TimestampOffset{{0, 9}, {1, 9}, {5, 20}}},
			{"three", []TimestampOffset{{100, 10}, {200, 15}, {300, 20}}, []TimestampOffset{{100, 10}, {200, 15}, {300, 20}}},
		} {
			t.Run(c.name, func(t *testing.T) {
				path := TimeIndexPath(dir, int64(i))
				x := mustTimeIndex(t, fs, path, 9, 1200)
				for _, e := range c.in {
					if err := x.Append(e.Timestamp, e.Offset); err != nil {
						t.Fatal(err)
					}
				}
				x.abandon()
				x = mustTimeIndex(t, fs, path, 9, 1200)
				defer x.Close()
				if got := timeEntries(x); !slices.Equal(got, c.want) {
					t.Fatalf("reopened %v, want %v", got, c.want)
				}
				if x.MaxEntries() != 100 {
					t.Fatalf("MaxEntries %d", x.MaxEntries())
				}
				if err := x.SanityCheck(); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
}
