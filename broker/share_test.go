package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/share"
)

// shareMember speaks the share group APIs with raw kmsg requests over a real socket.
type shareMember struct {
	t       *testing.T
	cl      *kgo.Client
	group   string
	id      string
	epoch   int32 // member epoch
	session int32 // next share session epoch
	topicID [16]byte
}

func newShareMember(t *testing.T, tb *testBroker, group, id string, topicID [16]byte) *shareMember {
	return &shareMember{t: t, cl: tb.client(), group: group, id: id, topicID: topicID}
}

// joinShare is a new member of group that has joined, subscribed to topic (id).
func joinShare(ctx context.Context, t *testing.T, tb *testBroker, group, member, topic string, id [16]byte) *shareMember {
	t.Helper()
	m := newShareMember(t, tb, group, member, id)
	if r := m.heartbeat(ctx, 0, []string{topic}); r.ErrorCode != 0 {
		t.Fatalf("%s joins %s: error %d", member, group, r.ErrorCode)
	}
	return m
}

func (m *shareMember) heartbeat(ctx context.Context, epoch int32, topics []string) *kmsg.ShareGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.MemberEpoch, req.SubscribedTopicNames = m.group, m.id, epoch, topics
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.ErrorCode == 0 {
		m.epoch = resp.MemberEpoch
	}
	return resp
}

// ack is one acknowledgement batch of partition 0.
type ack struct {
	first, last int64
	types       []int8
}

// fetch sends a ShareFetch of partition 0 at the session epoch given (or the member's next
// one with epoch -2), with acks piggybacked.
func (m *shareMember) fetch(ctx context.Context, epoch int32, maxRecords int32, wait time.Duration, acks ...ack) *kmsg.ShareFetchResponse {
	m.t.Helper()
	if epoch == -2 {
		epoch = m.session
	}
	req := kmsg.NewPtrShareFetchRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, epoch
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = int32(wait.Milliseconds()), 1, 1<<20, maxRecords, maxRecords
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareFetchRequestTopicPartition()
	for _, a := range acks {
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch{FirstOffset: a.first, LastOffset: a.last, AcknowledgeTypes: a.types})
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.ErrorCode == 0 {
		m.session = max(epoch, 0) + 1
		if epoch == -1 {
			m.session = 0
		}
	}
	return resp
}

// acknowledge sends a ShareAcknowledge of partition 0 at the member's next session epoch
// (or epoch, if not -2); it returns the top-level and the partition's error codes.
func (m *shareMember) acknowledge(ctx context.Context, epoch int32, acks ...ack) (int16, int16) {
	m.t.Helper()
	if epoch == -2 {
		epoch = m.session
	}
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.ShareSessionEpoch = &m.group, &m.id, epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = m.topicID
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	for _, a := range acks {
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch{FirstOffset: a.first, LastOffset: a.last, AcknowledgeTypes: a.types})
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		m.t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		return resp.ErrorCode, 0
	}
	m.session = epoch + 1
	return 0, resp.Topics[0].Partitions[0].ErrorCode
}

// acquired is a share fetch answer's acquired ranges of partition 0, checked for errors.
func acquired(t *testing.T, resp *kmsg.ShareFetchResponse) []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("share fetch: error %d %v", resp.ErrorCode, deref(resp.ErrorMessage))
	}
	var out []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("share fetch partition %d: error %d %v", p.Partition, p.ErrorCode, deref(p.ErrorMessage))
			}
			if len(p.AcquiredRecords) > 0 && len(p.Records) == 0 {
				t.Fatal("acquired records without their batches")
			}
			out = append(out, p.AcquiredRecords...)
		}
	}
	return out
}

// wantAcquired fails unless got is the single range [first, last], delivered deliveries
// times.
func wantAcquired(t *testing.T, got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, first, last int64, deliveries int16) {
	t.Helper()
	if len(got) != 1 || got[0].FirstOffset != first || got[0].LastOffset != last || got[0].DeliveryCount != deliveries {
		t.Fatalf("acquired %+v, want offsets %d-%d delivered %d times", got, first, last, deliveries)
	}
}

func count(rs []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord) int {
	n := 0
	for _, r := range rs {
		n += int(r.LastOffset - r.FirstOffset + 1)
	}
	return n
}

// shareTopic creates a one-partition topic with n records (one per batch) and returns its id.
func shareTopic(t *testing.T, tb *testBroker, name string, n int) [16]byte {
	t.Helper()
	ctx := testCtx(t)
	cl := tb.client()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Err)
	}
	c := &clients{t: t, tb: tb}
	produceN(t, c, name, 0, n, 10)
	return resp.ID
}

