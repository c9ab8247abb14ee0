package share

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// A share group's own records, written by its coordinator to __consumer_offsets in Kafka's
// schemas (group-coordinator's ShareGroupMetadataKey/Value and
// ShareGroupStatePartitionMetadataKey/Value), so that a group without members, its
// subscribed topics and (through __share_group_state) its start offsets survive a restart:
//
//	key   int16 version 11 (metadata) or 15 (state partitions) │ group string (not flexible)
//	value 11: int16 version 0 │ flexible: epoch int32, tags
//	value 15: int16 version 0 │ flexible: initialized topics compact array of (topic id uuid,
//	          topic name compact string, partitions compact array of int32, tags),
//	          deleting topics compact array of (topic id uuid, topic name compact string,
//	          tags), tags
//
// These constants are part of the on-disk format.
const (
	groupMetadataKeyVersion       = 11
	groupStatePartitionKeyVersion = 15
)

// minTopicEntry is the smallest encoding of an initialized or deleting topic (a uuid, an
// empty compact string, an empty array for the initialized ones, no tags): counts read from
// the wire are checked against it before allocating.
const minTopicEntry = 16 + 1 + 1

// GroupRecord is what a share group's coordinator persists of it: its epoch and the topics
// its members subscribed to, each with its partition count (the share partitions whose state
// the group may hold).
type GroupRecord struct {
	Group  string
	Epoch  int32
	Topics []TopicInfo
}

// GroupRecordKeys are the keys of g's two records, metadata first.
func GroupRecordKeys(g string) (metadata, partitions []byte) {
	k := func(v int16) []byte { return kbin.AppendString(kbin.AppendInt16(nil, v), g) }
	return k(groupMetadataKeyVersion), k(groupStatePartitionKeyVersion)
}

// GroupRecordValues encodes rec as its two records' values, metadata first.
func GroupRecordValues(rec GroupRecord) (metadata, partitions []byte) {
	metadata = kbin.AppendInt16(nil, 0)
	metadata = kbin.AppendInt32(metadata, rec.Epoch)
	metadata = kbin.AppendUvarint(metadata, 0)
	partitions = kbin.AppendInt16(nil, 0)
	partitions = kbin.AppendCompactArrayLen(partitions, len(rec.Topics))
	for _, t := range rec.Topics {
		partitions = kbin.AppendUuid(partitions, t.ID)
		partitions = kbin.AppendCompactString(partitions, t.Name)
		partitions = kbin.AppendCompactArrayLen(partitions, int(t.Partitions))
		for p := range t.Partitions {
			partitions = kbin.AppendInt32(partitions, p)
		}
		partitions = kbin.AppendUvarint(partitions, 0)
	}
	partitions = kbin.AppendCompactArrayLen(partitions, 0) // no deleting topics
	return metadata, kbin.AppendUvarint(partitions, 0)
}

// ParseGroupRecord decodes a __consumer_offsets record if it is one of a share group's: ok
// is false for any other record. A metadata record sets rec.Epoch (Topics nil), a state
// partitions record rec.Topics (Epoch -1); a tombstone (value nil) reports deleted.
func ParseGroupRecord(key, value []byte) (rec GroupRecord, deleted, ok bool, err error) {
	r := kbin.Reader{Src: key}
	v := r.Int16()
	if !r.Ok() || (v != groupMetadataKeyVersion && v != groupStatePartitionKeyVersion) {
		return rec, false, false, nil
	}
	rec.Group, rec.Epoch = r.String(), -1
	if err := r.Complete(); err != nil {
		return rec, false, false, fmt.Errorf("%w: share group key: %v", errBadRecord, err)
	}
	if value == nil {
		return rec, true, true, nil
	}
	r = kbin.Reader{Src: value}
	if ver := r.Int16(); ver != 0 {
		return rec, false, false, fmt.Errorf("%w: share group value version %d", errBadRecord, ver)
	}
	if v == groupMetadataKeyVersion {
		rec.Epoch = r.Int32()
	} else {
		n := r.CompactArrayLen()
		if n < 0 || int(n) > len(r.Src)/minTopicEntry {
			return rec, false, false, fmt.Errorf("%w: %d initialized topics in %d bytes", errBadRecord, n, len(r.Src))
		}
		rec.Topics = make([]TopicInfo, 0, n)
		for range n {
			t := TopicInfo{ID: r.Uuid(), Name: r.CompactString()}
			np := r.CompactArrayLen()
			if np < 0 || int(np) > len(r.Src)/4 {
				return rec, false, false, fmt.Errorf("%w: %d partitions in %d bytes", errBadRecord, np, len(r.Src))
			}
			for range np {
				t.Partitions = max(t.Partitions, r.Int32()+1)
			}
			skipTags(&r)
			rec.Topics = append(rec.Topics, t)
		}
		nd := r.CompactArrayLen()
		if nd < 0 || int(nd) > len(r.Src)/(16+1) {
			return rec, false, false, fmt.Errorf("%w: %d deleting topics in %d bytes", errBadRecord, nd, len(r.Src))
		}
		for range nd {
			r.Uuid()
			r.CompactString()
			skipTags(&r)
		}
	}
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return rec, false, false, fmt.Errorf("%w: share group value: %v", errBadRecord, err)
	}
	return rec, false, true, nil
}
