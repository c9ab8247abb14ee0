package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEcho(t *testing.T) {
	s, addr := startServer(t, Config{}, echoHandler)
	c := dial(t, addr)
	for i := range 10 {
		roundTrip(t, c, int32(i), "hello")
	}
	roundTrip(t, c, 99, "") // empty body
	st := s.Stats()
	if st.Requests != 11 || st.Responses != 11 || st.ConnsActive != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRequestFields(t *testing.T) {
	got := make(chan Request, 1)
	_, addr := startServer(t, Config{}, HandlerFunc(func(req *Request) *Response {
		r := *req
		r.Frame = append([]byte(nil), req.Frame...)
		r.ClientID = append([]byte(nil), req.ClientID...)
		got <- r
		return nil
	}))
	c := dial(t, addr)
	if _, err := c.Write(appendRequest(nil, 3, 12, 7, "my-client", []byte{1, 2, 3})); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.APIKey != 3 || r.APIVersion != 12 || r.CorrelationID != 7 || string(r.ClientID) != "my-client" ||
		r.ConnID == 0 || r.RemoteAddr == nil || string(r.Frame[r.BodyOffset:]) != "\x01\x02\x03" ||
		r.ClientIDEnd != 19 {
		t.Fatalf("request %+v", r)
	}
}

// TestHeaderVersion: with an injected HeaderVersion the server skips header v2
// tagged fields.
func TestHeaderVersion(t *testing.T) {
	cfg := Config{HeaderVersion: func(k, v int16) int {
		if k == 18 && v >= 3 {
			return 2
		}
		return 1
	}}
	_, addr := startServer(t, cfg, echoHandler)
	c := dial(t, addr)
	// Two tagged fields: tag 0 size 2, tag 5 size 0; then body "xyz".
	body := []byte{2, 0, 2, 'a', 'b', 5, 0, 'x', 'y', 'z'}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(appendRequest(nil, 18, 3, 42, "c", body)); err != nil {
		t.Fatal(err)
	}
	resp, err := readResponse(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp[4:]) != "xyz" {
		t.Fatalf("body %q", resp[4:])
	}
	// Header v1 API: tagged-field bytes are body.
	roundTrip(t, c, 43, "\x02\x00")
}

// TestPipelineOrder: 1,000 pipelined requests whose handlers finish in random
// order come back in request order.
func TestPipelineOrder(t *testing.T) {
	const n = 1000
	h := HandlerFunc(func(req *Request) *Response {
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Microsecond)
		return echoHandler(req)
	})
	s, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		var buf []byte
		for i := range n {
			buf = appendRequest(buf[:0], 18, 0, int32(i), "cli", binary.BigEndian.AppendUint32(nil, uint32(i*7)))
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(c)
	var resp []byte
	var err error
	for i := range n {
		if resp, err = readResponse(br, resp); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(resp)); corr != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if v := binary.BigEndian.Uint32(resp[4:]); v != uint32(i*7) {
			t.Fatalf("response %d body %d", i, v)
		}
	}
	if st := s.Stats(); st.Pauses == 0 {
		t.Logf("no pause observed (stats %+v)", st)
	}
}

// TestNilResponses: acks=0-style nil responses are skipped without breaking
// the order of the others.
func TestNilResponses(t *testing.T) {
	const n = 300
	h := HandlerFunc(func(req *Request) *Response {
		time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond)
		if req.CorrelationID%3 == 0 {
			return nil
		}
		return echoHandler(req)
	})
	_, addr := startServer(t, Config{MaxInFlight: 8}, h)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var buf []byte
	for i := range n {
		buf = appendRequest(buf, 0, 9, int32(i), "p", nil)
	}
	go c.Write(buf)
	br := bufio.NewReader(c)
	for i := range n {
		if i%3 == 0 {
			continue
		}
		resp, err := readResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(resp)); corr != int32(i) {
			t.Fatalf("got correlation id %d, want %d", corr, i)
		}
	}
}

