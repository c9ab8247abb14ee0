package server

import (
	"bufio"
	"encoding/binary"
	"testing"
	"time"
)

// authHandler authenticates a connection by a request whose body is "login", answers
// "denied" with CloseAfter to "bad", and echoes anything else with the session's state.
var authHandler = HandlerFunc(func(req *Request) *Response {
	r := NewResponse()
	r.AppendInt32(req.CorrelationID)
	switch string(req.Body()) {
	case "login":
		req.Session.Authenticate("User:alice")
	case "bad":
		_, _ = r.Write([]byte("denied"))
		r.CloseAfter()
		return r
	}
	if req.Session.Authenticated() {
		_, _ = r.Write([]byte(req.Session.Principal()))
	}
	return r
})

// TestPreAuthCap: before authentication a frame above PreAuthMaxRequestBytes closes the
// connection at its size prefix; after it, frames up to MaxRequestBytes pass.
func TestPreAuthCap(t *testing.T) {
	s, addr := startServer(t, Config{RequireAuth: true, PreAuthMaxRequestBytes: 1 << 10}, authHandler)
	big := dial(t, addr)
	big.Write(binary.BigEndian.AppendUint32(nil, 64<<10)) // only the claim: nothing allocated for it
	expectClosed(t, big)
	if st := s.Stats(); st.ProtocolCloses != 1 || st.BufferedBytes != 0 {
		t.Fatalf("stats %+v", st)
	}

	c := dial(t, addr)
	br := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(appendRequest(nil, 36, 2, 1, "cli", []byte("login")))
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "User:alice" {
		t.Fatalf("login: %q %v", resp, err)
	}
	body := make([]byte, 64<<10)
	c.Write(appendRequest(nil, 0, 9, 2, "cli", body))
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "User:alice" {
		t.Fatalf("large frame after login: %q %v", resp, err)
	}
}

// TestCloseAfter: a response marked CloseAfter is written, then the connection closes;
// requests pipelined behind it get no answer.
func TestCloseAfter(t *testing.T) {
	_, addr := startServer(t, Config{RequireAuth: true}, authHandler)
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	frames := appendRequest(nil, 36, 2, 9, "cli", []byte("bad"))
	for i := range 8 {
		frames = appendRequest(frames, 18, 0, int32(10+i), "cli", nil)
	}
	c.Write(frames)
	br := bufio.NewReader(c)
	if resp, err := readResponse(br, nil); err != nil || string(resp[4:]) != "denied" {
		t.Fatalf("answer before closing: %q %v", resp, err)
	}
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("connection still open after a CloseAfter response")
	}
}
