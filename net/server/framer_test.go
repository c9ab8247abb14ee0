package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

type testBudget struct {
	used, limit atomic.Int64
}

func (b *testBudget) reserve(n int) bool {
	if b.used.Add(int64(n)) > b.limit.Load() {
		b.used.Add(-int64(n))
		return false
	}
	return true
}
func (b *testBudget) release(n int) { b.used.Add(-int64(n)) }

func TestFramerSplits(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := range 50 {
		body := bytes.Repeat([]byte{byte(i)}, i*397)
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(body)))
		stream = append(stream, body...)
		want = append(want, body)
	}
	for _, step := range []int{1, 2, 3, 5, 4096, len(stream)} {
		b := &testBudget{}
		b.limit.Store(1 << 30)
		f := framer{maxSize: 1 << 20, b: b}
		var got [][]byte
		for in := stream; len(in) > 0; {
			n := min(step, len(in))
			if err := f.feed(in[:n], func(fr []byte) error { got = append(got, fr); return nil }); err != nil {
				t.Fatal(err)
			}
			in = in[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("step %d: %d frames", step, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("step %d frame %d differs", step, i)
			}
		}
		if b.used.Load() != 0 || f.buffered() != 0 {
			t.Fatalf("step %d: budget %d buffered %d", step, b.used.Load(), f.buffered())
		}
	}
}

func TestFramerBudget(t *testing.T) {
	b := &testBudget{}
	b.limit.Store(64 << 10)
	f := framer{maxSize: 100 << 20, b: b}
	in := binary.BigEndian.AppendUint32(nil, 100<<20)
	in = append(in, make([]byte, 10)...)
	if err := f.feed(in, nil); err != nil {
		t.Fatal(err)
	}
	if b.used.Load() != minPartial {
		t.Fatalf("charged %d for 10 bytes of a 100 MiB frame", b.used.Load())
	}
	if err := f.feed(make([]byte, 100<<10), nil); !errors.Is(err, ErrBufferBudget) {
		t.Fatalf("err %v", err)
	}
	f.reset()
	if b.used.Load() != 0 {
		t.Fatalf("reset left %d charged", b.used.Load())
	}
}

func TestParseHeader(t *testing.T) {
	hv2 := func(int16, int16) int { return 2 }
	frame := []byte{0, 1, 0, 12, 0, 0, 0, 9, 0xff, 0xff, 0, 'b'}
	h, err := parseHeader(frame, hv2)
	if err != nil || h.APIKey != 1 || h.APIVersion != 12 || h.CorrelationID != 9 || h.ClientID != nil ||
		h.ClientIDEnd != 10 || h.BodyOffset != 11 {
		t.Fatalf("%+v %v", h, err)
	}
	bad := [][]byte{
		{0, 1, 0, 12, 0, 0, 0, 9, 0xff},               // truncated
		{0, 1, 0, 12, 0, 0, 0, 9, 0x80, 0x00},         // negative length
		{0, 1, 0, 12, 0, 0, 0, 9, 0, 3, 'a'},          // client id past end
		{0, 1, 0, 12, 0, 0, 0, 9, 0, 0, 1, 0, 9, 'x'}, // tag size past end
		{0, 1, 0, 12, 0, 0, 0, 9, 0, 0, 0x80},         // truncated varint
	}
	for i, b := range bad {
		if _, err := parseHeader(b, hv2); !errors.Is(err, ErrHeader) {
			t.Errorf("case %d: err %v", i, err)
		}
	}
}