func TestShareGroupMembersShareOnePartition(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "sq", 30)
	ms := []*shareMember{newShareMember(t, tb, "sg", "m-a", id), newShareMember(t, tb, "sg", "m-b", id), newShareMember(t, tb, "sg", "m-c", id)}
	for _, m := range ms {
		r := m.heartbeat(ctx, 0, []string{"sq"})
		if r.ErrorCode != 0 || r.Assignment == nil || len(r.Assignment.TopicPartitions) != 1 || r.Assignment.TopicPartitions[0].TopicID != id {
			t.Fatalf("%s join: %+v", m.id, r)
		}
	}
	waitShareState(t, tb, "sg", id)
	// Each member fetches 10 (one record per batch): nobody gets a record twice.
	seen := map[int64]string{}
	for _, m := range ms {
		got := acquired(t, m.fetch(ctx, 0, 10, time.Second))
		if count(got) != 10 {
			t.Fatalf("%s acquired %d records, want 10: %+v", m.id, count(got), got)
		}
		for _, r := range got {
			if r.DeliveryCount != 1 {
				t.Fatalf("first delivery with count %d", r.DeliveryCount)
			}
			for o := r.FirstOffset; o <= r.LastOffset; o++ {
				if seen[o] != "" {
					t.Fatalf("offset %d acquired by %s and %s", o, seen[o], m.id)
				}
				seen[o] = m.id
			}
		}
	}
	a, b := ms[0], ms[1]
	var aFirst int64 = -1
	for o, who := range seen {
		if who == a.id && (aFirst < 0 || o < aFirst) {
			aFirst = o
		}
	}
	// b acknowledging a's records: INVALID_RECORD_STATE; malformed batches: INVALID_REQUEST.
	if top, code := b.acknowledge(ctx, -2, ack{aFirst, aFirst, []int8{1}}); top != 0 || code != kerr.InvalidRecordState.Code {
		t.Fatalf("ack of another member's record: %d/%d", top, code)
	}
	if top, code := b.acknowledge(ctx, -2, ack{5, 4, []int8{1}}); top != 0 || code != kerr.InvalidRequest.Code {
		t.Fatalf("first > last: %d/%d", top, code)
	}
	// Session epochs: skipping one, an unknown member's session, epoch 0 on ShareAcknowledge.
	if top, _ := a.acknowledge(ctx, a.session+3, ack{aFirst, aFirst, []int8{1}}); top != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("wrong session epoch: %d", top)
	}
	ghost := newShareMember(t, tb, "sg", "ghost", id)
	if top, _ := ghost.acknowledge(ctx, 4, ack{0, 0, []int8{1}}); top != kerr.ShareSessionNotFound.Code {
		t.Fatalf("unknown session: %d", top)
	}
	if top, _ := a.acknowledge(ctx, 0, ack{0, 0, []int8{1}}); top != kerr.InvalidShareSessionEpoch.Code {
		t.Fatalf("ShareAcknowledge at epoch 0: %d", top)
	}
	if r := a.fetch(ctx, 0, 10, 0, ack{aFirst, aFirst, []int8{1}}); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("acks on a fetch opening a session: %d", r.ErrorCode)
	}
	// a's fetch above failed: its session (epoch 1) is intact. a releases everything it
	// holds; b accepts its ten; c rejects its ten.
	var aRanges []ack
	for o, who := range seen {
		if who == a.id {
			aRanges = append(aRanges, ack{o, o, []int8{2}})
		}
	}
	sortAcks(aRanges)
	if top, code := a.acknowledge(ctx, -2, aRanges...); top != 0 || code != 0 {
		t.Fatalf("a releases: %d/%d", top, code)
	}
	for _, m := range ms[1:] {
		var rs []ack
		for o, who := range seen {
			if who == m.id {
				typ := int8(1)
				if m == ms[2] {
					typ = 3
				}
				rs = append(rs, ack{o, o, []int8{typ}})
			}
		}
		sortAcks(rs)
		if top, code := m.acknowledge(ctx, -2, rs...); top != 0 || code != 0 {
			t.Fatalf("%s acks: %d/%d", m.id, top, code)
		}
	}
	// Only a's released ten come back, with delivery count 2, to b.
	got := acquired(t, b.fetch(ctx, -2, 100, time.Second))
	if count(got) != 10 {
		t.Fatalf("redelivery: %d records %+v", count(got), got)
	}
	for _, r := range got {
		if r.DeliveryCount != 2 || seen[r.FirstOffset] != a.id {
			t.Fatalf("redelivered %+v, want a's records with count 2", r)
		}
	}

	// ShareGroupDescribe, ListGroups and DescribeGroups see a share group.
	dreq := kmsg.NewPtrShareGroupDescribeRequest()
	dreq.Version, dreq.GroupIDs = 1, []string{"sg", "nope"}
	dresp, err := dreq.RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != 0 || g.GroupState != "Stable" || len(g.Members) != 3 || g.Members[0].Assignment.TopicPartitions[0].Topic != "sq" {
		t.Fatalf("describe: %+v", g)
	}
	if g := dresp.Groups[1]; g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of an unknown group: %+v", g)
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.Version, lreq.TypesFilter = 5, []string{"Share"}
	lresp, err := lreq.RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(lresp.Groups) != 1 || lresp.Groups[0].Group != "sg" || lresp.Groups[0].GroupType != "share" || lresp.Groups[0].GroupState != "Stable" {
		t.Fatalf("list share groups: %+v", lresp.Groups)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"sg"}
	dgresp, err := dg.RequestWith(ctx, a.cl)
	if err != nil {
		t.Fatal(err)
	}
	if dgresp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("DescribeGroups of a share group: %+v", dgresp.Groups[0])
	}

	// Member epochs: a wrong one is fenced; leaving releases b's records for c.
	if r := a.heartbeat(ctx, a.epoch+4, nil); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("wrong member epoch: %d", r.ErrorCode)
	}
	if r := ghost.heartbeat(ctx, 3, nil); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("unknown member: %d", r.ErrorCode)
	}
	if r := b.heartbeat(ctx, -1, nil); r.ErrorCode != 0 || r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	c := ms[2]
	got = acquired(t, c.fetch(ctx, -2, 100, time.Second))
	if count(got) != 10 || got[0].DeliveryCount != 3 {
		t.Fatalf("after b left: %+v", got)
	}
}

