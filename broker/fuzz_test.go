package broker

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/net/server"
)

// fuzzHandleTimeout bounds one Handle call. Every wait a request can ask for is clamped to
// milliseconds first (fuzzClampWaits), so a call this long is a bug: a loop that does not end
// with the input.
const fuzzHandleTimeout = 10 * time.Second

// fuzzBroker opens a broker over a temporary directory with a topic "x" (the name every
// hostileSample request uses) of two partitions holding a few batches, so fuzzed Produce,
// Fetch, ListOffsets and admin requests reach real logs rather than stopping at "unknown topic".
//
// The operating system's filesystem, not vfs.MemFS: fuzzed CreateTopics and CreatePartitions
// create up to a thousand partition logs at a time, and MemFS holds every preallocated index
// in memory (10 MiB each by default) where the OS keeps sparse files. State carries over from
// one input to the next (topics created, records appended), as on a real broker.
func fuzzBroker(f *testing.F) *Broker {
	f.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = f.TempDir()
	cfg.LogDefaults.MaxIndexBytes = 64 << 10
	cfg.Logger = slog.New(slog.DiscardHandler)
	b, closeNode, err := StartNode(cfg)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { closeNode() })
	if _, err := b.createTopic("x", 2, nil); err != nil {
		f.Fatal(err)
	}
	for p := range int32(2) {
		part, err := b.partition("x", p)
		if err != nil {
			f.Fatal(err)
		}
		for i := range 3 {
			if _, err := part.log.Append(testbatch.Build(testbatch.Options{Records: i + 1}), engine.AppendOptions{}); err != nil {
				f.Fatal(err)
			}
		}
	}
	return b
}

// fuzzRequest builds the server.Request the network layer would hand to Handle for a frame
// with this header and body (header v2's empty tagged fields for flexible versions).
func fuzzRequest(key, version int16, corr int32, clientID []byte, body []byte) *server.Request {
	frame := hostileFrame(key, version, corr, nil)[4:] // header only, clientID "hostile"
	if clientID != nil {
		frame = binary.BigEndian.AppendUint16(frame[:8], uint16(len(clientID)))
		frame = append(frame, clientID...)
		if HeaderVersion(key, version) == 2 {
			frame = append(frame, 0)
		}
	}
	idLen := int(int16(binary.BigEndian.Uint16(frame[8:])))
	h := server.Header{APIKey: key, APIVersion: version, CorrelationID: corr, ClientIDEnd: 10 + idLen, BodyOffset: len(frame)}
	h.ClientID = frame[10 : 10+idLen]
	frame = append(frame, body...)
	req := server.NewRequest(h, frame, nil)
	req.ConnID = 1
	return req
}

// fuzzClampWaits returns body with every timeout and wait it asks for cut to 10 ms and every
// partition count to 16, re-encoded by kmsg, when it parses as key's request at version and
// has one above that; else body as is. Without this a fuzzed Fetch could long-poll for 24 days,
// and one fuzzed CreateTopics of a million partitions would make every later Metadata for all
// topics a 40 MB response (legal: Kafka leaves that to create policies), neither of which is a
// bug, and both of which stall the fuzzer.
func fuzzClampWaits(key, version int16, body []byte) []byte {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return body
	}
	r.SetVersion(version)
	if r.ReadFrom(body) != nil {
		return body
	}
	if !fuzzClamp(reflect.ValueOf(r).Elem(), 0) {
		return body
	}
	return r.AppendTo(nil)
}

func fuzzClamp(v reflect.Value, depth int) (changed bool) {
	if depth > 8 {
		return false
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			fv := v.Field(i)
			limit := int64(-1)
			switch {
			case strings.Contains(f.Name, "Timeout") || strings.Contains(f.Name, "Wait"):
				limit = 10
			case f.Name == "NumPartitions" || f.Name == "Count":
				limit = 16
			}
			if limit >= 0 && fv.CanInt() {
				if fv.Int() > limit {
					fv.SetInt(limit)
					changed = true
				}
				continue
			}
			changed = fuzzClamp(fv, depth+1) || changed
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			for i := 0; i < v.Len(); i++ {
				changed = fuzzClamp(v.Index(i), depth+1) || changed
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			changed = fuzzClamp(v.Elem(), depth+1)
		}
	}
	return changed
}

