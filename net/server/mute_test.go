package server

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// muteHandler echoes, and mutes the connection for muteTime after answering "mute".
var muteHandler = HandlerFunc(func(req *Request) *Response {
	r := NewResponse()
	r.AppendInt32(req.CorrelationID)
	_, _ = r.Write(req.Body())
	if string(req.Body()) == "mute" {
		r.MuteFor(muteTime)
	}
	return r
})

const muteTime = 300 * time.Millisecond

// checkMute: after a muted response the connection's next request is answered only once the
// mute is over, and the connection works normally afterwards.
func checkMute(t *testing.T, s *Server, c net.Conn) {
	t.Helper()
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(appendRequest(nil, 0, 9, 1, "cli", []byte("mute")))
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "mute" {
		t.Fatalf("muting response: %q %v", resp, err)
	}
	start := time.Now()
	c.Write(appendRequest(nil, 0, 9, 2, "cli", []byte("next")))
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "next" {
		t.Fatalf("request after the mute: %q %v", resp, err)
	}
	// The mute started when the first response was written, a little before start.
	if waited := time.Since(start); waited < muteTime-50*time.Millisecond {
		t.Fatalf("answered %v after a %v mute", waited, muteTime)
	}
	start = time.Now()
	c.Write(appendRequest(nil, 0, 9, 3, "cli", []byte("again")))
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "again" {
		t.Fatalf("request after the mute ended: %q %v", resp, err)
	}
	if waited := time.Since(start); waited > muteTime {
		t.Fatalf("still muted: answered after %v", waited)
	}
	if st := s.Stats(); st.Mutes != 1 {
		t.Fatalf("Mutes = %d, want 1", st.Mutes)
	}
}

func TestMuteFor(t *testing.T) {
	s, addr := startServer(t, Config{}, muteHandler)
	checkMute(t, s, dial(t, addr))
}

func TestMuteForTLS(t *testing.T) {
	s, addr, cfg := startTLSServer(t, Config{}, muteHandler)
	checkMute(t, s, dialTLS(t, addr, cfg))
}
