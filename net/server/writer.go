package server

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	iovMax        = 1024    // Linux UIO_MAXIOV
	maxSendfile   = 1 << 30 // per sendfile(2) call; the kernel caps at 0x7ffff000
	copyChunkSize = 256 << 10
)

// copyChunks are the pread buffers of the copy fallback for regions without
// a descriptor: one per writer at most while it sends such a region.
var copyChunks = sync.Pool{New: func() any { return new([copyChunkSize]byte) }}

const (
	opWritev = iota
	opSendfile
)

// writerState sends responses on the connection's socket dup. It is used only
// by the connection's single writer goroutine. Every syscall goes through
// conn.raw.Write, which parks the goroutine on Go's netpoller when the socket
// returns EAGAIN and retries when it is writable again: no spinning, no
// thread blocked, and conn.file.Close wakes it with an error.
type writerState struct {
	c    *conn
	bufs [][]byte // byte parts queued for the next writev; they alias responses
	bh   int      // bufs[bh:] are unsent
	iov  []unix.Iovec

	// The current syscall, set up before conn.raw.Write(opFn).
	op    int
	srcFd int
	off   int64
	count int
	n     int
	err   error
	opFn  func(fd uintptr) bool

	bulk bool // the socket's send buffer was raised for bulk sends (raiseSendBuffer)
}

// bulkRegion is the region size from which a connection counts as a bulk reader (a consumer
// or follower catching up) and gets the larger send buffer of bulkSendBuffer.
const bulkRegion = 1 << 20

// bulkSendBuffer is the SO_SNDBUF (net.core.wmem_max) a bulk reader's socket gets, or 0 when
// that would not beat the kernel's autotuning (which grows a socket's buffer up to
// net.ipv4.tcp_wmem's maximum and stops when SO_SNDBUF is set; the kernel doubles a set
// value). A full send buffer makes sendfile(2) return short and the writer park until the
// socket drains: on a catch-up over loopback, 8 MiB instead of autotuning's 4 MiB cut
// sendfile calls per GB from 500-580 to 350-375 in every run, and the broker's median CPU per
// GB from 0.39 to 0.36 s on a loaded machine (bench/results/2026-12-08-fetch); 4 MiB set (the
// same as autotuning's maximum) changed nothing. Only bulk readers get it: everything else
// keeps autotuning's small start.
var bulkSendBuffer = sync.OnceValue(func() int {
	wmemMax := readSysctlInts("/proc/sys/net/core/wmem_max")
	tcpWmem := readSysctlInts("/proc/sys/net/ipv4/tcp_wmem") // min, default, max
	if len(wmemMax) != 1 || len(tcpWmem) != 3 || 2*wmemMax[0] <= tcpWmem[2] {
		return 0
	}
	return wmemMax[0]
})

// readSysctlInts reads a /proc/sys file of whitespace-separated integers; nil if it cannot.
func readSysctlInts(path string) []int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}

// raiseSendBuffer gives the socket bulkSendBuffer's send buffer, once per connection. A
// failure leaves autotuning in place, which still works.
func (w *writerState) raiseSendBuffer() {
	w.bulk = true
	size := bulkSendBuffer()
	if size == 0 {
		return
	}
	_ = w.c.raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, size)
	})
}

func (w *writerState) init(c *conn) {
	w.c = c
	w.iov = make([]unix.Iovec, 0, 16)
	w.opFn = w.rawOp
}

// rawOp performs one syscall; false means EAGAIN (wait for POLLOUT, retry).
func (w *writerState) rawOp(fd uintptr) bool {
	for {
		var e error
		switch w.op {
		case opWritev:
			w.iov = w.iov[:0]
			for _, b := range w.bufs[w.bh:] {
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				w.iov = append(w.iov, v)
				if len(w.iov) == iovMax {
					break
				}
			}
			r, _, errno := unix.Syscall(unix.SYS_WRITEV, fd,
				uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
			w.n = int(r)
			if errno != 0 {
				w.n, e = 0, errno
			}
		case opSendfile:
			w.n, e = unix.Sendfile(int(fd), w.srcFd, &w.off, w.count)
		}
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			w.c.s.st.writeWaits.Add(1)
			return false
		}
		w.err = e
		if w.n < 0 {
			w.n = 0
		}
		return true
	}
}

