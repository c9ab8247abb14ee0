package connect

import (
	"bytes"
	"reflect"
	"testing"
)

// TestProtocolBytes pins the connect protocol's encoding to Kafka's schema layout.
func TestProtocolBytes(t *testing.T) {
	m := workerMetadata{URL: "http://h:1", ConfigOffset: 5}
	want := []byte{0, 0, 0, 10, 'h', 't', 't', 'p', ':', '/', '/', 'h', ':', '1', 0, 0, 0, 0, 0, 0, 0, 5}
	if got := m.encode(); !bytes.Equal(got, want) {
		t.Fatalf("metadata % x, want % x", got, want)
	}
	a := &assignment{Leader: "m1", LeaderURL: "u", ConfigOffset: 7, Connectors: []string{"c"}, Tasks: map[string][]int{"c": {0, 1}}}
	want = []byte{0, 0, 0, 0, 0, 2, 'm', '1', 0, 1, 'u', 0, 0, 0, 0, 0, 0, 0, 7,
		0, 0, 0, 1, 0, 1, 'c', 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 1}
	if got := a.encode(); !bytes.Equal(got, want) {
		t.Fatalf("assignment % x, want % x", got, want)
	}
	back, err := decodeAssignment(want)
	if err != nil || !reflect.DeepEqual(back, a) {
		t.Fatalf("decoded %+v (%v), want %+v", back, err, a)
	}
	if _, err := decodeAssignment(want[:len(want)-1]); err == nil {
		t.Fatal("truncated assignment decoded")
	}
	if _, err := decodeAssignment([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("an array longer than its bytes decoded")
	}
}

// FuzzDecodeAssignment: decoding never panics, and what decodes re-encodes to bytes that
// decode the same.
func FuzzDecodeAssignment(f *testing.F) {
	f.Add((&assignment{Leader: "a", LeaderURL: "b", Connectors: []string{"x"}, Tasks: map[string][]int{"x": {0}}}).encode())
	f.Add(workerMetadata{URL: "u"}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeWorkerMetadata(b)
		a, err := decodeAssignment(b)
		if err != nil {
			return
		}
		again, err := decodeAssignment(a.encode())
		if err != nil || again.Leader != a.Leader || again.ConfigOffset != a.ConfigOffset || len(again.Connectors) != len(a.Connectors) {
			t.Fatalf("re-decoded %+v (%v), want %+v", again, err, a)
		}
	})
}

// FuzzJSONConverter: reading arbitrary bytes never panics, and what reads writes back and
// reads again to the same bytes.
func FuzzJSONConverter(f *testing.F) {
	f.Add([]byte(`{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":1}}`))
	f.Add([]byte(`{"schema":{"type":"map","keys":{"type":"int8","optional":false},"values":{"type":"double","optional":true},"optional":false},"payload":[[1,2.5]]}`))
	f.Add([]byte(`{"schema":null,"payload":[1,"a",null,{"b":true}]}`))
	c := &jsonConverter{schemas: true, replaceNull: true}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, v, err := c.ToConnect("t", b)
		if err != nil {
			return
		}
		out, err := c.FromConnect("t", s, v)
		if err != nil {
			return // e.g. a default of the wrong type: Java refuses it too
		}
		s2, v2, err := c.ToConnect("t", out)
		if err != nil {
			t.Fatalf("own output %s does not read back: %v", out, err)
		}
		again, err := c.FromConnect("t", s2, v2)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("unstable: %s then %s (%v)", out, again, err)
		}
	})
}
