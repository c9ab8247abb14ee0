package segment

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// noProducer is the header of a batch from a non-idempotent producer.
var noProducer = Header{ProducerID: NoProducerID, ProducerEpoch: -1, BaseSequence: -1}

// testBatch encodes records values of valueSize bytes of fill (with key) under h, timestamps
// h.BaseTimestamp + i·step. segment's own tests cannot import internal/testbatch, which
// builds on this package.
func testBatch(h Header, records, valueSize int, fill byte, key []byte, step int64) []byte {
	value := bytes.Repeat([]byte{fill}, valueSize)
	recs := make([]kmsg.Record, records)
	for i := range recs {
		recs[i] = kmsg.Record{TimestampDelta64: int64(i) * step, Key: key, Value: value}
	}
	h.MaxTimestamp = h.BaseTimestamp + int64(records-1)*step
	return EncodeBatch(h, recs)
}

// TestEncodeBatch: what EncodeBatch writes validates, its header parses back to the fields
// given, and kmsg decodes the same records, for record lengths whose varint takes one to three
// bytes.
func TestEncodeBatch(t *testing.T) {
	h := Header{PartitionLeaderEpoch: 4, Attributes: AttrTransactional, BaseTimestamp: 1700, MaxTimestamp: 1709,
		ProducerID: 9, ProducerEpoch: 3, BaseSequence: 11}
	var recs []kmsg.Record
	for i, size := range []int{0, 50, 63, 64, 200, 8191, 8192, 70000} {
		r := kmsg.Record{TimestampDelta64: int64(i), Value: bytes.Repeat([]byte{byte(i)}, size),
			Headers: []kmsg.Header{{Key: "h", Value: []byte("v")}}}
		if i%2 == 0 {
			r.Key = []byte("key")
		}
		recs = append(recs, r)
	}
	b := EncodeBatch(h, recs)
	got, err := ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	want := h
	want.Magic, want.Length, want.CRC = 2, int32(len(b)-LogOverhead), got.CRC
	want.RecordCount, want.LastOffsetDelta = int32(len(recs)), int32(len(recs)-1)
	if got != want || got.Size() != len(b) {
		t.Fatalf("header %+v, want %+v", got, want)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	rest := rb.Records
	for i, w := range recs {
		var r kmsg.Record
		if err := r.ReadFrom(rest); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if r.OffsetDelta != int32(i) || r.TimestampDelta64 != int64(i) || !bytes.Equal(r.Key, w.Key) ||
			!bytes.Equal(r.Value, w.Value) || len(r.Headers) != 1 || r.Headers[0].Key != "h" {
			t.Fatalf("record %d decoded as %+v", i, r)
		}
		enc := AppendRecord(nil, kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: w.TimestampDelta64, Key: w.Key, Value: w.Value, Headers: w.Headers})
		if !bytes.HasPrefix(rest, enc) {
			t.Fatalf("record %d: AppendRecord differs from the batch's bytes", i)
		}
		rest = rest[len(enc):]
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes after the records", len(rest))
	}
}

// TestAppendRecordMatchesKmsg: AppendRecord's single pass equals kmsg's encoding with the
// Length computed by a first pass, as kmsg's users do.
func TestAppendRecordMatchesKmsg(t *testing.T) {
	for _, size := range []int{0, 1, 56, 57, 58, 127, 128, 8185, 8186, 1 << 20} {
		r := kmsg.Record{OffsetDelta: 5, TimestampDelta64: -3, Value: make([]byte, size)}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		want := r.AppendTo(nil)
		prefix := []byte("prefix")
		got := AppendRecord(append([]byte(nil), prefix...), r)
		if !bytes.Equal(got[len(prefix):], want) || !bytes.Equal(got[:len(prefix)], prefix) {
			t.Fatalf("value of %d bytes: encodings differ", size)
		}
	}
}

// TestSetCreateTime: the timestamps move and the CRC follows.
func TestSetCreateTime(t *testing.T) {
	b := testBatch(noProducer, 2, 10, 'x', nil, 0)
	SetCreateTime(b, 123456)
	h, err := ValidateBatch(b)
	if err != nil || h.BaseTimestamp != 123456 || h.MaxTimestamp != 123456 {
		t.Fatalf("%+v %v", h, err)
	}
}
