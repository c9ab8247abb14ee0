package server

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// slot states. A slot moves free → running → done → writing → free, or to
// free from done/running when the connection closes. A deferred request
// (Request.Defer) stays running after its handler returned until
// Deferred.Complete.
const (
	slotFree    = iota
	slotRunning // handler running
	slotDone    // response (possibly nil) ready, waiting for the writer
	slotWriting // taken by the writer
)

// slot is one in-flight request of a connection: a fixed element of the
// connection's ring, so dispatching a request allocates nothing.
type slot struct {
	c        *conn
	seq      uint64    // guarded by c.mu
	state    int       // guarded by c.mu
	turnDone bool      // EndTurn was called; guarded by c.mu
	handled  bool      // the handler returned; guarded by c.mu
	answered bool      // Deferred.Complete was called (or the handler panicked); guarded by c.mu
	early    *Response // a Complete's response before the handler returned; guarded by c.mu
	resp     *Response // written by the worker before state=done, then owned by the writer
	ready    time.Time // when resp was set; like resp
	req      Request
	size     [4]byte // the response size prefix, referenced by the writer's iovecs
}

// pendingFrame is a complete frame read past the in-flight cap.
type pendingFrame struct {
	frame    []byte
	hdr      Header
	received time.Time
}

// conn is the server side of one TCP connection. Fields are grouped by the
// goroutine that owns them; see doc.go for the lock rules.
type conn struct {
	s      *Server
	gc     gnet.Conn
	id     uint64
	remote net.Addr
	epfd   int // gnet loop's epoll fd, -1 if pausing is unsupported

	// Event-loop owned.
	fr       framer
	pending  []pendingFrame // charged to the budget
	paused   bool
	gone     bool // OnClose ran
	emitFn   func([]byte) error
	writeFn  func() // c.writeLoop bound once: no closure per spawn
	resumeFn gnet.Runnable
	muteFn   gnet.Runnable // c.muteLoop (mute.go)
	// mutedUntil (unix nanoseconds): no request is read or dispatched before then
	// (Response.MuteFor, mute.go). Set by the writer, read by the loop.
	mutedUntil atomic.Int64

	// Guarded by mu.
	mu      sync.Mutex
	slots   []slot
	head    uint64 // oldest seq not yet written
	tail    uint64 // next seq to dispatch
	full    bool   // ring filled since the writer last freed a slot
	writing bool   // a writer goroutine is running
	closed  bool
	// turn is the oldest seq whose turn has not ended (see Request.WaitTurn); turnCond
	// (on mu) wakes requests waiting for their turn.
	turn     uint64
	turnCond sync.Cond

	// stream is set on a stream (TLS) connection, which has no gc, file, raw or epfd: its
	// reader goroutine plays the event loop (stream.go).
	stream  *streamState
	sess    Session // Request.Session
	preAuth bool    // the framer's limit is the pre-authentication cap; event-loop owned

	// Writer owned (one writer at a time, serialized by mu.writing).
	file  *os.File        // dup of the socket fd, non-blocking, on Go's netpoller
	raw   syscall.RawConn // file's
	w     writerState
	batch []*slot
}

func newConn(s *Server, gc gnet.Conn) (*conn, error) {
	fd, err := gc.Dup()
	if err != nil {
		return nil, err
	}
	// The dup shares gnet's O_NONBLOCK file description, so os.NewFile
	// registers it with the runtime poller: RawConn.Write parks the writer
	// goroutine on EAGAIN instead of blocking a thread.
	f := os.NewFile(uintptr(fd), "logd-conn")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	c := &conn{
		s:      s,
		gc:     gc,
		id:     s.nextID.Add(1),
		remote: gc.RemoteAddr(),
		epfd:   loopEpollFd(gc.EventLoop()),
		file:   f,
		raw:    raw,
		slots:  make([]slot, s.cfg.MaxInFlight),
	}
	c.turnCond.L = &c.mu
	c.fr = framer{maxSize: s.cfg.MaxRequestBytes, b: s}
	c.initSession("")
	c.emitFn = c.emit
	c.writeFn = c.writeLoop
	c.resumeFn = gnet.RunnableFunc(c.resume)
	c.muteFn = gnet.RunnableFunc(c.muteLoop)
	c.w.init(c)
	for i := range c.slots {
		c.slots[i].c = c
	}
	return c, nil
}

// onTraffic runs on the event loop with new bytes in gnet's buffer. It
// consumes all of them, so gnet's own inbound buffer stays empty and what a
// connection holds is exactly what the framer and pending charge.
func (c *conn) onTraffic() gnet.Action {
	in, _ := c.gc.Next(-1)
	c.s.st.bytesIn.Add(int64(len(in)))
	if c.s.closing.Load() {
		return gnet.None // draining for shutdown: take no new requests
	}
	c.liftPreAuthCap()
	if err := c.fr.feed(in, c.emitFn); err != nil {
		if err == ErrBufferBudget {
			c.s.st.budgetCloses.Add(1)
		} else {
			c.s.st.protocolCloses.Add(1)
		}
		return gnet.Close
	}
	return gnet.None
}