func sortAcks(a []ack) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].first < a[j-1].first; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// A record whose lock expires comes back; after share.delivery.count.limit deliveries it is
// archived. The waiting fetches are answered by the lock expiry and by a produce, not by
// their MaxWaitMs.
func TestShareLockExpiryAndDeliveryLimit(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.Share.AutoOffsetReset, c.Share.RecordLockDuration, c.Share.DeliveryCountLimit = "earliest", 300*time.Millisecond, 2
	})
	ctx := testCtx(t)
	id := shareTopic(t, tb, "poison", 1)
	m := joinShare(ctx, t, tb, "pg", "m-1", "poison", id)
	waitShareState(t, tb, "pg", id)
	got := acquired(t, m.fetch(ctx, 0, 10, time.Second))
	if len(got) != 1 || got[0].FirstOffset != 0 || got[0].DeliveryCount != 1 {
		t.Fatalf("first delivery: %+v", got)
	}
	start := time.Now()
	got = acquired(t, m.fetch(ctx, -2, 10, 10*time.Second)) // parks until the lock expires
	if len(got) != 1 || got[0].DeliveryCount != 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("after the lock expired (%v): %+v", time.Since(start), got)
	}
	// The second expiry archives it: the next fetch waits for new data, which a produce
	// brings (offset 1, first delivery).
	done := make(chan []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord, 1)
	go func() {
		resp := m.fetch(ctx, -2, 10, 10*time.Second)
		if resp.ErrorCode != 0 {
			done <- nil
			return
		}
		var out []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				out = append(out, p.AcquiredRecords...)
			}
		}
		done <- out
	}()
	eventually(t, "the poison record archived", func() bool {
		s, ok := tb.b.shares.State("pg", shareTP(id))
		return ok && s.Start == 1
	})
	produceN(t, &clients{t: t, tb: tb}, "poison", 0, 1, 10)
	select {
	case got := <-done:
		if len(got) != 1 || got[0].FirstOffset != 1 || got[0].DeliveryCount != 1 {
			t.Fatalf("after the poison record: %+v", got)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the parked share fetch was not answered by the produce")
	}
}

func shareTP(id [16]byte) share.TopicPartition { return share.TopicPartition{TopicID: id} }

// waitShareState waits until the __share_group_state partition of group's share partition
// 0 of topic id is loaded here: until then a fetch acquires nothing (the state may exist).
func waitShareState(t *testing.T, tb *testBroker, group string, id [16]byte) {
	t.Helper()
	eventually(t, "the share-partition state loaded", func() bool {
		_, lerr := tb.b.shareStates.get(tb.b, share.StateKeyString(group, shareTP(id)))
		return lerr == nil
	})
}

