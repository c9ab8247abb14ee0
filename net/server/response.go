package server

import (
	"io"
	"sync"
	"time"

	"github.com/valyala/bytebufferpool"
)

// RegionFile is the source of a file Region. ReadAt must be safe for concurrent
// use (os.File's is: it is pread(2)). If the value also implements
//
//	Fd() uintptr
//
// the bytes go out with sendfile(2) using an explicit offset, so the file's
// shared offset never moves and concurrent regions of one file are safe. The
// descriptor must stay open until the Region's Release runs.
type RegionFile interface {
	io.ReaderAt
}

// fdFile is the optional sendfile capability of a RegionFile.
type fdFile interface {
	Fd() uintptr
}

// Region is a byte range of a file sent without copying it through user space
// when the file has a descriptor.
type Region struct {
	File   RegionFile
	Offset int64
	Len    int64
	// Release, if non-nil, runs exactly once after the region was sent or the
	// response was dropped (connection closed). Drop segment references here.
	Release func()
}

// part is one element of a Response: either pooled bytes or a region.
type part struct {
	buf    *bytebufferpool.ByteBuffer // nil for a region
	region Region
}

// Response is an ordered list of byte parts and file regions. The server writes
// the 4-byte size prefix (the sum of all parts) itself; the broker writes
// everything after it, starting with the response header.
//
// Build one with NewResponse, append to it, return it from Handle, and do not
// touch it afterwards: the server owns it from then on, writes it, runs the
// regions' Release funcs and recycles its buffers.
type Response struct {
	parts      []part
	size       int64
	closeAfter bool          // CloseAfter
	mute       time.Duration // MuteFor (mute.go)
}

// CloseAfter closes the connection once this response is written (Kafka's answer to a
// failed authentication: the client reads why, then the connection ends).
func (r *Response) CloseAfter() { r.closeAfter = true }

var responsePool = sync.Pool{New: func() any { return &Response{parts: make([]part, 0, 4)} }}

// NewResponse returns an empty pooled Response.
func NewResponse() *Response { return responsePool.Get().(*Response) }

// Buffer returns the pooled byte buffer at the tail of the response, starting
// a new one if the last part is a region. Append to it directly, e.g.
// bb.B = msg.AppendTo(bb.B). After AppendRegion call Buffer again: appending
// to a buffer obtained before the region would put bytes before it.
func (r *Response) Buffer() *bytebufferpool.ByteBuffer {
	if n := len(r.parts); n > 0 && r.parts[n-1].buf != nil {
		return r.parts[n-1].buf
	}
	bb := bytebufferpool.Get()
	r.parts = append(r.parts, part{buf: bb})
	return bb
}

// Write appends p (copied) and implements io.Writer.
func (r *Response) Write(p []byte) (int, error) {
	bb := r.Buffer()
	bb.B = append(bb.B, p...)
	return len(p), nil
}

// AppendInt32 appends v big-endian (Kafka's byte order).
func (r *Response) AppendInt32(v int32) {
	bb := r.Buffer()
	bb.B = append(bb.B, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// AppendRegion appends a file region. A region with Len 0 is dropped (its
// Release still runs when the response is released).
func (r *Response) AppendRegion(reg Region) {
	if reg.Len < 0 || reg.Offset < 0 {
		panic("server: negative region offset or length")
	}
	r.parts = append(r.parts, part{region: reg})
	r.size += reg.Len
}

// Len is the number of bytes after the size prefix.
func (r *Response) Len() int64 {
	n := r.size
	for i := range r.parts {
		if b := r.parts[i].buf; b != nil {
			n += int64(len(b.B))
		}
	}
	return n
}

// Release frees a Response that will not be returned to the server (a handler
// that built one and then decided to answer differently). The server calls it
// itself for returned responses.
func (r *Response) Release() {
	for i := range r.parts {
		p := &r.parts[i]
		if p.buf != nil {
			bytebufferpool.Put(p.buf)
		} else if p.region.Release != nil {
			p.region.Release()
		}
		*p = part{}
	}
	r.parts = r.parts[:0]
	r.size = 0
	r.closeAfter = false
	r.mute = 0
	if cap(r.parts) > 64 { // refuse oversized part lists
		return
	}
	responsePool.Put(r)
}
