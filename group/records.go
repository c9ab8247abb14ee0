package group

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/segment"
)

// Record is one keyed record of the offsets log; a nil Value is a tombstone.
type Record struct {
	Key, Value []byte

	// Set by the journal's replay only. pos is the record's log offset, which orders a
	// committed transactional offset against a plain commit of the same partition (the later
	// record wins, as Kafka's OffsetMetadataManager.replayEndTransactionMarker decides).
	// pending marks a record of producerID's transaction that had no marker yet.
	pos        int64
	pending    bool
	producerID int64
}

// Key and value versions written, Kafka's (GroupCoordinatorRecordSerde): offsets use key v1
// and value v3 (with the leader epoch), classic groups key v2 and value v3 (static members),
// consumer groups key v3 (ConsumerGroupMetadataKey) and value v0 (the group epoch), streams
// groups key v17 (StreamsGroupMetadataKey) and value v0 (the group epoch, a zero metadata
// hash). Older
// versions are read too; Kafka's other KIP-848 records (members, target and current
// assignments, keys 4-8) are not written and are skipped.
const (
	offsetKeyVersion        = 1
	offsetValueVersion      = 3
	groupKeyVersion         = 2
	groupValueVersion       = 3
	consumerGroupKeyVersion = 3
	streamsGroupKeyVersion  = 17
)

// consumerGroupKey is ConsumerGroupMetadataKey: int16 version 3, string group (not flexible).
func consumerGroupKey(group string) []byte { return groupIDKey(consumerGroupKeyVersion, group) }

// streamsGroupKey is StreamsGroupMetadataKey: int16 version 17, string group (not flexible).
func streamsGroupKey(group string) []byte { return groupIDKey(streamsGroupKeyVersion, group) }

func groupIDKey(version uint16, group string) []byte {
	b := binary.BigEndian.AppendUint16(nil, version)
	b = binary.BigEndian.AppendUint16(b, uint16(len(group)))
	return append(b, group...)
}

// streamsGroupValue is StreamsGroupMetadataValue v0 (flexible): int16 version 0, int32
// epoch, int64 metadata hash (0: logd recomputes the topics' state at the next heartbeat),
// no tagged fields (ValidatedTopologyEpoch defaults to -1).
func streamsGroupValue(epoch int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(epoch))
	b = binary.BigEndian.AppendUint64(b, 0)
	return append(b, 0)
}

// consumerGroupValue is ConsumerGroupMetadataValue v0 (flexible): int16 version 0, int32
// epoch, no tagged fields.
func consumerGroupValue(epoch int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(epoch))
	return append(b, 0)
}

// parseConsumerGroupRecord decodes a ConsumerGroupMetadata or StreamsGroupMetadata key and
// value: the group and the epoch (any later fields of the value are ignored).
func parseConsumerGroupRecord(key, value []byte) (group string, epoch int32, ok bool) {
	if len(key) < 4 || len(value) < 6 {
		return "", 0, false
	}
	n := int(binary.BigEndian.Uint16(key[2:]))
	if len(key) != 4+n {
		return "", 0, false
	}
	return string(key[4:]), int32(binary.BigEndian.Uint32(value[2:])), true
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetValue(o Offset) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp = o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime.UnixMilli()
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// groupValueLocked encodes a group's metadata record. REQUIRES: g.mu held.
func groupValueLocked(g *group) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.order {
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID, mv.InstanceID, mv.ClientID, mv.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		mv.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		mv.Subscription = m.metadata(g.protocol)
		mv.Assignment = m.assignment
		v.Members = append(v.Members, mv)
	}
	return v.AppendTo(nil)
}

// keyVersion is the version prefix every key starts with.
func keyVersion(key []byte) (int16, bool) {
	if len(key) < 2 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(key)), true
}

// encodeBatch builds one uncompressed record batch v2 holding recs, CRC included; the engine
// stamps the offsets. now is the batch timestamp in milliseconds. A producer id of 0 or more
// makes it a transactional batch of that producer and epoch, with no sequence (Kafka's
// coordinator-written transactional offset commits).
func encodeBatch(recs []Record, now int64, producerID int64, producerEpoch int16) []byte {
	krs := make([]kmsg.Record, len(recs))
	for i, r := range recs {
		krs[i] = kmsg.Record{Key: r.Key, Value: r.Value}
	}
	h := segment.Header{PartitionLeaderEpoch: -1, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
	if producerID >= 0 {
		h.Attributes = segment.AttrTransactional
		h.ProducerID, h.ProducerEpoch = producerID, producerEpoch
	}
	return segment.EncodeBatch(h, krs)
}

var errBadRecord = errors.New("malformed offsets log record")

// decodeBatch calls fn for each record of one batch, with its log offset (pos), control batches included (a
// transaction marker's record is its ControlRecordKey and EndTxnMarker). Compressed batches
// are skipped: the coordinator never writes them and markers are never compressed (a client
// producing into the internal topic is refused by the broker).
func decodeBatch(batch []byte, fn func(Record)) error {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return fmt.Errorf("%w: %v", errBadRecord, err)
	}
	if rb.Attributes&0x07 != 0 { // compression bits
		return nil
	}
	rest := rb.Records
	for i := int32(0); i < rb.NumRecords; i++ {
		l, n := binary.Varint(rest)
		if n <= 0 || l < 0 || int64(len(rest)-n) < l {
			return errBadRecord
		}
		var kr kmsg.Record
		if err := kr.ReadFrom(rest[:n+int(l)]); err != nil {
			return fmt.Errorf("%w: %v", errBadRecord, err)
		}
		rest = rest[n+int(l):]
		fn(Record{Key: kr.Key, Value: kr.Value, pos: rb.FirstOffset + int64(kr.OffsetDelta)})
	}
	return nil
}
