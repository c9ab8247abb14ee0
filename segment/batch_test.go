package segment

import (
	"errors"
	"testing"
)

func TestValidateBatch(t *testing.T) {
	good := testBatch(Header{BaseTimestamp: 1000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 40}, 3, 10, 'x', nil, 5)
	h, err := ValidateBatch(good)
	if err != nil {
		t.Fatal(err)
	}
	if h.RecordCount != 3 || h.LastOffsetDelta != 2 || h.MaxTimestamp != 1010 || h.ProducerID != 7 ||
		h.ProducerEpoch != 2 || h.BaseSequence != 40 || h.LastSequence() != 42 || h.Size() != len(good) {
		t.Fatalf("header %+v", h)
	}

	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"short header", good[:30], ErrTruncated},
		{"missing tail", good[:len(good)-1], ErrTruncated},
		{"magic 1", mutate(func(b []byte) { b[16] = 1 }), ErrUnsupportedMagic},
		{"crc", mutate(func(b []byte) { b[len(b)-1] ^= 1 }), ErrCorrupt},
		{"length too small", mutate(func(b []byte) { b[8], b[9], b[10], b[11] = 0, 0, 0, 10 }), ErrCorrupt},
		{"negative length", mutate(func(b []byte) { b[8] = 0x80 }), ErrCorrupt},
		{"negative count", mutate(func(b []byte) { b[57] = 0x80; SetLogAppendTime(b, 0) }), ErrCorrupt},
		{"count too large", mutate(func(b []byte) { b[57] = 0x10; SetLogAppendTime(b, 0) }), ErrCorrupt},
		{"bad codec", mutate(func(b []byte) { b[22] |= 7; SetLogAppendTime(b, 0) }), ErrCorrupt},
	}
	for _, c := range cases {
		if _, err := ValidateBatch(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	// Stamping BaseOffset and the epoch leaves the CRC valid; LogAppendTime recomputes it.
	b := mutate(func(b []byte) { SetBaseOffset(b, 1<<40); SetPartitionLeaderEpoch(b, 9) })
	if h, err := ValidateBatch(b); err != nil || h.BaseOffset != 1<<40 || h.PartitionLeaderEpoch != 9 {
		t.Fatalf("stamped: %+v %v", h, err)
	}
	SetLogAppendTime(b, 555)
	if h, err := ValidateBatch(b); err != nil || h.MaxTimestamp != 555 || h.Attributes&AttrLogAppendTime == 0 {
		t.Fatalf("log append time: %+v %v", h, err)
	}
}

func TestLastSequenceWraps(t *testing.T) {
	h := Header{BaseSequence: 0x7fffffff - 1, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != 1 {
		t.Fatalf("got %d, want 1", got)
	}
}

func FuzzValidateBatch(f *testing.F) {
	f.Add(testBatch(noProducer, 2, 16, 'x', nil, 0))
	f.Add(testBatch(Header{ProducerID: 1}, 1, 16, 'x', []byte("k"), 0))
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ValidateBatch(b)
		if err != nil {
			return
		}
		if h.Size() > len(b) || h.Size() < HeaderSize {
			t.Fatalf("accepted size %d of %d bytes", h.Size(), len(b))
		}
		if CRC(b[:h.Size()]) != h.CRC {
			t.Fatal("accepted a bad CRC")
		}
	})
}

func BenchmarkCRC(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10, 1 << 20} {
		batch := testBatch(noProducer, 1, size, 'x', nil, 0)
		b.Run(sizeName(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				CRC(batch)
			}
		})
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