// emit takes a complete frame from the framer. Event loop only.
func (c *conn) emit(frame []byte) error {
	hdr, err := parseHeader(frame, c.s.cfg.HeaderVersion)
	if err != nil {
		putFrame(frame)
		return err
	}
	now := time.Now()
	if len(c.pending) == 0 && c.mutedUntil.Load() <= now.UnixNano() && c.dispatch(frame, hdr, now) {
		return nil
	}
	if !c.s.reserve(cap(frame)) {
		putFrame(frame)
		return ErrBufferBudget
	}
	c.pending = append(c.pending, pendingFrame{frame, hdr, now})
	c.pause()
	return nil
}

// dispatch hands a frame to the worker pool if the connection has an
// in-flight slot free, and stops reading when it takes the last one.
// Event loop only.
func (c *conn) dispatch(frame []byte, hdr Header, received time.Time) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		putFrame(frame)
		return true // dropped
	}
	n := uint64(len(c.slots))
	if c.tail-c.head >= n {
		c.mu.Unlock()
		return false
	}
	sl := &c.slots[c.tail%n]
	sl.seq = c.tail
	sl.state = slotRunning
	sl.turnDone = false
	sl.handled, sl.answered, sl.early = false, false, nil
	sl.resp = nil
	sl.req = Request{ConnID: c.id, RemoteAddr: c.remote, Listener: c.s.cfg.Listener, Session: &c.sess, Header: hdr, Frame: frame, Received: received, sl: sl}
	c.tail++
	atCap := c.tail-c.head == n
	if atCap {
		c.full = true
	}
	c.mu.Unlock()

	c.s.st.inflight.Add(1)
	c.s.st.requests.Add(1)
	c.s.pool.Submit(sl)
	if atCap {
		c.pause()
	}
	return true
}

// pause stops gnet from reading this socket. Event loop only.
func (c *conn) pause() {
	if c.paused {
		return
	}
	if c.stream != nil { // the reader stops reading until the writer wakes it
		c.paused = true
		c.s.st.pauses.Add(1)
		return
	}
	if c.epfd < 0 {
		return
	}
	if pauseRead(c.epfd, c.gc.Fd()) == nil {
		c.paused = true
		c.s.st.pauses.Add(1)
	}
}

// resume runs on the event loop (via Execute) after the writer freed a slot
// of a full ring: it dispatches pending frames, then reads again if they all
// fit.
func (c *conn) resume(context.Context) error {
	if c.gone || (c.stream == nil && c.mutedLeft() > 0) {
		return nil // muted: the mute's timer resumes (mute.go)
	}
	i := 0
	for ; i < len(c.pending); i++ {
		p := c.pending[i]
		if !c.dispatch(p.frame, p.hdr, p.received) {
			break
		}
		c.s.release(cap(p.frame))
		c.pending[i] = pendingFrame{}
	}
	n := copy(c.pending, c.pending[i:])
	c.pending = c.pending[:n]
	if n > 0 || !c.paused {
		return nil
	}
	c.mu.Lock()
	full := c.tail-c.head == uint64(len(c.slots))
	c.mu.Unlock()
	if full {
		return nil // the writer schedules another resume when it frees a slot
	}

	if c.stream != nil || resumeRead(c.epfd, c.gc.Fd()) == nil {
		c.paused = false
	}
	return nil
}

// onClose runs on the event loop when gnet closed the connection.
func (c *conn) onClose() {
	c.gone = true
	c.fr.reset()
	for i := range c.pending {
		c.s.release(cap(c.pending[i].frame))
		putFrame(c.pending[i].frame)
	}
	c.pending = nil
	c.abort()
}

// abort marks the connection closed, drops the responses no writer holds and
// closes the writer's socket dup (waking a writer parked on EAGAIN). The
// caller also closes the gnet side unless it is gnet's OnClose. A ConnCloser handler
// is told last. Any goroutine.
func (c *conn) abort() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if cc, ok := c.s.h.(ConnCloser); ok {
		defer cc.ConnClosed(&c.sess)
	}
	var drop []*slot
	for seq := c.head; seq < c.tail; seq++ {
		sl := &c.slots[seq%uint64(len(c.slots))]
		if sl.state == slotDone {
			sl.state = slotFree
			drop = append(drop, sl)
		}
	}
	c.mu.Unlock()
	for _, sl := range drop {
		c.releaseSlot(sl)
	}
	if c.stream != nil {
		_ = c.stream.nc.Close() // wakes a writer blocked in Write and the reader in Read
		c.wakeStream()          // and a reader paused at the in-flight cap
		return
	}
	_ = c.file.Close()
}

// closeTransport closes the connection's socket after abort: gnet's side (OnClose follows);
// a stream connection's was closed by abort.
func (c *conn) closeTransport() {
	if c.stream == nil {
		_ = c.gc.Close()
	}
}

// settle finishes a request with its response: ok false (a handler panic) or
// CloseConnection closes the connection. The caller owns the slot (its
// handler returned, and it was not deferred or its completion came).
func (c *conn) settle(sl *slot, resp *Response, ok bool) {
	if resp == CloseConnection {
		resp, ok = nil, false
	}
	if !ok {
		c.abort()
		c.closeTransport()
	}
	c.complete(sl, resp)
}

