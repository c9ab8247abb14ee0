package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// regionHandler answers a request whose body is (offset int64, len int64)
// with: correlation id, a 3-byte marker, the file region, a 3-byte trailer.
// It counts Release calls.
type regionHandler struct {
	f        RegionFile
	released atomic.Int64
}

func (h *regionHandler) Handle(req *Request) *Response {
	b := req.Body()
	off := int64(binary.BigEndian.Uint64(b))
	n := int64(binary.BigEndian.Uint64(b[8:]))
	r := NewResponse()
	r.AppendInt32(req.CorrelationID)
	_, _ = r.Write([]byte("HDR"))
	r.AppendRegion(Region{File: h.f, Offset: off, Len: n, Release: func() { h.released.Add(1) }})
	_, _ = r.Write([]byte("END"))
	return r
}

func regionRequest(dst []byte, corr int32, off, n int64) []byte {
	var body [16]byte
	binary.BigEndian.PutUint64(body[:], uint64(off))
	binary.BigEndian.PutUint64(body[8:], uint64(n))
	return appendRequest(dst, 1, 12, corr, "fetcher", body[:])
}

func tempFile(t testing.TB, size int) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	_, _ = rng.Read(data)
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// readerAtOnly hides os.File's Fd so the copy fallback is used.
type readerAtOnly struct{ r io.ReaderAt }

func (r readerAtOnly) ReadAt(p []byte, off int64) (int, error) { return r.r.ReadAt(p, off) }

func checkRegionResponse(t testing.TB, resp []byte, corr int32, want []byte) {
	t.Helper()
	if got := int32(binary.BigEndian.Uint32(resp)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	if len(resp) != 4+3+len(want)+3 || string(resp[4:7]) != "HDR" || string(resp[len(resp)-3:]) != "END" {
		t.Fatalf("bad framing: len %d", len(resp))
	}
	if !bytes.Equal(resp[7:7+len(want)], want) {
		i := 0
		for i < len(want) && resp[7+i] == want[i] {
			i++
		}
		t.Fatalf("region bytes differ at %d", i)
	}
}

// slowRead reads one response slowly in small pieces.
func slowReadResponse(t testing.TB, r io.Reader) []byte {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatal(err)
	}
	out := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	for got := 0; got < len(out); {
		n, err := r.Read(out[got:min(len(out), got+32<<10)])
		if err != nil {
			t.Fatal(err)
		}
		got += n
		if got%(1<<20) < n {
			time.Sleep(15 * time.Millisecond)
		}
	}
	return out
}

func TestRegionSendfileSlowReader(t *testing.T) {
	testRegionSlowReader(t, true)
}

func TestRegionCopyFallbackSlowReader(t *testing.T) {
	testRegionSlowReader(t, false)
}

func testRegionSlowReader(t *testing.T, sendfile bool) {
	const size = 6<<20 + 12345
	f, data := tempFile(t, size)
	h := &regionHandler{f: f}
	if !sendfile {
		h.f = readerAtOnly{f}
	}
	s, addr := startServer(t, Config{}, h)
	c := dialSmallRcvbuf(t, addr, 8<<10)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	// Three pipelined regions, the middle one at an odd offset.
	reqs := regionRequest(nil, 1, 0, size)
	reqs = regionRequest(reqs, 2, 4097, 1<<20+3)
	reqs = regionRequest(reqs, 3, size-10, 10)
	if _, err := c.Write(reqs); err != nil {
		t.Fatal(err)
	}
	checkRegionResponse(t, slowReadResponse(t, c), 1, data)
	checkRegionResponse(t, slowReadResponse(t, c), 2, data[4097:4097+1<<20+3])
	checkRegionResponse(t, slowReadResponse(t, c), 3, data[size-10:])
	waitFor(t, 5*time.Second, "releases", func() bool { return h.released.Load() == 3 })
	st := s.Stats()
	total := int64(size + 1<<20 + 3 + 10)
	if sendfile && (st.SendfileBytes != total || st.CopiedBytes != 0) {
		t.Fatalf("sendfile path not used: %+v", st)
	}
	if !sendfile && (st.CopiedBytes != total || st.SendfileBytes != 0) {
		t.Fatalf("copy path not used: %+v", st)
	}
	if st.WriteWaits == 0 {
		t.Fatalf("slow reader never made the writer wait: %+v", st)
	}
	// The file offset of the shared descriptor never moved.
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != 0 {
		t.Fatalf("file offset moved to %d", pos)
	}
}

