package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// deferEcho answers like echoHandler, but later: each request is deferred and completed by a
// goroutine after a random delay (sometimes before the handler has returned), with a response
// that reads the frame at completion time (so a frame recycled too early shows up as a wrong
// body).
func deferEcho(maxDelay time.Duration) HandlerFunc {
	return func(req *Request) *Response {
		d := req.Defer()
		delay := time.Duration(rand.Int64N(int64(maxDelay) + 1))
		go func() {
			time.Sleep(delay)
			d.Complete(echoHandler(req))
		}()
		if rand.IntN(2) == 0 {
			time.Sleep(maxDelay / 2) // let some completions arrive before the handler returns
		}
		return nil
	}
}

// TestDeferOrder: deferred and immediate responses interleaved on one pipelined connection
// leave in request order, with intact bodies.
func TestDeferOrder(t *testing.T) {
	const n = 1000
	def := deferEcho(2 * time.Millisecond)
	h := HandlerFunc(func(req *Request) *Response {
		if req.CorrelationID%3 == 0 {
			return echoHandler(req)
		}
		return def(req)
	})
	s, addr := startServer(t, Config{MaxInFlight: 16}, h)
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	go func() {
		var buf []byte
		for i := range n {
			buf = appendRequest(buf[:0], 1, 0, int32(i), "cli", binary.BigEndian.AppendUint32(nil, uint32(i*7)))
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
	waitFor(t, 5*time.Second, "no deferred requests", func() bool { return s.Stats().Deferred == 0 })
}

// TestDeferHoldsNoWorker: with two workers, a thousand requests parked at once (on a hundred
// connections) are all answered by one later event; a worker blocked per waiting request
// could never reach the thousandth.
func TestDeferHoldsNoWorker(t *testing.T) {
	const conns, perConn = 100, 10
	var mu sync.Mutex
	var parked []func()
	release := make(chan struct{})
	h := HandlerFunc(func(req *Request) *Response {
		d := req.Defer()
		mu.Lock()
		parked = append(parked, func() { d.Complete(echoHandler(req)) })
		if len(parked) == conns*perConn {
			close(release)
		}
		mu.Unlock()
		return nil
	})
	s, addr := startServer(t, Config{Workers: 2}, h)
	cs := make([]net.Conn, conns)
	for i := range cs {
		cs[i] = dial(t, addr)
		var buf []byte
		for j := range perConn {
			buf = appendRequest(buf, 1, 0, int32(j), "c", []byte{byte(i)})
		}
		if _, err := cs[i].Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-release:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d of %d requests reached the handler (stats %+v)", len(parked), conns*perConn, s.Stats())
	}
	if st := s.Stats(); st.Deferred != conns*perConn {
		t.Fatalf("Deferred = %d, want %d", st.Deferred, conns*perConn)
	}
	mu.Lock()
	for _, f := range parked {
		f()
	}
	mu.Unlock()
	for i, c := range cs {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for j := range perConn {
			resp, err := readResponse(br, nil)
			if err != nil {
				t.Fatalf("conn %d response %d: %v", i, j, err)
			}
			if int32(binary.BigEndian.Uint32(resp)) != int32(j) || resp[4] != byte(i) {
				t.Fatalf("conn %d response %d: %x", i, j, resp)
			}
		}
	}
	if st := s.Stats(); st.Deferred != 0 {
		t.Fatalf("Deferred = %d after completion", st.Deferred)
	}
}

// TestDeferCompleteTwice: a second Complete (and one for a long-finished request whose slot
// has been reused since) changes nothing and releases its response.
func TestDeferCompleteTwice(t *testing.T) {
	ds := make(chan Deferred, 16)
	h := HandlerFunc(func(req *Request) *Response {
		d := req.Defer()
		d.Complete(echoHandler(req)) // before the handler returns
		ds <- d
		return nil
	})
	s, addr := startServer(t, Config{MaxInFlight: 1}, h)
	c := dial(t, addr)
	roundTrip(t, c, 1, "a")
	first := <-ds
	var released atomic.Int32
	late := NewResponse()
	late.AppendRegion(Region{Len: 0, Release: func() { released.Add(1) }})
	first.Complete(late) // the slot now serves nothing, or the next request
	roundTrip(t, c, 2, "b")
	first.Complete(nil)
	(<-ds).Complete(nil)
	roundTrip(t, c, 3, "c") // the ring slot (MaxInFlight 1) was reused for every request
	<-ds
	if released.Load() != 1 {
		t.Fatalf("late response released %d times, want 1", released.Load())
	}
	if st := s.Stats(); st.Deferred != 0 || st.Responses != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDeferConnClosed: a request deferred when its connection closes keeps its frame until
// the completion, which releases the slot exactly once; nothing is written.
func TestDeferConnClosed(t *testing.T) {
	got := make(chan *Request, 1)
	ds := make(chan Deferred, 1)
	h := HandlerFunc(func(req *Request) *Response {
		ds <- req.Defer()
		got <- req
		return nil
	})
	s, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	if _, err := c.Write(appendRequest(nil, 1, 0, 7, "cli", []byte("frame-body"))); err != nil {
		t.Fatal(err)
	}
	req, d := <-got, <-ds
	c.Close()
	waitFor(t, 5*time.Second, "connection closed", func() bool { return s.Stats().ConnsActive == 0 })
	if string(req.Body()) != "frame-body" {
		t.Fatalf("frame changed before completion: %q", req.Body())
	}
	var released atomic.Int32
	resp := echoHandler(req)
	resp.AppendRegion(Region{Len: 0, Release: func() { released.Add(1) }})
	d.Complete(resp)
	d.Complete(nil)
	if st := s.Stats(); st.InFlight != 0 || st.Deferred != 0 || st.Responses != 0 {
		t.Fatalf("stats %+v", st)
	}
	if released.Load() != 1 {
		t.Fatalf("response released %d times", released.Load())
	}
}

// TestDeferPanicAfterDefer: a handler that panics after deferring closes the connection; the
// later Complete is dropped.
func TestDeferPanicAfterDefer(t *testing.T) {
	ds := make(chan Deferred, 1)
	s, addr := startServer(t, Config{Logf: func(string, ...any) {}}, HandlerFunc(func(req *Request) *Response {
		ds <- req.Defer()
		panic("boom")
	}))
	c := dial(t, addr)
	if _, err := c.Write(appendRequest(nil, 1, 0, 1, "", nil)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	(<-ds).Complete(echoHandler(&Request{}))
	waitFor(t, 5*time.Second, "request released", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Deferred == 0
	})
}

// TestDeferCloseConnection: completing with CloseConnection closes the connection.
func TestDeferCloseConnection(t *testing.T) {
	_, addr := startServer(t, Config{}, HandlerFunc(func(req *Request) *Response {
		d := req.Defer()
		go func() { time.Sleep(time.Millisecond); d.Complete(CloseConnection) }()
		return nil
	}))
	c := dial(t, addr)
	if _, err := c.Write(appendRequest(nil, 1, 0, 1, "", nil)); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
}

// TestDeferTurn: a deferred request's turn ends when its handler returns, so the next
// request's ordered part runs while the first is still parked.
func TestDeferTurn(t *testing.T) {
	first := make(chan Deferred, 1)
	h := HandlerFunc(func(req *Request) *Response {
		req.WaitTurn()
		if req.CorrelationID == 0 {
			first <- req.Defer()
			return nil
		}
		return echoHandler(req)
	})
	_, addr := startServer(t, Config{}, h)
	c := dial(t, addr)
	var buf []byte
	buf = appendRequest(buf, 1, 0, 0, "", []byte("x"))
	buf = appendRequest(buf, 1, 0, 1, "", []byte("y"))
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	d := <-first
	// The second handler ran (its WaitTurn returned) although the first is not answered:
	// wait until its response is queued behind the first, then complete the first.
	time.Sleep(50 * time.Millisecond)
	d.Complete(echoHandler(&Request{Header: Header{CorrelationID: 0}, Frame: []byte("x")}))
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := range 2 {
		resp, err := readResponse(br, nil)
		if err != nil || int32(binary.BigEndian.Uint32(resp)) != int32(i) {
			t.Fatalf("response %d: %x %v", i, resp, err)
		}
	}
}

// TestDeferShutdown: Shutdown waits for deferred requests completed in time, and returns at
// its context's end when one is never completed in time; completing it afterwards only
// releases it.
func TestDeferShutdown(t *testing.T) {
	ds := make(chan Deferred, 2)
	s := New(Config{}, HandlerFunc(func(req *Request) *Response {
		ds <- req.Defer()
		return nil
	}))
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr().String())
	if _, err := c.Write(appendRequest(nil, 1, 0, 1, "", []byte("a"))); err != nil {
		t.Fatal(err)
	}
	d1 := <-ds
	go func() {
		time.Sleep(50 * time.Millisecond)
		d1.Complete(echoHandler(&Request{Header: Header{CorrelationID: 1}}))
	}()
	c2 := dial(t, s.Addr().String())
	if _, err := c2.Write(appendRequest(nil, 1, 0, 2, "", []byte("b"))); err != nil {
		t.Fatal(err)
	}
	d2 := <-ds
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the context's deadline", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Shutdown took %v past its context", el)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if resp, err := readResponse(bufio.NewReader(c), nil); err != nil || binary.BigEndian.Uint32(resp) != 1 {
		t.Fatalf("first deferred response: %x %v", resp, err)
	}
	d2.Complete(echoHandler(&Request{}))
	waitFor(t, 5*time.Second, "late completion released", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Deferred == 0
	})
}

