package kwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Reader reads size-prefixed Kafka frames from a stream into one buffer and returns them in
// place: unlike bufio.Reader plus io.ReadFull it never copies a frame's bytes again after the
// kernel wrote them; only the tail of a partial frame moves when the buffer is compacted.
type Reader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int // unread bytes are buf[start:end]
}

// NewReader reads frames of at most maxFrame bytes (after the size) from r, with an initial
// buffer of size bytes.
func NewReader(r io.Reader, size, maxFrame int) *Reader {
	return &Reader{r: r, max: maxFrame, buf: make([]byte, size)}
}

// Next returns the next frame (without its size), valid until the following call.
func (f *Reader) Next() ([]byte, error) {
	n, err := f.size()
	if err != nil {
		return nil, err
	}
	if err := f.fill(4 + n); err != nil {
		return nil, closed(err)
	}
	frame := f.buf[f.start+4 : f.start+4+n]
	f.start += 4 + n
	return frame, nil
}

// NextOwned returns the next frame in a buffer of its own: what is already buffered is
// copied, the rest is read straight into it.
func (f *Reader) NextOwned() ([]byte, error) {
	n, err := f.size()
	if err != nil {
		return nil, err
	}
	f.start += 4
	frame := make([]byte, n)
	k := copy(frame, f.buf[f.start:f.end])
	f.start += k
	if _, err := io.ReadFull(f.r, frame[k:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the size was read: the frame is cut
		}
		return nil, closed(err)
	}
	return frame, nil
}

// Buffered is the number of bytes read from the stream and not yet returned in a frame: a
// server flushes its answers when no further request is already buffered.
func (f *Reader) Buffered() int { return f.end - f.start }

// size reads and checks the next frame's size, leaving it unconsumed.
func (f *Reader) size() (int, error) {
	if err := f.fill(4); err != nil {
		return 0, closed(err)
	}
	n := int(int32(binary.BigEndian.Uint32(f.buf[f.start:])))
	if n < 0 || n > f.max {
		return 0, fmt.Errorf("kwire: frame size %d outside [0, %d]", n, f.max)
	}
	return n, nil
}

// fill makes at least n unread bytes available; n was checked against the cap.
func (f *Reader) fill(n int) error {
	if f.end-f.start >= n {
		return nil
	}
	if f.start+n > len(f.buf) {
		if n > len(f.buf) {
			nb := make([]byte, max(n, 2*len(f.buf)))
			f.end = copy(nb, f.buf[f.start:f.end])
			f.buf = nb
		} else {
			f.end = copy(f.buf, f.buf[f.start:f.end])
		}
		f.start = 0
	}
	for f.end-f.start < n {
		k, err := f.r.Read(f.buf[f.end:])
		f.end += k
		if err != nil {
			if f.end-f.start >= n {
				return nil
			}
			if err == io.EOF && f.end > f.start {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// closed wraps a read error that means the peer closed the connection in ErrClosed.
func closed(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

// SkipTags returns b after the tagged fields at its start (a flexible header's), checking
// every length against the bytes that remain.
func SkipTags(b []byte) ([]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return nil, errors.New("bad tagged field count")
	}
	b = b[k:]
	for i := uint64(0); i < n; i++ {
		if _, k = binary.Uvarint(b); k <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[k:]
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errors.New("tagged field longer than the frame")
		}
		b = b[k+int(l):]
	}
	return b, nil
}
