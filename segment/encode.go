package segment

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The batch encoder: logd's one way to build record batch v2 bytes (the group coordinator's
// offsets journal, the load generator, tests). Records are kmsg's encoding; the header is
// ParseHeader's inverse.

// AppendRecord appends r as one record of a batch body, with its Length computed (r.Length is
// ignored). The caller sets OffsetDelta (the record's index in the batch) and the timestamp
// delta.
func AppendRecord(dst []byte, r kmsg.Record) []byte {
	// Encode once with a one-byte zero Length, then write the real Length varint in its place,
	// moving the record right when the varint is longer than one byte.
	start := len(dst)
	r.Length = 0
	dst = r.AppendTo(dst)
	n := len(dst) - start - 1
	var lv [binary.MaxVarintLen32]byte
	k := binary.PutVarint(lv[:], int64(n))
	if k > 1 {
		dst = append(dst, lv[:k-1]...)
		copy(dst[start+k:], dst[start+1:start+1+n])
	}
	copy(dst[start:], lv[:k])
	return dst
}

// AppendBatch appends one record batch v2 to dst: h's fields followed by records (records
// appended by AppendRecord, compressed as one block when h.Attributes names a codec), with
// Magic 2, Length and CRC computed (h's are ignored). RecordCount and LastOffsetDelta are the
// caller's, since compressed records cannot be counted here.
func AppendBatch(dst []byte, h Header, records []byte) []byte {
	start := len(dst)
	be := binary.BigEndian
	dst = be.AppendUint64(dst, uint64(h.BaseOffset))
	dst = be.AppendUint32(dst, uint32(HeaderSize-LogOverhead+len(records)))
	dst = be.AppendUint32(dst, uint32(h.PartitionLeaderEpoch))
	dst = append(dst, 2)          // magic
	dst = be.AppendUint32(dst, 0) // CRC, below
	dst = be.AppendUint16(dst, uint16(h.Attributes))
	dst = be.AppendUint32(dst, uint32(h.LastOffsetDelta))
	dst = be.AppendUint64(dst, uint64(h.BaseTimestamp))
	dst = be.AppendUint64(dst, uint64(h.MaxTimestamp))
	dst = be.AppendUint64(dst, uint64(h.ProducerID))
	dst = be.AppendUint16(dst, uint16(h.ProducerEpoch))
	dst = be.AppendUint32(dst, uint32(h.BaseSequence))
	dst = be.AppendUint32(dst, uint32(h.RecordCount))
	dst = append(dst, records...)
	be.PutUint32(dst[start+offCRC:], CRC(dst[start:]))
	return dst
}

// SetCreateTime sets a CreateTime batch's base and max timestamps to ts and recomputes its
// CRC (the load generator stamps its pre-built batches at each send).
func SetCreateTime(b []byte, ts int64) {
	be := binary.BigEndian
	be.PutUint64(b[offBaseTimestamp:], uint64(ts))
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], CRC(b))
}

// EncodeBatch returns recs as one uncompressed batch with h's fields: record i gets
// OffsetDelta i, RecordCount and LastOffsetDelta follow len(recs). h's timestamps, producer
// fields (NoProducerID, epoch and sequence -1 for none) and attributes are the caller's.
func EncodeBatch(h Header, recs []kmsg.Record) []byte {
	var body []byte
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		body = AppendRecord(body, r)
	}
	h.RecordCount, h.LastOffsetDelta = int32(len(recs)), int32(len(recs)-1)
	return AppendBatch(make([]byte, 0, HeaderSize+len(body)), h, body)
}
