package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/logd/logd/internal/runq"
)

// Handler answers requests. Handle runs on a worker goroutine, never on an
// event loop. It returns nil for "no response" (acks=0 Produce); the
// connection's ordering is kept either way. A handler that must wait for
// something (data for a long poll, a sync, a rebalance) does not block: it
// calls Request.Defer, registers the Deferred with whatever it waits for, and
// returns; the event (or its timeout) calls Deferred.Complete. Workers are
// few (Config.Workers) precisely because they never wait.
//
// req and req.Frame stay valid and unmodified until the response returned by
// Handle (or given to Deferred.Complete) has been completely written, or
// dropped because the connection closed; the handler may sub-slice the frame
// (kmsg does) and reference it from the Response until then, but not after.
type Handler interface {
	Handle(req *Request) *Response
}

// ConnCloser is implemented by a Handler that keeps state tied to a connection (Kafka's
// share sessions): ConnClosed is called once when a connection closes, with the Session its
// requests carried, on any goroutine; requests of the connection may still be running. It
// must not block.
type ConnCloser interface {
	ConnClosed(sess *Session)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request) *Response

// Handle calls f(req).
func (f HandlerFunc) Handle(req *Request) *Response { return f(req) }

// CloseConnection, returned by a Handler, closes the request's connection without a response
// (Kafka's answer to a request it cannot parse). Responses still queued on it are dropped.
var CloseConnection = &Response{}

// Request is one framed request. See Handler for its lifetime.
type Request struct {
	ConnID     uint64
	RemoteAddr net.Addr
	// Listener is the name of the listener the connection came in on (Config.Listener).
	Listener string
	// Session is the connection's authentication state, shared by its requests.
	Session *Session
	Header
	// Frame is the whole request after the 4-byte size prefix: header and
	// body. Owned by the server.
	Frame []byte
	// Received is when the frame was complete. Handle starting later means
	// the request queued: behind the connection's in-flight cap or for a
	// worker (Kafka's request queue time).
	Received time.Time

	sl *slot
	// deferred is set by Defer, on the handler's goroutine, and read after Handle returned.
	deferred bool
	outside  *outsideAnswer // set by NewRequest
}

// outsideAnswer takes the deferred answer of a Request from NewRequest, once.
type outsideAnswer struct {
	complete func(*Response)
	answered atomic.Bool
}

// NewRequest returns a Request served outside a Server (tests, fuzzing): the caller calls
// Handle itself, and complete receives the response of a handler that deferred the request
// (IsDeferred), exactly once.
func NewRequest(hdr Header, frame []byte, complete func(*Response)) *Request {
	return &Request{Header: hdr, Frame: frame, outside: &outsideAnswer{complete: complete}}
}

// IsDeferred reports whether the handler called Defer. Read it after Handle returned.
func (r *Request) IsDeferred() bool { return r.deferred }

// WaitTurn blocks until every earlier request on the same connection has returned from Handle
// or called EndTurn. Handlers run concurrently; a handler whose effects must follow the
// connection's request order (Produce: Kafka clients rely on appends happening in the order
// they pipelined them) waits for its turn, does the ordered part, then calls EndTurn so later
// requests proceed while it waits for anything slow (an fsync).
func (r *Request) WaitTurn() {
	if r.sl != nil { // nil for a Request built outside the server (tests, fuzzing)
		r.sl.c.waitTurn(r.sl)
	}
}

// EndTurn ends this request's turn early; the server ends it anyway when Handle returns.
// Handlers that need no ordering call it first, so a long poll does not hold up the
// connection's later requests.
func (r *Request) EndTurn() {
	if r.sl != nil {
		r.sl.c.endTurn(r.sl)
	}
}

