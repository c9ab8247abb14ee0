// Package compress decompresses record batch payloads (gzip, snappy in raw or xerial framing,
// lz4 frames, zstd) with a hard cap on the output, so a decompression bomb costs at most the
// cap. logd stores batches as producers compressed them and decompresses only where a feature
// needs the records (ListOffsets by time inside a compressed batch).
package compress

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codecs, as in a record batch's attributes.
const (
	None   = 0
	Gzip   = 1
	Snappy = 2
	LZ4    = 3
	Zstd   = 4
)

// ErrTooLarge means the decompressed data would exceed the caller's limit.
var ErrTooLarge = errors.New("decompressed data exceeds the limit")

var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// Decompress returns src decompressed with codec, failing with ErrTooLarge beyond limit bytes.
func Decompress(codec int, src []byte, limit int) ([]byte, error) {
	switch codec {
	case None:
		if len(src) > limit {
			return nil, ErrTooLarge
		}
		return src, nil
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, err
		}
		return readLimited(r, limit)
	case Snappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return xerial(src, limit)
		}
		return snappyBlock(nil, src, limit)
	case LZ4:
		return readLimited(lz4.NewReader(bytes.NewReader(src)), limit)
	case Zstd:
		pool, d, err := zstdDecoder(limit)
		if err != nil {
			return nil, err
		}
		defer pool.Put(d)
		out, err := d.DecodeAll(src, nil)
		if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(out) > limit {
			return nil, ErrTooLarge // a frame claiming or holding more than the limit
		}
		return out, err
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

func readLimited(r io.Reader, limit int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, ErrTooLarge
	}
	return out, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-len(dst) {
		return nil, ErrTooLarge
	}
	out, err := snappy.Decode(nil, block)
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// xerial decodes the Java client's framing: the 8-byte magic, two int32 versions, then
// blocks each prefixed by a big-endian int32 length.
func xerial(src []byte, limit int) ([]byte, error) {
	if len(src) < 16 {
		return nil, errors.New("truncated xerial snappy header")
	}
	src = src[16:]
	var out []byte
	for len(src) > 0 {
		if len(src) < 4 {
			return nil, errors.New("truncated xerial snappy block length")
		}
		n := int(binary.BigEndian.Uint32(src))
		src = src[4:]
		if n < 0 || n > len(src) {
			return nil, errors.New("xerial snappy block length beyond the data")
		}
		var err error
		if out, err = snappyBlock(out, src[:n], limit); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return out, nil
}

// Compress returns src compressed with codec, in the framing Kafka's Java client reads: gzip
// members, xerial-framed snappy, lz4 frames with independent 64 KiB blocks, zstd frames. The
// log cleaner writes a batch back with the codec it was produced with.
func Compress(codec int, src []byte) ([]byte, error) {
	var b bytes.Buffer
	switch codec {
	case None:
		return src, nil
	case Gzip:
		w := gzip.NewWriter(&b)
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case Snappy:
		b.Write(xerialMagic)
		b.Write([]byte{0, 0, 0, 1, 0, 0, 0, 1}) // version 1, minimum compatible version 1
		for len(src) > 0 {
			n := min(len(src), xerialBlockSize)
			block := snappy.Encode(nil, src[:n])
			b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			b.Write(block)
			src = src[n:]
		}
	case LZ4:
		w := lz4.NewWriter(&b)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, err
		}
		if _, err := w.Write(src); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case Zstd:
		zstdOnce.Do(func() {
			zstdEncoder, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
		})
		if zstdErr != nil {
			return nil, zstdErr
		}
		return zstdEncoder.EncodeAll(src, nil), nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	return b.Bytes(), nil
}

// zstdEncoder is shared: building one costs megabytes of tables, and EncodeAll is safe for
// concurrent use. Its frames are single-segment (the window is the content size), so a
// reader's memory limit (Decompress) judges them by what they really hold.
var (
	zstdOnce    sync.Once
	zstdEncoder *zstd.Encoder
	zstdErr     error
)

// zstdDecoders pools decoders per limit (callers use one or two limits): building a decoder
// costs megabytes, and the cleaner decompresses batch after batch. Each decoder refuses
// frames that decode to more than limit+1 bytes (WithDecoderMaxMemory covers DecodeAll).
var zstdDecoders sync.Map // limit -> *sync.Pool of *zstd.Decoder

func zstdDecoder(limit int) (*sync.Pool, *zstd.Decoder, error) {
	v, _ := zstdDecoders.LoadOrStore(limit, &sync.Pool{})
	p := v.(*sync.Pool)
	if d, ok := p.Get().(*zstd.Decoder); ok {
		return p, d, nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1))
	return p, d, err
}

// xerialBlockSize is the uncompressed size of one xerial snappy block (the Java client's).
const xerialBlockSize = 32 << 10
