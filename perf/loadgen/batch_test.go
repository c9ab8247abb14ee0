package loadgen

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/segment"
)

// TestMurmur2 checks Kafka's partitioner hash against the values in Kafka's UtilsTest.
func TestMurmur2(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := int32(murmur2([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

// decodeRecords walks a batch's records: keys and value lengths.
func decodeRecords(t *testing.T, b []byte) (keys []string, sizes []int) {
	t.Helper()
	h, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	body := b[segment.HeaderSize:]
	if codec := h.Compression(); codec != segment.CompressionNone {
		var err error
		if body, err = compress.Decompress(codec, body, 64<<20); err != nil {
			t.Fatal(err)
		}
	}
	n := int(h.RecordCount)
	for range n {
		l, k := binary.Varint(body)
		rec := body[k : k+int(l)]
		body = body[k+int(l):]
		rec = rec[1:]
		for range 2 { // timestamp and offset deltas
			_, k = binary.Varint(rec)
			rec = rec[k:]
		}
		kl, k := binary.Varint(rec)
		rec = rec[k:]
		if kl >= 0 {
			keys = append(keys, string(rec[:kl]))
			rec = rec[kl:]
		}
		vl, _ := binary.Varint(rec)
		sizes = append(sizes, int(vl))
	}
	if len(body) != 0 {
		t.Fatalf("%d bytes after %d records", len(body), n)
	}
	return keys, sizes
}

// TestBatchesAndStamps: every codec encodes a valid batch (CRC, record count, Kafka's key
// placement, sizes within the distribution), and a stamp survives the round trip through
// stampBatch and batchStamp with a valid CRC.
func TestBatchesAndStamps(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		shape := RecordShape{Size: 200, SizeDist: "uniform", KeyDist: "zipf", KeySpace: 1000, Codec: codec}
		if err := shape.setDefaults(); err != nil {
			t.Fatal(err)
		}
		g := newRecordGen(shape, 7)
		for p, recs := range g.spread(4, 50) {
			if len(recs) == 0 {
				continue
			}
			b, at, err := encodeBatch(recs, codec)
			if err != nil {
				t.Fatal(err)
			}
			sent := time.Unix(1700000000, 123456789)
			stampBatch(b, at, sent)
			if _, err := segment.ValidateBatch(b); err != nil {
				t.Fatalf("%s: %v", codec, err)
			}
			got, n, ns := batchStamp(b, sent.UnixNano()+int64(time.Millisecond))
			if n != int64(len(recs)) || ns != (codec == "none") {
				t.Fatalf("%s: %d records (want %d), ns stamp %v", codec, n, len(recs), ns)
			}
			want := sent.UnixNano()
			if !ns {
				want = sent.UnixMilli() * 1e6
			}
			if got != want {
				t.Fatalf("%s: stamp %d, want %d", codec, got, want)
			}
			keys, sizes := decodeRecords(t, b)
			for i, k := range keys {
				if int(murmur2([]byte(k))&0x7fffffff)%4 != p {
					t.Fatalf("%s: key %q in partition %d", codec, k, p)
				}
				if sizes[i] < 100 || sizes[i] > 300 {
					t.Fatalf("%s: value of %d bytes outside uniform 100..300", codec, sizes[i])
				}
			}
		}
	}
}

func TestShapeValidation(t *testing.T) {
	for _, s := range []RecordShape{{SizeDist: "normal"}, {KeyDist: "hot"}, {Codec: "brotli"}} {
		if err := s.setDefaults(); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
