package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func fetchOne(f *fixture, g, topic string, p int32) CommittedOffset {
	f.t.Helper()
	out := f.c.FetchOffsets(g, []TopicPartitions{{Topic: topic, Partitions: []int32{p}}})
	if len(out) != 1 {
		f.t.Fatalf("fetch: %+v", out)
	}
	return out[0]
}

func TestTxnCommitPendingUntilMarker(t *testing.T) {
	f := newFixture(t, nil)
	part := PartitionFor("g", 3)
	errs := f.c.TxnCommit(TxnCommitRequest{Group: "g", ProducerID: 7, Generation: -1,
		Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: 10, LeaderEpoch: -1}, {Topic: "t", Partition: 1, Offset: 20, LeaderEpoch: -1}}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("txn commit: %v", errs)
	}
	if co := fetchOne(f, "g", "t", 0); co.Offset.Offset != -1 || !co.Unstable {
		t.Fatalf("pending offset visible: %+v", co)
	}
	// Another producer's transaction on the same group, aborted.
	f.c.TxnCommit(TxnCommitRequest{Group: "g", ProducerID: 8, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: 2, Offset: 5}}})
	if d, err := f.c.CompleteTxn(part, 8, false); err != nil || d != nil {
		t.Fatalf("abort: %v %v", d, err)
	}
	if co := fetchOne(f, "g", "t", 2); co.Offset.Offset != -1 || co.Unstable {
		t.Fatalf("aborted offset: %+v", co)
	}
	// A marker of another partition does not touch the group.
	if d, err := f.c.CompleteTxn(part+1, 7, true); err != nil || d != nil {
		t.Fatalf("other partition: %v %v", d, err)
	}
	d, err := f.c.CompleteTxn(part, 7, true)
	if err != nil || d == nil || d.Wait() != nil {
		t.Fatalf("commit: %v %v", d, err)
	}
	if co := fetchOne(f, "g", "t", 1); co.Offset.Offset != 20 || co.Unstable {
		t.Fatalf("committed offset: %+v", co)
	}
	// Committed offsets are ordinary records: a restart keeps them.
	f.restart()
	if co := fetchOne(f, "g", "t", 0); co.Offset.Offset != 10 {
		t.Fatalf("after restart: %+v", co)
	}
}

func TestTxnCommitFencing(t *testing.T) {
	f := newFixture(t, nil)
	ch, m := f.joinFull(joinReq("g", "", "a", "range"))
	f.clock.Advance(time.Second)
	if r := mustReady(t, ch); r.Err != nil || r.Generation != 1 {
		t.Fatalf("join: %+v", r)
	}
	off := []CommitOffset{{Topic: "t", Partition: 0, Offset: 1}}
	for _, c := range []struct {
		req  TxnCommitRequest
		want *kerr.Error
	}{
		{TxnCommitRequest{Group: "g", ProducerID: 1, MemberID: m, Generation: 1, Offsets: off}, nil},
		{TxnCommitRequest{Group: "g", ProducerID: 1, Generation: -1, Offsets: off}, nil}, // pre-KIP-447 client
		{TxnCommitRequest{Group: "g", ProducerID: 1, MemberID: m, Generation: 0, Offsets: off}, kerr.IllegalGeneration},
		{TxnCommitRequest{Group: "g", ProducerID: 1, MemberID: "zombie", Generation: 1, Offsets: off}, kerr.UnknownMemberID},
		{TxnCommitRequest{Group: "", ProducerID: 1, Offsets: off}, kerr.InvalidGroupID},
	} {
		if errs := f.c.TxnCommit(c.req); errs[0] != c.want {
			t.Errorf("%+v: %v, want %v", c.req, errs[0], c.want)
		}
	}
	f.c.Close()
	if errs := f.c.TxnCommit(TxnCommitRequest{Group: "g", ProducerID: 1, Generation: -1, Offsets: off}); errs[0] != kerr.CoordinatorNotAvailable {
		t.Fatalf("closed: %v", errs[0])
	}
}
