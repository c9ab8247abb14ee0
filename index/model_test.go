package index

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// indexModel is the dumb model of a pair of indexes: sorted slices and a capacity.
type indexModel struct {
	base   int64
	off    []Entry
	offCap int
	ts     []TimestampOffset
	tsCap  int
}

func (m *indexModel) appendOffset(o int64, p int32) error {
	switch {
	case len(m.off) >= m.offCap:
		return ErrFull
	case o < m.base || o-m.base > math.MaxInt32:
		return ErrOffsetOverflow
	case len(m.off) == 0 && p < 0:
		return ErrNotIncreasing
	case len(m.off) > 0 && (o <= m.off[len(m.off)-1].Offset || p <= m.off[len(m.off)-1].Position):
		return ErrNotIncreasing
	}
	m.off = append(m.off, Entry{o, p})
	return nil
}

func (m *indexModel) appendTime(ts, o int64) error {
	last := TimestampOffset{NoTimestamp, m.base}
	if len(m.ts) > 0 {
		last = m.ts[len(m.ts)-1]
	}
	switch {
	case len(m.ts) >= m.tsCap:
		return ErrFull
	case o < m.base || o-m.base > math.MaxInt32:
		return ErrOffsetOverflow
	case len(m.ts) > 0 && o < last.Offset:
		return ErrNotIncreasing
	case ts <= last.Timestamp:
		return nil
	}
	m.ts = append(m.ts, TimestampOffset{ts, o})
	return nil
}

func (m *indexModel) truncate(o int64) {
	for len(m.off) > 0 && m.off[len(m.off)-1].Offset >= o {
		m.off = m.off[:len(m.off)-1]
	}
	for len(m.ts) > 0 && m.ts[len(m.ts)-1].Offset >= o {
		m.ts = m.ts[:len(m.ts)-1]
	}
}

// reopened applies the lone all-zero entry rule.
func (m *indexModel) reopened() {
	if len(m.off) == 1 && m.off[0] == (Entry{Offset: m.base}) {
		m.off = nil
	}
	if len(m.ts) == 1 && m.ts[0] == (TimestampOffset{0, m.base}) {
		m.ts = nil
	}
}

func (m *indexModel) lookup(o int64) Entry {
	e := Entry{Offset: m.base}
	for _, x := range m.off {
		if x.Offset <= o {
			e = x
		}
	}
	return e
}

func (m *indexModel) lookupPosition(p int32) Entry {
	e := Entry{Offset: m.base}
	for _, x := range m.off {
		if x.Position <= p {
			e = x
		}
	}
	return e
}

func (m *indexModel) lookupTime(ts int64) TimestampOffset {
	e := TimestampOffset{NoTimestamp, m.base}
	for _, x := range m.ts {
		if x.Timestamp < ts {
			e = x
		}
	}
	return e
}

func TestModel(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		for round := 0; round < 30; round++ {
			runModel(t, rng, fs, dir, round)
		}
	})
}

