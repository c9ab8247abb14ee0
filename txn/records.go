package txn

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// Key and value versions written, Kafka's (TransactionLog): key v0; value v0 for a
// transaction of a transaction version 0/1 client, v1 (flexible, KIP-890 part 2's tagged
// fields: PreviousProducerId, NextProducerId, ClientTransactionVersion) for a transaction
// version 2 one, whose retry rules and epoch-exhaustion rotation need them after a failover.
const (
	keyVersion     = 0
	valueVersion   = 0
	valueVersionV2 = 1
)

var errBadRecord = errors.New("malformed __transaction_state record")

// recordKey is TransactionLogKey v0: int16 version, string transactional id.
func recordKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: keyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// recordValue is TransactionLogValue v0 for m, v1 if it speaks transaction version 2.
// Empty has no partitions (Kafka refuses to write an Empty state that has some).
func recordValue(m meta) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = valueVersion
	if m.v2() {
		v.Version = valueVersionV2
		v.PreviousProducerID, v.NextProducerID, v.ClientTransactionVersion = m.prevPID, m.nextPID, m.clientVersion
	}
	v.ProducerID, v.ProducerEpoch = m.pid, m.epoch
	v.TimeoutMillis = int32(m.timeout.Milliseconds())
	v.State = kmsg.TransactionState(m.state)
	for topic, ps := range ByTopic(m.parts) {
		t := kmsg.NewTxnMetadataValueTopic()
		t.Topic, t.Partitions = topic, ps
		v.Topics = append(v.Topics, t)
	}
	v.LastUpdateTimestamp = m.updated.UnixMilli()
	v.StartTimestamp = -1
	if !m.start.IsZero() {
		v.StartTimestamp = m.start.UnixMilli()
	}
	return v.AppendTo(nil)
}

// parseKey decodes a record key; ok is false for a key version this package does not know
// (skipped, as Kafka skips unknown record types).
func parseKey(key []byte) (id string, ok bool, err error) {
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", false, fmt.Errorf("%w: key: %v", errBadRecord, err)
	}
	if k.Version != keyVersion {
		return "", false, nil
	}
	return k.TransactionalID, true, nil
}

// parseValue decodes a record value (v0 or v1; a v0 one has no previous or next producer
// id and client transaction version 0).
func parseValue(value []byte) (meta, error) {
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return meta{}, fmt.Errorf("%w: value: %v", errBadRecord, err)
	}
	s := State(v.State)
	if s < Empty || s > PrepareEpochFence || v.TimeoutMillis < 0 {
		return meta{}, fmt.Errorf("%w: state %d, timeout %d ms", errBadRecord, v.State, v.TimeoutMillis)
	}
	m := meta{pid: v.ProducerID, epoch: v.ProducerEpoch, prevPID: v.PreviousProducerID, nextPID: v.NextProducerID,
		lastEpoch: noEpoch, clientVersion: v.ClientTransactionVersion, state: s,
		timeout: time.Duration(v.TimeoutMillis) * time.Millisecond, updated: time.UnixMilli(v.LastUpdateTimestamp)}
	if v.StartTimestamp >= 0 {
		m.start = time.UnixMilli(v.StartTimestamp)
	}
	for _, t := range v.Topics {
		for _, p := range t.Partitions {
			m.parts = append(m.parts, engine.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	slices.SortFunc(m.parts, compareTP)
	m.parts = slices.Compact(m.parts)
	return m, nil
}

// compareTP orders partitions by topic, then partition.
func compareTP(a, b engine.TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}
