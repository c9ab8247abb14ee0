package share

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/logd/logd/group"
)

var topicA = TopicInfo{ID: [16]byte{1}, Name: "a", Partitions: 2}

func topics(name string) (TopicInfo, bool) {
	if name == topicA.Name {
		return topicA, true
	}
	return TopicInfo{}, false
}

func testCoordinator(t *testing.T) (*Coordinator, *group.ManualClock, *[]TopicPartition) {
	t.Helper()
	clock := group.NewManualClock(time.Unix(1000, 0))
	var freed []TopicPartition
	cfg := DefaultConfig()
	cfg.Clock, cfg.AutoOffsetReset = clock, "earliest"
	cfg.Available = func(id [16]byte, p int32) { freed = append(freed, TopicPartition{id, p}) }
	c := New(cfg)
	t.Cleanup(c.Close)
	return c, clock, &freed
}

func join(t *testing.T, c *Coordinator, member string) HeartbeatResult {
	t.Helper()
	res, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: member, MemberEpoch: 0, SubscribedTopicNames: []string{"a"}}, topics)
	if err != nil {
		t.Fatalf("join %s: %v", member, err)
	}
	return res
}

func TestMembershipEpochsAndAssignment(t *testing.T) {
	c, clock, _ := testCoordinator(t)
	r1 := join(t, c, "m1")
	if r1.MemberEpoch != 1 || !slices.Equal(r1.Assignment[topicA.ID], []int32{0, 1}) {
		t.Fatalf("first member: epoch %d assignment %v, want 1 and [0 1]", r1.MemberEpoch, r1.Assignment)
	}
	r2 := join(t, c, "m2")
	if r2.MemberEpoch != 2 || len(r2.Assignment[topicA.ID]) != 1 {
		t.Fatalf("second member: epoch %d assignment %v", r2.MemberEpoch, r2.Assignment)
	}
	// m1 still at epoch 1 (its previous epoch is fine), gets epoch 2 and one partition.
	h, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", MemberEpoch: 1}, topics)
	if err != nil || h.MemberEpoch != 2 || len(h.Assignment[topicA.ID]) != 1 {
		t.Fatalf("m1 heartbeat: %+v %v", h, err)
	}
	// A third member on two partitions: every partition still assigned, one shared.
	join(t, c, "m3")
	d, _ := c.Describe("g")
	seen := map[int32]int{}
	for _, m := range d.Members {
		for _, p := range m.Assignment[topicA.ID] {
			seen[p]++
		}
	}
	if seen[0]+seen[1] != 3 || seen[0] == 0 || seen[1] == 0 {
		t.Fatalf("3 members on 2 partitions: %v", seen)
	}
	if _, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", MemberEpoch: 7}, topics); !errors.Is(err, ErrFencedMemberEpoch) {
		t.Fatalf("wrong epoch: %v, want ErrFencedMemberEpoch", err)
	}
	if _, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "nobody", MemberEpoch: 3}, topics); !errors.Is(err, ErrUnknownMember) {
		t.Fatalf("unknown member: %v, want ErrUnknownMember", err)
	}
	if _, err := c.Heartbeat(HeartbeatRequest{Group: "other", MemberID: "x", MemberEpoch: 3}, topics); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("unknown group: %v, want ErrGroupNotFound", err)
	}
	// m2 and m3 stop heartbeating: their sessions expire, m1 keeps going.
	for range 10 {
		clock.Advance(5 * time.Second)
		d, _ := c.Describe("g")
		if _, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", MemberEpoch: d.Members[0].MemberEpoch}, topics); err != nil {
			t.Fatalf("m1 heartbeat: %v", err)
		}
	}
	if d, _ := c.Describe("g"); len(d.Members) != 1 || d.Members[0].MemberID != "m1" || d.State != "Stable" {
		t.Fatalf("after m2, m3 expired: %+v", d)
	}
	if res, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", MemberEpoch: -1}, topics); err != nil || res.MemberEpoch != -1 {
		t.Fatalf("leave: %+v %v", res, err)
	}
	if d, _ := c.Describe("g"); d.State != "Empty" {
		t.Fatalf("after leave: %s, want Empty", d.State)
	}
}

var tp0 = TopicPartition{TopicID: topicA.ID, Partition: 0}

// fetch opens or continues a session and acquires from ten single-record batches [0, 10).
func acquire(t *testing.T, c *Coordinator, member string, max int) []Acquired {
	t.Helper()
	l := LogOffsets{Start: 0, End: 10}
	from, ok := c.ReadFrom("g", tp0, l)
	if !ok {
		return nil
	}
	var batches []Batch
	for o := from; o < 10; o++ {
		batches = append(batches, Batch{First: o, Last: o})
	}
	return c.Acquire("g", member, tp0, batches, l, max, false)
}

