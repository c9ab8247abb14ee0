package server

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Errors that close a connection. They are never sent to the peer.
var (
	ErrFrameSize      = errors.New("server: request size negative or above socket.request.max.bytes")
	ErrHeader         = errors.New("server: malformed request header")
	ErrBufferBudget   = errors.New("server: global receive buffer budget exhausted")
	ErrServerClosed   = errors.New("server: closed")
	errShortRegion    = errors.New("server: region file shorter than region")
	errAlreadyStarted = errors.New("server: already started")
	// errClosedAfterResponse: a response asked for its connection to close once written.
	errClosedAfterResponse = errors.New("server: closed after a response that asked for it")
)

// budget is the global cap on bytes held for frames that were received (fully
// or partly) but not yet handed to a handler. Safe for concurrent use.
type budget interface {
	reserve(n int) bool
	release(n int)
}

// framer splits a byte stream into size-prefixed frames. It never trusts the
// claimed size for allocation: a partial frame's buffer grows with the bytes
// that actually arrived, each growth charged to the budget first.
//
// Not safe for concurrent use: one framer per connection, driven by the
// connection's event loop.
type framer struct {
	maxSize int32
	b       budget

	size    [4]byte
	sizeN   int    // bytes of size prefix held in size
	cur     []byte // partial frame body; len = bytes received
	need    int    // claimed body size of cur; 0 when between frames
	charged int    // budget charged for cur (its capacity)
}

// minPartial is the smallest buffer started for a partial frame.
const minPartial = 4 << 10

// feed consumes all of in, calling emit for each complete frame body (the bytes
// after the size prefix). The frame passed to emit is owned by the callee and
// comes from getFrame; it is not charged to the budget. feed returns the first
// error of its own or of emit; the framer is then unusable.
func (f *framer) feed(in []byte, emit func(frame []byte) error) error {
	for len(in) > 0 {
		if f.need == 0 {
			// Fast path: whole prefix and body present, no partial state.
			if f.sizeN == 0 && len(in) >= 4 {
				n := int32(binary.BigEndian.Uint32(in))
				if n < 0 || n > f.maxSize {
					return ErrFrameSize
				}
				if int(n) <= len(in)-4 {
					fr := getFrame(int(n))
					copy(fr, in[4:4+n])
					in = in[4+n:]
					if err := emit(fr); err != nil {
						return err
					}
					continue
				}
				f.sizeN = 4
				copy(f.size[:], in[:4])
				in = in[4:]
			} else {
				c := copy(f.size[f.sizeN:], in)
				f.sizeN += c
				in = in[c:]
				if f.sizeN < 4 {
					return nil
				}
			}
			n := int32(binary.BigEndian.Uint32(f.size[:]))
			if n < 0 || n > f.maxSize {
				return ErrFrameSize
			}
			f.sizeN = 0
			if n == 0 {
				if err := emit(getFrame(0)); err != nil {
					return err
				}
				continue
			}
			f.need = int(n)
			f.cur = nil
		}
		// Accumulate into cur.
		take := min(len(in), f.need-len(f.cur))
		if want := len(f.cur) + take; want > cap(f.cur) {
			if err := f.grow(want); err != nil {
				return err
			}
		}
		f.cur = append(f.cur, in[:take]...)
		in = in[take:]
		if len(f.cur) == f.need {
			fr := f.cur
			f.b.release(f.charged)
			f.cur, f.need, f.charged = nil, 0, 0
			if err := emit(fr); err != nil {
				return err
			}
		}
	}
	return nil
}

// grow makes cur hold at least want bytes, at most need. It takes the
// largest buffer within twice the bytes that arrived (a power-of-two pool
// class up to maxPooledFrame), so the claimed size alone allocates nothing,
// and a large frame arriving in read-sized chunks is copied about once more
// in all, where doubling the previous capacity copied it at nearly every
// chunk (the produce profile's framer.grow, bench/results/2026-12-08-produce).
func (f *framer) grow(want int) error {
	newCap := 2 * want
	if newCap <= maxPooledFrame {
		newCap = 1 << (bits.Len(uint(newCap)) - 1) // a class: frameClass keeps it
	}
	newCap = max(newCap, minPartial)
	newCap = min(newCap, f.need)
	newCap = frameClass(newCap)
	delta := newCap - f.charged
	if !f.b.reserve(delta) {
		return ErrBufferBudget
	}
	f.charged = newCap
	nb := getFrameCap(newCap)[:len(f.cur)]
	copy(nb, f.cur)
	if f.cur != nil {
		putFrame(f.cur)
	}
	f.cur = nb
	return nil
}

// reset drops any partial frame and returns its budget. Idempotent.
func (f *framer) reset() {
	if f.cur != nil {
		putFrame(f.cur)
	}
	f.b.release(f.charged)
	f.cur, f.need, f.charged, f.sizeN = nil, 0, 0, 0
}

// buffered reports the bytes of the partial frame held.
func (f *framer) buffered() int { return len(f.cur) + f.sizeN }

// Header is the request header (v1, plus v2's tagged fields when the server
// knows the header version).
type Header struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is nil when the client sent a null client id.
	ClientID []byte
	// ClientIDEnd is the frame offset just after the client id: where header
	// v1's body starts and header v2's tagged fields start.
	ClientIDEnd int
	// BodyOffset is where the request body starts. It equals ClientIDEnd
	// unless the header version was known to be 2 and its tagged fields were
	// skipped.
	BodyOffset int
}

// parseHeader reads the request header from a frame body. hv may be nil; then
// BodyOffset == ClientIDEnd and the handler must skip header v2 tagged fields
// itself for flexible versions.
func parseHeader(frame []byte, hv func(apiKey, apiVersion int16) int) (Header, error) {
	var h Header
	if len(frame) < 10 {
		return h, ErrHeader
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	l := int16(binary.BigEndian.Uint16(frame[8:]))
	off := 10
	switch {
	case l == -1:
	case l < 0:
		return h, ErrHeader
	default:
		if int(l) > len(frame)-off {
			return h, ErrHeader
		}
		h.ClientID = frame[off : off+int(l) : off+int(l)]
		off += int(l)
	}
	h.ClientIDEnd, h.BodyOffset = off, off
	if hv != nil && hv(h.APIKey, h.APIVersion) >= 2 {
		end, err := skipTags(frame, off)
		if err != nil {
			return h, err
		}
		h.BodyOffset = end
	}
	return h, nil
}

// skipTags skips a tagged-field section starting at off.
func skipTags(b []byte, off int) (int, error) {
	n, off, err := uvarint(b, off)
	if err != nil {
		return 0, err
	}
	for ; n > 0; n-- {
		if _, off, err = uvarint(b, off); err != nil { // tag
			return 0, err
		}
		var size uint64
		if size, off, err = uvarint(b, off); err != nil {
			return 0, err
		}
		if size > uint64(len(b)-off) {
			return 0, ErrHeader
		}
		off += int(size)
	}
	return off, nil
}

func uvarint(b []byte, off int) (uint64, int, error) {
	v, n := binary.Uvarint(b[off:])
	if n <= 0 || n > 5 { // Kafka's unsigned varints are at most 32 bits
		return 0, 0, ErrHeader
	}
	return v, off + n, nil
}