// Defer tells the server that this request is answered later, by the returned
// Deferred's Complete, rather than by Handle's return value (Handle then
// returns nil; anything else it returns is released unsent). The request
// keeps its ring slot, its place in the connection's response order and its
// frame until Complete's response is written or dropped. Its turn (WaitTurn)
// still ends when Handle returns, or earlier with EndTurn. Call it at most
// once, from the handler, before Handle returns. For a Request from
// NewRequest, Complete hands the response to its complete function; for one
// built otherwise outside a server, Complete only releases the response.
func (r *Request) Defer() Deferred {
	r.deferred = true
	if r.sl == nil {
		return Deferred{r: r}
	}
	r.sl.c.s.st.deferred.Add(1)
	return Deferred{sl: r.sl, seq: r.sl.seq}
}

// Deferred is the pending answer of a request whose handler called
// Request.Defer. It is a small value: copy it into whatever completes it.
type Deferred struct {
	sl  *slot
	seq uint64   // the request's sequence on its connection: tells a reused slot apart
	r   *Request // a Request served outside a Server (sl nil)
}

// Complete answers the deferred request with resp (nil: no response;
// CloseConnection: close the connection). It may be called from any
// goroutine (not while holding a lock a Region.Release takes), even before
// the handler has returned, and must be called exactly once: the request
// holds its connection's in-flight slot until then. A second call, or a call
// after the server dropped the request, releases resp and does nothing else.
func (d Deferred) Complete(resp *Response) {
	if d.sl == nil {
		if d.r != nil && d.r.outside != nil && d.r.outside.answered.CompareAndSwap(false, true) {
			d.r.outside.complete(resp)
			return
		}
		releaseResponse(resp)
		return
	}
	d.sl.c.completeDeferred(d.sl, d.seq, resp)
}

// releaseResponse releases a response that will not be sent.
func releaseResponse(resp *Response) {
	if resp != nil && resp != CloseConnection {
		resp.Release()
	}
}

// Body returns the request body (after the header as far as the server parsed
// it; see Header.BodyOffset).
func (r *Request) Body() []byte { return r.Frame[r.BodyOffset:] }

// Config holds the server limits. Zero values take the defaults.
type Config struct {
	// MaxInFlight caps requests per connection between being read and their
	// response being written. At the cap the server stops reading the socket.
	// Default 32.
	MaxInFlight int
	// MaxConns caps open connections; beyond it new connections are closed
	// right after accept. Default 10,000.
	MaxConns int
	// MaxRequestBytes is socket.request.max.bytes: the largest accepted
	// frame (excluding its 4-byte size). Default 100 MiB.
	MaxRequestBytes int32
	// MaxBufferedBytes caps, across all connections, the bytes held for
	// frames received (wholly or partly) but not yet handed to a handler.
	// The connection whose frame would exceed it is closed. Must be >=
	// MaxRequestBytes for a maximal request to be receivable.
	// Default 512 MiB.
	MaxBufferedBytes int64
	// Workers caps handler goroutines. Handlers do not wait for events
	// (they defer, see Request.Defer); they only block briefly: on disk
	// (appends, reads missing the page cache) and in WaitTurn behind an
	// earlier request of their connection. So the pool is sized to the
	// cores, with headroom for those short blocks, not to the requests
	// waiting: default 32 × GOMAXPROCS, at least 64.
	Workers int
	// EventLoops is the number of gnet event loops. Default GOMAXPROCS.
	EventLoops int
	// ReadBufferCap is gnet's per-loop read buffer (one read(2) per readable
	// event takes at most this much), which is also the most a connection
	// can read past its in-flight cap (budget-charged). Default 1 MiB: a
	// producer's pipelined 64-130 KB requests then arrive in one read, not
	// one per 64 KiB, each whole frame copied once out of gnet's buffer
	// instead of assembled from chunks (bench/results/2026-12-08-produce).
	// One buffer per event loop, not per connection.
	ReadBufferCap int
	// HeaderVersion, if set, tells the request header version (1 or 2) of an
	// API version; the server then skips header v2 tagged fields and
	// Request.BodyOffset points at the body. If nil, BodyOffset is the
	// offset after the client id and the broker skips tagged fields.
	HeaderVersion func(apiKey, apiVersion int16) int
	// Logf logs unexpected conditions (handler panics). Default log.Printf.
	Logf func(format string, args ...any)
	// ObserveResponse, if set, is called by a connection's writer for each
	// response it wrote: queued is from the handler returning it to the
	// writer taking it (waiting behind earlier responses, which leave in
	// request order), send is from then until the write that completed it
	// returned. Responses written by one writev share their send time. It
	// runs on the writer goroutine and must not block.
	ObserveResponse func(apiKey int16, queued, send time.Duration)
	// Listener names this server's listener (Kafka's listener name: PLAINTEXT, INTERNAL, ...);
	// every Request carries it, so the handler answers with that listener's addresses.
	Listener string
	// Listeners is how many servers of the process share its descriptor limit (one per
	// listener): each caps MaxConns to its share (fdlimit.go). Default 1.
	Listeners int
	// TLSPrincipal, for a server started by StartTLS, names a connection's principal from
	// its handshake (the client certificate); an error closes the connection, as Kafka
	// fails an SSL authentication.
	TLSPrincipal func(tls.ConnectionState) (string, error)
	// RequireAuth starts every connection unauthenticated (SASL listeners): the handler
	// admits only what may precede authentication and calls Session.Authenticate.
	RequireAuth bool
	// PreAuthMaxRequestBytes caps frames before authentication (Kafka's
	// sasl.server.max.receive.size). Default 512 KiB.
	PreAuthMaxRequestBytes int32
	// Admit, if set, decides at accept whether a connection may open (Kafka's connection
	// quotas, quota.Connections); a refused one is closed at once and counted in
	// Stats.QuotaRefused. One Admitter may serve several servers (the broker's listeners).
	Admit Admitter
}

