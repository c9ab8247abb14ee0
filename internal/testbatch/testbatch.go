// Package testbatch builds valid record batch v2 bytes for other packages' tests and
// benchmarks, through segment's encoder (segment.EncodeBatch): the records are encoded as
// Kafka's clients encode them, and the CRC is correct. Only tests import it: the shipped
// binary must not link it (TestNotLinkedIntoLogd).
package testbatch

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/segment"
)

// Options describe a batch. Zero values mean: no producer (-1), one record, 16-byte values.
type Options struct {
	Records       int    // number of records (default 1)
	ValueSize     int    // bytes per record value (default 16)
	Key           []byte // key of every record (nil: null key)
	BaseTimestamp int64  // first record's timestamp (ms)
	TimestampStep int64  // added per record
	ProducerID    int64  // -1 for none (the zero value is treated as none; use Idempotent)
	ProducerEpoch int16
	BaseSequence  int32
	Idempotent    bool // use ProducerID/ProducerEpoch/BaseSequence
	Attributes    int16
	Fill          byte // value byte (default 'x')
}

// Build returns the encoded batch with BaseOffset 0.
func Build(o Options) []byte {
	if o.Records == 0 {
		o.Records = 1
	}
	if o.ValueSize == 0 {
		o.ValueSize = 16
	}
	if o.Fill == 0 {
		o.Fill = 'x'
	}
	h := segment.Header{Attributes: o.Attributes, BaseTimestamp: o.BaseTimestamp,
		MaxTimestamp: o.BaseTimestamp + int64(o.Records-1)*o.TimestampStep,
		ProducerID:   segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
	if o.Idempotent {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = o.ProducerID, o.ProducerEpoch, o.BaseSequence
	}
	value := bytes.Repeat([]byte{o.Fill}, o.ValueSize)
	recs := make([]kmsg.Record, o.Records)
	for i := range recs {
		recs[i] = kmsg.Record{TimestampDelta64: int64(i) * o.TimestampStep, Key: o.Key, Value: value}
	}
	return segment.EncodeBatch(h, recs)
}