// do runs the prepared op, waiting out EAGAIN.
func (w *writerState) do() (int, error) {
	w.n, w.err = 0, nil
	if err := w.c.raw.Write(w.opFn); err != nil {
		return 0, err
	}
	return w.n, w.err
}

// writeBatch writes the responses of consecutive slots; nil responses are
// skipped. Byte parts are gathered across responses into writev calls; a
// region flushes them first, keeping the wire order.
func (w *writerState) writeBatch(batch []*slot) error {
	for _, sl := range batch {
		r := sl.resp
		if r == nil {
			continue
		}
		size := r.Len()
		if size > math.MaxInt32 {
			return errors.New("server: response larger than 2 GiB")
		}
		binary.BigEndian.PutUint32(sl.size[:], uint32(size))
		if err := w.queue(sl.size[:]); err != nil {
			return err
		}
		for i := range r.parts {
			p := &r.parts[i]
			if p.buf != nil {
				if err := w.queue(p.buf.B); err != nil {
					return err
				}
				continue
			}
			if p.region.Len == 0 {
				continue
			}
			if err := w.flush(); err != nil {
				return err
			}
			if err := w.sendRegion(&p.region); err != nil {
				return err
			}
		}
	}
	return w.flush()
}

func (w *writerState) queue(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	w.bufs = append(w.bufs, b)
	if len(w.bufs)-w.bh >= iovMax {
		return w.flush()
	}
	return nil
}

// flush writes every queued byte part.
func (w *writerState) flush() error {
	defer func() {
		clear(w.bufs)
		w.bufs, w.bh = w.bufs[:0], 0
	}()
	if w.c.stream != nil {
		return w.flushStream()
	}
	for w.bh < len(w.bufs) {
		w.op = opWritev
		n, err := w.do()
		if err != nil {
			return err
		}
		w.c.s.st.bytesOut.Add(int64(n))
		for n > 0 {
			if b := w.bufs[w.bh]; n >= len(b) {
				n -= len(b)
				w.bufs[w.bh] = nil
				w.bh++
			} else {
				w.bufs[w.bh] = b[n:]
				n = 0
			}
		}
	}
	return nil
}

func (w *writerState) sendRegion(r *Region) error {
	off, remain := r.Offset, r.Len
	if f, ok := r.File.(fdFile); ok && w.c.stream == nil { // sendfile cannot encrypt
		if !w.bulk && remain >= bulkRegion {
			w.raiseSendBuffer()
		}
		srcFd := int(f.Fd())
		for remain > 0 {
			w.op, w.srcFd, w.off, w.count = opSendfile, srcFd, off, int(min(remain, maxSendfile))
			n, err := w.do()
			if n > 0 {
				off += int64(n)
				remain -= int64(n)
				w.c.s.st.bytesOut.Add(int64(n))
				w.c.s.st.sendfileBytes.Add(int64(n))
			}
			switch {
			case err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP:
				// Not sendfile-able (e.g. some FUSE or proc files): copy the rest.
				return w.copyRegion(r.File, off, remain)
			case err != nil:
				return err
			case n == 0:
				return errShortRegion
			}
		}
		return nil
	}
	return w.copyRegion(r.File, off, remain)
}

// copyRegion is the fallback: pread into a pooled chunk, then write it.
func (w *writerState) copyRegion(f RegionFile, off, remain int64) error {
	chunk := copyChunks.Get().(*[copyChunkSize]byte)
	defer copyChunks.Put(chunk)
	for remain > 0 {
		k := int(min(remain, copyChunkSize))
		m, err := f.ReadAt(chunk[:k], off)
		if m < k {
			if err == nil || err == io.EOF {
				err = errShortRegion
			}
			return err
		}
		w.bufs = append(w.bufs[:0], chunk[:m])
		w.bh = 0
		if err := w.flush(); err != nil {
			return err
		}
		w.c.s.st.copiedBytes.Add(int64(m))
		off += int64(m)
		remain -= int64(m)
	}
	return nil
}