// fuzzCall runs Handle and fails (by panicking, which the fuzzer reports with the input) if
// it does not return within fuzzHandleTimeout.
func fuzzCall(b *Broker, req *server.Request) *server.Response {
	timer := time.AfterFunc(fuzzHandleTimeout, func() {
		buf := make([]byte, 1<<20)
		panic(fmt.Sprintf("Handle(%s v%d) still running after %v\n%s",
			kmsg.NameForKey(req.APIKey), req.APIVersion, fuzzHandleTimeout, buf[:runtime.Stack(buf, true)]))
	})
	defer timer.Stop()
	// A parked request (a wait, or an answer queued on the completer) is answered through
	// its Deferred: wait for that answer.
	answer := make(chan *server.Response, 1)
	r := server.NewRequest(req.Header, req.Frame, func(resp *server.Response) { answer <- resp })
	r.ConnID, r.RemoteAddr = req.ConnID, req.RemoteAddr
	resp := b.Handle(r)
	if r.IsDeferred() {
		resp = <-answer
	}
	return resp
}

// fuzzCheckResponse checks what Handle returned for a request of key at version: nothing only
// for Produce (acks=0), CloseConnection, or a response that parses with kmsg as key's response
// at version (v0 for an ApiVersions version we do not know) under the right correlation id.
// Raw (zero-copy Fetch) responses are released unread: their parts are not reachable here.
func fuzzCheckResponse(t *testing.T, key, version int16, corr int32, resp *server.Response) {
	t.Helper()
	switch {
	case resp == nil:
		if key != int16(kmsg.Produce) {
			t.Fatalf("%s v%d: no response", kmsg.NameForKey(key), version)
		}
		return
	case resp == server.CloseConnection:
		return
	}
	defer resp.Release()
	a := lookupAPI(key)
	if a != nil && a.raw != nil {
		if resp.Len() < 4 {
			t.Fatalf("%s v%d: %d-byte response", kmsg.NameForKey(key), version, resp.Len())
		}
		return
	}
	b := resp.Buffer().B
	if int64(len(b)) != resp.Len() {
		t.Fatalf("%s v%d: a response of %d bytes but a buffer of %d", kmsg.NameForKey(key), version, resp.Len(), len(b))
	}
	if len(b) < 4 || int32(binary.BigEndian.Uint32(b)) != corr {
		t.Fatalf("%s v%d: response header %x, want correlation id %d", kmsg.NameForKey(key), version, b[:min(len(b), 8)], corr)
	}
	decodeVersion := version
	if key == int16(kmsg.ApiVersions) && (a == nil || version > a.max) {
		decodeVersion = 0
	}
	kresp, err := hostileDecode(key, decodeVersion, b[4:])
	if err != nil {
		t.Fatalf("%v (response %x)", err, b)
	}
	if key == int16(kmsg.ApiVersions) && decodeVersion != version && kresp.(*kmsg.ApiVersionsResponse).ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("ApiVersions v%d answered without UNSUPPORTED_VERSION", version)
	}
}

