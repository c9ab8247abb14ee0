package index

import (
	"math/rand/v2"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

const benchEntries = 100_000

func BenchmarkOffsetIndexLookup(b *testing.B) {
	for _, c := range []struct {
		name string
		fs   func(b *testing.B) (vfs.FS, string)
	}{
		{"os", func(b *testing.B) (vfs.FS, string) { return vfs.Default, b.TempDir() }},
		{"mem", func(b *testing.B) (vfs.FS, string) { return vfs.NewMemFS(), "/" }},
	} {
		b.Run(c.name, func(b *testing.B) {
			fs, dir := c.fs(b)
			x := mustOffsetIndex(b, fs, OffsetIndexPath(dir, 0), 0, DefaultMaxIndexSize)
			defer x.Close()
			for i := int64(0); i < benchEntries; i++ {
				if err := x.Append(i*10, int32(i*4096)); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 1))
			targets := make([]int64, 1<<16)
			for i := range targets {
				targets[i] = rng.Int64N(benchEntries * 10)
			}
			b.Run("random", func(b *testing.B) {
				b.ReportAllocs()
				var sink int32
				for i := 0; b.Loop(); i++ {
					sink += x.Lookup(targets[i&(len(targets)-1)]).Position
				}
				_ = sink
			})
			b.Run("tail", func(b *testing.B) { // consumers at the head of the log: the warm tail
				b.ReportAllocs()
				var sink int32
				for i := 0; b.Loop(); i++ {
					sink += x.Lookup(benchEntries*10 - int64(i&1023)).Position
				}
				_ = sink
			})
			b.Run("position", func(b *testing.B) {
				b.ReportAllocs()
				var sink int64
				for i := 0; b.Loop(); i++ {
					sink += x.LookupPosition(int32(targets[i&(len(targets)-1)] * 409)).Offset
				}
				_ = sink
			})
		})
	}
}

func BenchmarkTimeIndexLookup(b *testing.B) {
	x := mustTimeIndex(b, vfs.Default, TimeIndexPath(b.TempDir(), 0), 0, DefaultMaxIndexSize)
	defer x.Close()
	const t0 = 1_700_000_000_000
	for i := int64(0); i < benchEntries; i++ {
		if err := x.Append(t0+i*100, i*10); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(2, 2))
	targets := make([]int64, 1<<16)
	for i := range targets {
		targets[i] = t0 + rng.Int64N(benchEntries*100)
	}
	b.ReportAllocs()
	var sink int64
	for i := 0; b.Loop(); i++ {
		sink += x.Lookup(targets[i&(len(targets)-1)]).Offset
	}
	_ = sink
}

func BenchmarkOffsetIndexAppend(b *testing.B) {
	x := mustOffsetIndex(b, vfs.Default, OffsetIndexPath(b.TempDir(), 0), 0, DefaultMaxIndexSize)
	defer x.Close()
	b.ReportAllocs()
	b.SetBytes(OffsetEntrySize)
	var n int64
	for b.Loop() {
		if x.IsFull() {
			b.StopTimer()
			if err := x.TruncateTo(0); err != nil {
				b.Fatal(err)
			}
			n = 0
			b.StartTimer()
		}
		n++
		if err := x.Append(n, int32(n)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOffsetIndexLookupParallel measures lookups from every P at once: the cost of the
// shared read lock that keeps the mapping alive.
func BenchmarkOffsetIndexLookupParallel(b *testing.B) {
	x := mustOffsetIndex(b, vfs.Default, OffsetIndexPath(b.TempDir(), 0), 0, DefaultMaxIndexSize)
	defer x.Close()
	for i := int64(0); i < benchEntries; i++ {
		if err := x.Append(i*10, int32(i*4096)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 3))
		var sink int32
		for pb.Next() {
			sink += x.Lookup(rng.Int64N(benchEntries * 10)).Position
		}
		_ = sink
	})
}
