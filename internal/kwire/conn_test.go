package kwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// peer is a scripted broker on a real socket: serve gets each request frame (after the size)
// and returns the raw bytes to write back.
func peer(t *testing.T, serve func(frame []byte, w net.Conn) bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			var sz [4]byte
			if _, err := io.ReadFull(c, sz[:]); err != nil {
				return
			}
			frame := make([]byte, binary.BigEndian.Uint32(sz[:]))
			if _, err := io.ReadFull(c, frame); err != nil || !serve(frame, c) {
				return
			}
		}
	}()
	return ln.Addr().String()
}

// reqHeader is a parsed request header v1/v2.
type reqHeader struct {
	key, version int16
	corr         int32
	clientID     string
	body         []byte
}

func parseReq(t *testing.T, f []byte) reqHeader {
	h := reqHeader{key: int16(binary.BigEndian.Uint16(f)), version: int16(binary.BigEndian.Uint16(f[2:])),
		corr: int32(binary.BigEndian.Uint32(f[4:]))}
	n := int(binary.BigEndian.Uint16(f[8:]))
	h.clientID = string(f[10 : 10+n])
	h.body = f[10+n:]
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() {
		if h.body[0] != 0 {
			t.Errorf("request header carries tagged fields")
		}
		h.body = h.body[1:]
	}
	return h
}

// answer frames a response: correlation id, header tags (flexible, not ApiVersions), body.
func answer(corr int32, tags []byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(tags)+len(body)))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = append(b, tags...)
	return append(b, body...)
}

func dial(t *testing.T, addr string, o Options) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRequest: the header the broker sees (key, version, correlation id, client id, v2
// tags), and responses decoded past header v1's tagged fields, including a non-empty tag
// section; ApiVersions' response header stays v0.
func TestRequest(t *testing.T) {
	addr := peer(t, func(f []byte, w net.Conn) bool {
		h := parseReq(t, f)
		if h.clientID != "me" {
			t.Errorf("client id %q", h.clientID)
		}
		switch kmsg.Key(h.key) {
		case kmsg.ApiVersions:
			r := kmsg.NewPtrApiVersionsResponse()
			r.SetVersion(h.version)
			r.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 0, MinVersion: 3, MaxVersion: 9}, {ApiKey: 1, MinVersion: 4, MaxVersion: 12}}
			w.Write(answer(h.corr, nil, r.AppendTo(nil)))
		case kmsg.Metadata:
			r := kmsg.NewPtrMetadataResponse()
			r.SetVersion(h.version)
			r.ControllerID = 7
			// One unknown tag (key 5, 3 bytes) in the response header.
			w.Write(answer(h.corr, []byte{1, 5, 3, 'a', 'b', 'c'}, r.AppendTo(nil)))
		}
		return true
	})
	c := dial(t, addr, Options{ClientID: "me"})
	ctx := context.Background()
	v, err := c.ApiVersions(ctx, "test", "1")
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Pick(kmsg.Produce, 3, 12); got != 9 {
		t.Errorf("Pick(Produce, 3, 12) = %d, want 9", got)
	}
	if got := v.Pick(kmsg.Fetch, 0, 3); got != -1 {
		t.Errorf("Pick(Fetch, 0, 3) = %d, want -1", got)
	}
	if got := v.Pick(kmsg.Metadata, 0, 12); got != -1 {
		t.Errorf("Pick of an unlisted key = %d, want -1", got)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	resp, err := c.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if id := resp.(*kmsg.MetadataResponse).ControllerID; id != 7 {
		t.Fatalf("controller %d", id)
	}
}

// TestPipeline: requests sent back to back are answered in order; a response carrying
// another correlation id is an error.
func TestPipeline(t *testing.T) {
	const n = 100
	addr := peer(t, func(f []byte, w net.Conn) bool {
		h := parseReq(t, f)
		corr := h.corr
		if corr == n+1 {
			corr = 999
		}
		r := kmsg.NewPtrMetadataResponse()
		r.SetVersion(h.version)
		r.ControllerID = h.corr
		w.Write(answer(corr, nil, r.AppendTo(nil)))
		return true
	})
	c := dial(t, addr, Options{ReadBufferBytes: 16})
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(4)
	frame := EncodeRequest(nil, req, "pre-encoded")
	for i := range n + 1 {
		if err := c.SendFrame(frame); err != nil {
			t.Fatal(i, err)
		}
	}
	resp := kmsg.NewPtrMetadataResponse()
	resp.SetVersion(4)
	for i := range n {
		if err := c.Receive(resp); err != nil || resp.ControllerID != int32(i+1) {
			t.Fatalf("response %d: controller %d, %v", i, resp.ControllerID, err)
		}
	}
	if err := c.Receive(resp); err == nil {
		t.Fatal("a response to another request was accepted")
	}
}

