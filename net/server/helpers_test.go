package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// startServer starts a server on 127.0.0.1:0 and shuts it down at cleanup.
func startServer(t testing.TB, cfg Config, h Handler) (*Server, string) {
	t.Helper()
	s := New(cfg, h)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, s.Addr().String()
}

// appendRequest appends a framed request with header v1.
func appendRequest(dst []byte, apiKey, ver int16, corr int32, clientID string, body []byte) []byte {
	size := 2 + 2 + 4 + 2 + len(clientID) + len(body)
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = binary.BigEndian.AppendUint16(dst, uint16(apiKey))
	dst = binary.BigEndian.AppendUint16(dst, uint16(ver))
	dst = binary.BigEndian.AppendUint32(dst, uint32(corr))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(clientID)))
	dst = append(dst, clientID...)
	return append(dst, body...)
}

// readResponse reads one size-prefixed response into buf (grown as needed).
func readResponse(r io.Reader, buf []byte) ([]byte, error) {
	if cap(buf) < 4 {
		buf = make([]byte, 4, 256)
	}
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(buf[:4]))
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return buf, err
}

// echoHandler answers correlation id + body.
var echoHandler = HandlerFunc(func(req *Request) *Response {
	r := NewResponse()
	r.AppendInt32(req.CorrelationID)
	_, _ = r.Write(req.Body())
	return r
})

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialSmallRcvbuf dials with a small SO_RCVBUF set before connect, so the
// server's sends hit EAGAIN quickly.
func dialSmallRcvbuf(t testing.TB, addr string, size int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one echo request and checks the answer.
func roundTrip(t testing.TB, c net.Conn, corr int32, body string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(appendRequest(nil, 18, 0, corr, "cli", []byte(body))); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := readResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if got := int32(binary.BigEndian.Uint32(resp)); got != corr || string(resp[4:]) != body {
		t.Fatalf("got corr %d body %q, want %d %q", got, resp[4:], corr, body)
	}
}

// expectClosed asserts that the server closes c (EOF or reset) in time.
func expectClosed(t testing.TB, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("connection not closed by server")
		}
		return
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return fmt.Sprintf("%s", buf[:runtime.Stack(buf, true)])
}
