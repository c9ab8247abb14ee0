package broker

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// kip848Member speaks ConsumerGroupHeartbeat with raw kmsg requests (franz-go's consumer does
// not implement KIP-848): it keeps what it is assigned and reports it as owned.
type kip848Member struct {
	t     *testing.T
	cl    *kgo.Client
	group string
	id    string
	epoch int32
	owned []kmsg.ConsumerGroupHeartbeatRequestTopic
}

func (m *kip848Member) heartbeat(ctx context.Context, epoch int32, topics []string) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, epoch
	if epoch == 0 {
		req.RebalanceTimeoutMillis = 30_000
		req.SubscribedTopicNames = topics
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	} else {
		req.Topics = m.owned
	}
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.ErrorCode == 0 && epoch >= 0 {
		m.epoch = resp.MemberEpoch
		if resp.Assignment != nil {
			m.owned = m.owned[:0]
			for _, at := range resp.Assignment.Topics {
				m.owned = append(m.owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: at.TopicID, Partitions: at.Partitions})
			}
		}
	}
	return resp
}

func (m *kip848Member) count() int {
	n := 0
	for _, t := range m.owned {
		n += len(t.Partitions)
	}
	return n
}

func TestConsumerGroupHeartbeatOverTheWire(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	cl := tb.client()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 4, 1, nil, "t848"); err != nil {
		t.Fatal(err)
	}
	a := &kip848Member{t: t, cl: cl, group: "g848", id: "member-a"}
	b := &kip848Member{t: t, cl: cl, group: "g848", id: "member-b"}
	if r := a.heartbeat(ctx, 0, []string{"t848"}); r.ErrorCode != 0 || a.count() != 4 || r.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("a join: %+v", r)
	}
	if r := b.heartbeat(ctx, 0, []string{"t848"}); r.ErrorCode != 0 {
		t.Fatalf("b join: error %d", r.ErrorCode)
	}
	for i := 0; i < 3; i++ {
		a.heartbeat(ctx, a.epoch, nil)
		b.heartbeat(ctx, b.epoch, nil)
		if a.count()+b.count() > 4 {
			t.Fatalf("a partition owned twice: a %v b %v", a.owned, b.owned)
		}
	}
	if a.count() != 2 || b.count() != 2 || a.epoch != b.epoch {
		t.Fatalf("after reconciling: a %d at %d, b %d at %d", a.count(), a.epoch, b.count(), b.epoch)
	}
	if r := a.heartbeat(ctx, a.epoch+5, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("future epoch: error %d", r.ErrorCode)
	}

	// OffsetCommit v9 takes the member epoch as generation; OffsetFetch v9 checks it. (v9, the
	// newest naming topics: kgo sends the highest version both sides have, so it is capped.)
	v9 := kversion.Stable()
	v9.SetMaxKeyVersion(int16(kmsg.OffsetCommit), 9)
	cl9 := tb.client(kgo.MaxVersions(v9))
	commit := func(epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version = 9
		req.Group, req.MemberID, req.Generation = "g848", a.id, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "t848"
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 42
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl9)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(a.epoch); code != 0 {
		t.Fatalf("commit at the member epoch: error %d", code)
	}
	if code := commit(a.epoch - 1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at a stale epoch: error %d", code)
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "g848", &a.id, a.epoch
	fetch.Groups = append(fetch.Groups, fg)
	fresp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := fresp.Groups[0]; g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 42 {
		t.Fatalf("offset fetch v9: %+v", g)
	}

	desc := kmsg.NewPtrConsumerGroupDescribeRequest()
	desc.Groups = []string{"g848", "nope"}
	dresp, err := desc.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != 0 || g.State != "Stable" || len(g.Members) != 2 || g.AssignorName != "uniform" ||
		g.Members[0].Assignment.TopicPartitions[0].Topic != "t848" {
		t.Fatalf("describe: %+v", g)
	}
	if dresp.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe unknown group: error %d", dresp.Groups[1].ErrorCode)
	}
	list := kmsg.NewPtrListGroupsRequest()
	list.TypesFilter = []string{"consumer"}
	lresp, err := list.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(lresp.Groups) != 1 || lresp.Groups[0].Group != "g848" || lresp.Groups[0].GroupType != "consumer" {
		t.Fatalf("list consumer groups: %+v", lresp.Groups)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"g848"}
	dgresp, err := dg.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if dgresp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a consumer group: error %d", dgresp.Groups[0].ErrorCode)
	}

	if r := b.heartbeat(ctx, -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	before := a.epoch
	a.heartbeat(ctx, a.epoch, nil)
	a.heartbeat(ctx, a.epoch, nil)
	if a.count() != 4 || a.epoch <= before {
		t.Fatalf("after b left: a %d partitions at epoch %d", a.count(), a.epoch)
	}

	// After a restart the member is unknown; rejoining continues above the old epochs.
	tb.restart()
	cl2 := tb.client()
	a.cl = cl2
	if r := a.heartbeat(ctx, a.epoch, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after restart: error %d", r.ErrorCode)
	}
	old := a.epoch
	a.owned = nil
	if r := a.heartbeat(ctx, 0, []string{"t848"}); r.ErrorCode != 0 || a.epoch <= old || a.count() != 4 {
		t.Fatalf("rejoin after restart: %+v (epoch before %d)", r, old)
	}
}
