package loadgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/segment"
)

// RecordShape describes the records the generator sends: value sizes, keys and compression.
// Zero values mean fixed 1 KiB values, no keys, no compression.
type RecordShape struct {
	Size int // mean value bytes (default 1024)
	// SizeDist is "fixed" (every value Size bytes), "uniform" (Size/2 to 3·Size/2) or
	// "exponential" (mean Size, capped at 16·Size).
	SizeDist string
	// KeyDist is "none" (null keys), "uniform" or "zipf" (s=1.1) over KeySpace keys
	// ("key-00000042"). Keyed records go to partition murmur2(key) % partitions, as Kafka's
	// default partitioner places them, so a skewed key distribution skews the partitions.
	KeyDist  string
	KeySpace int    // distinct keys (default 100000)
	Codec    string // "none", "gzip", "snappy", "lz4" or "zstd"
}

func (s *RecordShape) setDefaults() error {
	if s.Size <= 0 {
		s.Size = 1024
	}
	if s.KeySpace <= 0 {
		s.KeySpace = 100000
	}
	switch s.SizeDist {
	case "":
		s.SizeDist = "fixed"
	case "fixed", "uniform", "exponential":
	default:
		return fmt.Errorf("size distribution %q: want fixed, uniform or exponential", s.SizeDist)
	}
	switch s.KeyDist {
	case "":
		s.KeyDist = "none"
	case "none", "uniform", "zipf":
	default:
		return fmt.Errorf("key distribution %q: want none, uniform or zipf", s.KeyDist)
	}
	if _, ok := codecs[s.Codec]; !ok && s.Codec != "" {
		return fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", s.Codec)
	}
	if s.Codec == "" {
		s.Codec = "none"
	}
	return nil
}

// codecs maps compression names to the batch attribute's codec bits.
var codecs = map[string]int16{"none": segment.CompressionNone, "gzip": segment.CompressionGzip,
	"snappy": segment.CompressionSnappy, "lz4": segment.CompressionLZ4, "zstd": segment.CompressionZstd}

// recordGen draws records of a shape.
type recordGen struct {
	shape RecordShape
	rng   *rand.Rand
	zipf  *rand.Zipf
	text  []byte // value content: random letters (compressible like text, not like zeros)
}

