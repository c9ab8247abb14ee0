package engine

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/segment"
)

// kv is one record to produce into a compacted log; a nil value is a tombstone.
type kv struct {
	key   string
	value []byte
}

// producerOpts are a batch's idempotent-producer fields; zero means none.
type producerOpts struct {
	id    int64
	epoch int16
	seq   int32
}

// keyedBatch encodes records as one batch compressed with codec, timestamps from ts.
func keyedBatch(codec int, ts int64, p producerOpts, recs ...kv) []byte {
	krs := make([]kmsg.Record, len(recs))
	for i, r := range recs {
		krs[i] = kmsg.Record{Value: r.value, TimestampDelta64: int64(i), TimestampDelta: int32(i)}
		if r.key != "" {
			krs[i].Key = []byte(r.key) // "": a keyless record
		}
	}
	h := segment.Header{BaseTimestamp: ts, MaxTimestamp: ts + int64(len(recs)-1),
		ProducerID: segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1}
	if p.id > 0 {
		h.ProducerID, h.ProducerEpoch, h.BaseSequence = p.id, p.epoch, p.seq
	}
	if codec == segment.CompressionNone {
		return segment.EncodeBatch(h, krs)
	}
	var body []byte
	for i, r := range krs {
		r.OffsetDelta = int32(i)
		body = segment.AppendRecord(body, r)
	}
	c, err := compress.Compress(codec, body)
	if err != nil {
		panic(err)
	}
	h.Attributes = int16(codec)
	h.RecordCount, h.LastOffsetDelta = int32(len(recs)), int32(len(recs)-1)
	return segment.AppendBatch(nil, h, c)
}

// storedRecord is a record as read back from a log.
type storedRecord struct {
	offset int64
	key    string
	value  []byte // nil: tombstone
	ts     int64
}

// readRecords reads every record of the log with the batch headers, checking each batch
// (CRC, offsets increasing) on the way.
func readRecords(t testing.TB, l *Log) ([]storedRecord, []segment.Header) {
	t.Helper()
	var out []storedRecord
	var hs []segment.Header
	next, end := l.LogStartOffset(), l.LogEndOffset()
	prev := int64(-1)
	for next < end {
		r, err := l.Read(next, 1<<20, end)
		if err != nil {
			t.Fatalf("read %d: %v", next, err)
		}
		if r.Len == 0 {
			r.Release()
			break
		}
		buf := make([]byte, r.Len)
		if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
			t.Fatal(err)
		}
		r.Release()
		for p := 0; p < len(buf); {
			h, err := segment.ValidateStoredBatch(buf[p:])
			if err != nil {
				t.Fatalf("batch at offset %d: %v", next, err)
			}
			if h.BaseOffset <= prev {
				t.Fatalf("batch at %d after offset %d: offsets must increase", h.BaseOffset, prev)
			}
			prev = h.LastOffset()
			hs = append(hs, h)
			recs, err := compress.Decompress(h.Compression(), buf[p+segment.HeaderSize:p+h.Size()], 1<<26)
			if err != nil {
				t.Fatalf("batch %d: %v", h.BaseOffset, err)
			}
			if err := forEachRecord(recs, h.RecordCount, new(kmsg.Record), func(r *kmsg.Record) {
				var v []byte
				if r.Value != nil {
					v = append([]byte{}, r.Value...)
				}
				out = append(out, storedRecord{offset: h.BaseOffset + int64(r.OffsetDelta), key: string(r.Key), value: v, ts: h.BaseTimestamp + r.TimestampDelta64})
			}); err != nil {
				t.Fatalf("batch %d: %v", h.BaseOffset, err)
			}
			p += h.Size()
			next = h.NextOffset()
		}
	}
	return out, hs
}

// compactConfig is a compacted log's config for tests: small segments, every log cleanable.
func compactConfig(segmentBytes int64) LogConfig {
	cfg := DefaultLogConfig
	cfg.CleanupPolicy = CleanupCompact
	cfg.SegmentBytes = segmentBytes
	cfg.IndexIntervalBytes = 256
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetention = time.Hour
	return cfg
}