// completeDeferred is Deferred.Complete for the request seq in sl. Any
// goroutine. The slot is only ever read under c.mu until seq and state prove
// it still holds that request: a stale or repeated call finds another seq, or
// the slot no longer running, or answered set, and only releases resp.
func (c *conn) completeDeferred(sl *slot, seq uint64, resp *Response) {
	c.mu.Lock()
	if sl.seq != seq || sl.state != slotRunning || sl.answered {
		c.mu.Unlock()
		releaseResponse(resp)
		return
	}
	sl.answered = true
	c.s.st.deferred.Add(-1)
	if !sl.handled {
		sl.early = resp // the handler is still running: runSlot settles it
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.settle(sl, resp, true)
}

// complete records a handler's response. The caller owns the slot.
func (c *conn) complete(sl *slot, resp *Response) {
	c.mu.Lock()
	if c.closed {
		sl.state = slotFree // never reused: a closed connection dispatches nothing
		c.mu.Unlock()
		sl.resp = resp
		c.releaseSlot(sl)
		return
	}
	sl.resp = resp
	if c.s.cfg.ObserveResponse != nil {
		sl.ready = time.Now()
	}
	sl.state = slotDone
	start := !c.writing && sl.seq == c.head
	if start {
		c.writing = true
		c.s.wg.Add(1)
	}
	c.mu.Unlock()
	if start {
		go c.writeFn()
	}
}

// releaseSlot frees a request's response and frame. The caller has taken the
// slot out of the ring's live states (or the connection is closed), so no
// other goroutine touches it. Must not hold c.mu: Release funcs are callbacks.
func (c *conn) releaseSlot(sl *slot) {
	if sl.resp != nil {
		sl.resp.Release()
		sl.resp = nil
	}
	putFrame(sl.req.Frame)
	sl.req = Request{}
	c.s.st.inflight.Add(-1)
}

// writeLoop writes done responses in ring order until the head is not done.
// At most one runs per connection (c.writing).
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	n := uint64(len(c.slots))
	for {
		c.mu.Lock()
		if c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.batch = c.batch[:0]
		for seq := c.head; seq < c.tail; seq++ {
			sl := &c.slots[seq%n]
			if sl.state != slotDone {
				break
			}
			sl.state = slotWriting
			c.batch = append(c.batch, sl)
			if sl.resp != nil && sl.resp.closeAfter {
				// Nothing after a closing response is written: requests pipelined
				// behind a failed SASL step get no answer.
				break
			}
		}
		if len(c.batch) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		observe := c.s.cfg.ObserveResponse
		var taken time.Time
		if observe != nil {
			taken = time.Now()
		}
		mute := c.muteBatch() // before the answers leave: the next request must find it
		err := c.w.writeBatch(c.batch)
		var sent time.Time
		if observe != nil {
			sent = time.Now()
		}
		written := 0
		for _, sl := range c.batch {
			if sl.resp != nil && sl.resp.closeAfter && err == nil {
				err = errClosedAfterResponse
			}
			if sl.resp != nil && (err == nil || err == errClosedAfterResponse) {
				written++
				if observe != nil {
					observe(sl.req.APIKey, taken.Sub(sl.ready), sent.Sub(taken))
				}
			}
			c.releaseSlot(sl)
		}
		c.s.st.responses.Add(int64(written))

		c.mu.Lock()
		for _, sl := range c.batch {
			sl.state = slotFree
		}
		c.head += uint64(len(c.batch))
		resume := c.full && !c.closed
		c.full = false
		if err != nil {
			c.writing = false
		}
		c.mu.Unlock()
		clear(c.batch)

		if err != nil {
			c.abort()
			c.closeTransport()
			return
		}
		if mute && err == nil && c.stream == nil {
			_ = c.gc.EventLoop().Execute(context.Background(), c.muteFn)
		}
		if resume && c.stream != nil {
			c.wakeStream()
		} else if resume {
			// Execute fails only when the engine is shutting down, which
			// closes the connection anyway.
			_ = c.gc.EventLoop().Execute(context.Background(), c.resumeFn)
		}
	}
}

// waitTurn blocks until every earlier request of the connection has ended its turn. It waits
// even after the connection closed: requests already read still run in order (a client that
// pipelines acks=0 produce requests and then closes must not see them appended out of order),
// and every earlier handler ends its turn when it returns.
func (c *conn) waitTurn(sl *slot) {
	c.mu.Lock()
	for c.turn < sl.seq {
		c.turnCond.Wait()
	}
	c.mu.Unlock()
}

// endTurn ends sl's turn (idempotent) and lets the next requests in order run.
func (c *conn) endTurn(sl *slot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sl.turnDone {
		return
	}
	sl.turnDone = true
	n := uint64(len(c.slots))
	advanced := false
	for c.turn < c.tail && c.slots[c.turn%n].seq == c.turn && c.slots[c.turn%n].turnDone {
		c.turn++
		advanced = true
	}
	if advanced {
		c.turnCond.Broadcast()
	}
}