// Admitter admits connections at accept (Config.Admit). Admit runs on an event loop or the
// TLS accept goroutine and must not block; every connection it admitted is given to Closed
// exactly once, when it closes, on any goroutine.
type Admitter interface {
	Admit(listener string, remote net.Addr) bool
	Closed(listener string, remote net.Addr)
}

func (c *Config) setDefaults() {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 32
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.MaxRequestBytes <= 0 {
		c.MaxRequestBytes = 100 << 20
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 512 << 20
	}
	if c.Workers <= 0 {
		c.Workers = max(32*runtime.GOMAXPROCS(0), 64)
	}
	if c.EventLoops <= 0 {
		c.EventLoops = runtime.GOMAXPROCS(0)
	}
	if c.PreAuthMaxRequestBytes <= 0 {
		c.PreAuthMaxRequestBytes = 512 << 10
	}
	if c.ReadBufferCap <= 0 {
		c.ReadBufferCap = 1 << 20
	}
	if c.Logf == nil {
		c.Logf = log.Printf
	}
}

// Stats is a snapshot of the server counters.
type Stats struct {
	ConnsActive    int64 // open connections
	ConnsAccepted  int64 // connections accepted (excluding refused)
	ConnsRefused   int64 // closed at accept: MaxConns or shutting down
	Requests       int64 // frames handed to the handler
	Responses      int64 // responses fully written
	BytesIn        int64 // bytes read from sockets
	BytesOut       int64 // bytes written to sockets, size prefixes included
	SendfileBytes  int64 // region bytes sent by sendfile(2)
	CopiedBytes    int64 // region bytes sent by pread + write
	BufferedBytes  int64 // bytes charged to MaxBufferedBytes now
	InFlight       int64 // requests dispatched whose response is not yet written
	Deferred       int64 // requests deferred by their handler and not yet completed
	ProtocolCloses int64 // connections closed for bad framing or header
	BudgetCloses   int64 // connections closed for MaxBufferedBytes
	Pauses         int64 // times a connection stopped reading at MaxInFlight
	WriteWaits     int64 // times a writer parked on EAGAIN until the socket drained
	Mutes          int64 // times a written response muted its connection (Response.MuteFor)
	QuotaRefused   int64 // of ConnsRefused: refused by Config.Admit (connection quotas)
}

