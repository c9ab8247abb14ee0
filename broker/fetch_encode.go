package broker

import (
	"github.com/twmb/franz-go/pkg/kbin"

	"github.com/logd/logd/engine"
)

// The Fetch response body, encoded by hand so that record bytes can be file regions
// (sendfile) instead of copies. kmsg.FetchResponse.AppendTo is the reference: for every
// version this package serves (4-16) appendFetchResponse produces the same bytes for the same
// fields (fetch_test.go proves it on random responses). Of the tagged fields logd sets only
// a partition's CurrentLeader (tag 1, v12+) and the top-level NodeEndpoints (tag 0, v16+),
// which tell a client refused with NOT_LEADER_OR_FOLLOWER where the leader is (KIP-951);
// DivergingEpoch and SnapshotID are never sent.
//
//	v4+  ThrottleMillis int32 [v7+ ErrorCode int16, SessionID int32]
//	     Topics: array of
//	       Topic string (v4-12) | TopicID uuid (v13+)
//	       Partitions: array of
//	         Partition int32, ErrorCode int16, HighWatermark int64, LastStableOffset int64,
//	         [v5+ LogStartOffset int64], AbortedTransactions nullable array of
//	           ProducerID int64, FirstOffset int64 [v12+ tagged fields],
//	         [v11+ PreferredReadReplica int32], RecordBatches nullable bytes,
//	         [v12+ tagged fields]
//	       [v12+ tagged fields]
//	     [v12+ tagged fields]
//
// v12+ (flexible) arrays, strings and bytes are "compact" (uvarint length + 1).

// fetchFlexibleFrom is the first flexible Fetch version.
const fetchFlexibleFrom = 12

// fetchResponse is one Fetch response before encoding.
type fetchResponse struct {
	version    int16
	throttleMs int32 // a client quota's throttle (quotas.go)
	errorCode  int16
	sessionID  int32
	topics     []fetchTopic
	// endpoints are the brokers named by the partitions' CurrentLeader (v16+).
	endpoints []fetchEndpoint
}

// fetchEndpoint is one of Fetch v16's NodeEndpoints.
type fetchEndpoint struct {
	id   int32
	host string
	port int32
}

type fetchTopic struct {
	name string   // v4-12
	id   [16]byte // v13+
	// parts are this topic's partitions, in request order.
	parts []fetchPartition
}

// fetchPartition is one partition's answer. Its record bytes are either region (read from a
// segment; the encoder's records callback sends it) or, in tests, records.
type fetchPartition struct {
	partition        int32
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	// abortedNull sends AbortedTransactions as null (READ_UNCOMMITTED, as Kafka does) rather
	// than as the array of aborted (READ_COMMITTED: the aborted transactions overlapping the
	// records sent, maybe none).
	abortedNull          bool
	aborted              []engine.AbortedTxn
	preferredReadReplica int32
	// hasLeader sends CurrentLeader{leaderID, leaderEpoch} (v12+).
	hasLeader   bool
	leaderID    int32
	leaderEpoch int32

	region  engine.Region
	records []byte // used when region is empty

	// Fetch bookkeeping, not encoded.
	part        *partition
	fetchOffset int64
	maxBytes    int32
	replica     bool // a follower's fetch (replicated mode): reads up to the log end
}

// recordsLen is the length of the partition's record bytes.
func (p *fetchPartition) recordsLen() int {
	if p.region.Len > 0 {
		return int(p.region.Len)
	}
	return len(p.records)
}

