package engine

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// TestCleanKeepsRecordHeaders: a batch the clean re-encodes (some of its records go) keeps
// each remaining record's own headers. The records of a batch are decoded into one reused
// kmsg.Record, whose Headers array the next decode overwrites in place: a retained record must
// not keep aliasing it, or every record kept from the batch carries the last one's headers.
func TestCleanKeepsRecordHeaders(t *testing.T) {
	for _, codec := range []int{segment.CompressionNone, segment.CompressionZstd} {
		t.Run(fmt.Sprintf("codec=%d", codec), func(t *testing.T) {
			env := newTestEnv(t, vfs.NewMemFS(), "/data")
			defer env.close()
			l := env.log(tp0, compactConfig(300))
			ts := env.clock.Now().UnixMilli()
			// k0 is superseded later, so the clean re-encodes the first batch with k1..k3.
			first := headerBatch(t, codec, ts, "k0", "k1", "k2", "k3")
			if _, err := l.Append(first, AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			for i := 0; l.Segments() < 3; i++ {
				if _, err := l.Append(keyedBatch(codec, ts+int64(i), producerOpts{}, kv{key: "k0", value: []byte(fmt.Sprint(i))}), AppendOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			st, err := env.e.Clean(tp0)
			if err != nil {
				t.Fatal(err)
			}
			if st.RecordsGone == 0 {
				t.Fatalf("the clean dropped nothing, the test needs a re-encoded batch: %+v", st)
			}
			seen := 0
			for _, h := range readAll(t, l, 0, l.LogEndOffset()) {
				if h.BaseOffset != 0 {
					continue
				}
				r, err := l.Read(0, 1<<20, l.LogEndOffset())
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, h.Size())
				if _, err := r.File.ReadAt(buf, r.Pos); err != nil {
					t.Fatal(err)
				}
				r.Release()
				recs, err := compress.Decompress(h.Compression(), buf[segment.HeaderSize:], 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if err := forEachRecord(recs, h.RecordCount, new(kmsg.Record), func(r *kmsg.Record) {
					seen++
					want := "h-" + string(r.Key)
					if len(r.Headers) != 1 || r.Headers[0].Key != want || string(r.Headers[0].Value) != want {
						t.Errorf("record %s: headers %+v, want one %q", r.Key, r.Headers, want)
					}
				}); err != nil {
					t.Fatal(err)
				}
			}
			if seen != 3 {
				t.Fatalf("%d records left of the first batch, want k1..k3", seen)
			}
		})
	}
}

// headerBatch encodes one batch of the given keys, each record with the header
// "h-<key>" = "h-<key>", compressed with codec.
func headerBatch(t *testing.T, codec int, ts int64, keys ...string) []byte {
	var body []byte
	for i, k := range keys {
		body = segment.AppendRecord(body, kmsg.Record{Key: []byte(k), Value: []byte("v"), OffsetDelta: int32(i),
			TimestampDelta64: int64(i), TimestampDelta: int32(i), Headers: []kmsg.Header{{Key: "h-" + k, Value: []byte("h-" + k)}}})
	}
	packed, err := compress.Compress(codec, body)
	if err != nil {
		t.Fatal(err)
	}
	h := segment.Header{Attributes: int16(codec), BaseTimestamp: ts, MaxTimestamp: ts + int64(len(keys)-1),
		ProducerID: segment.NoProducerID, ProducerEpoch: -1, BaseSequence: -1,
		RecordCount: int32(len(keys)), LastOffsetDelta: int32(len(keys) - 1)}
	return segment.AppendBatch(nil, h, packed)
}