// TestDeferRace hammers the completion/handler-return/close races (run with -race): requests
// completed at random moments from other goroutines while clients close connections at random.
func TestDeferRace(t *testing.T) {
	s, addr := startServer(t, Config{MaxInFlight: 4, Workers: 4}, deferEcho(200*time.Microsecond))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Error(err)
					return
				}
				var buf []byte
				for i := range 16 {
					buf = appendRequest(buf, 1, 0, int32(i), "", []byte{byte(g), byte(round)})
				}
				_, _ = c.Write(buf)
				br := bufio.NewReader(c)
				stopAt := rand.IntN(17)
				for i := range stopAt {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					resp, err := readResponse(br, nil)
					if err != nil {
						t.Errorf("read %d: %v", i, err)
						break
					}
					if int32(binary.BigEndian.Uint32(resp)) != int32(i) || resp[4] != byte(g) || resp[5] != byte(round) {
						t.Errorf("response %d: %x", i, resp)
					}
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "everything released", func() bool {
		st := s.Stats()
		return st.InFlight == 0 && st.Deferred == 0 && st.ConnsActive == 0
	})
}

// TestNewRequestDefer: a Request served outside a Server hands its deferred answer to the
// complete function, once.
func TestNewRequestDefer(t *testing.T) {
	got := make(chan *Response, 2)
	req := NewRequest(Header{CorrelationID: 5}, []byte("x"), func(r *Response) { got <- r })
	resp := deferEcho(time.Millisecond)(req)
	if resp != nil || !req.IsDeferred() {
		t.Fatalf("handler returned %v, deferred %v", resp, req.IsDeferred())
	}
	r := <-got
	if r == nil || binary.BigEndian.Uint32(r.parts[0].buf.B) != 5 {
		t.Fatalf("deferred answer %v", r)
	}
	r.Release()
	Deferred{r: req}.Complete(nil) // a second completion is dropped
	select {
	case r := <-got:
		t.Fatalf("second completion delivered %v", r)
	case <-time.After(10 * time.Millisecond):
	}
}
