package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestListOffsetsAndDeleteRecords(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "lo", 1, nil)
	createTopicDP(t, tb, "empty", 1, nil)
	rc := dialDP(t, tb)
	// Batches: offsets 0-2 at 1000,1100,1200; 3-5 at 2000,2100,2200 (compressed flag:
	// coarse); 6-8 at 3000,3500,3100.
	for _, bt := range []batchDP{
		{timestamps: []int64{1000, 1100, 1200}},
		{timestamps: []int64{2000, 2100, 2200}, codec: 1},
		{timestamps: []int64{3000, 3500, 3100}},
	} {
		if p := producePartDP(t, rc.request(produceReqDP(9, 1, "lo", 0, bt.encode()))); p.ErrorCode != 0 {
			t.Fatal(p.ErrorCode)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := tb.admin()
	one := func(l kadm.ListedOffsets, err error) kadm.ListedOffset {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o, ok := l.Lookup("lo", 0)
		if !ok || o.Err != nil {
			t.Fatalf("lookup: %v %v", ok, o.Err)
		}
		return o
	}
	if o := one(adm.ListStartOffsets(ctx, "lo")); o.Offset != 0 {
		t.Fatalf("start offset %d", o.Offset)
	}
	if o := one(adm.ListEndOffsets(ctx, "lo")); o.Offset != 9 || o.LeaderEpoch != 0 {
		t.Fatalf("end offset %d epoch %d", o.Offset, o.LeaderEpoch)
	}
	if o := one(adm.ListMaxTimestampOffsets(ctx, "lo")); o.Offset != 7 || o.Timestamp != 3500 {
		t.Fatalf("max timestamp: offset %d ts %d", o.Offset, o.Timestamp)
	}
	for _, c := range []struct{ ms, off, ts int64 }{
		{0, 0, 1000}, {1000, 0, 1000}, {1050, 1, 1100}, {1200, 2, 1200}, // exact (uncompressed)
		{1201, 3, 2000}, {2100, 4, 2100}, {2150, 5, 2200}, // compressed batch: decompressed, exact
		{3200, 7, 3500}, {3001, 7, 3500},
	} {
		if o := one(adm.ListOffsetsAfterMilli(ctx, c.ms, "lo")); o.Offset != c.off || o.Timestamp != c.ts {
			t.Errorf("after %d: offset %d ts %d, want %d ts %d", c.ms, o.Offset, o.Timestamp, c.off, c.ts)
		}
	}
	// Past every timestamp: raw -1/-1 (kadm would substitute the end offset). The special
	// timestamps from the version that brought each (Kafka 4.3.1's answers): -4 earliest
	// local = log start; -5 latest tiered and -6 earliest pending upload -1 without tiered
	// storage; older versions and unknown negatives UNSUPPORTED_VERSION.
	listRaw := func(v int16, stamps ...int64) []kmsg.ListOffsetsResponseTopicPartition {
		t.Helper()
		lreq := kmsg.NewPtrListOffsetsRequest()
		lreq.Version = v
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "lo"
		for _, ts := range stamps {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Timestamp = ts
			lt.Partitions = append(lt.Partitions, lp)
		}
		lreq.Topics = append(lreq.Topics, lt)
		return rc.request(lreq).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	}
	for _, c := range []struct {
		v        int16
		ts       int64
		code     int16
		off, epo int64
	}{
		{8, 9999, 0, -1, -1},
		{8, -4, 0, 0, 0},
		{11, -4, 0, 0, 0},
		{11, -5, 0, -1, -1},
		{11, -6, 0, -1, -1},
		{10, 9999, 0, -1, -1},
		{6, -3, kerr.UnsupportedVersion.Code, -1, -1},
		{7, -4, kerr.UnsupportedVersion.Code, -1, -1},
		{8, -5, kerr.UnsupportedVersion.Code, -1, -1},
		{10, -6, kerr.UnsupportedVersion.Code, -1, -1},
		{11, -7, kerr.UnsupportedVersion.Code, -1, -1},
	} {
		p := listRaw(c.v, c.ts)[0]
		if p.ErrorCode != c.code || p.Offset != c.off || p.Timestamp != -1 || int64(p.LeaderEpoch) != c.epo {
			t.Errorf("v%d timestamp %d: error %d offset %d timestamp %d epoch %d, want error %d offset %d timestamp -1 epoch %d",
				c.v, c.ts, p.ErrorCode, p.Offset, p.Timestamp, p.LeaderEpoch, c.code, c.off, c.epo)
		}
	}

	// Empty partition: max timestamp finds nothing.
	if l, err := adm.ListMaxTimestampOffsets(ctx, "empty"); err != nil {
		t.Fatal(err)
	} else if o, _ := l.Lookup("empty", 0); o.Offset != -1 && o.Offset != 0 {
		t.Fatalf("empty max timestamp: %+v", o)
	}

	// DeleteRecords: to 4, then -1 (= HW), and past the HW.
	del := func(at int64) kadm.DeleteRecordsResponse {
		t.Helper()
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "lo", Partition: 0, At: at})
		rs, err := adm.DeleteRecords(ctx, os)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rs.Lookup("lo", 0)
		return r
	}
	if r := del(4); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete to 4: %v low %d", r.Err, r.LowWatermark)
	}
	if o := one(adm.ListStartOffsets(ctx, "lo")); o.Offset != 4 {
		t.Fatalf("start offset after delete %d", o.Offset)
	}
	if o := one(adm.ListOffsetsAfterMilli(ctx, 0, "lo")); o.Offset != 4 {
		t.Fatalf("by time after delete: offset %d, want 4", o.Offset)
	}
	if p := fetchPartDP(t, rc.request(fetchReqDP(11, "lo", [16]byte{}, 0, 2))); p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 4 {
		t.Fatalf("fetch below log start: error %d start %d", p.ErrorCode, p.LogStartOffset)
	}
	if r := del(100); r.Err != kerr.OffsetOutOfRange {
		t.Fatalf("delete past HW: %v", r.Err)
	}
	if r := del(-1); r.Err != nil || r.LowWatermark != 9 {
		t.Fatalf("delete to HW: %v low %d", r.Err, r.LowWatermark)
	}

	// OffsetForLeaderEpoch: epoch 0 ends at the log end; a future current epoch is unknown.
	oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
	oreq.Version = 4
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "empty"
	for _, cur := range []int32{-1, 0, 3} {
		op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		op.CurrentLeaderEpoch, op.LeaderEpoch = cur, 0
		ot.Partitions = append(ot.Partitions, op)
	}
	oreq.Topics = append(oreq.Topics, ot)
	ot2 := ot
	ot2.Topic = "lo"
	ot2.Partitions = ot.Partitions[:1]
	oreq.Topics = append(oreq.Topics, ot2)
	or := rc.request(oreq).(*kmsg.OffsetForLeaderEpochResponse)
	ps := or.Topics[0].Partitions
	if ps[0].ErrorCode != 0 || ps[0].LeaderEpoch != 0 || ps[0].EndOffset != 0 || ps[1].ErrorCode != 0 || ps[2].ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("offset for leader epoch (empty log): %+v", ps)
	}
	if p := or.Topics[1].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != 0 || p.EndOffset != 9 {
		t.Fatalf("offset for leader epoch: %+v", p)
	}
}
