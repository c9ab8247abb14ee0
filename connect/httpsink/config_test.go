package httpsink

import (
	"testing"
	"time"
)

func TestStatusRanges(t *testing.T) {
	c, errs := parseConfig(map[string]string{"http.api.url": "http://h/x", "retry.on.status.codes": "404, 429,500-503,550-"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for status, want := range map[int]bool{400: false, 404: true, 429: true, 499: false, 500: true, 503: true, 504: false, 550: true, 599: true} {
		if c.retried(status) != want {
			t.Errorf("status %d retried: %v, want %v", status, !want, want)
		}
	}
	c, _ = parseConfig(map[string]string{"http.api.url": "http://h/x"})
	for status, want := range map[int]bool{400: false, 408: true, 422: false, 429: true, 500: true, 503: true} {
		if c.retried(status) != want {
			t.Errorf("default: status %d retried: %v, want %v", status, !want, want)
		}
	}
	for _, bad := range []string{"abc", "99", "600", "500-400", "400-700"} {
		if _, errs := parseConfig(map[string]string{"http.api.url": "http://h/x", "retry.on.status.codes": bad}); len(errs) != 1 {
			t.Errorf("%q: errors %v, want one", bad, errs)
		}
	}
}

// TestBackoff: CONSTANT_VALUE waits retry.backoff.ms every time; EXPONENTIAL_WITH_JITTER
// waits in the upper half of retry.backoff.ms doubled per retry, capped at a minute.
func TestBackoff(t *testing.T) {
	c, _ := parseConfig(map[string]string{"http.api.url": "http://h/", "retry.backoff.ms": "100", "retry.backoff.policy": "CONSTANT_VALUE"})
	for n := 1; n < 5; n++ {
		if d := c.wait(n); d != 100*time.Millisecond {
			t.Fatalf("constant: retry %d waits %v", n, d)
		}
	}
	c, _ = parseConfig(map[string]string{"http.api.url": "http://h/", "retry.backoff.ms": "100"})
	for n := 1; n < 20; n++ {
		full := min(100*time.Millisecond<<(n-1), time.Minute)
		for range 20 {
			if d := c.wait(n); d < full/2 || d > full {
				t.Fatalf("exponential: retry %d waits %v, want %v to %v", n, d, full/2, full)
			}
		}
	}
}
