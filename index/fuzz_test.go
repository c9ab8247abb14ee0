package index

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// FuzzOpenIndex opens arbitrary file bytes as both index formats: Open, SanityCheck, lookups,
// Append, TruncateTo, TrimToValidSize, Close and reopen must never panic, and on files that pass
// SanityCheck every lookup must match a linear scan.
func FuzzOpenIndex(f *testing.F) {
	f.Add([]byte{}, int64(0))
	f.Add([]byte{1, 2, 3}, int64(5))
	f.Add(make([]byte, 64), int64(0))
	valid := make([]byte, 0, 96)
	for i := uint32(0); i < 8; i++ {
		valid = binary.BigEndian.AppendUint32(valid, i*3)
		valid = binary.BigEndian.AppendUint32(valid, i*100)
	}
	f.Add(valid, int64(1000))
	f.Add(append(valid, make([]byte, 40)...), int64(1000)) // preallocated tail
	f.Add(valid[:len(valid)-3], int64(7))                  // odd length
	ts := make([]byte, 0, 96)
	for i := uint64(0); i < 6; i++ {
		ts = binary.BigEndian.AppendUint64(ts, 1_700_000_000_000+i*1000)
		ts = binary.BigEndian.AppendUint32(ts, uint32(i*2))
	}
	f.Add(append(ts, make([]byte, 24)...), int64(1<<40))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, int64(1))
	f.Fuzz(func(t *testing.T, data []byte, base int64) {
		if base < 0 {
			base = -(base + 1)
		}
		base %= 1 << 62
		if len(data) > 64<<10 { // larger files add run time, not coverage
			data = data[:64<<10]
		}
		fs := vfs.NewMemFS()
		rng := rand.New(rand.NewPCG(uint64(len(data)), uint64(base)))
		writeFile(t, fs, "/f.index", data)
		if x, err := OpenOffsetIndex(fs, "/f.index", base, 4096); err == nil {
			exerciseOffsetIndex(t, fs, x, rng)
		}
		writeFile(t, fs, "/f.timeindex", data)
		if x, err := OpenTimeIndex(fs, "/f.timeindex", base, 4096); err == nil {
			exerciseTimeIndex(t, fs, x, rng)
		}
	})
}
