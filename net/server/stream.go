package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// The stream path serves connections gnet cannot: TLS (gnet has no TLS, and its maintainer
// declined to add it). Each connection is a crypto/tls conn with one reader goroutine, which
// plays the event loop's part (framer, pending, pause, resume), and the same ring, worker
// pool, turns and writer goroutine as a gnet connection. The writer writes through the TLS
// conn, file regions by pread into a chunk (sendfile cannot encrypt). See doc.go, "TLS".

// handshakeTimeout bounds a TLS handshake: a client that connects and stalls holds a
// goroutine and a socket no longer than this.
const handshakeTimeout = 10 * time.Second

// streamReadBuf is the reader's buffer: one TLS record's plaintext at most (16 KiB), which is
// what a tls.Conn Read returns anyway. It is also the most a connection reads past its
// in-flight cap.
const streamReadBuf = 16 << 10

// streamWriteBuf gathers a batch's small parts (size prefixes, headers) into full TLS records
// instead of one record per part.
const streamWriteBuf = 16 << 10

// streamState is the part of a conn only stream connections have.
type streamState struct {
	nc   net.Conn      // the TLS conn
	wake chan struct{} // the writer freed a slot of a full ring: the reader resumes
	bw   *bufio.Writer // the writer's record gathering, over nc
}

// StartTLS listens on addr and serves every connection over TLS with cfg (see doc.go, "TLS").
// It returns once the socket is listening. A Server is started once, by Start or StartTLS.
func (s *Server) StartTLS(addr string, cfg *tls.Config) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errAlreadyStarted
	}
	s.started = true
	s.mu.Unlock()
	s.cfg.capMaxConnsToFDLimit()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.addr, s.ln, s.streams = ln.Addr(), ln, map[*conn]struct{}{}
	s.runDone = make(chan struct{})
	s.mu.Unlock()
	go s.acceptStreams(ln, cfg)
	return nil
}

// acceptStreams accepts until the listener closes.
func (s *Server) acceptStreams(ln net.Listener, cfg *tls.Config) {
	defer close(s.runDone)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.cfg.Logf("server: accept on %s: %v", ln.Addr(), err)
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		if s.closing.Load() || s.st.connsActive.Add(1) > int64(s.cfg.MaxConns) {
			if !s.closing.Load() {
				s.st.connsActive.Add(-1)
			}
			s.st.connsRefused.Add(1)
			nc.Close()
			continue
		}
		if !s.admit(nc.RemoteAddr()) {
			s.st.connsActive.Add(-1)
			nc.Close()
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c := newStreamConn(s, tls.Server(nc, cfg))
		s.mu.Lock()
		s.streams[c] = struct{}{}
		s.mu.Unlock()
		s.st.connsAccepted.Add(1)
		s.wg.Add(1)
		go c.readStream()
	}
}

func newStreamConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:      s,
		id:     s.nextID.Add(1),
		remote: nc.RemoteAddr(),
		epfd:   -1,
		slots:  make([]slot, s.cfg.MaxInFlight),
		stream: &streamState{nc: nc, wake: make(chan struct{}, 1)},
	}
	c.turnCond.L = &c.mu
	c.fr = framer{maxSize: s.cfg.MaxRequestBytes, b: s}
	c.emitFn = c.emit
	c.writeFn = c.writeLoop
	c.w.init(c)
	for i := range c.slots {
		c.slots[i].c = c
	}
	return c
}

// readStream is a stream connection's event loop: handshake, then read, frame and dispatch
// until the peer or the server closes; at the in-flight cap it stops reading until the
// writer wakes it.
func (c *conn) readStream() {
	s := c.s
	defer func() {
		c.onClose()
		s.mu.Lock()
		delete(s.streams, c)
		s.mu.Unlock()
		s.admitClosed(c.remote)
		s.st.connsActive.Add(-1)
		s.wg.Done()
	}()
	nc := c.stream.nc
	if tc, ok := nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		var principal string
		if err == nil && s.cfg.TLSPrincipal != nil {
			principal, err = s.cfg.TLSPrincipal(tc.ConnectionState())
			if err != nil {
				s.cfg.Logf("server: TLS connection from %s refused: %v", c.remote, err)
			}
		}
		c.initSession(principal)
		if err != nil {
			s.st.protocolCloses.Add(1)
			return // the deferred onClose closes the conn
		}
	}
	buf := make([]byte, streamReadBuf)
	for {
		if c.paused {
			<-c.stream.wake // the writer freed a slot, or abort closed the conn
			if c.isClosed() {
				return
			}
			_ = c.resume(context.Background())
			continue
		}
		n, err := nc.Read(buf)
		if n > 0 {
			c.waitMuted() // what arrived during a mute waits for its end in buf
			s.st.bytesIn.Add(int64(n))
			if !s.closing.Load() { // draining for shutdown: take no new requests
				c.liftPreAuthCap()
				if ferr := c.fr.feed(buf[:n], c.emitFn); ferr != nil {
					if ferr == ErrBufferBudget {
						s.st.budgetCloses.Add(1)
					} else {
						s.st.protocolCloses.Add(1)
					}
					c.abort()
					return
				}
			}
		}
		if err != nil {
			c.abort()
			return
		}
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// wakeStream tells a paused reader to resume (non-blocking: one pending wake is enough).
func (c *conn) wakeStream() {
	select {
	case c.stream.wake <- struct{}{}:
	default:
	}
}

// flushStream writes the queued byte parts through the stream (TLS) conn, gathered into
// records by the writer's bufio.Writer.
func (w *writerState) flushStream() error {
	st := w.c.stream
	if st.bw == nil {
		st.bw = bufio.NewWriterSize(st.nc, streamWriteBuf)
	}
	var n int64
	for _, b := range w.bufs[w.bh:] {
		m, err := st.bw.Write(b)
		n += int64(m)
		if err != nil {
			return err
		}
	}
	err := st.bw.Flush()
	w.c.s.st.bytesOut.Add(n)
	return err
}

// shutdownStreams is Shutdown for a server started by StartTLS: stop accepting, wait for
// in-flight requests (bounded by ctx), close every connection, wait for the goroutines.
func (s *Server) shutdownStreams(ctx context.Context) error {
	s.closing.Store(true)
	err := s.waitInFlight(ctx)
	s.mu.Lock()
	ln := s.ln
	conns := make([]*conn, 0, len(s.streams))
	for c := range s.streams {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	ln.Close()
	for _, c := range conns {
		c.abort()
	}
	done := make(chan struct{})
	go func() { <-s.runDone; s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}
