// Package compress decompresses record batch payloads (gzip, snappy in raw or xerial framing,
// lz4 frames, zstd) with a hard cap on the output, so a decompression bomb costs at most the
// cap. logd stores batches as producers compressed them and decompresses only where a feature
// needs the records (ListOffsets by time inside a compressed batch, the key check of a
// compacted topic, the log cleaner, which also compresses the batches it rewrites).
//
// Decompress and Compress return fresh buffers; AppendDecompressed and AppendCompressed
// append to the caller's, so a caller that hands the same buffer back batch after batch (the
// cleaner) allocates nothing once it has grown. The codecs' readers, writers and decoders are
// pooled either way: building one costs from tens of kilobytes (gzip, lz4) to megabytes (zstd).
package compress

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
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
// The result is freshly allocated (src itself for None); AppendDecompressed reuses a buffer.
func Decompress(codec int, src []byte, limit int) ([]byte, error) {
	return AppendDecompressed(nil, codec, src, limit)
}

// AppendDecompressed appends src decompressed with codec to dst and returns the extended
// slice, failing with ErrTooLarge when the decompressed bytes would exceed limit (dst's own
// bytes do not count). For None it returns src itself, uncopied. A caller that passes the
// same buffer back (dst[:0]) batch after batch decompresses without allocating once the
// buffer has grown to its largest batch: the readers and decoders are pooled, and the output
// goes straight into dst.
func AppendDecompressed(dst []byte, codec int, src []byte, limit int) ([]byte, error) {
	switch codec {
	case None:
		if len(src) > limit {
			return nil, ErrTooLarge
		}
		return src, nil
	case Gzip:
		r, _ := gzipReaders.Get().(*gzipReader)
		if r == nil {
			r = new(gzipReader)
		}
		defer gzipReaders.Put(r)
		r.src.Reset(src)
		if err := r.z.Reset(&r.src); err != nil {
			return nil, err
		}
		return readAppend(dst, &r.z, limit)
	case Snappy:
		if bytes.HasPrefix(src, xerialMagic) {
			return xerial(dst, src, limit)
		}
		return snappyBlock(dst, src, limit, len(dst))
	case LZ4:
		r, _ := lz4Readers.Get().(*lz4Reader)
		if r == nil {
			r = &lz4Reader{z: lz4.NewReader(nil)}
		}
		defer lz4Readers.Put(r)
		r.src.Reset(src)
		r.z.Reset(&r.src)
		return readAppend(dst, r.z, limit)
	case Zstd:
		pool, d, err := zstdDecoder(limit)
		if err != nil {
			return nil, err
		}
		defer pool.Put(d)
		// The decoder's memory limit counts what its dst already holds: hand it only the
		// free capacity after dst's bytes, and copy only when the output outgrew it.
		n := len(dst)
		out, err := d.DecodeAll(src, dst[n:])
		if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) || len(out) > limit {
			return nil, ErrTooLarge // a frame claiming or holding more than the limit
		}
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && cap(dst) > n && &out[0] == &dst[n:cap(dst)][0] {
			return dst[:n+len(out)], nil
		}
		return append(dst, out...), nil
	}
	return nil, fmt.Errorf("unknown compression codec %d", codec)
}

// Pooled stream readers: a gzip reader holds a 32 KiB window and an lz4 reader its block
// buffers, which made every decompression of a small batch allocate tens of kilobytes.
type gzipReader struct {
	src bytes.Reader
	z   gzip.Reader
}

type lz4Reader struct {
	src bytes.Reader
	z   *lz4.Reader
}

var gzipReaders, lz4Readers sync.Pool

// readAppend appends r's output to dst, failing with ErrTooLarge beyond limit bytes.
func readAppend(dst []byte, r io.Reader, limit int) ([]byte, error) {
	n := len(dst)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(max(cap(dst)-n, 4<<10), limit+1))
		}
		m, err := r.Read(dst[len(dst):min(cap(dst), n+limit+1)])
		dst = dst[:len(dst)+m]
		if len(dst)-n > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// snappyBlock appends the decoding of one raw snappy block to dst; the output from dst[from:]
// on counts against limit.
func snappyBlock(dst, block []byte, limit, from int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, err
	}
	if n > limit-(len(dst)-from) {
		return nil, ErrTooLarge
	}
	dst = slices.Grow(dst, n)
	if _, err := snappy.Decode(dst[len(dst):len(dst)+n], block); err != nil {
		return nil, err
	}
	return dst[:len(dst)+n], nil
}