type counters struct {
	connsActive, connsAccepted, connsRefused atomic.Int64
	requests, responses, bytesIn, bytesOut   atomic.Int64
	sendfileBytes, copiedBytes               atomic.Int64
	protocolCloses, budgetCloses, pauses     atomic.Int64
	buffered, inflight, writeWaits           atomic.Int64
	deferred, mutes, quotaRefused            atomic.Int64
}

// Server is the Kafka network front: gnet event loops read and frame requests,
// a worker pool runs the Handler, per-connection writers send responses in
// order. See doc.go.
type Server struct {
	cfg Config
	h   Handler

	st      counters
	nextID  atomic.Uint64
	closing atomic.Bool

	pool *runq.Pool[*slot] // the handler workers
	wg   sync.WaitGroup    // worker and writer goroutines

	mu      sync.Mutex // guards started, eng, addr, ln, streams
	started bool
	eng     gnet.Engine
	addr    net.Addr
	runDone chan struct{}
	// ln and streams are set by StartTLS: the listener and the open stream connections.
	ln      net.Listener
	streams map[*conn]struct{}
}

// New returns a server; call Start to listen.
func New(cfg Config, h Handler) *Server {
	cfg.setDefaults()
	s := &Server{cfg: cfg, h: h}
	s.pool = runq.New(cfg.Workers, s.runSlot, &s.wg)
	return s
}

// budget implementation on the server's atomic counter.
func (s *Server) reserve(n int) bool {
	if n <= 0 {
		return true
	}
	if s.st.buffered.Add(int64(n)) > s.cfg.MaxBufferedBytes {
		s.st.buffered.Add(-int64(n))
		return false
	}
	return true
}

func (s *Server) release(n int) {
	if n > 0 {
		s.st.buffered.Add(-int64(n))
	}
}

// Start listens on addr ("host:port"; port 0 picks one) and returns once the
// socket is listening. Use Addr for the bound address.
func (s *Server) Start(addr string) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errAlreadyStarted
	}
	s.started = true
	s.mu.Unlock()
	s.cfg.capMaxConnsToFDLimit() // before the loops start reading it

	booted := make(chan error, 1)
	runErr := make(chan error, 1)
	s.runDone = make(chan struct{})
	lh := &loopHandler{s: s, booted: booted}
	go func() {
		defer close(s.runDone)
		runErr <- gnet.Run(lh, "tcp://"+addr,
			gnet.WithMulticore(true),
			gnet.WithNumEventLoop(s.cfg.EventLoops),
			gnet.WithReadBufferCap(s.cfg.ReadBufferCap),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithReuseAddr(true),
			gnet.WithLogger(gnetLogger{s.cfg.Logf}),
		)
	}()
	select {
	case err := <-booted:
		return err
	case err := <-runErr:
		if err == nil {
			err = errors.New("server: gnet exited before boot")
		}
		return err
	}
}

// Addr is the bound listen address, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		ConnsActive:    s.st.connsActive.Load(),
		ConnsAccepted:  s.st.connsAccepted.Load(),
		ConnsRefused:   s.st.connsRefused.Load(),
		Requests:       s.st.requests.Load(),
		Responses:      s.st.responses.Load(),
		BytesIn:        s.st.bytesIn.Load(),
		BytesOut:       s.st.bytesOut.Load(),
		SendfileBytes:  s.st.sendfileBytes.Load(),
		CopiedBytes:    s.st.copiedBytes.Load(),
		BufferedBytes:  s.st.buffered.Load(),
		InFlight:       s.st.inflight.Load(),
		Deferred:       s.st.deferred.Load(),
		ProtocolCloses: s.st.protocolCloses.Load(),
		BudgetCloses:   s.st.budgetCloses.Load(),
		Pauses:         s.st.pauses.Load(),
		Mutes:          s.st.mutes.Load(),
		WriteWaits:     s.st.writeWaits.Load(),
		QuotaRefused:   s.st.quotaRefused.Load(),
	}
}

