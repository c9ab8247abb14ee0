package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHugeTaggedFieldCount: a flexible request claiming 2^32-1 tagged fields in a few bytes
// must fail to decode at once, not loop over the claimed count (third_party/kmsg/PATCH.md).
func TestHugeTaggedFieldCount(t *testing.T) {
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.SetVersion(3)
	// An empty topic array (compact: 1), timeout, validate-only, then a tag count of 2^32-1.
	body := []byte{1, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}
	done := make(chan error, 1)
	go func() { done <- req.ReadFrom(body) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("decoded a request with an impossible tag count")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("decoding a huge tagged-field count did not stop")
	}
}