// xerial decodes the Java client's framing, appending to dst: the 8-byte magic, two int32
// versions, then blocks each prefixed by a big-endian int32 length.
func xerial(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < 16 {
		return nil, errors.New("truncated xerial snappy header")
	}
	src = src[16:]
	from := len(dst)
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
		if dst, err = snappyBlock(dst, src[:n], limit, from); err != nil {
			return nil, err
		}
		src = src[n:]
	}
	return dst, nil
}

// Compress returns src compressed with codec, in the framing Kafka's Java client reads: gzip
// members, xerial-framed snappy, lz4 frames with independent 64 KiB blocks, zstd frames. The
// log cleaner writes a batch back with the codec it was produced with. The result is freshly
// allocated (src itself for None); AppendCompressed reuses a buffer.
func Compress(codec int, src []byte) ([]byte, error) {
	if codec == None {
		return src, nil
	}
	return AppendCompressed(nil, codec, src)
}

// AppendCompressed appends src compressed with codec (Compress's framing) to dst and returns
// the extended slice. The writers are pooled: a caller that passes the same buffer back
// compresses without allocating once it has grown.
func AppendCompressed(dst []byte, codec int, src []byte) ([]byte, error) {
	switch codec {
	case None:
		return append(dst, src...), nil
	case Gzip:
		w, _ := gzipWriters.Get().(*gzipWriter)
		if w == nil {
			w = &gzipWriter{z: gzip.NewWriter(nil)}
		}
		defer gzipWriters.Put(w)
		w.out.b = dst
		w.z.Reset(&w.out)
		_, err := w.z.Write(src)
		return w.out.finish(err, w.z.Close)
	case Snappy:
		dst = append(dst, xerialMagic...)
		dst = append(dst, 0, 0, 0, 1, 0, 0, 0, 1) // version 1, minimum compatible version 1
		for len(src) > 0 {
			n := min(len(src), xerialBlockSize)
			at := len(dst)
			dst = slices.Grow(dst, 4+snappy.MaxEncodedLen(n))
			block := snappy.Encode(dst[at+4:cap(dst)], src[:n])
			binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
			dst = dst[:at+4+len(block)]
			src = src[n:]
		}
		return dst, nil
	case LZ4:
		w, _ := lz4Writers.Get().(*lz4Writer)
		if w == nil {
			w = &lz4Writer{z: lz4.NewWriter(nil)}
		}
		defer lz4Writers.Put(w)
		w.out.b = dst
		w.z.Reset(&w.out)
		err := w.z.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		if err == nil {
			_, err = w.z.Write(src)
		}
		return w.out.finish(err, w.z.Close)
	case Zstd:
		zstdOnce.Do(func() {
			zstdEncoder, zstdErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithSingleSegment(true))
		})
		if zstdErr != nil {
			return nil, zstdErr
		}
		return zstdEncoder.EncodeAll(src, dst), nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
}

// appendBuffer is an io.Writer appending to b: the pooled stream writers write straight into
// the caller's buffer.
type appendBuffer struct{ b []byte }

func (a *appendBuffer) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// finish closes a stream writer that wrote into a (unless err already failed it) and hands
// back the buffer, dropping a's reference so the pooled writer keeps no caller memory.
func (a *appendBuffer) finish(err error, closeWriter func() error) ([]byte, error) {
	if err == nil {
		err = closeWriter()
	}
	out := a.b
	a.b = nil
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Pooled stream writers: a gzip writer allocates about 800 KiB of compressor state, an lz4
// writer its block buffers.
type gzipWriter struct {
	out appendBuffer
	z   *gzip.Writer
}

type lz4Writer struct {
	out appendBuffer
	z   *lz4.Writer
}

var gzipWriters, lz4Writers sync.Pool

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
	v, ok := zstdDecoders.Load(limit)
	if !ok {
		v, _ = zstdDecoders.LoadOrStore(limit, &sync.Pool{}) // a Load first: no Pool allocated per call
	}
	p := v.(*sync.Pool)
	if d, ok := p.Get().(*zstd.Decoder); ok {
		return p, d, nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(limit)+1))
	return p, d, err
}

// xerialBlockSize is the uncompressed size of one xerial snappy block (the Java client's).
const xerialBlockSize = 32 << 10
