package compress

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func compress(t *testing.T, codec int, data []byte) []byte {
	var buf bytes.Buffer
	switch codec {
	case Gzip:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case Snappy:
		return snappy.Encode(nil, data)
	case LZ4:
		w := lz4.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case Zstd:
		w, _ := zstd.NewWriter(&buf)
		w.Write(data)
		w.Close()
	default:
		return data
	}
	return buf.Bytes()
}

func TestRoundTripAndLimit(t *testing.T) {
	data := bytes.Repeat([]byte("logd record payload "), 5000) // 100 KB, very compressible
	for _, codec := range []int{None, Gzip, Snappy, LZ4, Zstd} {
		c := compress(t, codec, data)
		got, err := Decompress(codec, c, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("codec %d: %v (got %d bytes)", codec, err, len(got))
		}
		if _, err := Decompress(codec, c, len(data)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("codec %d: limit not enforced: %v", codec, err)
		}
		if codec != None {
			if _, err := Decompress(codec, c[:len(c)/2], len(data)); err == nil {
				t.Fatalf("codec %d: truncated input accepted", codec)
			}
		}
	}
	// Xerial framing (the Java client's snappy).
	block := snappy.Encode(nil, data)
	x := append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)
	x = append(x, byte(len(block)>>24), byte(len(block)>>16), byte(len(block)>>8), byte(len(block)))
	x = append(x, block...)
	if got, err := Decompress(Snappy, x, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("xerial: %v", err)
	}
}

func TestBomb(t *testing.T) {
	bomb := compress(t, Zstd, make([]byte, 64<<20)) // 64 MiB of zeros in a few KB
	if _, err := Decompress(Zstd, bomb, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("zstd bomb: %v", err)
	}
	gz := compress(t, Gzip, make([]byte, 64<<20))
	if _, err := Decompress(Gzip, gz, 1<<20); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("gzip bomb: %v", err)
	}
}

func FuzzDecompress(f *testing.F) {
	for _, codec := range []int{Gzip, Snappy, LZ4, Zstd} {
		f.Add(codec, compress(nil, codec, []byte("hello hello hello")))
	}
	f.Fuzz(func(t *testing.T, codec int, src []byte) {
		out, err := Decompress(codec%5, src, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("output %d bytes beyond the limit", len(out))
		}
	})
}

// TestCompressRoundTrip compresses with every codec and decompresses back.
func TestCompressRoundTrip(t *testing.T) {
	src := bytes.Repeat([]byte("compacted topics keep the last value per key. "), 3000)
	for codec := None; codec <= Zstd; codec++ {
		c, err := Compress(codec, src)
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		got, err := Decompress(codec, c, len(src))
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("codec %d: round trip failed: %v", codec, err)
		}
	}
}

// TestAppendReusesBuffers: AppendCompressed and AppendDecompressed append after what dst
// holds, count only their own output against the limit, and allocate nothing once the
// buffers have grown (the log cleaner runs them batch after batch).
func TestAppendReusesBuffers(t *testing.T) {
	src := bytes.Repeat([]byte("a compacted batch of records. "), 2000) // 60 KB
	prefix := []byte("kept")
	for codec := Gzip; codec <= Zstd; codec++ {
		packed, err := AppendCompressed(append([]byte(nil), prefix...), codec, src)
		if err != nil || !bytes.Equal(packed[:len(prefix)], prefix) {
			t.Fatalf("codec %d: AppendCompressed: %v, prefix %q", codec, err, packed[:len(prefix)])
		}
		packed = packed[len(prefix):]
		out, err := AppendDecompressed(append([]byte(nil), prefix...), codec, packed, len(src))
		if err != nil || !bytes.Equal(out, append(append([]byte(nil), prefix...), src...)) {
			t.Fatalf("codec %d: AppendDecompressed: %v (%d bytes)", codec, err, len(out))
		}
		if _, err := AppendDecompressed(out[:len(prefix)], codec, packed, len(src)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("codec %d: limit not enforced after a prefix: %v", codec, err)
		}
		cbuf, dbuf := packed[:0:0], out[:0]
		allocs := testing.AllocsPerRun(20, func() {
			if cbuf, err = AppendCompressed(cbuf[:0], codec, src); err != nil {
				t.Fatal(err)
			}
			if dbuf, err = AppendDecompressed(dbuf[:0], codec, cbuf, len(src)); err != nil {
				t.Fatal(err)
			}
		})
		if !bytes.Equal(dbuf, src) {
			t.Fatalf("codec %d: round trip through reused buffers differs", codec)
		}
		// A pooled writer or reader may be dropped by a GC between runs; the old path
		// allocated a new one (tens of KB to MBs) every call.
		if allocs > 1 && !raceEnabled {
			t.Errorf("codec %d: %.1f allocations per compress+decompress with reused buffers, want ≤ 1", codec, allocs)
		}
	}
}

// BenchmarkDecompressAppend: one 16 KiB batch body per op into a reused buffer, the cleaner's
// pattern, against Decompress's fresh buffer.
func BenchmarkDecompressAppend(b *testing.B) {
	src := bytes.Repeat([]byte("sensor-0042 temperature=21.5 humidity=40 "), 400)
	for codec := Gzip; codec <= Zstd; codec++ {
		packed, err := Compress(codec, src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("codec=%d/fresh", codec), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decompress(codec, packed, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("codec=%d/reused", codec), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				if buf, err = AppendDecompressed(buf[:0], codec, packed, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompressAppend: one 16 KiB batch body per op into a reused buffer.
func BenchmarkCompressAppend(b *testing.B) {
	src := bytes.Repeat([]byte("sensor-0042 temperature=21.5 humidity=40 "), 400)
	for codec := Gzip; codec <= Zstd; codec++ {
		b.Run(fmt.Sprintf("codec=%d", codec), func(b *testing.B) {
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			var buf []byte
			var err error
			for b.Loop() {
				if buf, err = AppendCompressed(buf[:0], codec, src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
