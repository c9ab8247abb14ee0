package share

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
)

func TestGroupRecordRoundTrip(t *testing.T) {
	rec := GroupRecord{Group: "sg", Epoch: 7, Topics: []TopicInfo{
		{ID: [16]byte{1}, Name: "a", Partitions: 3},
		{ID: [16]byte{2}, Name: "b", Partitions: 1},
	}}
	mk, pk := GroupRecordKeys(rec.Group)
	mv, pv := GroupRecordValues(rec)
	got, deleted, ok, err := ParseGroupRecord(mk, mv)
	if err != nil || !ok || deleted || got.Group != "sg" || got.Epoch != 7 || got.Topics != nil {
		t.Fatalf("metadata record: %+v %v %v %v", got, deleted, ok, err)
	}
	got, deleted, ok, err = ParseGroupRecord(pk, pv)
	if err != nil || !ok || deleted || got.Epoch != -1 || !reflect.DeepEqual(got.Topics, rec.Topics) {
		t.Fatalf("state partitions record: %+v %v %v %v, want topics %+v", got, deleted, ok, err, rec.Topics)
	}
	if got, deleted, ok, err := ParseGroupRecord(mk, nil); err != nil || !ok || !deleted || got.Group != "sg" {
		t.Fatalf("tombstone: %+v %v %v %v", got, deleted, ok, err)
	}
	// Another record of __consumer_offsets (an offset commit, key version 1) is not ours.
	if _, _, ok, err := ParseGroupRecord(kbin.AppendString(kbin.AppendInt16(nil, 1), "g"), []byte{0, 3}); ok || err != nil {
		t.Fatalf("offset record taken for a share group's: %v %v", ok, err)
	}
	// A count larger than the bytes left is refused before anything is allocated for it.
	huge := kbin.AppendCompactArrayLen(kbin.AppendInt16(nil, 0), 1<<30)
	if _, _, _, err := ParseGroupRecord(pk, huge); !errors.Is(err, errBadRecord) {
		t.Fatalf("huge topic count: %v", err)
	}
	for i := range pv {
		if _, _, _, err := ParseGroupRecord(pk, pv[:i]); err == nil {
			t.Fatalf("value truncated to %d bytes parsed", i)
		}
	}
}

// Restore brings back a group without members, its epoch and its share partitions; a group
// with members is left alone.
func TestRestoreGroup(t *testing.T) {
	c := New(Config{})
	c.Restore(GroupRecord{Group: "g", Epoch: 4, Topics: nil})
	c.Restore(GroupRecord{Group: "g", Epoch: -1, Topics: []TopicInfo{{ID: [16]byte{9}, Name: "t", Partitions: 2}}})
	d, ok := c.Describe("g")
	if !ok || d.Epoch != 4 || d.State != "Empty" {
		t.Fatalf("restored group: %+v %v", d, ok)
	}
	tps, ok := c.Partitions("g")
	if !ok || len(tps) != 2 {
		t.Fatalf("restored partitions: %v %v", tps, ok)
	}
	c.Forget("g")
	if _, ok := c.Describe("g"); ok {
		t.Fatal("a forgotten group is still described")
	}
}
