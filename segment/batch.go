package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Record batch v2 layout constants. These are part of Kafka's wire and disk format.
const (
	// HeaderSize is the size of the fixed record batch v2 header.
	HeaderSize = 61
	// LogOverhead is the size of BaseOffset plus Length: the bytes before Length's count starts.
	LogOverhead = 12

	offBaseOffset           = 0
	offLength               = 8
	offPartitionLeaderEpoch = 12
	offMagic                = 16
	offCRC                  = 17
	offAttributes           = 21
	offLastOffsetDelta      = 23
	offBaseTimestamp        = 27
	offMaxTimestamp         = 35
	offProducerID           = 43
	offProducerEpoch        = 51
	offBaseSequence         = 53
	offRecordCount          = 57

	// minBatchLength is Length's smallest legal value: a header with no records.
	minBatchLength = HeaderSize - LogOverhead
)

// Attribute bits of a record batch.
const (
	AttrCompressionMask = 0x07
	AttrLogAppendTime   = 0x08
	AttrTransactional   = 0x10
	AttrControl         = 0x20
	AttrDeleteHorizon   = 0x40
)

// Compression codecs (Attributes bits 0-2).
const (
	CompressionNone   = 0
	CompressionGzip   = 1
	CompressionSnappy = 2
	CompressionLZ4    = 3
	CompressionZstd   = 4
)

// NoProducerID is the producer id of a batch from a non-idempotent producer.
const NoProducerID = -1

// Errors returned by batch validation. They wrap into *BatchError with the failing field.
var (
	// ErrTruncated means the bytes end before the batch does.
	ErrTruncated = errors.New("truncated record batch")
	// ErrCorrupt means the batch's header or CRC is invalid.
	ErrCorrupt = errors.New("corrupt record batch")
	// ErrUnsupportedMagic means the batch is not record batch v2.
	ErrUnsupportedMagic = errors.New("unsupported record batch magic")
)

// BatchError describes why a batch failed validation.
type BatchError struct {
	Err    error  // ErrTruncated, ErrCorrupt or ErrUnsupportedMagic
	Reason string // what exactly is wrong
}

func (e *BatchError) Error() string { return e.Err.Error() + ": " + e.Reason }
func (e *BatchError) Unwrap() error { return e.Err }

func batchErr(err error, format string, args ...any) error {
	return &BatchError{Err: err, Reason: fmt.Sprintf(format, args...)}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC computes the CRC-32C of a batch's checksummed bytes (Attributes to the end).
func CRC(batch []byte) uint32 {
	return crc32.Checksum(batch[offAttributes:], castagnoli)
}

// Header is a decoded record batch v2 header.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the Length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the batch's total size in bytes.
func (h *Header) Size() int { return int(h.Length) + LogOverhead }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression returns the batch's codec.
func (h *Header) Compression() int { return int(h.Attributes & AttrCompressionMask) }

// IsTransactional reports whether the batch belongs to a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports whether the batch is a control batch (transaction marker).
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// LastSequence is the sequence number of the batch's last record, wrapping as Kafka does.
func (h *Header) LastSequence() int32 {
	if h.BaseSequence < 0 {
		return h.BaseSequence
	}
	return addSequence(h.BaseSequence, h.LastOffsetDelta)
}

func addSequence(seq, delta int32) int32 {
	if seq > 0x7fffffff-delta {
		return delta - (0x7fffffff - seq) - 1
	}
	return seq + delta
}

// ParseHeader decodes the fixed header of the batch at the start of b without checking the CRC
// or that the whole batch is present. It fails if b is shorter than HeaderSize, the magic is not
// 2 or Length is impossible.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		if len(b) >= offMagic+1 && b[offMagic] != 2 {
			return h, batchErr(ErrUnsupportedMagic, "magic %d", int8(b[offMagic]))
		}
		return h, batchErr(ErrTruncated, "%d bytes, header needs %d", len(b), HeaderSize)
	}
	be := binary.BigEndian
	h.BaseOffset = int64(be.Uint64(b[offBaseOffset:]))
	h.Length = int32(be.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[offPartitionLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = be.Uint32(b[offCRC:])
	h.Attributes = int16(be.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(be.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(be.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(be.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(be.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(be.Uint32(b[offRecordCount:]))
	if h.Magic != 2 {
		return h, batchErr(ErrUnsupportedMagic, "magic %d", h.Magic)
	}
	if h.Length < minBatchLength {
		return h, batchErr(ErrCorrupt, "length %d below the minimum %d", h.Length, minBatchLength)
	}
	return h, nil
}

// minRecordSize is the smallest possible encoded record (7 bytes: length, attributes,
// timestamp delta, offset delta, key length, value length, header count); it bounds how many
// records an uncompressed batch of a given length can claim.
const minRecordSize = 7

// ValidateBatch checks the batch at the start of b: a complete header, magic 2, Length within b,
// a consistent record count and offset delta, and the CRC-32C. It returns the header. Records
// inside a compressed batch are not inspected.
func ValidateBatch(b []byte) (Header, error) { return validateBatch(b, false) }

// ValidateStoredBatch is ValidateBatch for a batch read from a log or copied from a leader's:
// an empty batch (no records) is legal there, since compaction keeps a producer's last batch
// and a cleaned segment's last batch, emptied, so sequence numbers and end offsets survive.
func ValidateStoredBatch(b []byte) (Header, error) { return validateBatch(b, true) }

func validateBatch(b []byte, allowEmpty bool) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if int64(h.Length)+LogOverhead > int64(len(b)) {
		return h, batchErr(ErrTruncated, "length %d, only %d bytes follow", h.Length, len(b)-LogOverhead)
	}
	if err := h.check(allowEmpty); err != nil {
		return h, err
	}
	if got := CRC(b[:h.Size()]); got != h.CRC {
		return h, batchErr(ErrCorrupt, "crc 0x%08x, computed 0x%08x", h.CRC, got)
	}
	return h, nil
}

// check validates header fields that do not need the records; allowEmpty accepts a batch
// with no records (ValidateStoredBatch).
func (h *Header) check(allowEmpty bool) error {
	switch {
	case h.RecordCount < 0:
		return batchErr(ErrCorrupt, "negative record count %d", h.RecordCount)
	case h.LastOffsetDelta < 0:
		return batchErr(ErrCorrupt, "negative last offset delta %d", h.LastOffsetDelta)
	case h.RecordCount == 0 && !h.IsControl() && !allowEmpty:
		return batchErr(ErrCorrupt, "no records")
	case h.Compression() == CompressionNone && int64(h.RecordCount)*minRecordSize > int64(h.Length-minBatchLength):
		return batchErr(ErrCorrupt, "%d records cannot fit in %d bytes", h.RecordCount, h.Length-minBatchLength)
	case h.Compression() > CompressionZstd:
		return batchErr(ErrCorrupt, "unknown compression codec %d", h.Compression())
	}
	return nil
}

// SetBaseOffset stamps a batch's BaseOffset (outside the CRC).
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetPartitionLeaderEpoch stamps a batch's PartitionLeaderEpoch (outside the CRC).
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks a batch as LogAppendTime with MaxTimestamp ts and recomputes its CRC,
// as Kafka does for topics with message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	be := binary.BigEndian
	attrs := be.Uint16(b[offAttributes:]) | AttrLogAppendTime
	be.PutUint16(b[offAttributes:], attrs)
	be.PutUint64(b[offMaxTimestamp:], uint64(ts))
	be.PutUint32(b[offCRC:], CRC(b))
}