func TestAcquireAcknowledgeRedeliver(t *testing.T) {
	c, clock, freed := testCoordinator(t)
	got := acquire(t, c, "m1", 4)
	if !slices.Equal(got, []Acquired{{0, 3, 1}}) {
		t.Fatalf("m1 acquired %v", got)
	}
	got = acquire(t, c, "m2", 4)
	if !slices.Equal(got, []Acquired{{4, 7, 1}}) {
		t.Fatalf("m2 acquired %v (must not overlap m1's)", got)
	}
	// m2 acknowledging m1's records: refused, nothing changes.
	if _, err := c.Acknowledge("g", "m2", tp0, []AckBatch{{0, 1, []AckType{AckAccept}}}, AckReject); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack of another member's records: %v", err)
	}
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{2, 1, []AckType{AckAccept}}}, AckReject); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("first > last: %v", err)
	}
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 3, []AckType{AckAccept, AckRelease}}}, AckReject); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("two types for four offsets: %v", err)
	}
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 3, []AckType{AckRenew}}}, AckReject); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("renew below v2: %v", err)
	}
	// m1: accept 0, release 1, reject 2, accept 3.
	if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 3, []AckType{AckAccept, AckRelease, AckReject, AckAccept}}}, AckReject); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.State("g", tp0); s.Start != 1 || s.End != 8 || s.Available != 1 || s.Acquired != 4 {
		t.Fatalf("after acks: %+v", s)
	}
	if len(*freed) == 0 {
		t.Fatal("a release did not report the partition available")
	}
	// The released record 1 goes again, with delivery count 2, before new records.
	if got := acquire(t, c, "m1", 1); !slices.Equal(got, []Acquired{{1, 1, 2}}) {
		t.Fatalf("redelivery: %v", got)
	}
	// m2's locks expire: 4..7 come back; m1's record 1 too (acquired at the same instant).
	clock.Advance(31 * time.Second)
	if s, _ := c.State("g", tp0); s.Acquired != 0 || s.Available != 5 {
		t.Fatalf("after lock expiry: %+v", s)
	}
	if got := acquire(t, c, "m3", 100); !slices.Equal(got, []Acquired{{1, 1, 3}, {4, 7, 2}, {8, 9, 1}}) {
		t.Fatalf("m3 after expiry: %v", got)
	}
	if _, err := c.Acknowledge("g", "m3", tp0, []AckBatch{{1, 9, []AckType{AckAccept}}}, AckReject); !errors.Is(err, ErrInvalidRecordState) {
		t.Fatalf("ack over records already done (2, 3): %v", err)
	}
	if _, err := c.Acknowledge("g", "m3", tp0, []AckBatch{{1, 1, []AckType{AckAccept}}, {4, 9, []AckType{AckAccept}}}, AckReject); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.State("g", tp0); s.Start != 10 || s.End != 10 {
		t.Fatalf("all done: %+v", s)
	}
}

func TestDeliveryCountLimitArchives(t *testing.T) {
	c, clock, _ := testCoordinator(t)
	for i := 1; i <= 5; i++ {
		got := acquire(t, c, "m1", 1)
		if !slices.Equal(got, []Acquired{{0, 0, int16(i)}}) {
			t.Fatalf("delivery %d: %v", i, got)
		}
		if i%2 == 0 {
			clock.Advance(31 * time.Second) // lock expiry
			continue
		}
		if _, err := c.Acknowledge("g", "m1", tp0, []AckBatch{{0, 0, []AckType{AckRelease}}}, AckReject); err != nil {
			t.Fatal(err)
		}
	}
	// The fifth release archived it: the next acquisition starts at 1.
	if got := acquire(t, c, "m1", 1); !slices.Equal(got, []Acquired{{1, 1, 1}}) {
		t.Fatalf("after the delivery limit: %v", got)
	}
	if s, _ := c.State("g", tp0); s.Start != 1 {
		t.Fatalf("start offset %d, want 1 (record 0 archived)", s.Start)
	}
}

func TestSessionsAndMemberLeaveRelease(t *testing.T) {
	c, _, _ := testCoordinator(t)
	join(t, c, "m1")
	req := SessionRequest{Group: "g", Member: "m1", Epoch: 1}
	if _, err := c.UseSession(req); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("no session: %v", err)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 0, Acks: true}); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("acks on an opening fetch: %v", err)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 0, Acknowledge: true}); !errors.Is(err, ErrInvalidSessionEpoch) {
		t.Fatalf("ShareAcknowledge with epoch 0: %v", err)
	}
	res, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 0, Add: []TopicPartition{tp0}})
	if err != nil || len(res.Partitions) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 2}); !errors.Is(err, ErrInvalidSessionEpoch) {
		t.Fatalf("skipped epoch: %v", err)
	}
	if res, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 1}); err != nil || len(res.Partitions) != 1 {
		t.Fatalf("epoch 1: %+v %v", res, err)
	}
	if res, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 2, Forget: []TopicPartition{tp0}}); err != nil || len(res.Partitions) != 0 {
		t.Fatalf("forget: %+v %v", res, err)
	}
	acquire(t, c, "m1", 3)
	if _, err := c.Heartbeat(HeartbeatRequest{Group: "g", MemberID: "m1", MemberEpoch: -1}, topics); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.State("g", tp0); s.Acquired != 0 || s.Available != 3 {
		t.Fatalf("leaving did not release: %+v", s)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 3}); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("the session outlived its member: %v", err)
	}
}

// A session ends with the connection that opened it (ConnClosed), unless it was opened again
// on another connection since.
func TestSessionEndsWithItsConnection(t *testing.T) {
	c, _, _ := testCoordinator(t)
	join(t, c, "m1")
	connA, connB := new(int), new(int)
	open := func(conn *int) {
		t.Helper()
		if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 0, Add: []TopicPartition{tp0}, Conn: conn}); err != nil {
			t.Fatalf("open: %v", err)
		}
	}
	open(connA)
	acquire(t, c, "m1", 3)
	open(connB) // replaces the session opened on connA, releasing its records
	acquire(t, c, "m1", 2)
	c.ConnClosed(connA)
	if s, _ := c.State("g", tp0); s.Acquired != 2 {
		t.Fatalf("closing a connection whose session was replaced released the new one's records: %+v", s)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 1}); err != nil {
		t.Fatalf("the session opened on connB ended with connA: %v", err)
	}
	c.ConnClosed(connB)
	if s, _ := c.State("g", tp0); s.Acquired != 0 || s.Available != 3 {
		t.Fatalf("closing connB did not release: %+v", s)
	}
	if _, err := c.UseSession(SessionRequest{Group: "g", Member: "m1", Epoch: 2}); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("the session outlived its connection: %v", err)
	}
}
