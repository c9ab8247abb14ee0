package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/segment"
)

// ListOffsets: versions 1-11 (v1 is Kafka 4's floor and librdkafka's; v0's OldStyleOffsets are
// gone).
//
// Timestamps: -2 earliest (log start), -1 latest (the high watermark for READ_UNCOMMITTED,
// the last stable offset for READ_COMMITTED, which also bounds its timestamp lookups, as
// Kafka's lastFetchableOffset), -3 the batch holding the largest timestamp (v7+), -4 earliest
// local (v8+; = earliest: no tiered storage), -5 latest tiered (v9+, KIP-1005) and -6 earliest
// pending upload (v11+, KIP-1023) answer offset -1 with no error, as Kafka does for a topic
// without remote storage; a special timestamp older than its version, or any other negative
// one, is UNSUPPORTED_VERSION (Kafka 4.3.1's answers). v10's TimeoutMillis bounds remote
// storage lookups (KIP-1075): logd has none, so no lookup waits. A timestamp >= 0 finds the
// first record at or after it.
//
// By-timestamp lookups are exact for uncompressed batches (their records are walked); for a
// compressed batch the answer is the batch's first offset and its MaxTimestamp, so a consumer
// may see a few records older than it asked for, never miss one. Decompressing would make it
// exact (Kafka does); not worth it for a lookup until someone needs it.
func init() {
	register(api{key: int16(kmsg.ListOffsets), min: 1, max: 11, handle: handleListOffsets})
}

// ListOffsets special timestamps.
const (
	listLatest          = -1
	listEarliest        = -2
	listMaxTimestamp    = -3
	listEarliestLoc     = -4
	listLatestTiered    = -5
	listEarliestPending = -6
)

// listTimestampServed reports whether a ListOffsets request of version v may ask for
// timestamp ts: a special timestamp from the version that introduced it on.
func listTimestampServed(ts int64, v int16) bool {
	switch ts {
	case listLatest, listEarliest:
		return true
	case listMaxTimestamp:
		return v >= 7
	case listEarliestLoc:
		return v >= 8
	case listLatestTiered:
		return v >= 9
	case listEarliestPending:
		return v >= 11
	}
	return ts >= 0
}

func handleListOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListOffsetsRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		t := &resp.Topics[ti]
		t.Topic = rt.Topic
		denied := !b.authorizeTopic(c, acl.OpDescribe, rt.Topic)
		t.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			p := &t.Partitions[pi]
			p.Default()
			p.Partition = rp.Partition
			var epoch int32
			code := int16(0)
			if denied {
				code = kerr.TopicAuthorizationFailed.Code
			} else if part, err := b.partition(rt.Topic, rp.Partition); err != nil {
				code = errorCode(err)
			} else {
				epoch, _, code = b.leaderEpochOf(part)
			}
			if code != 0 {
				p.ErrorCode = code
				continue
			}
			if v >= 4 {
				if code := checkLeaderEpoch(rp.CurrentLeaderEpoch, epoch); code != 0 {
					p.ErrorCode = code
					continue
				}
			}
			if !listTimestampServed(rp.Timestamp, v) {
				p.ErrorCode = kerr.UnsupportedVersion.Code
				continue
			}
			ts, off, err := b.listOffset(rt.Topic, rp.Partition, rp.Timestamp, req.IsolationLevel == 1)
			if err != nil {
				p.ErrorCode = errorCode(err)
				continue
			}
			p.Timestamp, p.Offset = ts, off
			if off >= 0 {
				p.LeaderEpoch = epoch
			}
		}
	}
	return resp, nil
}

