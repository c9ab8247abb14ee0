package server

import (
	"bufio"
	"sync"
	"testing"
	"time"
)

// TestRequestTiming: Request.Received is stamped before the handler runs, and
// ObserveResponse reports each written response once with its API key, the
// time it waited for the writer behind a slower earlier response (responses
// leave in request order) and its send time.
func TestRequestTiming(t *testing.T) {
	type obs struct {
		key            int16
		queued, sendAt time.Duration
	}
	var mu sync.Mutex
	var got []obs
	h := HandlerFunc(func(req *Request) *Response {
		if req.Received.IsZero() || time.Since(req.Received) > 5*time.Second {
			t.Errorf("request %d: Received %v", req.CorrelationID, req.Received)
		}
		if req.APIKey == 1 {
			time.Sleep(100 * time.Millisecond) // the first request is slow
		}
		return echoHandler(req)
	})
	cfg := Config{ObserveResponse: func(k int16, q, s time.Duration) {
		mu.Lock()
		got = append(got, obs{k, q, s})
		mu.Unlock()
	}}
	_, addr := startServer(t, cfg, h)
	c := dial(t, addr)
	var out []byte
	out = appendRequest(out, 1, 0, 1, "cli", []byte("slow"))
	out = appendRequest(out, 3, 0, 2, "cli", []byte("fast"))
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for range 2 {
		if _, err := readResponse(br, nil); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0].key != 1 || got[1].key != 3 {
		t.Fatalf("observed %+v, want API keys 1 then 3", got)
	}
	// The fast response was ready long before the slow one ahead of it was.
	if got[1].queued < 50*time.Millisecond || got[0].queued > 50*time.Millisecond {
		t.Errorf("response queue times %v (slow) and %v (fast behind it)", got[0].queued, got[1].queued)
	}
	if got[0].sendAt < 0 || got[0].sendAt > time.Second {
		t.Errorf("send time %v", got[0].sendAt)
	}
}