func newRecordGen(shape RecordShape, seed uint64) *recordGen {
	g := &recordGen{shape: shape, rng: rand.New(rand.NewPCG(seed, 0x6c6f6764))}
	if shape.KeyDist == "zipf" {
		g.zipf = rand.NewZipf(g.rng, 1.1, 1, uint64(shape.KeySpace-1))
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ."
	g.text = make([]byte, 1<<16)
	for i := range g.text {
		g.text[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return g
}

func (g *recordGen) size() int {
	s := g.shape.Size
	switch g.shape.SizeDist {
	case "uniform":
		return s/2 + g.rng.IntN(s+1)
	case "exponential":
		return min(int(g.rng.ExpFloat64()*float64(s)), 16*s)
	}
	return s
}

// key returns a key, or nil for null keys.
func (g *recordGen) key() []byte {
	var k uint64
	switch g.shape.KeyDist {
	case "uniform":
		k = g.rng.Uint64N(uint64(g.shape.KeySpace))
	case "zipf":
		k = g.zipf.Uint64()
	default:
		return nil
	}
	return fmt.Appendf(nil, "key-%08d", k)
}

func (g *recordGen) value(n int) []byte {
	v := make([]byte, n)
	for i := 0; i < n; {
		off := g.rng.IntN(len(g.text))
		i += copy(v[i:], g.text[off:])
	}
	return v
}

// genRecord is one record to encode.
type genRecord struct{ key, value []byte }

// spread draws perPartition·partitions records and places them in partitions: round robin
// without keys, by murmur2(key) with keys.
func (g *recordGen) spread(partitions, perPartition int) [][]genRecord {
	out := make([][]genRecord, partitions)
	for i := range partitions * perPartition {
		r := genRecord{key: g.key(), value: g.value(g.size())}
		p := i % partitions
		if r.key != nil {
			p = int(murmur2(r.key)&0x7fffffff) % partitions
		}
		out[p] = append(out[p], r)
	}
	return out
}

// murmur2 is Kafka's default partitioner hash (Utils.murmur2).
func murmur2(b []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(b))
	for ; len(b) >= 4; b = b[4:] {
		k := binary.LittleEndian.Uint32(b)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	switch len(b) {
	case 3:
		h ^= uint32(b[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(b[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(b[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// A send-time stamp: nanoseconds in the first record's value; one further from now than
// maxStampSkewN is not one of ours.
const (
	stampBytes    = 8
	maxStampSkewN = int64(time.Hour)
)

// encodeBatch encodes records as one record batch v2 (no producer id, BaseOffset 0, every
// timestamp delta 0) with segment's encoder. It returns the batch and the position of the
// first record's value in it when that value can carry a send-time stamp (uncompressed, at
// least 8 bytes), else 0.
func encodeBatch(recs []genRecord, codec string) (batch []byte, stampAt int, err error) {
	var body []byte
	for i, r := range recs {
		body = segment.AppendRecord(body, kmsg.Record{OffsetDelta: int32(i), Key: r.key, Value: r.value})
		if i == 0 && len(r.value) >= stampBytes && codec == "none" {
			// The value ends the record but for its header count, one byte (no headers).
			stampAt = segment.HeaderSize + len(body) - 1 - len(r.value)
		}
	}
	if codec != "none" {
		if body, err = compressBody(codec, body); err != nil {
			return nil, 0, err
		}
	}
	h := segment.Header{Attributes: codecs[codec], LastOffsetDelta: int32(len(recs) - 1),
		ProducerID: segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1, RecordCount: int32(len(recs))}
	b := segment.AppendBatch(make([]byte, 0, segment.HeaderSize+len(body)), h, body)
	stampBatch(b, 0, time.Now())
	return b, stampAt, nil
}

func compressBody(codec string, src []byte) ([]byte, error) {
	switch codec {
	case "snappy":
		return s2.EncodeSnappy(nil, src), nil
	case "gzip":
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(src)
		err := w.Close()
		return buf.Bytes(), err
	case "lz4":
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		w.Write(src)
		err := w.Close()
		return buf.Bytes(), err
	case "zstd":
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			return nil, err
		}
		defer enc.Close()
		return enc.EncodeAll(src, nil), nil
	}
	return nil, fmt.Errorf("unknown codec %q", codec)
}

// stampBatch sets a batch's CreateTime (base and max timestamp, ms) to t, writes t in
// nanoseconds into the first record's value at stampAt (when non-zero), and recomputes the CRC
// (which covers both). The consumer measures end-to-end latency from the nanosecond stamp:
// CreateTime's millisecond resolution is coarser than loopback latencies.
func stampBatch(b []byte, stampAt int, t time.Time) {
	if stampAt > 0 {
		binary.BigEndian.PutUint64(b[stampAt:], uint64(t.UnixNano()))
	}
	segment.SetCreateTime(b, t.UnixMilli()) // after the value stamp: the CRC covers both
}

// batchStamp returns the send time a batch carries (first record's value stamp, or its
// CreateTime in milliseconds when it carries none), its record count, and whether the stamp is
// in nanoseconds. b is one complete batch.
func batchStamp(b []byte, now int64) (sent int64, records int64, ns bool) {
	h, err := segment.ParseHeader(b)
	if err != nil {
		return 0, 0, false
	}
	records, sent = int64(h.RecordCount), h.BaseTimestamp*1e6
	if h.Compression() != segment.CompressionNone || len(b) <= segment.HeaderSize {
		return sent, records, false
	}
	r := b[segment.HeaderSize:]
	skip := func() bool { // one varint
		_, n := binary.Varint(r)
		if n <= 0 {
			return false
		}
		r = r[n:]
		return true
	}
	if !skip() || len(r) < 1 { // record length
		return sent, records, false
	}
	r = r[1:] // attributes
	if !skip() || !skip() {
		return sent, records, false
	}
	kl, n := binary.Varint(r)
	if n <= 0 || (kl > 0 && int64(len(r)-n) < kl) {
		return sent, records, false
	}
	r = r[n+int(max(kl, 0)):]
	vl, n := binary.Varint(r)
	if n <= 0 || vl < stampBytes || len(r)-n < stampBytes {
		return sent, records, false
	}
	st := int64(binary.BigEndian.Uint64(r[n:]))
	if d := now - st; d < -maxStampSkewN || d > maxStampSkewN {
		return sent, records, false // not one of ours
	}
	return st, records, true
}
