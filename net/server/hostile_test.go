package server

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestHostileInputClosesConn(t *testing.T) {
	cases := map[string][]byte{
		"negative size":     binary.BigEndian.AppendUint32(nil, 0xffffff00),
		"size above max":    binary.BigEndian.AppendUint32(nil, 1<<20+1),
		"garbage":           []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"truncated header":  append(binary.BigEndian.AppendUint32(nil, 5), 0, 18, 0, 0, 0),
		"empty frame":       binary.BigEndian.AppendUint32(nil, 0),
		"negative clientid": {0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xfe},
		"clientid too long": {0, 0, 0, 12, 0, 18, 0, 0, 0, 0, 0, 1, 0, 9, 'a', 'b'},
	}
	s, addr := startServer(t, Config{MaxRequestBytes: 1 << 20}, echoHandler)
	good := dial(t, addr)
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, addr)
			if _, err := c.Write(in); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			roundTrip(t, good, 1, "still served")
		})
	}
	if st := s.Stats(); st.ProtocolCloses != int64(len(cases)) || st.Requests != int64(len(cases)) {
		t.Fatalf("stats %+v", st)
	}
}

// TestHalfOpenFrames: 2,000 connections each claim a 100 MiB frame and send a
// few bytes. Memory stays bounded (nothing is preallocated) and a well-behaved
// client is still served.
func TestHalfOpenFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 connections")
	}
	const conns = 2000
	s, addr := startServer(t, Config{}, echoHandler)
	good := dial(t, addr)
	roundTrip(t, good, 1, "before")
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc

	claim := binary.BigEndian.AppendUint32(nil, 100<<20)
	claim = append(claim, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0) // a header's worth
	cs := make([]net.Conn, 0, conns)
	for range conns {
		c := dial(t, addr)
		if _, err := c.Write(claim); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	waitFor(t, 10*time.Second, "all bytes read", func() bool {
		return s.Stats().BytesIn >= int64(conns*len(claim))
	})
	roundTrip(t, good, 2, "during")
	runtime.GC()
	runtime.ReadMemStats(&ms)
	st := s.Stats()
	t.Logf("heap %d MiB above baseline, buffered %d KiB, %+v", (int64(ms.HeapAlloc)-int64(base))>>20, st.BufferedBytes>>10, st)
	if grow := int64(ms.HeapAlloc) - int64(base); grow > 64<<20 {
		t.Fatalf("heap grew %d MiB for %d half-open frames", grow>>20, conns)
	}
	if st.BufferedBytes > conns*minPartial {
		t.Fatalf("buffered %d", st.BufferedBytes)
	}
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, 10*time.Second, "budget released", func() bool { return s.Stats().BufferedBytes == 0 })
}

// TestBufferBudget: with a small global budget, connections trickling large
// frames are closed once it runs out; others are unaffected.
func TestBufferBudget(t *testing.T) {
	s, addr := startServer(t, Config{MaxBufferedBytes: 1 << 20}, echoHandler)
	good := dial(t, addr)
	chunk := make([]byte, 64<<10)
	cs := make([]net.Conn, 0, 40)
	for range 40 {
		c := dial(t, addr)
		b := append(binary.BigEndian.AppendUint32(nil, 50<<20), chunk...)
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	waitFor(t, 10*time.Second, "budget closes", func() bool { return s.Stats().BudgetCloses > 0 })
	if st := s.Stats(); st.BufferedBytes > 1<<20 {
		t.Fatalf("buffered %d above budget", st.BufferedBytes)
	}
	roundTrip(t, good, 1, "unaffected")
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, 10*time.Second, "budget released", func() bool { return s.Stats().BufferedBytes == 0 })
}

// TestLargeFrameTrickle: a legitimate large frame arriving in small pieces is
// assembled correctly.
func TestLargeFrameTrickle(t *testing.T) {
	_, addr := startServer(t, Config{}, echoHandler)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	body := make([]byte, 3<<20+17)
	for i := range body {
		body[i] = byte(i * 31)
	}
	req := appendRequest(nil, 18, 0, 5, "big", body)
	go func() {
		for len(req) > 0 {
			n := min(len(req), 100_000)
			if _, err := c.Write(req[:n]); err != nil {
				return
			}
			req = req[n:]
			time.Sleep(time.Millisecond)
		}
	}()
	resp, err := readResponse(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if int32(binary.BigEndian.Uint32(resp)) != 5 || string(resp[4:]) != string(body) {
		t.Fatal("large frame corrupted")
	}
}