// listOffset answers one partition: the timestamp and offset found, or -1, -1. A
// read_committed lookup sees the log up to the last stable offset only.
func (b *Broker) listOffset(topic string, partition int32, ts int64, readCommitted bool) (int64, int64, error) {
	part, err := b.partition(topic, partition)
	if err != nil {
		return -1, -1, err
	}
	l := part.log
	fetchable := l.HighWatermark()
	if readCommitted {
		fetchable = min(l.LastStableOffset(), fetchable)
	}
	switch ts {
	case listLatest:
		return -1, fetchable, nil
	case listEarliest, listEarliestLoc:
		return -1, l.LogStartOffset(), nil
	case listLatestTiered, listEarliestPending:
		return -1, -1, nil // no tiered storage: nothing uploaded, nothing pending
	case listMaxTimestamp:
		_, off, err := l.MaxTimestamp()
		if err != nil || off < 0 {
			return -1, -1, err
		}
		if off < l.LogStartOffset() {
			off = l.LogStartOffset()
		}
		// The exact record: the batch's first record carrying its MaxTimestamp.
		return b.scanBatch(l, off, func(h *segment.Header, recTS, _ int64) bool { return recTS == h.MaxTimestamp })
	}
	off, found, err := l.OffsetForTimestamp(ts)
	if err != nil || !found || off >= fetchable {
		return -1, -1, err
	}
	return b.refineTimestampOffset(l, off, ts)
}

// maxTimestampScan bounds the batch read to refine a by-timestamp lookup, and
// maxDecompressed what a compressed batch may expand to (a decompression bomb costs no more).
const (
	maxTimestampScan = 16 << 20
	maxDecompressed  = 64 << 20
)

// refineTimestampOffset finds, in the batch starting at or holding off, the first record
// with a timestamp >= ts, decompressing the batch if needed. LogAppendTime batches, and
// batches that cannot be read record by record, answer with the batch's first offset and
// MaxTimestamp.
func (b *Broker) refineTimestampOffset(l *engine.Log, off, ts int64) (int64, int64, error) {
	return b.scanBatch(l, off, func(h *segment.Header, recTS, recOff int64) bool {
		return recTS >= ts
	})
}

// scanBatch reads the batch holding off and calls match for each of its records at or after
// the log start, returning the first matching record's timestamp and offset, or the batch's
// MaxTimestamp and first offset when no record can be examined.
func (b *Broker) scanBatch(l *engine.Log, off int64, match func(h *segment.Header, recTS, recOff int64) bool) (int64, int64, error) {
	reg, err := l.Read(off, 1, l.HighWatermark())
	if err != nil || reg.Len == 0 {
		reg.Release()
		return -1, -1, err
	}
	defer reg.Release()
	size := min(reg.Len, maxTimestampScan)
	buf := make([]byte, size)
	if _, err := reg.File.ReadAt(buf, reg.Pos); err != nil {
		return -1, -1, err
	}
	h, err := segment.ParseHeader(buf)
	if err != nil {
		return -1, -1, err
	}
	start := max(off, l.LogStartOffset())
	coarse := func() (int64, int64, error) { return h.MaxTimestamp, max(h.BaseOffset, start), nil }
	if h.Attributes&segment.AttrLogAppendTime != 0 || int64(h.Size()) > size {
		return coarse()
	}
	recs, err := compress.Decompress(h.Compression(), buf[segment.HeaderSize:h.Size()], maxDecompressed)
	if err != nil {
		return coarse()
	}
	found := false
	var foundTS, foundOff int64
	walkRecords(&h, recs, func(recTS, recOff int64) bool {
		if recOff >= start && match(&h, recTS, recOff) {
			found, foundTS, foundOff = true, recTS, recOff
			return false
		}
		return true
	})
	if !found {
		return coarse()
	}
	return foundTS, foundOff, nil
}

// walkRecords calls fn with each record's timestamp and offset until fn returns false or the
// records end or stop parsing.
func walkRecords(h *segment.Header, recs []byte, fn func(ts, off int64) bool) {
	for i := int32(0); i < h.RecordCount && len(recs) > 0; i++ {
		length, n := binary.Varint(recs)
		if n <= 0 || length < 1 || int64(len(recs)-n) < length {
			return
		}
		rec := recs[n : n+int(length)]
		recs = recs[n+int(length):]
		tsDelta, n1 := binary.Varint(rec[1:]) // after the attributes byte
		if n1 <= 0 {
			return
		}
		offDelta, n2 := binary.Varint(rec[1+n1:])
		if n2 <= 0 {
			return
		}
		if !fn(h.BaseTimestamp+tsDelta, h.BaseOffset+offDelta) {
			return
		}
	}
}