// Shutdown stops taking connections and requests, waits for in-flight
// handlers and their responses (deferred ones included) to be written, then
// closes every connection and waits for the server's goroutines to exit. If
// ctx ends first, the connections are closed anyway and ctx's error is
// returned; handlers still running and deferred requests not yet completed
// finish in the background: their responses are dropped and their frames
// released when they complete. A handler's waits must therefore be bounded
// (the broker answers its parked requests when it begins shutting down).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	eng, started, ln := s.eng, s.started, s.ln
	s.mu.Unlock()
	if !started || s.runDone == nil {
		return nil
	}
	if ln != nil {
		return s.shutdownStreams(ctx)
	}
	s.closing.Store(true)
	err := s.waitInFlight(ctx)
	// The loops close every connection (OnClose) on their way out, and gnet.Run
	// returns (closing runDone) the moment they have exited. Engine.Stop signals
	// them but then polls for their exit on a 500 ms ticker, so its poll is
	// ended as soon as runDone closes instead of adding up to half a second to
	// every shutdown.
	stopCtx, endStop := context.WithCancel(ctx)
	defer endStop()
	stopped := make(chan error, 1)
	go func() { stopped <- eng.Stop(stopCtx) }()
	select {
	case <-s.runDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	endStop()
	if e := <-stopped; e != nil && !errors.Is(e, context.Canceled) && err == nil {
		err = e
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// waitInFlight waits until no request is in flight, or ctx ends (its error).
func (s *Server) waitInFlight(ctx context.Context) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for s.st.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// gnetLogger drops gnet's debug and info lines (it announces every engine
// start) and passes the rest to Config.Logf. gnet installs it process-wide.
type gnetLogger struct{ logf func(string, ...any) }

func (gnetLogger) Debugf(string, ...any)       {}
func (gnetLogger) Infof(string, ...any)        {}
func (l gnetLogger) Warnf(f string, a ...any)  { l.logf("gnet: "+f, a...) }
func (l gnetLogger) Errorf(f string, a ...any) { l.logf("gnet: "+f, a...) }
func (l gnetLogger) Fatalf(f string, a ...any) { l.logf("gnet: FATAL: "+f, a...) }

// loopHandler adapts the server to gnet's EventHandler without exporting the
// callbacks on Server. All its methods run on event loops.
type loopHandler struct {
	gnet.BuiltinEventEngine
	s      *Server
	booted chan error
}

func (lh *loopHandler) OnBoot(eng gnet.Engine) gnet.Action {
	s := lh.s
	fd, err := eng.Dup()
	if err != nil {
		lh.booted <- fmt.Errorf("server: dup listener: %w", err)
		return gnet.Shutdown
	}
	sa, err := unix.Getsockname(fd)
	_ = unix.Close(fd)
	if err != nil {
		lh.booted <- fmt.Errorf("server: getsockname: %w", err)
		return gnet.Shutdown
	}
	var addr net.Addr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		addr = &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		addr = &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	s.mu.Lock()
	s.eng, s.addr = eng, addr
	s.mu.Unlock()
	lh.booted <- nil
	return gnet.None
}

func (lh *loopHandler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := lh.s
	if s.closing.Load() {
		s.st.connsRefused.Add(1)
		return nil, gnet.Close
	}
	if s.st.connsActive.Add(1) > int64(s.cfg.MaxConns) {
		s.st.connsActive.Add(-1)
		s.st.connsRefused.Add(1)
		return nil, gnet.Close
	}
	if !s.admit(gc.RemoteAddr()) {
		s.st.connsActive.Add(-1)
		return nil, gnet.Close
	}
	c, err := newConn(s, gc)
	if err != nil {
		s.admitClosed(gc.RemoteAddr())
		s.st.connsActive.Add(-1)
		s.st.connsRefused.Add(1)
		return nil, gnet.Close
	}
	s.st.connsAccepted.Add(1)
	gc.SetContext(c)
	// Never return bytes here: gnet must not write on this connection.
	return nil, gnet.None
}

func (lh *loopHandler) OnClose(gc gnet.Conn, _ error) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.None
	}
	gc.SetContext(nil)
	c.onClose()
	lh.s.admitClosed(c.remote)
	lh.s.st.connsActive.Add(-1)
	return gnet.None
}