// TestBackPressure: a connection stops being read at MaxInFlight; nothing past
// one read chunk is buffered; releasing the handlers drains everything.
func TestBackPressure(t *testing.T) {
	const n = 2000
	gate := make(chan struct{})
	var running atomic.Int64
	var maxRunning atomic.Int64
	h := HandlerFunc(func(req *Request) *Response {
		r := running.Add(1)
		for {
			m := maxRunning.Load()
			if r <= m || maxRunning.CompareAndSwap(m, r) {
				break
			}
		}
		<-gate
		running.Add(-1)
		return echoHandler(req)
	})
	s, addr := startServer(t, Config{MaxInFlight: 4}, h)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	body := make([]byte, 1000)
	var buf []byte
	for i := range n {
		buf = appendRequest(buf, 18, 0, int32(i), "c", body)
	}
	writeDone := make(chan error, 1)
	go func() { _, err := c.Write(buf); writeDone <- err }()
	waitFor(t, 5*time.Second, "pause", func() bool { return s.Stats().Pauses > 0 })
	time.Sleep(100 * time.Millisecond)
	st := s.Stats()
	if st.InFlight > 4 || maxRunning.Load() > 4 {
		t.Fatalf("in flight %d, max running %d > cap 4", st.InFlight, maxRunning.Load())
	}
	// 2 MB were sent; the server must hold at most about one read chunk.
	if st.BytesIn > 256<<10 || st.BufferedBytes > 128<<10 {
		t.Fatalf("server read %d bytes, buffers %d while paused", st.BytesIn, st.BufferedBytes)
	}
	close(gate)
	br := bufio.NewReader(c)
	for i := range n {
		resp, err := readResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(resp)); corr != int32(i) {
			t.Fatalf("got %d want %d", corr, i)
		}
	}
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "budget back to 0", func() bool { return s.Stats().BufferedBytes == 0 })
}

func TestConnCap(t *testing.T) {
	s, addr := startServer(t, Config{MaxConns: 3}, echoHandler)
	cs := []net.Conn{dial(t, addr), dial(t, addr), dial(t, addr)}
	for i, c := range cs {
		roundTrip(t, c, int32(i), "x")
	}
	extra := dial(t, addr)
	expectClosed(t, extra)
	if st := s.Stats(); st.ConnsRefused < 1 || st.ConnsActive != 3 {
		t.Fatalf("stats %+v", st)
	}
	roundTrip(t, cs[0], 9, "still fine")
}

func TestHandlerPanicClosesConn(t *testing.T) {
	_, addr := startServer(t, Config{Logf: func(string, ...any) {}}, HandlerFunc(func(req *Request) *Response {
		if req.APIKey == 99 {
			panic("boom")
		}
		return echoHandler(req)
	}))
	bad := dial(t, addr)
	if _, err := bad.Write(appendRequest(nil, 99, 0, 1, "", nil)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, bad)
	roundTrip(t, dial(t, addr), 1, "ok")
}

// TestShutdownNoLeak: after Shutdown every goroutine the server started is gone.
func TestShutdownNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	s := New(Config{}, HandlerFunc(func(req *Request) *Response {
		time.Sleep(20 * time.Millisecond) // in flight when Shutdown starts
		return echoHandler(req)
	}))
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dial(t, s.Addr().String())
			roundTrip(t, c, int32(i), "x")
			_, _ = c.Write(appendRequest(nil, 18, 0, 100, "c", nil))
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.InFlight != 0 || st.ConnsActive != 0 || st.BufferedBytes != 0 {
		t.Fatalf("after shutdown: %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before+2 { // gnet's shared ants pool may keep a worker briefly
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after\n%s", before, n, goroutineDump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartTwiceAndBadAddr(t *testing.T) {
	s, _ := startServer(t, Config{}, echoHandler)
	if err := s.Start("127.0.0.1:0"); err == nil {
		t.Fatal("second Start succeeded")
	}
	s2 := New(Config{}, echoHandler)
	if err := s2.Start(s.Addr().String()); err == nil {
		_ = s2.Shutdown(context.Background())
		t.Fatal("Start on a used port succeeded")
	}
}

// TestWaitTurn: handlers run concurrently, but the part between WaitTurn and EndTurn runs in
// the connection's request order; requests that end their turn at once do not hold it up.
func TestWaitTurn(t *testing.T) {
	const n = 500
	var mu sync.Mutex
	var order []int32
	h := HandlerFunc(func(req *Request) *Response {
		if req.CorrelationID%5 == 0 {
			req.EndTurn() // unordered, like a fetch
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			return echoHandler(req)
		}
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		req.WaitTurn()
		mu.Lock()
		order = append(order, req.CorrelationID)
		mu.Unlock()
		req.EndTurn()
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond) // like an fsync wait
		return echoHandler(req)
	})
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		var buf []byte
		for i := range n {
			buf = appendRequest(buf[:0], 0, 3, int32(i), "cli", nil)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	br := bufio.NewReader(c)
	var resp []byte
	var err error
	for i := range n {
		if resp, err = readResponse(br, resp); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != n-n/5 {
		t.Fatalf("%d ordered sections ran, want %d", len(order), n-n/5)
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("ordered sections ran out of order: %d after %d", order[i], order[i-1])
		}
	}
}