func runModel(t *testing.T, rng *rand.Rand, fs vfs.FS, dir string, round int) {
	base := int64(0)
	if rng.IntN(2) == 0 {
		base = rng.Int64N(1 << 40)
	}
	offMax := OffsetEntrySize*(1+rng.IntN(64)) + rng.IntN(OffsetEntrySize)
	tsMax := TimeEntrySize*(1+rng.IntN(64)) + rng.IntN(TimeEntrySize)
	m := &indexModel{base: base, offCap: offMax / OffsetEntrySize, tsCap: tsMax / TimeEntrySize}
	op := OffsetIndexPath(dir, int64(round))
	tp := TimeIndexPath(dir, int64(round))
	x := mustOffsetIndex(t, fs, op, base, offMax)
	y := mustTimeIndex(t, fs, tp, base, tsMax)
	if mem, ok := fs.(*vfs.MemFS); ok {
		if err := mem.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	reopen := func(crash bool) {
		if crash {
			if mem, ok := fs.(*vfs.MemFS); ok {
				if err := x.Sync(); err != nil {
					t.Fatal(err)
				}
				if err := y.Sync(); err != nil {
					t.Fatal(err)
				}
				mem.Crash(nil)
			} else {
				x.abandon()
				y.abandon()
			}
		} else {
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if err := y.Close(); err != nil {
				t.Fatal(err)
			}
			m.offCap, m.tsCap = len(m.off), len(m.ts)
		}
		m.reopened()
		x = mustOffsetIndex(t, fs, op, base, offMax)
		y = mustTimeIndex(t, fs, tp, base, tsMax)
	}
	jitter := func() int64 { // mostly increasing, sometimes not
		if rng.IntN(8) == 0 {
			return rng.Int64N(3) - 1
		}
		return 1 + rng.Int64N(5)
	}
	for step := 0; step < 400; step++ {
		what := ""
		switch r := rng.IntN(100); {
		case r < 35:
			o, p := base+rng.Int64N(3), int32(rng.IntN(3))
			if l := len(m.off); l > 0 {
				o, p = m.off[l-1].Offset+jitter(), m.off[l-1].Position+int32(jitter())
			}
			if rng.IntN(50) == 0 {
				o = base + math.MaxInt32 + rng.Int64N(2)
			}
			what = fmt.Sprintf("OffsetIndex.Append(%d, %d)", o, p)
			want, got := m.appendOffset(o, p), x.Append(o, p)
			if (want == nil) != (got == nil) || (want != nil && !errors.Is(got, want)) {
				t.Fatalf("round %d step %d: %s = %v, model says %v", round, step, what, got, want)
			}
		case r < 65:
			ts, o := rng.Int64N(3), base+rng.Int64N(2)
			if l := len(m.ts); l > 0 {
				ts, o = m.ts[l-1].Timestamp+jitter(), m.ts[l-1].Offset+jitter()-1
			}
			what = fmt.Sprintf("TimeIndex.Append(%d, %d)", ts, o)
			want, got := m.appendTime(ts, o), y.Append(ts, o)
			if (want == nil) != (got == nil) || (want != nil && !errors.Is(got, want)) {
				t.Fatalf("round %d step %d: %s = %v, model says %v", round, step, what, got, want)
			}
		case r < 85:
			hiOff, hiPos, hiTs := base+10, int32(10), int64(10)
			if l := len(m.off); l > 0 {
				hiOff, hiPos = m.off[l-1].Offset+3, m.off[l-1].Position+3
			}
			if l := len(m.ts); l > 0 {
				hiTs = m.ts[l-1].Timestamp + 3
			}
			for range 5 {
				o := base - 2 + rng.Int64N(hiOff-base+3)
				if got, want := x.Lookup(o), m.lookup(o); got != want {
					t.Fatalf("round %d step %d: Lookup(%d) = %v, model says %v", round, step, o, got, want)
				}
				p := int32(rng.Int64N(int64(hiPos)+2)) - 1
				if got, want := x.LookupPosition(p), m.lookupPosition(p); got != want {
					t.Fatalf("round %d step %d: LookupPosition(%d) = %v, model says %v", round, step, p, got, want)
				}
				ts := rng.Int64N(hiTs+2) - 1
				if got, want := y.Lookup(ts), m.lookupTime(ts); got != want {
					t.Fatalf("round %d step %d: TimeIndex.Lookup(%d) = %v, model says %v", round, step, ts, got, want)
				}
			}
		case r < 90:
			hi := base + 10
			if l := len(m.off); l > 0 {
				hi = m.off[l-1].Offset + 3
			}
			o := base - 1 + rng.Int64N(hi-base+2)
			what = fmt.Sprintf("TruncateTo(%d)", o)
			m.truncate(o)
			if err := x.TruncateTo(o); err != nil {
				t.Fatal(err)
			}
			if err := y.TruncateTo(o); err != nil {
				t.Fatal(err)
			}
		case r < 93:
			what = "close and reopen"
			reopen(false)
		case r < 97:
			what = "crash and reopen"
			reopen(true)
		case r < 98:
			what = "TrimToValidSize"
			if err := x.TrimToValidSize(); err != nil {
				t.Fatal(err)
			}
			if err := y.TrimToValidSize(); err != nil {
				t.Fatal(err)
			}
			m.offCap, m.tsCap = len(m.off), len(m.ts)
		default:
			what = "Sync"
			if err := x.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := y.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if got := offsetEntries(x); !slices.Equal(got, m.off) {
			t.Fatalf("round %d step %d after %s: offset index %v, model %v", round, step, what, got, m.off)
		}
		if got := timeEntries(y); !slices.Equal(got, m.ts) {
			t.Fatalf("round %d step %d after %s: time index %v, model %v", round, step, what, got, m.ts)
		}
		if x.MaxEntries() != m.offCap || y.MaxEntries() != m.tsCap {
			t.Fatalf("round %d step %d after %s: capacity %d/%d, model %d/%d", round, step, what, x.MaxEntries(), y.MaxEntries(), m.offCap, m.tsCap)
		}
		if err := x.SanityCheck(); err != nil {
			t.Fatal(err)
		}
		if err := y.SanityCheck(); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := y.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentReaders runs lookups while one writer appends, truncates and trims. Every
// entry the writer appends satisfies Position = 10*(Offset-base) and Timestamp =
// 3*(Offset-base), so a torn entry would show.
func TestConcurrentReaders(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		const base, n = 1000, 20000
		x := mustOffsetIndex(t, fs, OffsetIndexPath(dir, base), base, DefaultMaxIndexSize)
		y := mustTimeIndex(t, fs, TimeIndexPath(dir, base), base, DefaultMaxIndexSize)
		_, memFS := fs.(*vfs.MemFS)
		var wg sync.WaitGroup
		done := make(chan struct{})
		errc := make(chan error, 8)
		for r := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), 9))
				for {
					select {
					case <-done:
						return
					default:
					}
					o := base + rng.Int64N(n+10)
					if e := x.Lookup(o); e.Offset > o || int64(e.Position) != 10*(e.Offset-base) {
						errc <- fmt.Errorf("Lookup(%d) = %v", o, e)
						return
					}
					p := int32(rng.IntN(10 * (n + 10)))
					if e := x.LookupPosition(p); e.Position > p || int64(e.Position) != 10*(e.Offset-base) {
						errc <- fmt.Errorf("LookupPosition(%d) = %v", p, e)
						return
					}
					ts := rng.Int64N(3 * (n + 10))
					if e := y.Lookup(ts); e.Timestamp >= ts || (e.Timestamp != NoTimestamp && e.Timestamp != 3*(e.Offset-base)) {
						errc <- fmt.Errorf("TimeIndex.Lookup(%d) = %v", ts, e)
						return
					}
					if e := x.LastEntry(); int64(e.Position) != 10*(e.Offset-base) {
						errc <- fmt.Errorf("LastEntry = %v", e)
						return
					}
				}
			}()
		}
		if !memFS { // MemFS's Sync copies the mapping: a data race with Append by design
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					if err := x.Sync(); err != nil {
						errc <- err
						return
					}
					time.Sleep(100 * time.Microsecond)
				}
			}()
		}
		truncated := false
		for i := int64(1); i < n; i++ {
			if err := x.Append(base+i, int32(10*i)); err != nil {
				t.Fatal(err)
			}
			if err := y.Append(3*i, base+i); err != nil {
				t.Fatal(err)
			}
			if i == n/2 && !truncated {
				truncated = true
				if err := x.TruncateTo(base + n/4); err != nil {
					t.Fatal(err)
				}
				if err := y.TruncateTo(base + n/4); err != nil {
					t.Fatal(err)
				}
				i = n/4 - 1
			}
		}
		if err := x.TrimToValidSize(); err != nil {
			t.Fatal(err)
		}
		if err := y.TrimToValidSize(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		close(done)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		if err := x.Close(); err != nil {
			t.Fatal(err)
		}
		if err := y.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
