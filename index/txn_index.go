package index

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// TxnEntrySize is the size of one aborted-transaction index entry (Kafka's AbortedTxn.TOTAL_SIZE).
const TxnEntrySize = 34

// txnEntryVersion is the only entry version Kafka writes and reads.
const txnEntryVersion = 0

// ErrTxnIndexCorrupt wraps every ParseTxnIndex error.
var ErrTxnIndexCorrupt = errors.New("corrupt transaction index")

// AbortedTxn is one entry of a segment's .txnindex: a transaction of ProducerID aborted by the
// marker at LastOffset, its data starting at FirstOffset. LastStableOffset is the partition's
// last stable offset once the marker was appended (Kafka stores it; readers do not need it).
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

// AppendTxnEntry appends e's 34-byte encoding to dst.
func AppendTxnEntry(dst []byte, e AbortedTxn) []byte {
	dst = binary.BigEndian.AppendUint16(dst, txnEntryVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.ProducerID))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.FirstOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(dst, uint64(e.LastStableOffset))
}

// ParseTxnIndex decodes a whole .txnindex file. A length that is not a multiple of
// TxnEntrySize, an unknown version or an entry whose offsets go backwards is an error wrapping
// ErrTxnIndexCorrupt (Kafka's TransactionIndex.sanityCheck refuses the same). Allocation is
// bounded by len(b).
func ParseTxnIndex(b []byte) ([]AbortedTxn, error) {
	if len(b)%TxnEntrySize != 0 {
		return nil, fmt.Errorf("%w: %d bytes, not a multiple of %d", ErrTxnIndexCorrupt, len(b), TxnEntrySize)
	}
	out := make([]AbortedTxn, 0, len(b)/TxnEntrySize)
	for i := 0; i < len(b); i += TxnEntrySize {
		if v := binary.BigEndian.Uint16(b[i:]); v != txnEntryVersion {
			return nil, fmt.Errorf("%w: entry %d has version %d", ErrTxnIndexCorrupt, i/TxnEntrySize, v)
		}
		e := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[i+2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[i+10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[i+18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[i+26:])),
		}
		if e.FirstOffset < 0 || e.LastOffset < e.FirstOffset {
			return nil, fmt.Errorf("%w: entry %d spans offsets %d..%d", ErrTxnIndexCorrupt, i/TxnEntrySize, e.FirstOffset, e.LastOffset)
		}
		if n := len(out); n > 0 && out[n-1].LastOffset >= e.LastOffset {
			return nil, fmt.Errorf("%w: entry %d ends at %d, not after %d", ErrTxnIndexCorrupt, i/TxnEntrySize, e.LastOffset, out[n-1].LastOffset)
		}
		out = append(out, e)
	}
	return out, nil
}
