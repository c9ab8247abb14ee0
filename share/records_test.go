package share

import (
	"reflect"
	"testing"
)

func TestStateRecordRoundTrip(t *testing.T) {
	tp := TopicPartition{TopicID: [16]byte{0xfb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}, Partition: 3}
	s := Snapshot{Group: "g", Partition: tp, Epoch: 7, Start: 100, Batches: []StateBatch{
		{First: 100, Last: 104, State: StateAcknowledged, Deliveries: 1},
		{First: 105, Last: 105, State: StateAvailable, Deliveries: 3},
		{First: 106, Last: 110, State: StateArchived, Deliveries: 5},
	}}
	got, ok, err := ParseState(StateKey("g", tp), StateValue(s, 1234))
	if err != nil || !ok || !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip: %+v %v %v, want %+v", got, ok, err, s)
	}
	if got, ok, err := ParseState(StateKey("g", tp), nil); err != nil || !ok || !got.Tombstone {
		t.Fatalf("tombstone: %+v %v %v", got, ok, err)
	}
	// Kafka's Uuid.toString (base64url, no padding) in the partitioning key.
	if k := StateKeyString("g", tp); k != "g:-wECAwQFBgcICQoLDA0O_w:3" {
		t.Fatalf("key string %q", k)
	}
	p := restore(got)
	if p.start != 105 || p.end != 111 || p.records[105].deliveries != 3 || p.nextAvailable() != 105 {
		t.Fatalf("restored partition: start %d end %d", p.start, p.end)
	}
}

func FuzzParseState(f *testing.F) {
	tp := TopicPartition{Partition: 1}
	f.Add(StateKey("g", tp), StateValue(Snapshot{Start: 5, Batches: []StateBatch{{First: 5, Last: 9, Deliveries: 1}}}, 1))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		s, ok, err := ParseState(key, value)
		if err != nil || !ok || s.Tombstone {
			return
		}
		again, _, err := ParseState(StateKey(s.Group, s.Partition), StateValue(s, 0))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("reparse of %+v: %+v %v", s, again, err)
		}
	})
}
