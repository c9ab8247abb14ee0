package server

import (
	"context"
	"time"
)

// Muting (Kafka's quota throttling, KIP-219): a response marked with Response.MuteFor is
// written at once, and then its connection is not read for that long, so a client over its
// quota sends nothing more meanwhile whatever it does with the response's throttle_time_ms.
// The mute starts just before the response is written, so no request sent after reading it
// can slip in: requests dispatched earlier still run; frames read during the mute wait in
// pending (emit), as at MaxInFlight. The wait holds no goroutine on the event-loop server:
// the loop takes the read interest away (pause) and a runtime timer puts resume back on the
// loop when the time is up; resume reads again only once the mute and the ring allow it. A
// stream (TLS) connection's reader, a goroutine anyway, waits on a timer before it frames
// what its read brought (at most one read buffer) during a mute.

// MuteFor stops reading the connection for d once this response is written (a quota's
// throttle time); the longest mute of the responses written wins.
func (r *Response) MuteFor(d time.Duration) {
	if d > r.mute {
		r.mute = d
	}
}

// muteBatch extends the connection's mute to the longest MuteFor of the batch about to be
// written, before it is written, and reports whether there was one. Writer only.
func (c *conn) muteBatch() bool {
	var d time.Duration
	for _, sl := range c.batch {
		if sl.resp != nil {
			d = max(d, sl.resp.mute)
		}
	}
	if d <= 0 {
		return false
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.mutedUntil.Load()
		if cur >= until || c.mutedUntil.CompareAndSwap(cur, until) {
			break
		}
	}
	c.s.st.mutes.Add(1)
	return true
}

// muteLoop pauses reading and arms the timer that resumes it. Event loop only.
func (c *conn) muteLoop(context.Context) error {
	left := c.mutedLeft()
	if c.gone || left <= 0 {
		return nil
	}
	c.pause() // emit queues, and resume holds, what arrives meanwhile
	el := c.gc.EventLoop()
	time.AfterFunc(left, func() { _ = el.Execute(context.Background(), c.resumeFn) })
	return nil
}

// mutedLeft is how long the connection stays muted (≤ 0: not muted).
func (c *conn) mutedLeft() time.Duration {
	return time.Duration(c.mutedUntil.Load() - time.Now().UnixNano())
}

// waitMuted blocks a stream connection's reader until its mute ends or the connection
// closes (abort wakes the reader).
func (c *conn) waitMuted() {
	for left := c.mutedLeft(); left > 0 && !c.isClosed(); left = c.mutedLeft() {
		t := time.NewTimer(left)
		select {
		case <-t.C:
		case <-c.stream.wake:
		}
		t.Stop()
	}
}
