package producer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"runtime"
	"testing"
)

// dump renders every field of s, retained batches oldest first, for comparisons.
type dumpEntry struct {
	epoch   int16
	since   int64
	batches []batchMeta
}

func dump(s *State) map[int64]dumpEntry {
	out := make(map[int64]dumpEntry, len(s.producers))
	for id, e := range s.producers {
		d := dumpEntry{epoch: e.epoch, since: e.since}
		for i := 0; i < int(e.n); i++ {
			d.batches = append(d.batches, *e.at(i))
		}
		out[id] = d
	}
	return out
}

func equalDumps(a, b map[int64]dumpEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for id, x := range a {
		y, ok := b[id]
		if !ok || x.epoch != y.epoch || x.since != y.since || len(x.batches) != len(y.batches) {
			return false
		}
		for i := range x.batches {
			if x.batches[i] != y.batches[i] {
				return false
			}
		}
	}
	return true
}

// sampleState has a wrapped ring (producer 7), a single batch, extreme values.
func sampleState(t testing.TB) *State {
	s := sevenBatches(t)
	s.Update(at(batch(0, 0, 0, 1), 170, -1))
	s.Update(at(batch(math.MaxInt64, math.MaxInt16, math.MaxInt32, 2), 171, math.MaxInt64))
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	for name, s := range map[string]*State{"empty": New(), "sample": sampleState(t)} {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			enc := s.MarshalSnapshot(bytes.Clone(prefix))
			if !bytes.HasPrefix(enc, prefix) {
				t.Fatal("MarshalSnapshot did not append")
			}
			enc = enc[len(prefix):]
			got, err := UnmarshalSnapshot(enc)
			if err != nil {
				t.Fatal(err)
			}
			if !equalDumps(dump(got), dump(s)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", dump(got), dump(s))
			}
			if again := got.MarshalSnapshot(nil); !bytes.Equal(again, enc) {
				t.Fatal("re-encoding differs: the encoding is not canonical")
			}
			// The decoded state is live: it checks and updates like the original.
			if s.Len() > 0 {
				if v, err := got.Check(batch(7, 2, 6, 3)); err != nil || !v.Duplicate || v.FirstOffset != 120 {
					t.Fatalf("decoded dup: %+v %v", v, err)
				}
				got.Update(at(batch(7, 2, 21, 1), 300, 0))
				if _, err := got.Check(batch(7, 2, 22, 1)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestSnapshotDeterministic(t *testing.T) {
	a, b := New(), New()
	for i := range 100 {
		a.Update(at(batch(int64(i), 0, 0, 1), int64(i), 0))
		b.Update(at(batch(int64(99-i), 0, 0, 1), int64(99-i), 0))
	}
	if !bytes.Equal(a.MarshalSnapshot(nil), b.MarshalSnapshot(nil)) {
		t.Fatal("equal states, different bytes")
	}
}

// reseal recomputes the CRC of a hand-edited snapshot, to reach the checks behind it.
func reseal(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offCount:], castagnoli))
	return b
}

func TestUnmarshalSnapshotCorrupt(t *testing.T) {
	good := sampleState(t).MarshalSnapshot(nil)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	firstEntry := snapHeaderLen
	tests := map[string][]byte{
		"nil":          nil,
		"short header": good[:snapHeaderLen-1],
		"bad magic":    edit(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version 0":    edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[offVersion:], 0); return reseal(b) }),
		"version 3":    edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[offVersion:], 3); return reseal(b) }),
		"bad crc":      edit(func(b []byte) []byte { b[offCRC] ^= 1; return b }),
		"flipped body": edit(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }),
		"huge count": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], math.MaxUint32)
			return reseal(b)
		}),
		"count one too many": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], binary.BigEndian.Uint32(b[offCount:])+1)
			return reseal(b)
		}),
		"count one too few": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[offCount:], binary.BigEndian.Uint32(b[offCount:])-1)
			return reseal(b)
		}),
		"zero batches": edit(func(b []byte) []byte { b[firstEntry+entryHeaderLen-1] = 0; return reseal(b) }),
		"six batches":  edit(func(b []byte) []byte { b[firstEntry+entryHeaderLen-1] = 6; return reseal(b) }),
		"txn first offset below -1": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[firstEntry+18:], uint64(1<<63))
			return reseal(b)
		}),
		"negative id": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[firstEntry:], uint64(1<<63))
			return reseal(b)
		}),
		"unsorted ids": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[firstEntry:], 8) // before producer 7
			return reseal(b)
		}),
		"trailing byte": reseal(append(bytes.Clone(good), 0)),
	}
	for n := snapHeaderLen; n < len(good); n += 7 {
		tests[fmt.Sprintf("truncated to %d, resealed", n)] = reseal(bytes.Clone(good[:n]))
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := UnmarshalSnapshot(b)
			if !errors.Is(err, ErrCorruptSnapshot) || s != nil {
				t.Fatalf("UnmarshalSnapshot = %v, %v; want ErrCorruptSnapshot", s, err)
			}
		})
	}
}

// TestUnmarshalSnapshotBoundedAllocation: a count claiming more producers than the bytes can
// hold is refused before the map is made.
func TestUnmarshalSnapshotBoundedAllocation(t *testing.T) {
	b := make([]byte, snapHeaderLen+minEntryLen-1)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint16(b[offVersion:], snapshotVersion)
	binary.BigEndian.PutUint32(b[offCount:], 1<<30)
	reseal(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if _, err := UnmarshalSnapshot(b); err == nil {
			t.Fatal("accepted")
		}
	}
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / 10; perCall > 1024 {
		t.Fatalf("refusing a huge count allocated %d bytes per call", perCall)
	}
}

func benchState(producers int) *State {
	s := New()
	for i := range producers {
		for j := range int32(RetainedBatches) {
			s.Update(at(batch(int64(i), 0, j, 1), int64(i*RetainedBatches)+int64(j), 0))
		}
	}
	return s
}

func BenchmarkMarshalSnapshot(b *testing.B) {
	s := benchState(10000)
	buf := s.MarshalSnapshot(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = s.MarshalSnapshot(buf[:0])
	}
}

func BenchmarkUnmarshalSnapshot(b *testing.B) {
	buf := benchState(10000).MarshalSnapshot(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := UnmarshalSnapshot(buf); err != nil {
			b.Fatal(err)
		}
	}
}