// Acknowledged state is in __share_group_state: after a restart the share partition starts
// where the acknowledgements left it, and what was in flight comes back.
func TestShareStateSurvivesRestart(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "durable", 10)
	m := joinShare(ctx, t, tb, "dg", "m-1", "durable", id)
	waitShareState(t, tb, "dg", id)
	if got := acquired(t, m.fetch(ctx, 0, 100, time.Second)); count(got) != 10 {
		t.Fatalf("acquired %+v", got)
	}
	if top, code := m.acknowledge(ctx, -2, ack{0, 2, []int8{1}}, ack{3, 4, []int8{3}}); top != 0 || code != 0 {
		t.Fatalf("ack: %d/%d", top, code)
	}
	tb.restart()
	ctx = testCtx(t)
	m = newShareMember(t, tb, "dg", "m-1", id)
	if r := m.heartbeat(ctx, 0, []string{"durable"}); r.ErrorCode != 0 {
		t.Fatalf("rejoin: %d", r.ErrorCode)
	}
	var got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	eventually(t, "the share partition's state loaded", func() bool {
		m.session = 0
		got = acquired(t, m.fetch(ctx, 0, 100, 200*time.Millisecond))
		return len(got) > 0
	})
	wantAcquired(t, got, 5, 9, 2) // delivered a second time
}

// A reset before __share_group_state exists is refused (COORDINATOR_LOAD_IN_PROGRESS)
// until its state partition is loaded, so that it is persisted and survives a restart. The
// old code accepted it in memory only: after the restart the share partition started afresh
// at the high watermark and the records were never delivered (compat
// share-state-survives-restart).
func TestShareResetPersistedBeforeRestart(t *testing.T) {
	tb := startBroker(t, nil) // share.auto.offset.reset=latest
	ctx := testCtx(t)
	id := shareTopic(t, tb, "reload", 10)
	cl := tb.client()
	refused := false
	for deadline := time.Now().Add(25 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "rg"
		rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
		rt.Topic = "reload"
		rt.Partitions = []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: 0}}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode == kerr.CoordinatorLoadInProgress.Code && time.Now().Before(deadline) {
			refused = true
			continue
		}
		if resp.ErrorCode != 0 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("reset to 0: %+v", resp)
		}
		break
	}
	if !refused {
		t.Fatal("the reset was accepted before " + shareStateTopic + " existed: it cannot have been persisted")
	}
	tb.restart()
	ctx = testCtx(t)
	m := joinShare(ctx, t, tb, "rg", "m-1", "reload", id)
	wantAcquired(t, acquired(t, m.fetch(ctx, 0, 100, 20*time.Second)), 0, 9, 1) // from the reset's start
}

// The first heartbeat does not wait for __share_group_state; a share fetch that finds its
// state partition still being created or loaded parks, and the load wakes it (a missed wake
// answers empty after the fetch's 20 s).
func TestShareFetchWokenByStateLoad(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "woken", 10)
	m := joinShare(ctx, t, tb, "wg", "m-1", "woken", id)
	if _, lerr := tb.b.shareStateOf(share.StateKeyString("wg", shareTP(id))); lerr == nil {
		t.Log("the state partition was loaded before the fetch: the wake is not exercised this run")
	}
	wantAcquired(t, acquired(t, m.fetch(ctx, 0, 100, 20*time.Second)), 0, 9, 1)
}