// TestConcurrentRegions: many connections fetch different regions of one file
// at once.
func TestConcurrentRegions(t *testing.T) {
	const size = 8 << 20
	f, data := tempFile(t, size)
	h := &regionHandler{f: f}
	_, addr := startServer(t, Config{}, h)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, addr)
			_ = c.SetDeadline(time.Now().Add(60 * time.Second))
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			type q struct{ off, n int64 }
			var qs []q
			var buf []byte
			for i := range 20 {
				off := rng.Int64N(size)
				n := rng.Int64N(min(size-off, 1<<20) + 1)
				qs = append(qs, q{off, n})
				buf = regionRequest(buf, int32(i), off, n)
			}
			go c.Write(buf)
			br := bufio.NewReader(c)
			for i, q := range qs {
				resp, err := readResponse(br, nil)
				if err != nil {
					errs <- err.Error()
					return
				}
				if int32(binary.BigEndian.Uint32(resp)) != int32(i) ||
					!bytes.Equal(resp[7:len(resp)-3], data[q.off:q.off+q.n]) {
					errs <- "mismatch"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// TestRegionShortFileClosesConn: a region past the end of the file cannot be
// sent completely; the connection is closed rather than sending a short frame.
func TestRegionShortFileClosesConn(t *testing.T) {
	for _, sendfile := range []bool{true, false} {
		f, _ := tempFile(t, 1000)
		h := &regionHandler{f: f}
		if !sendfile {
			h.f = readerAtOnly{f}
		}
		_, addr := startServer(t, Config{}, h)
		c := dial(t, addr)
		if _, err := c.Write(regionRequest(nil, 1, 500, 1000)); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		waitFor(t, 5*time.Second, "release", func() bool { return h.released.Load() == 1 })
	}
}

// sndbufHandler is regionHandler remembering the last request's connection, so the test can
// read its socket's options.
type sndbufHandler struct {
	regionHandler
	last atomic.Pointer[conn]
}

func (h *sndbufHandler) Handle(req *Request) *Response {
	h.last.Store(req.sl.c)
	return h.regionHandler.Handle(req)
}

// TestBulkRegionRaisesSendBuffer: a connection keeps the kernel's autotuned send buffer
// until it sends a region of bulkRegion bytes or more, and then has bulkSendBuffer's (the
// kernel reports twice the value set).
func TestBulkRegionRaisesSendBuffer(t *testing.T) {
	want := bulkSendBuffer()
	if want == 0 {
		t.Skip("net.core.wmem_max does not beat autotuning's tcp_wmem maximum here: nothing is raised")
	}
	f, data := tempFile(t, 2*bulkRegion)
	h := &sndbufHandler{regionHandler: regionHandler{f: f}}
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	br := bufio.NewReader(c)
	sndbuf := func() int {
		var v int
		var err error
		if cerr := h.last.Load().raw.Control(func(fd uintptr) {
			v, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
		}); cerr != nil {
			t.Fatal(cerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var buf []byte
	exchange := func(corr int32, n int64) {
		t.Helper()
		if _, err := c.Write(regionRequest(nil, corr, 0, n)); err != nil {
			t.Fatal(err)
		}
		resp, err := readResponse(br, buf)
		if err != nil {
			t.Fatal(err)
		}
		checkRegionResponse(t, resp, corr, data[:n])
	}
	exchange(1, bulkRegion-1)
	if got := sndbuf(); got >= 2*want {
		t.Fatalf("send buffer %d after a small region: raised too early (bulk %d)", got, 2*want)
	}
	exchange(2, bulkRegion)
	if got := sndbuf(); got != 2*want {
		t.Fatalf("send buffer %d after a %d-byte region, want %d", got, bulkRegion, 2*want)
	}
}
