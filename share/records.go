package share

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Share-partition state records of __share_group_state, in Kafka's own schemas
// (share-coordinator's ShareSnapshotKey/Value, record type 0; kmsg has no codec for them):
//
//	key   int16 type (0: snapshot, 1: update) │ v0, not flexible: group string, topic id uuid, partition int32
//	value int16 version 0 │ flexible: snapshot epoch int32, state epoch int32, leader epoch int32,
//	      start offset int64, create time int64, write time int64,
//	      state batches compact array of (first offset int64, last offset int64,
//	      delivery state int8, delivery count int16, tags), tags (0: delivery complete count)
//
// These constants are part of the on-disk format.
const (
	recordSnapshot = 0 // ShareSnapshotKey/Value
	recordUpdate   = 1 // ShareUpdateKey/Value (Kafka's deltas; logd writes snapshots only)
)

// Kafka's delivery states of a persisted state batch (RecordState ids).
const (
	deliveryAvailable    = 0
	deliveryAcknowledged = 2
	deliveryArchived     = 4
)

// stateBatchSize is the smallest encoding of a state batch (8+8+1+2 bytes and an empty tag
// section): a count read from the wire is checked against it before allocating.
const stateBatchSize = 20

// StateBatch is a run of in-flight offsets with one delivery state and count.
type StateBatch struct {
	First, Last int64
	State       RecordState // StateAvailable, StateAcknowledged or StateArchived
	Deliveries  int16
}

// Snapshot is a share partition's durable state: its start offset and in-flight records
// (an acquired record is saved as available with its delivery count: locks do not survive
// a restart).
type Snapshot struct {
	Group     string
	Partition TopicPartition
	Epoch     int32 // snapshot epoch: one more at each write
	// StateEpoch is the share coordinator's state epoch (InitializeShareGroupState sets
	// it; a write carrying an older one is fenced); LeaderEpoch the share-partition
	// leader's epoch of the last read or write (-1: none).
	StateEpoch, LeaderEpoch int32
	Start                   int64
	Batches                 []StateBatch
	// Tombstone: the state is deleted (DeleteShareGroupOffsets); the record's value is null.
	Tombstone bool
	// Reset: the state replaces the old one whatever it held (AlterShareGroupOffsets), as
	// Kafka's InitializeShareGroupState with the next state epoch does; not part of the
	// record.
	Reset bool
}

// StateKey is the record key of group's share partition tp (a ShareSnapshotKey); the
// partition of __share_group_state holding it is chosen with StateKeyString.
func StateKey(group string, tp TopicPartition) []byte {
	b := kbin.AppendInt16(nil, recordSnapshot)
	b = kbin.AppendString(b, group)
	b = kbin.AppendUuid(b, tp.TopicID)
	return kbin.AppendInt32(b, tp.Partition)
}

// StateKeyString is Kafka's SharePartitionKey string, "group:topicId:partition" (the id as
// Kafka's Uuid.toString: URL-safe base64 without padding), whose Java hash code picks the
// __share_group_state partition.
func StateKeyString(group string, tp TopicPartition) string {
	return fmt.Sprintf("%s:%s:%d", group, base64.RawURLEncoding.EncodeToString(tp.TopicID[:]), tp.Partition)
}

// StateValue encodes s as a ShareSnapshotValue written at now (Unix milliseconds).
func StateValue(s Snapshot, nowMs int64) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, s.Epoch)
	b = kbin.AppendInt32(b, s.StateEpoch)
	b = kbin.AppendInt32(b, s.LeaderEpoch)
	b = kbin.AppendInt64(b, s.Start)
	b = kbin.AppendInt64(b, nowMs)
	b = kbin.AppendInt64(b, nowMs)
	b = kbin.AppendCompactArrayLen(b, len(s.Batches))
	for _, sb := range s.Batches {
		b = kbin.AppendInt64(b, sb.First)
		b = kbin.AppendInt64(b, sb.Last)
		b = kbin.AppendInt8(b, DeliveryState(sb.State))
		b = kbin.AppendInt16(b, sb.Deliveries)
		b = kbin.AppendUvarint(b, 0) // no tagged fields
	}
	return kbin.AppendUvarint(b, 0)
}

// DeliveryState is Kafka's persisted delivery state id of st (an acquired record is saved
// as available).
func DeliveryState(st RecordState) int8 {
	switch st {
	case StateAcknowledged:
		return deliveryAcknowledged
	case StateArchived:
		return deliveryArchived
	}
	return deliveryAvailable
}

// StateOfDelivery is the record state of a persisted delivery state id; ok is false for an
// id Kafka never persists (acquired, or unknown), read as available.
func StateOfDelivery(id int8) (st RecordState, ok bool) {
	switch id {
	case deliveryAvailable:
		return StateAvailable, true
	case deliveryAcknowledged:
		return StateAcknowledged, true
	case deliveryArchived:
		return StateArchived, true
	}
	return StateAvailable, false
}

// errBadRecord is a __share_group_state record that does not parse.
var errBadRecord = errors.New("malformed share state record")

// ParseState decodes a __share_group_state record. ok is false for a record logd does not
// apply (a ShareUpdate delta, which logd never writes); value nil is a tombstone.
func ParseState(key, value []byte) (s Snapshot, ok bool, err error) {
	r := kbin.Reader{Src: key}
	typ := r.Int16()
	if !r.Ok() || (typ != recordSnapshot && typ != recordUpdate) {
		return s, false, fmt.Errorf("%w: key type %d", errBadRecord, typ)
	}
	s.Group = r.String()
	s.Partition.TopicID = r.Uuid()
	s.Partition.Partition = r.Int32()
	if err := r.Complete(); err != nil {
		return s, false, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if typ == recordUpdate {
		return s, false, nil
	}
	if value == nil {
		s.Start, s.Tombstone = -1, true
		return s, true, nil
	}
	r = kbin.Reader{Src: value}
	if v := r.Int16(); v != 0 {
		return s, false, fmt.Errorf("%w: value version %d", errBadRecord, v)
	}
	s.Epoch = r.Int32()
	s.StateEpoch = r.Int32()
	s.LeaderEpoch = r.Int32()
	s.Start = r.Int64()
	r.Int64() // create time
	r.Int64() // write time
	n := r.CompactArrayLen()
	if n < 0 || int(n) > len(r.Src)/stateBatchSize {
		return s, false, fmt.Errorf("%w: %d state batches in %d bytes", errBadRecord, n, len(r.Src))
	}
	s.Batches = make([]StateBatch, 0, n)
	for range n {
		sb := StateBatch{First: r.Int64(), Last: r.Int64()}
		sb.State, _ = StateOfDelivery(r.Int8())
		sb.Deliveries = r.Int16()
		skipTags(&r)
		if sb.First > sb.Last || sb.First < s.Start {
			return s, false, fmt.Errorf("%w: state batch [%d, %d] below start %d or empty", errBadRecord, sb.First, sb.Last, s.Start)
		}
		s.Batches = append(s.Batches, sb)
	}
	skipTags(&r)
	if err := r.Complete(); err != nil {
		return s, false, fmt.Errorf("%w: value: %v", errBadRecord, err)
	}
	return s, true, nil
}

// skipTags skips a tagged-field section, stopping at the end of the input.
func skipTags(r *kbin.Reader) {
	for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
		r.Uvarint()
		r.Span(int(r.Uvarint()))
	}
}