// DescribeShareGroupOffsets, AlterShareGroupOffsets and DeleteShareGroupOffsets (the
// kafka-share-groups tool's APIs).
func TestShareGroupOffsetsAPIs(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "so", 5)
	m := joinShare(ctx, t, tb, "og", "m-1", "so", id)
	waitShareState(t, tb, "og", id)
	acquired(t, m.fetch(ctx, 0, 100, time.Second))
	if top, code := m.acknowledge(ctx, -2, ack{0, 2, []int8{1}}, ack{3, 4, []int8{2}}); top != 0 || code != 0 {
		t.Fatalf("ack: %d/%d", top, code)
	}
	describe := func(group string) kmsg.DescribeShareGroupOffsetsResponseGroup {
		t.Helper()
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		req.Version = 1
		rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
		rg.GroupID = group
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, m.cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Groups[0]
	}
	if g := describe("og"); g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Topic != "so" ||
		g.Topics[0].Partitions[0].StartOffset != 3 || g.Topics[0].Partitions[0].Lag != 2 {
		t.Fatalf("describe: %+v", g)
	}
	if g := describe("nope"); g.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe of an unknown group: %+v", g)
	}
	alter := func(offset int64) *kmsg.AlterShareGroupOffsetsResponse {
		t.Helper()
		req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
		req.GroupID = "og"
		rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
		rt.Topic = "so"
		rt.Partitions = []kmsg.AlterShareGroupOffsetsRequestTopicPartition{{Partition: 0, StartOffset: offset}}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, m.cl)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := alter(1); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("alter with a member: %+v", r)
	}
	if r := m.heartbeat(ctx, -1, nil); r.ErrorCode != 0 {
		t.Fatalf("leave: %d", r.ErrorCode)
	}
	if r := alter(99); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("alter past the end: %+v", r)
	}
	if r := alter(1); r.ErrorCode != 0 || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r)
	}
	if g := describe("og"); g.Topics[0].Partitions[0].StartOffset != 1 || g.Topics[0].Partitions[0].Lag != 4 {
		t.Fatalf("describe after alter: %+v", g)
	}
	del := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	del.GroupID = "og"
	del.Topics = []kmsg.DeleteShareGroupOffsetsRequestTopic{{Topic: "so"}, {Topic: "missing"}}
	dresp, err := del.RequestWith(ctx, m.cl)
	if err != nil {
		t.Fatal(err)
	}
	if dresp.ErrorCode != 0 || dresp.Topics[0].ErrorCode != 0 || dresp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("delete offsets: %+v", dresp)
	}
	if g := describe("og"); g.ErrorCode != 0 || len(g.Topics) != 0 {
		t.Fatalf("describe after delete: %+v", g)
	}
}

// A share group's id is refused by the classic and consumer group protocols, as Kafka's
// GroupMetadataManager does: JoinGroup gets INCONSISTENT_GROUP_PROTOCOL, Heartbeat and
// ConsumerGroupHeartbeat GROUP_ID_NOT_FOUND; the share group is not disturbed.
func TestShareGroupIDRefusedByOtherProtocols(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	id := shareTopic(t, tb, "typed", 1)
	m := joinShare(ctx, t, tb, "typed-g", "m-1", "typed", id)
	cl := tb.client()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version, join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 9, "typed-g", "consumer", 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0}}}
	if resp, err := join.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.InconsistentGroupProtocol.Code || resp.MemberID != "" {
		t.Fatalf("JoinGroup on a share group: %+v %v, want INCONSISTENT_GROUP_PROTOCOL", resp, err)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, "typed-g", "x", 1
	if resp, err := hb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("Heartbeat on a share group: %+v %v, want GROUP_ID_NOT_FOUND", resp, err)
	}
	chb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	chb.Version, chb.Group, chb.MemberID, chb.RebalanceTimeoutMillis, chb.SubscribedTopicNames = 1, "typed-g", "c-1", 10000, []string{"typed"}
	if resp, err := chb.RequestWith(ctx, cl); err != nil || resp.ErrorCode != kerr.GroupIDNotFound.Code ||
		resp.ErrorMessage == nil || *resp.ErrorMessage != "Group typed-g is not a consumer group." {
		t.Fatalf("ConsumerGroupHeartbeat on a share group: %+v %v, want GROUP_ID_NOT_FOUND", resp, err)
	}
	if r := m.heartbeat(ctx, m.epoch, nil); r.ErrorCode != 0 {
		t.Fatalf("the share member's heartbeat after the refusals: error %d", r.ErrorCode)
	}
}

// A share session ends with the connection that opened it: the records its member holds
// are released at once, not when their locks (5 minutes here) expire.
func TestShareSessionEndsWithConnection(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset, c.Share.RecordLockDuration = "earliest", 5*time.Minute })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "conn", 5)
	a := joinShare(ctx, t, tb, "cg", "m-a", "conn", id)
	waitShareState(t, tb, "cg", id)
	wantAcquired(t, acquired(t, a.fetch(ctx, 0, 100, time.Second)), 0, 4, 1)
	b := joinShare(ctx, t, tb, "cg", "m-b", "conn", id)
	if got := acquired(t, b.fetch(ctx, 0, 100, 0)); len(got) != 0 {
		t.Fatalf("records locked by m-a acquired by m-b: %+v", got)
	}
	a.cl.Close() // m-a stays a member (its heartbeats have not timed out), its session ends
	wantAcquired(t, acquired(t, b.fetch(ctx, -2, 100, 20*time.Second)), 0, 4, 2)
}
