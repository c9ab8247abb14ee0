package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcerts"
)

// startTLSServer starts a TLS server on 127.0.0.1:0 and returns a client config trusting it.
func startTLSServer(t testing.TB, cfg Config, h Handler) (*Server, string, *tls.Config) {
	t.Helper()
	ca := testcerts.NewCA(t, "test CA")
	s := New(cfg, h)
	if err := s.StartTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Pair(t, pkix.Name{CommonName: "localhost"})}}); err != nil {
		t.Fatalf("StartTLS: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, s.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
}

func dialTLS(t testing.TB, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial TLS: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTLSPipelineOrder: over TLS, pipelined requests past the in-flight cap (the reader
// pauses, the writer wakes it) are answered in request order, whatever order handlers end in.
func TestTLSPipelineOrder(t *testing.T) {
	var n atomic.Int32
	h := HandlerFunc(func(req *Request) *Response {
		if n.Add(1)%3 == 0 {
			time.Sleep(time.Millisecond) // finish out of order
		}
		return echoHandler(req)
	})
	s, addr, ccfg := startTLSServer(t, Config{MaxInFlight: 2}, h)
	c := dialTLS(t, addr, ccfg)
	const reqs = 200
	var out []byte
	for i := range reqs {
		out = appendRequest(out, 18, 0, int32(i), "cli", []byte{byte(i)})
	}
	go c.Write(out)
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range reqs {
		resp, err := readResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(resp)); corr != int32(i) || resp[4] != byte(i) {
			t.Fatalf("response %d: corr %d body %v", i, corr, resp[4:])
		}
	}
	if st := s.Stats(); st.Pauses == 0 || st.Requests != reqs || st.ConnsActive != 1 {
		t.Fatalf("stats %+v: want pauses, %d requests, one connection", st, reqs)
	}
}

// TestTLSRegions: file regions go through TLS (copied, never sendfile'd) between the byte
// parts, intact.
func TestTLSRegions(t *testing.T) {
	f, data := tempFile(t, 3<<20)
	h := &regionHandler{f: f}
	s, addr, ccfg := startTLSServer(t, Config{}, h)
	c := dialTLS(t, addr, ccfg)
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, r := range [][2]int64{{0, 100}, {5, 1 << 20}, {1, 3<<20 - 1}, {7, 0}} {
		if _, err := c.Write(regionRequest(nil, int32(i), r[0], r[1])); err != nil {
			t.Fatal(err)
		}
		resp, err := readResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(append(binary.BigEndian.AppendUint32(nil, uint32(i)), "HDR"...), data[r[0]:r[0]+r[1]]...), "END"...)
		if !bytes.Equal(resp, want) {
			t.Fatalf("region %v: %d bytes differ from the file's", r, len(resp))
		}
	}
	if st := s.Stats(); st.SendfileBytes != 0 || st.CopiedBytes != 100+1<<20+3<<20-1 {
		t.Fatalf("stats %+v: want every region byte copied", st)
	}
	waitFor(t, time.Second, "regions released", func() bool { return h.released.Load() == 4 })
}

// TestTLSBadPeers: a client that is not TLS and one that sends a frame above the limit are
// closed; a good one is unaffected.
func TestTLSBadPeers(t *testing.T) {
	s, addr, ccfg := startTLSServer(t, Config{MaxRequestBytes: 1 << 10}, echoHandler)
	good := dialTLS(t, addr, ccfg)
	plain := dial(t, addr)
	plain.Write(appendRequest(nil, 18, 0, 1, "cli", []byte("not tls")))
	expectClosed(t, plain)

	big := dialTLS(t, addr, ccfg)
	big.Write(binary.BigEndian.AppendUint32(nil, 1<<20))
	expectClosed(t, big)
	roundTrip(t, good, 7, "still here")
	if st := s.Stats(); st.ProtocolCloses < 2 {
		t.Fatalf("stats %+v: want the two bad peers counted", st)
	}
}

// TestTLSShutdown: Shutdown answers what is in flight, closes every connection and leaves
// no goroutine behind.
func TestTLSShutdown(t *testing.T) {
	release := make(chan struct{})
	h := HandlerFunc(func(req *Request) *Response {
		if req.CorrelationID == 1 {
			<-release
		}
		return echoHandler(req)
	})
	ca := testcerts.NewCA(t, "test CA")
	s := New(Config{}, h)
	if err := s.StartTLS("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.Pair(t, pkix.Name{CommonName: "localhost"})}}); err != nil {
		t.Fatal(err)
	}
	c := dialTLS(t, s.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	idle := dialTLS(t, s.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"})
	roundTrip(t, idle, 0, "x")
	c.Write(appendRequest(nil, 18, 0, 1, "cli", []byte("slow")))
	// Requests, not InFlight alone: the idle request's slot may still be releasing.
	waitFor(t, 5*time.Second, "request in flight", func() bool { st := s.Stats(); return st.Requests == 2 && st.InFlight == 1 })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	resp, err := readResponse(bufio.NewReader(c), nil)
	if err != nil || string(resp[4:]) != "slow" {
		t.Fatalf("in-flight answer: %q %v (stats %+v)", resp, err, s.Stats())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	expectClosed(t, idle)
	if st := s.Stats(); st.ConnsActive != 0 || st.InFlight != 0 {
		t.Fatalf("after shutdown: %+v", st)
	}
}