// TestPeerCloses: a broker closing mid-response breaks the connection with ErrClosed, and
// the broken connection refuses further requests.
func TestPeerCloses(t *testing.T) {
	addr := peer(t, func(f []byte, w net.Conn) bool {
		h := parseReq(t, f)
		w.Write(answer(h.corr, nil, []byte{1, 2})[:7]) // size says 6, 3 bytes follow
		return false
	})
	c := dial(t, addr, Options{})
	req := kmsg.NewPtrMetadataRequest()
	_, err := c.Request(context.Background(), req)
	if !errors.Is(err, ErrClosed) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want ErrClosed (unexpected EOF)", err)
	}
	if c.Err() == nil {
		t.Fatal("connection not marked broken")
	}
	if _, err := c.Request(context.Background(), req); !errors.Is(err, ErrClosed) {
		t.Fatalf("second request: %v", err)
	}
}

// TestOversizedFrame: a size above MaxResponseBytes (or negative) is refused before a buffer
// is sized for it.
func TestOversizedFrame(t *testing.T) {
	for _, size := range []uint32{1<<20 + 1, 1 << 31, 1<<32 - 1} {
		r := NewReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, size)), 16, 1<<20)
		if _, err := r.Next(); err == nil {
			t.Fatalf("size %d accepted", size)
		}
		if _, err := r.NextOwned(); err == nil {
			t.Fatalf("size %d accepted by NextOwned", size)
		}
		if len(r.buf) != 16 {
			t.Errorf("size %d: buffer grew to %d refusing it", size, len(r.buf))
		}
	}
}

// TestCancel: cancelling the context interrupts a request the broker never answers.
func TestCancel(t *testing.T) {
	addr := peer(t, func([]byte, net.Conn) bool { return true })
	c := dial(t, addr, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, err := c.Request(ctx, kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("unanswered request succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if !errors.Is(c.Err(), context.Canceled) && c.Err() == nil {
		t.Fatalf("broken with %v", c.Err())
	}
}

// TestReaderSplits: frames split at every byte boundary come back whole, in order, whether
// read in place or owned.
func TestReaderSplits(t *testing.T) {
	var stream []byte
	var want [][]byte
	for i := 0; i < 50; i++ {
		f := bytes.Repeat([]byte{byte(i)}, 4+i*37)
		want = append(want, f)
		stream = binary.BigEndian.AppendUint32(stream, uint32(len(f)))
		stream = append(stream, f...)
	}
	for _, chunk := range []int{1, 3, 64, 1 << 20} {
		r := NewReader(&chunkReader{b: stream, n: chunk}, 16, 1<<20)
		for i, w := range want {
			next := r.Next
			if i%2 == 1 {
				next = r.NextOwned
			}
			got, err := next()
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("chunk %d frame %d: %v", chunk, i, err)
			}
		}
		if _, err := r.Next(); !errors.Is(err, ErrClosed) {
			t.Fatalf("chunk %d: %v at the end, want ErrClosed", chunk, err)
		}
	}
}

type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b = c.b[k:]
	return k, nil
}

// TestSkipTags: tag sections are skipped exactly; lengths past the end are refused.
func TestSkipTags(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		rest int // -1: refused
	}{
		{[]byte{0, 9}, 1},
		{[]byte{1, 5, 3, 'a', 'b', 'c', 9, 9}, 2},
		{[]byte{2, 1, 0, 2, 1, 'x'}, 0},
		{[]byte{1, 5, 4, 'a', 'b', 'c'}, -1},
		{[]byte{1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}, -1},
		{[]byte{3}, -1},
		{nil, -1},
	} {
		rest, err := SkipTags(tc.in)
		if tc.rest < 0 {
			if err == nil {
				t.Errorf("%x: accepted", tc.in)
			}
			continue
		}
		if err != nil || len(rest) != tc.rest {
			t.Errorf("%x: rest %d, %v; want %d", tc.in, len(rest), err, tc.rest)
		}
	}
}

// FuzzReader: any byte stream yields frames within the cap, in order, and then an error —
// never a panic, never a frame past the bytes given; SkipTags never returns more than it got.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 2, 0, 0, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 6, 0, 0, 0, 1, 1, 5, 3, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, owned := range []bool{false, true} {
			r := NewReader(&chunkReader{b: b, n: 7}, 8, 64)
			total := 0
			for {
				next := r.Next
				if owned {
					next = r.NextOwned
				}
				frame, err := next()
				if err != nil {
					break
				}
				if len(frame) > 64 {
					t.Fatalf("frame of %d bytes past the cap", len(frame))
				}
				total += 4 + len(frame)
				if total > len(b) {
					t.Fatalf("%d bytes of frames from %d bytes", total, len(b))
				}
				if rest, err := SkipTags(frame); err == nil && len(rest) > len(frame) {
					t.Fatal("SkipTags grew its input")
				}
			}
		}
	})
}