// FuzzFrames feeds a random byte stream, cut at random points, through the
// framer and header parser: it must never panic, never hand out a frame larger
// than the limit, and account the budget exactly.
func FuzzFrames(f *testing.F) {
	f.Add(appendRequest(nil, 18, 3, 1, "c", []byte{0}), uint8(3))
	f.Add(append(appendRequest(nil, 0, 9, 2, "", nil), 0xff, 0xff, 0xff, 0xff), uint8(1))
	f.Add([]byte{0, 0, 0, 12, 0, 1, 0, 12, 0, 0, 0, 9, 0xff, 0xff, 1, 0}, uint8(7))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		b := &testBudget{}
		b.limit.Store(1 << 16)
		fr := framer{maxSize: 1 << 12, b: b}
		hv := func(k, v int16) int {
			if v&1 == 1 {
				return 2
			}
			return 1
		}
		st := int(step%64) + 1
		emit := func(frame []byte) error {
			if len(frame) > 1<<12 {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			h, err := parseHeader(frame, hv)
			if err == nil && (h.BodyOffset > len(frame) || h.BodyOffset < h.ClientIDEnd) {
				t.Fatalf("body offset %d of %d", h.BodyOffset, len(frame))
			}
			putFrame(frame)
			return nil
		}
		for in := stream; len(in) > 0; {
			n := min(st, len(in))
			if err := fr.feed(in[:n], emit); err != nil {
				break
			}
			in = in[n:]
		}
		if int(b.used.Load()) != cap(fr.cur) && fr.cur != nil {
			t.Fatalf("charged %d, holding %d", b.used.Load(), cap(fr.cur))
		}
		fr.reset()
		if b.used.Load() != 0 {
			t.Fatalf("budget leak %d", b.used.Load())
		}
	})
}

// TestFramerGrowBound: a frame arriving in chunks is never charged more than twice the bytes
// that arrived (or minPartial), whatever size it claims, and its last chunk completes it.
func TestFramerGrowBound(t *testing.T) {
	for _, chunk := range []int{1000, 64 << 10, 100 << 10} {
		b := &testBudget{}
		b.limit.Store(1 << 30)
		f := framer{maxSize: 100 << 20, b: b}
		const size = 3<<20 + 17
		in := binary.BigEndian.AppendUint32(nil, size)
		in = append(in, bytes.Repeat([]byte{7}, size)...)
		var got []byte
		for fed := 0; fed < len(in); {
			n := min(chunk, len(in)-fed)
			if err := f.feed(in[fed:fed+n], func(fr []byte) error { got = fr; return nil }); err != nil {
				t.Fatal(err)
			}
			fed += n
			if got == nil {
				if held, limit := b.used.Load(), max(2*int64(fed-4), minPartial); held > limit {
					t.Fatalf("chunk %d: %d bytes arrived, %d charged (limit %d)", chunk, fed-4, held, limit)
				}
			}
		}
		if len(got) != size || !bytes.Equal(got, in[4:]) || b.used.Load() != 0 {
			t.Fatalf("chunk %d: frame of %d bytes, %d still charged", chunk, len(got), b.used.Load())
		}
	}
}

// BenchmarkFramerFeed: one producer's pipelined window, 16 Produce frames of 130 KB (the
// max-throughput workload's request: two partitions of 64 records of 1 KiB), fed to the
// framer in read-sized chunks: 64 KiB (gnet's read buffer before 2026-12-08) and 1 MiB (now).
// Frames go back to the pool as the broker's release does; one op is the whole window.
// cpu-ns/op is the process's CPU time (getrusage) per op: on a loaded machine wall time is noise.
func BenchmarkFramerFeed(b *testing.B) {
	const frames, size = 16, 130 << 10
	var stream []byte
	for i := range frames {
		stream = binary.BigEndian.AppendUint32(stream, size)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, size)...)
	}
	for _, chunk := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("read%dKiB", chunk>>10), func(b *testing.B) {
			bud := &testBudget{}
			bud.limit.Store(1 << 30)
			f := framer{maxSize: 100 << 20, b: bud}
			emit := func(fr []byte) error { putFrame(fr); return nil }
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				for in := stream; len(in) > 0; {
					n := min(chunk, len(in))
					if err := f.feed(in[:n], emit); err != nil {
						b.Fatal(err)
					}
					in = in[n:]
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
