package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A share group without members survives a restart (its ShareGroupMetadata and
// ShareGroupStatePartitionMetadata records in __consumer_offsets): before any member comes
// back, ShareGroupDescribe answers it, Empty, at the epoch it had, and
// DescribeShareGroupOffsets lists its share partition at the persisted start offset (the
// old code answered GROUP_ID_NOT_FOUND until a member fetched).
func TestShareEmptyGroupSurvivesRestart(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "kept", 5)
	m := joinShare(ctx, t, tb, "kg", "m-1", "kept", id)
	waitShareState(t, tb, "kg", id)
	if got := acquired(t, m.fetch(ctx, 0, 100, time.Second)); count(got) != 5 {
		t.Fatalf("acquired %+v", got)
	}
	if top, code := m.acknowledge(ctx, -2, ack{0, 2, []int8{1}}); top != 0 || code != 0 {
		t.Fatalf("ack: %d/%d", top, code)
	}
	epoch := m.epoch
	if r := m.heartbeat(ctx, -1, nil); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	tb.restart()
	ctx = testCtx(t)
	cl := tb.client()
	var dg kmsg.ShareGroupDescribeResponseGroup
	eventually(t, "the share group described after the restart", func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{"kg"}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		dg = resp.Groups[0]
		return dg.ErrorCode == 0
	})
	if dg.GroupState != "Empty" || dg.GroupEpoch != epoch || len(dg.Members) != 0 {
		t.Fatalf("described %+v, want Empty at epoch %d", dg, epoch)
	}
	var og kmsg.DescribeShareGroupOffsetsResponseGroup
	eventually(t, "the share group's offsets described after the restart", func() bool {
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		req.Version = 1
		rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
		rg.GroupID = "kg"
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		og = resp.Groups[0]
		return og.ErrorCode == 0 && len(og.Topics) == 1 && len(og.Topics[0].Partitions) == 1 && og.Topics[0].Partitions[0].StartOffset >= 0
	})
	if p := og.Topics[0].Partitions[0]; og.Topics[0].Topic != "kept" || p.StartOffset != 3 || p.Lag != 2 {
		t.Fatalf("offsets described %+v, want kept-0 at start 3 with lag 2", og)
	}
}
