package chaos

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"
)

// endTxnKey is the api key of EndTxn.
const endTxnKey = 26

// maxFrame bounds the request size the delayer parses; a longer length prefix is not a Kafka
// request of ours, and the bytes are passed on as they come.
const maxFrame = 64 << 20

// EndTxnDelayer is a TCP proxy in one client's dial path (kgo.Dialer(d.Dial)): it forwards
// every connection's bytes both ways as they come, except that once armed it holds the next
// EndTxn request (api key 26) it sees for a while, with everything the client writes after it
// on that connection, the way a congested network would. The client times out, retries the
// EndTxn on a new connection and goes on with its next transaction; the held request reaches
// the coordinator late, on its original connection, which the proxy keeps open for it even
// after the client closed its side (KAFKA-17754).
type EndTxnDelayer struct {
	dialer net.Dialer

	mu    sync.Mutex
	hold  time.Duration // guarded by mu; the next EndTxn is held this long, 0 once one was
	held  []HeldEndTxn  // guarded by mu
	conns sync.WaitGroup
}

// HeldEndTxn is one EndTxn request the delayer held.
type HeldEndTxn struct {
	Addr          string    // the broker it went to
	Correlation   int32     // its correlation id
	Seen, Sent    time.Time // when the client wrote it and when the proxy passed it on
	ClientGone    bool      // the client had closed the connection before it was passed on
	ForwardFailed string    // why it could not be passed on, if it could not
}

// Arm makes the delayer hold the next EndTxn request for d.
func (d *EndTxnDelayer) Arm(hold time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hold = hold
}

// HeldRequests returns the EndTxn requests held so far.
func (d *EndTxnDelayer) HeldRequests() []HeldEndTxn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]HeldEndTxn(nil), d.held...)
}

// Wait waits until every connection the delayer made is closed and its held requests are
// passed on.
func (d *EndTxnDelayer) Wait() { d.conns.Wait() }

// Dial connects to addr and returns the client's side of the proxied connection.
func (d *EndTxnDelayer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	up, err := d.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	client, proxy := net.Pipe()
	d.conns.Add(1)
	go d.run(addr, proxy, up)
	return client, nil
}

// run copies responses to the client and requests to the broker, holding an EndTxn if armed.
// The broker connection closes only after the requests the client wrote were passed on.
func (d *EndTxnDelayer) run(addr string, client, up net.Conn) {
	defer d.conns.Done()
	go func() { // responses; a late one finds the client gone and is dropped
		buf := make([]byte, 32<<10)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				client.Write(buf[:n])
			}
			if err != nil {
				client.Close()
				return
			}
		}
	}()
	defer up.Close()
	var pending []byte // requests read from the client, not yet passed on
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		pending = append(pending, buf[:n]...)
		for {
			frame, ok := nextFrame(pending)
			if !ok {
				break
			}
			pending = pending[len(frame):]
			if held := d.maybeHold(addr, frame); held != nil {
				time.Sleep(held.hold)
				held.h.Sent = time.Now()
				held.h.ClientGone = isClosed(client)
				if _, werr := up.Write(frame); werr != nil {
					held.h.ForwardFailed = werr.Error()
				}
				d.mu.Lock()
				d.held = append(d.held, held.h)
				d.mu.Unlock()
				// The broker answers (or not) on a connection the client may have left:
				// give it time to read the request before the close below.
				time.Sleep(time.Second)
				continue
			}
			if _, err := up.Write(frame); err != nil {
				return
			}
		}
		if err != nil {
			if len(pending) > 0 {
				up.Write(pending)
			}
			return
		}
	}
}

// heldFrame is an EndTxn being held and its record.
type heldFrame struct {
	hold time.Duration
	h    HeldEndTxn
}

// maybeHold disarms the delayer and returns what to hold if frame is an EndTxn and it is
// armed.
func (d *EndTxnDelayer) maybeHold(addr string, frame []byte) *heldFrame {
	if len(frame) < 12 || int16(binary.BigEndian.Uint16(frame[4:6])) != endTxnKey {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hold == 0 {
		return nil
	}
	h := &heldFrame{hold: d.hold, h: HeldEndTxn{Addr: addr, Correlation: int32(binary.BigEndian.Uint32(frame[8:12])), Seen: time.Now()}}
	d.hold = 0
	return h
}

// nextFrame returns the first whole request of b (its 4-byte length prefix included). A
// length that cannot be a request makes the rest of b one frame, passed on as it is.
func nextFrame(b []byte) ([]byte, bool) {
	if len(b) < 4 {
		return nil, false
	}
	size := int64(int32(binary.BigEndian.Uint32(b)))
	if size < 8 || size > maxFrame {
		return b, true
	}
	if int64(len(b)) < 4+size {
		return nil, false
	}
	return b[:4+size], true
}

// isClosed reports whether the client closed its side of a net.Pipe.
func isClosed(c net.Conn) bool {
	c.SetReadDeadline(time.Now())
	_, err := c.Read(make([]byte, 0))
	c.SetReadDeadline(time.Time{})
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// String describes a held request for logs.
func (h HeldEndTxn) String() string {
	s := fmt.Sprintf("EndTxn to %s (correlation %d) held %v", h.Addr, h.Correlation, h.Sent.Sub(h.Seen).Round(time.Millisecond))
	if h.ClientGone {
		s += ", the client had closed the connection"
	}
	if h.ForwardFailed != "" {
		s += ", not passed on: " + h.ForwardFailed
	}
	return s
}