// admit asks Config.Admit about a new connection from remote; a refusal is counted.
func (s *Server) admit(remote net.Addr) bool {
	if s.cfg.Admit == nil || s.cfg.Admit.Admit(s.cfg.Listener, remote) {
		return true
	}
	s.st.connsRefused.Add(1)
	s.st.quotaRefused.Add(1)
	return false
}

// admitClosed tells Config.Admit that a connection it admitted closed.
func (s *Server) admitClosed(remote net.Addr) {
	if s.cfg.Admit != nil {
		s.cfg.Admit.Closed(s.cfg.Listener, remote)
	}
}

func (lh *loopHandler) OnTraffic(gc gnet.Conn) gnet.Action {
	c, _ := gc.Context().(*conn)
	if c == nil {
		return gnet.Close
	}
	return c.onTraffic()
}

// runSlot runs the handler for one request on a worker goroutine. After the
// handler returns it settles the request, unless the handler deferred it and
// the completion has not come yet: then completeDeferred settles it, and
// runSlot must not touch the slot again (it may be reused at once).
func (s *Server) runSlot(sl *slot) {
	resp, ok := s.callHandler(sl)
	c := sl.c
	c.endTurn(sl)
	if sl.req.deferred { // written by the handler, on this goroutine
		releaseResponse(resp) // a deferring handler returns nil
		c.mu.Lock()
		sl.handled = true
		if ok && !sl.answered {
			c.mu.Unlock()
			return // Complete settles it
		}
		resp = sl.early
		sl.early = nil
		if !ok && !sl.answered { // panicked after Defer: a later Complete is dropped
			sl.answered = true
			s.st.deferred.Add(-1)
		}
		if !ok {
			releaseResponse(resp)
			resp = nil
		}
		c.mu.Unlock()
	}
	c.settle(sl, resp, ok)
}

func (s *Server) callHandler(sl *slot) (resp *Response, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.cfg.Logf("server: handler panic on conn %d api %d v%d: %v",
				sl.req.ConnID, sl.req.APIKey, sl.req.APIVersion, r)
			resp, ok = nil, false
		}
	}()
	return s.h.Handle(&sl.req), true
}

// Add returns the field-wise sum of two snapshots (several servers, one per listener).
func (a Stats) Add(b Stats) Stats {
	return Stats{
		ConnsActive:    a.ConnsActive + b.ConnsActive,
		ConnsAccepted:  a.ConnsAccepted + b.ConnsAccepted,
		ConnsRefused:   a.ConnsRefused + b.ConnsRefused,
		Requests:       a.Requests + b.Requests,
		Responses:      a.Responses + b.Responses,
		BytesIn:        a.BytesIn + b.BytesIn,
		BytesOut:       a.BytesOut + b.BytesOut,
		SendfileBytes:  a.SendfileBytes + b.SendfileBytes,
		CopiedBytes:    a.CopiedBytes + b.CopiedBytes,
		BufferedBytes:  a.BufferedBytes + b.BufferedBytes,
		InFlight:       a.InFlight + b.InFlight,
		Deferred:       a.Deferred + b.Deferred,
		ProtocolCloses: a.ProtocolCloses + b.ProtocolCloses,
		BudgetCloses:   a.BudgetCloses + b.BudgetCloses,
		Pauses:         a.Pauses + b.Pauses,
		WriteWaits:     a.WriteWaits + b.WriteWaits,
		Mutes:          a.Mutes + b.Mutes,
		QuotaRefused:   a.QuotaRefused + b.QuotaRefused,
	}
}
