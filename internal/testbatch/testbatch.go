// Package testbatch builds valid record batch v2 bytes for tests and benchmarks: the records
// are encoded as Kafka's clients encode them, and the CRC is correct.
package testbatch

import (
	"encoding/binary"
	"hash/crc32"
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
	pid, epoch, seq := int64(-1), int16(-1), int32(-1)
	if o.Idempotent {
		pid, epoch, seq = o.ProducerID, o.ProducerEpoch, o.BaseSequence
	}
	value := make([]byte, o.ValueSize)
	for i := range value {
		value[i] = o.Fill
	}
	var recs []byte
	for i := 0; i < o.Records; i++ {
		var r []byte
		r = append(r, 0) // attributes
		r = binary.AppendVarint(r, int64(i)*o.TimestampStep)
		r = binary.AppendVarint(r, int64(i))
		if o.Key == nil {
			r = binary.AppendVarint(r, -1)
		} else {
			r = binary.AppendVarint(r, int64(len(o.Key)))
			r = append(r, o.Key...)
		}
		r = binary.AppendVarint(r, int64(len(value)))
		r = append(r, value...)
		r = binary.AppendVarint(r, 0) // headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	b := make([]byte, 61, 61+len(recs))
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(49+len(recs)))
	be.PutUint32(b[12:], 0)
	b[16] = 2
	be.PutUint16(b[21:], uint16(o.Attributes))
	be.PutUint32(b[23:], uint32(o.Records-1))
	be.PutUint64(b[27:], uint64(o.BaseTimestamp))
	be.PutUint64(b[35:], uint64(o.BaseTimestamp+int64(o.Records-1)*o.TimestampStep))
	be.PutUint64(b[43:], uint64(pid))
	be.PutUint16(b[51:], uint16(epoch))
	be.PutUint32(b[53:], uint32(seq))
	be.PutUint32(b[57:], uint32(o.Records))
	b = append(b, recs...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
