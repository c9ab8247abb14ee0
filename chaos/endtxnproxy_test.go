package chaos

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// request is a minimal request frame: length, api key, version, correlation id.
func request(key int16, correlation int32) []byte {
	b := binary.BigEndian.AppendUint32(nil, 8)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(correlation))
}

// TestEndTxnDelayer sends a Metadata and an EndTxn request through an armed delayer to a TCP
// listener and closes the client right after: the Metadata request arrives at once, the
// EndTxn only after the hold, although the client is gone.
func TestEndTxnDelayer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type arrival struct {
		correlation int32
		at          time.Time
	}
	arrivals := make(chan arrival, 2)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			var frame [12]byte
			if _, err := io.ReadFull(c, frame[:]); err != nil {
				close(arrivals)
				return
			}
			arrivals <- arrival{int32(binary.BigEndian.Uint32(frame[8:])), time.Now()}
		}
	}()
	var d EndTxnDelayer
	const hold = 300 * time.Millisecond
	d.Arm(hold)
	c, err := d.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i, key := range []int16{3, endTxnKey} {
		if _, err := c.Write(request(key, int32(i))); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	var got []arrival
	for a := range arrivals {
		got = append(got, a)
	}
	d.Wait()
	if len(got) != 2 {
		t.Fatalf("%d requests arrived, want 2", len(got))
	}
	if got[0].correlation != 0 || got[0].at.Sub(start) >= hold {
		t.Errorf("the first request arrived %v after the write (correlation %d)", got[0].at.Sub(start), got[0].correlation)
	}
	if got[1].at.Sub(start) < hold {
		t.Errorf("the EndTxn arrived %v after the write, before the hold ended", got[1].at.Sub(start))
	}
	held := d.HeldRequests()
	if len(held) != 1 || held[0].Correlation != 1 || !held[0].ClientGone || held[0].ForwardFailed != "" {
		t.Fatalf("held %+v", held)
	}
}

func TestNextFrame(t *testing.T) {
	b := append(request(1, 1), request(2, 2)[:5]...)
	if f, ok := nextFrame(b); !ok || len(f) != 12 {
		t.Fatalf("first frame %v %v", f, ok)
	}
	if _, ok := nextFrame(b[12:]); ok {
		t.Fatal("a partial frame was returned")
	}
	if f, ok := nextFrame([]byte{0xff, 0xff, 0xff, 0xff, 1}); !ok || len(f) != 5 {
		t.Fatalf("a bad length: %v %v", f, ok)
	}
}