// FuzzHandle feeds fuzzed request bodies of every registered API version to Broker.Handle:
// it must never panic or hang, and every response must parse as that version's response.
// sel picks the API (modulo the registry); ver picks the version in its range, or one past
// it, which must close the connection (ApiVersions: answer v0 with UNSUPPORTED_VERSION).
//
// The seed corpus is hostileSample (every field set) and the empty request of each key at its
// oldest, middle and newest version.
func FuzzHandle(f *testing.F) {
	b := fuzzBroker(f)
	registered := registeredAPIs()
	for i, a := range registered {
		for _, v := range []int16{a.min, (a.min + a.max) / 2, a.max} {
			f.Add(uint16(i), uint16(v-a.min), hostileSample(a.key, v))
			empty := kmsg.RequestForKey(a.key)
			empty.SetVersion(v)
			f.Add(uint16(i), uint16(v-a.min), empty.AppendTo(nil))
		}
	}
	var corr int32
	f.Fuzz(func(t *testing.T, sel, ver uint16, body []byte) {
		a := registered[int(sel)%len(registered)]
		v := a.min + int16(int(ver)%(int(a.max-a.min)+2)) // a.max+1 included
		body = fuzzClampWaits(a.key, v, body)
		corr++
		resp := fuzzCall(b, fuzzRequest(a.key, v, corr, nil, body))
		if v > a.max && a.key != int16(kmsg.ApiVersions) && resp != server.CloseConnection {
			t.Fatalf("%s v%d (above %d) not closed", kmsg.NameForKey(a.key), v, a.max)
		}
		fuzzCheckResponse(t, a.key, v, corr, resp)
	})
}

// FuzzRequestHeader: the broker's share of the request header. It decides the header version
// of every key and version (HeaderVersion, which the network layer uses to find the body) and
// writes the response header. For any key, version, correlation id and client id: the header
// version is 1 or 2, and 2 exactly for the versions kmsg calls flexible; Handle answers with
// the request's correlation id, the flexible response header's empty tagged fields (never for
// ApiVersions, whose response header is always v0), and a body that parses.
func FuzzRequestHeader(f *testing.F) {
	b := fuzzBroker(f)
	f.Add(int16(18), int16(3), int32(1), []byte("client"))
	f.Add(int16(18), int16(99), int32(-1), []byte(nil))
	f.Add(int16(3), int16(12), int32(0x7fffffff), []byte{})
	f.Add(int16(3), int16(0), int32(7), []byte("x"))
	f.Add(int16(-1), int16(-1), int32(0), []byte("x"))
	f.Add(int16(9999), int16(0), int32(0), []byte("x"))
	f.Fuzz(func(t *testing.T, key, version int16, corr int32, clientID []byte) {
		hv := HeaderVersion(key, version)
		if hv != 1 && hv != 2 {
			t.Fatalf("HeaderVersion(%d, %d) = %d", key, version, hv)
		}
		if r := kmsg.RequestForKey(key); r != nil && version >= 0 && version <= r.MaxVersion() {
			r.SetVersion(version)
			if want := map[bool]int{false: 1, true: 2}[r.IsFlexible()]; hv != want {
				t.Fatalf("HeaderVersion(%s, %d) = %d, kmsg says %d", kmsg.NameForKey(key), version, hv, want)
			}
		}
		if len(clientID) > 1<<15-1 {
			clientID = clientID[:1<<15-1]
		}
		var body []byte
		a := lookupAPI(key)
		if a != nil && version >= a.min && version <= a.max {
			body = fuzzClampWaits(key, version, hostileSample(key, version))
		}
		resp := fuzzCall(b, fuzzRequest(key, version, corr, clientID, body))
		if resp == nil || resp == server.CloseConnection {
			if resp == nil && key != int16(kmsg.Produce) {
				t.Fatalf("%s v%d: no response", kmsg.NameForKey(key), version)
			}
			return
		}
		if a != nil && a.raw == nil {
			out := resp.Buffer().B
			flexibleHeader := key != int16(kmsg.ApiVersions) && hv == 2
			if flexibleHeader && (len(out) < 5 || out[4] != 0) {
				t.Fatalf("%s v%d: response header %x lacks the empty tagged fields", kmsg.NameForKey(key), version, out[:min(len(out), 8)])
			}
		}
		fuzzCheckResponse(t, key, version, corr, resp)
	})
}