// appendFetchResponse appends the response body (not the response header) to dst. For each
// partition it writes the record bytes' length and then calls records, which must append
// exactly recordsLen() bytes or, when it sends them by other means, account for them; it
// returns the slice to continue appending to.
func appendFetchResponse(dst []byte, r *fetchResponse, records func(dst []byte, p *fetchPartition) []byte) []byte {
	v := r.version
	flex := v >= fetchFlexibleFrom
	appendArrayLen := func(dst []byte, n int) []byte {
		if flex {
			return kbin.AppendCompactArrayLen(dst, n)
		}
		return kbin.AppendArrayLen(dst, n)
	}
	dst = kbin.AppendInt32(dst, r.throttleMs) // ThrottleMillis (v1+)
	if v >= 7 {
		dst = kbin.AppendInt16(dst, r.errorCode)
		dst = kbin.AppendInt32(dst, r.sessionID)
	}
	dst = appendArrayLen(dst, len(r.topics))
	for ti := range r.topics {
		t := &r.topics[ti]
		switch {
		case v >= 13:
			dst = kbin.AppendUuid(dst, t.id)
		case flex:
			dst = kbin.AppendCompactString(dst, t.name)
		default:
			dst = kbin.AppendString(dst, t.name)
		}
		dst = appendArrayLen(dst, len(t.parts))
		for pi := range t.parts {
			p := &t.parts[pi]
			dst = kbin.AppendInt32(dst, p.partition)
			dst = kbin.AppendInt16(dst, p.errorCode)
			dst = kbin.AppendInt64(dst, p.highWatermark)
			dst = kbin.AppendInt64(dst, p.lastStableOffset) // v4+
			if v >= 5 {
				dst = kbin.AppendInt64(dst, p.logStartOffset)
			}
			if flex {
				dst = kbin.AppendCompactNullableArrayLen(dst, len(p.aborted), p.abortedNull)
			} else {
				dst = kbin.AppendNullableArrayLen(dst, len(p.aborted), p.abortedNull)
			}
			for _, a := range p.aborted {
				dst = kbin.AppendInt64(dst, a.ProducerID)
				dst = kbin.AppendInt64(dst, a.FirstOffset)
				if flex {
					dst = append(dst, 0) // tagged fields
				}
			}
			if v >= 11 {
				dst = kbin.AppendInt32(dst, p.preferredReadReplica)
			}
			// RecordBatches: never null (Kafka sends empty records, not null).
			n := p.recordsLen()
			if flex {
				dst = kbin.AppendUvarint(dst, uint32(n)+1)
			} else {
				dst = kbin.AppendInt32(dst, int32(n))
			}
			dst = records(dst, p)
			if flex {
				dst = appendFetchPartitionTags(dst, p)
			}
		}
		if flex {
			dst = append(dst, 0) // topic tagged fields
		}
	}
	if flex {
		dst = appendFetchResponseTags(dst, r)
	}
	return dst
}

// appendFetchPartitionTags appends a partition's tagged fields: CurrentLeader (tag 1) if set.
func appendFetchPartitionTags(dst []byte, p *fetchPartition) []byte {
	if !p.hasLeader {
		return append(dst, 0)
	}
	dst = append(dst, 1, 1, 9) // one field: tag 1, 9 bytes
	dst = kbin.AppendInt32(dst, p.leaderID)
	dst = kbin.AppendInt32(dst, p.leaderEpoch)
	return append(dst, 0) // CurrentLeader's own tagged fields
}

// appendFetchResponseTags appends the response's tagged fields: NodeEndpoints (tag 0, v16+)
// if there are any.
func appendFetchResponseTags(dst []byte, r *fetchResponse) []byte {
	if r.version < 16 || len(r.endpoints) == 0 {
		return append(dst, 0)
	}
	var body []byte
	body = kbin.AppendCompactArrayLen(body, len(r.endpoints))
	for _, e := range r.endpoints {
		body = kbin.AppendInt32(body, e.id)
		body = kbin.AppendCompactString(body, e.host)
		body = kbin.AppendInt32(body, e.port)
		body = kbin.AppendCompactNullableString(body, nil) // Rack
		body = append(body, 0)
	}
	dst = append(dst, 1, 0) // one field: tag 0
	dst = kbin.AppendUvarint(dst, uint32(len(body)))
	return append(dst, body...)
}

// appendRecordBytes is the records callback that copies p.records (tests, and regions
// already materialized).
func appendRecordBytes(dst []byte, p *fetchPartition) []byte { return append(dst, p.records...) }
