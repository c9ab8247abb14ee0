package group

import (
	"bytes"
	"testing"
	"time"

	"github.com/logd/logd/segment"
)

func TestBatchRoundTrip(t *testing.T) {
	recs := []Record{
		{Key: offsetKey("g", "t", 3), Value: offsetValue(Offset{Offset: 42, LeaderEpoch: 7, Metadata: "m", CommitTime: time.UnixMilli(1234)})},
		{Key: groupKey("g")}, // tombstone
	}
	b := encodeBatch(recs, 99, -1, -1)
	h, err := segment.ValidateBatch(b) // length, magic and CRC as the engine checks them
	if err != nil {
		t.Fatal(err)
	}
	if h.Size() != len(b) || h.RecordCount != 2 || h.MaxTimestamp != 99 {
		t.Fatalf("header %+v", h)
	}
	var got []Record
	if err := decodeBatch(b, func(r Record) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Key, recs[0].Key) || !bytes.Equal(got[0].Value, recs[0].Value) || got[1].Value != nil {
		t.Fatalf("decoded %+v", got)
	}
}

// FuzzDecodeBatch: the offsets log reader never panics on any bytes, and what it accepts it
// reads identically twice.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch([]Record{{Key: offsetKey("g", "t", 0), Value: offsetValue(Offset{Offset: 1})}}, 1, -1, -1))
	f.Add(encodeBatch([]Record{{Key: groupKey("g")}}, 1, -1, -1))
	f.Fuzz(func(t *testing.T, b []byte) {
		var first, second []Record
		err1 := decodeBatch(b, func(r Record) { first = append(first, r) })
		err2 := decodeBatch(b, func(r Record) { second = append(second, r) })
		if (err1 == nil) != (err2 == nil) || len(first) != len(second) {
			t.Fatalf("nondeterministic: %v %v", err1, err2)
		}
		// Replaying whatever was decoded must not panic either.
		c := New(Config{Partitions: 1, Clock: NewManualClock(time.Unix(0, 0))}, &memJournal{}, func(yield func(Record) bool) {
			for _, r := range first {
				if !yield(r) {
					return
				}
			}
		})
		c.Close()
	})
}
