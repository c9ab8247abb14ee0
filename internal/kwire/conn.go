package kwire

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// defaultMaxResponseBytes bounds a response frame unless Options say otherwise (a
	// follower's fetch is at most replica.fetch.response.max.bytes, 10 MiB by default).
	defaultMaxResponseBytes = 256 << 20
	defaultReadBufferBytes  = 64 << 10
	// dialTimeout and requestTimeout bound a dial and a Request whose context has no
	// earlier deadline.
	dialTimeout    = 10 * time.Second
	requestTimeout = 30 * time.Second
)

// ErrClosed wraps the error of a read that found the connection closed by the peer.
var ErrClosed = errors.New("kwire: connection closed by the broker")

// Options configure a Conn. Zero values take the defaults noted.
type Options struct {
	ClientID string // sent in every request header
	// MaxResponseBytes bounds a response frame (default 256 MiB); a larger size breaks the
	// connection before anything is allocated for it.
	MaxResponseBytes int
	// ReadBufferBytes is the initial size of the pipelined read buffer (default 64 KiB); it
	// grows to the largest frame received.
	ReadBufferBytes int
	// Security is the TLS and SASL of the listener dialed (default PLAINTEXT).
	Security
}

// Conn is a client connection to a Kafka broker. Request is for one goroutine at a time;
// Send/SendFrame and Receive may run on two goroutines at once (one each), not together
// with Request.
type Conn struct {
	nc net.Conn

	// Sending side.
	f    *kmsg.RequestFormatter
	wbuf []byte
	sent int32 // correlation id of the last request sent

	// Receiving side.
	r    *Reader
	recv int32 // correlation id the next response must carry

	broken error // why Request broke the connection; Request's goroutine only
}

// Dial connects to addr within ctx (and 10 s), then runs opt.Security's TLS handshake and
// SASL exchange (within 10 s more). TCP_NODELAY is on (Go's default for TCP).
func Dial(ctx context.Context, addr string, opt Options) (*Conn, error) {
	if opt.MaxResponseBytes <= 0 {
		opt.MaxResponseBytes = defaultMaxResponseBytes
	}
	if opt.ReadBufferBytes <= 0 {
		opt.ReadBufferBytes = defaultReadBufferBytes
	}
	d := net.Dialer{Timeout: dialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if opt.TLS == nil && opt.SASL == nil {
		return newConn(nc, opt), nil
	}
	setup, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	sc, err := opt.secure(setup, nc, addr)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := newConn(sc, opt)
	if err := opt.authenticate(setup, c, addr); err != nil {
		c.Close()
		return nil, err
	}
	c.nc.SetDeadline(time.Time{}) // the exchange's Requests set one
	return c, nil
}

func newConn(nc net.Conn, opt Options) *Conn {
	return &Conn{nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(opt.ClientID)),
		r: NewReader(nc, opt.ReadBufferBytes, opt.MaxResponseBytes), recv: 1}
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Err is why Request broke the connection, or nil while it is usable.
func (c *Conn) Err() error { return c.broken }

// SetDeadline sets the read and write deadline of the pipelined calls (Request sets its own).
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// EncodeRequest returns req's whole frame, at req's set version, with clientID and
// correlation id 0 (SendFrame sets it), reusing buf's space. kmsg's RequestFormatter encodes
// it.
func EncodeRequest(buf []byte, req kmsg.Request, clientID string) []byte {
	return kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(buf[:0], req, 0)
}

// Send writes req, at its set version, with the next correlation id.
func (c *Conn) Send(req kmsg.Request) error {
	c.wbuf = c.f.AppendRequest(c.wbuf[:0], req, 0)
	return c.SendFrame(c.wbuf)
}

// SendFrame writes one frame built by EncodeRequest (any client id), after setting its
// correlation id to the next one: a pre-encoded request is sent again and again this way.
func (c *Conn) SendFrame(frame []byte) error {
	c.sent++
	binary.BigEndian.PutUint32(frame[8:], uint32(c.sent))
	_, err := c.nc.Write(frame)
	return err
}

// Receive reads the next response into resp, whose version must be set to the request's. It
// fails on a response to another request. resp's byte fields alias the Conn's read buffer
// until the next Receive.
func (c *Conn) Receive(resp kmsg.Response) error {
	frame, err := c.r.Next()
	if err != nil {
		return err
	}
	return c.decode(frame, resp)
}

// decode checks frame's correlation id and header, then decodes its body into resp.
func (c *Conn) decode(frame []byte, resp kmsg.Response) error {
	want := c.recv
	c.recv++
	if len(frame) < 4 {
		return fmt.Errorf("kwire: response of %d bytes has no correlation id", len(frame))
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != want {
		return fmt.Errorf("kwire: response has correlation id %d, want %d", got, want)
	}
	body := frame[4:]
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		var err error
		if body, err = SkipTags(body); err != nil {
			return fmt.Errorf("kwire: response header: %w", err)
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("kwire: decoding %T v%d: %w", resp, resp.GetVersion(), err)
	}
	return nil
}

// Request sends req at its set version and returns its response, which owns its bytes. ctx
// bounds the wait (30 s when it has no deadline); cancelling it interrupts
// the I/O. Any failure breaks the connection.
func (c *Conn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	fail := func(err error) (kmsg.Response, error) {
		c.broken = fmt.Errorf("kwire: connection to %s broken: %w", c.nc.RemoteAddr(), err)
		c.nc.Close()
		return nil, c.broken
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(requestTimeout)
	}
	c.nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() && c.broken == nil {
			// Cancelled: the deadline may be cut at any moment from now on.
			c.broken = fmt.Errorf("kwire: connection to %s broken: %w", c.nc.RemoteAddr(), ctx.Err())
			c.nc.Close()
		}
	}()
	if err := c.Send(req); err != nil {
		return fail(err)
	}
	frame, err := c.r.NextOwned()
	if err != nil {
		return fail(err)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := c.decode(frame, resp); err != nil {
		return fail(err)
	}
	return resp, nil
}
