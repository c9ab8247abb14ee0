package group

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/vfs"
)

func fetchOne(f *fixture, g, topic string, p int32) CommittedOffset {
	f.t.Helper()
	out := f.c.FetchOffsets(g, []TopicPartitions{{Topic: topic, Partitions: []int32{p}}})
	if len(out) != 1 {
		f.t.Fatalf("fetch: %+v", out)
	}
	return out[0]
}

// txnCommit commits one offset of topic t in producer pid's transaction and waits for it.
func (e *journalEnv) txnCommit(group string, pid int64, epoch int16, partition int32, offset int64) *kerr.Error {
	e.t.Helper()
	errs, wait := e.c.TxnCommit(TxnCommitRequest{Group: group, ProducerID: pid, ProducerEpoch: epoch, Generation: -1,
		Offsets: []CommitOffset{{Topic: "t", Partition: partition, Offset: offset, LeaderEpoch: -1}}})
	if errs[0] != nil {
		return errs[0]
	}
	if err := wait.Wait(); err != nil {
		e.t.Fatal(err)
	}
	return nil
}

// marker ends producer pid's transaction in group's partition as WriteTxnMarkers does: the
// marker appended and synced, then handed to the coordinator.
func (e *journalEnv) marker(group string, pid int64, epoch int16, commit bool) {
	e.t.Helper()
	p := PartitionFor(group, journalParts)
	res, err := e.logs[p].AppendTxnMarker(engine.TxnMarker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit}, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.logs[p].WaitDurable(res.SyncSeq); err != nil {
		e.t.Fatal(err)
	}
	e.c.CompleteTxn(p, pid, commit)
}

// txnState is every partition of topic t in group: its committed offset and whether a
// transaction holds a pending one.
func (e *journalEnv) txnState(group string) string {
	var out []string
	for _, o := range e.c.FetchOffsets(group, []TopicPartitions{{Topic: "t", Partitions: []int32{0, 1, 2, 3}}}) {
		out = append(out, fmt.Sprintf("t-%d@%d unstable=%v", o.Partition, o.Offset.Offset, o.Unstable))
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// TestTxnOffsetsReplay: transactional offset commits are records of their producer's
// transaction in __consumer_offsets. Committed ones count, aborted ones do not, open ones
// stay pending (unstable) across a restart until their marker; a plain commit and a
// committed transactional one of the same partition are ordered by their place in the log.
// The same state comes back after a crash and after the cleaner compacted the log.
func TestTxnOffsetsReplay(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	engineNow := clock.Now()
	e := openJournalEnv(t, vfs.NewMemFS(), clock, &engineNow)

	// Partition 0: committed. Partition 1: aborted over a plain commit.
	must(t, e.txnCommit("g", 1, 0, 0, 10))
	e.commit("g", 1, 5)
	must(t, e.txnCommit("g", 2, 0, 1, 11))
	e.marker("g", 2, 0, false)
	e.marker("g", 1, 0, true)
	// Partition 2: a plain commit after a transactional one wins; partition 3: a
	// transactional commit after a plain one wins.
	must(t, e.txnCommit("g", 3, 0, 2, 20))
	e.commit("g", 2, 21)
	e.commit("g", 3, 30)
	must(t, e.txnCommit("g", 3, 0, 3, 31))
	e.marker("g", 3, 0, true)
	// An open transaction over partition 0.
	must(t, e.txnCommit("g", 4, 0, 0, 40))
	// A fenced producer epoch is refused by the log.
	must(t, e.txnCommit("g", 5, 2, 1, 50))
	if err := e.txnCommit("g", 5, 1, 1, 51); err != kerr.InvalidProducerEpoch {
		t.Fatalf("older producer epoch: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	e.marker("g", 5, 2, false)

	want := "t-0@10 unstable=true t-1@5 unstable=false t-2@21 unstable=false t-3@31 unstable=false"
	if got := e.txnState("g"); got != want {
		t.Fatalf("live state:\n%s\nwant:\n%s", got, want)
	}
	e = e.crash(1)
	if got := e.txnState("g"); got != want {
		t.Fatalf("after a crash:\n%s\nwant:\n%s", got, want)
	}
	// The open transaction commits after the restart.
	e.marker("g", 4, 0, true)
	want = "t-0@40 unstable=false t-1@5 unstable=false t-2@21 unstable=false t-3@31 unstable=false"
	if got := e.txnState("g"); got != want {
		t.Fatalf("after the open transaction's commit:\n%s\nwant:\n%s", got, want)
	}

	// Enough commits of another group of the same partition that the records above lie in
	// closed segments; the cleaner then drops what is superseded and the aborted batches.
	filler := "filler"
	for n := 0; PartitionFor(filler, journalParts) != PartitionFor("g", journalParts); n++ {
		filler = fmt.Sprint("filler-", n)
	}
	for i := int64(0); i < 100; i++ {
		e.commit(filler, 0, i)
	}
	before := e.size()
	e.clean()
	if after := e.size(); after >= before {
		t.Fatalf("the cleaner removed nothing: %d bytes before, %d after", before, after)
	}
	e = e.crash(2)
	if got := e.txnState("g"); got != want {
		t.Fatalf("after a clean and a crash:\n%s\nwant:\n%s", got, want)
	}
	engineNow = engineNow.Add(2 * time.Hour) // past delete.retention.ms: markers may go too
	e.clean()
	e = e.crash(3)
	defer e.close()
	if got := e.txnState("g"); got != want {
		t.Fatalf("after a second clean and a crash:\n%s\nwant:\n%s", got, want)
	}
}

func must(t *testing.T, err *kerr.Error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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
		if errs, _ := f.c.TxnCommit(c.req); errs[0] != c.want {
			t.Errorf("%+v: %v, want %v", c.req, errs[0], c.want)
		}
	}
	if co := fetchOne(f, "g", "t", 0); co.Offset.Offset != -1 || !co.Unstable {
		t.Fatalf("pending offset visible: %+v", co)
	}
	f.c.Close()
	if errs, _ := f.c.TxnCommit(TxnCommitRequest{Group: "g", ProducerID: 1, Generation: -1, Offsets: off}); errs[0] != kerr.CoordinatorNotAvailable {
		t.Fatalf("closed: %v", errs[0])
	}
}

// TestTxnPendingOffsetsDoNotExpire: an expired offset with a transaction's pending offset of
// the same partition is kept (its tombstone would drop the pending one, as replay does),
// and a group holding only pending offsets is not deleted.
func TestTxnPendingOffsetsDoNotExpire(t *testing.T) {
	f := newFixture(t, nil)
	off := func(p int32, o int64) []CommitOffset {
		return []CommitOffset{{Topic: "t", Partition: p, Offset: o, LeaderEpoch: -1}}
	}
	if errs, wait := f.c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: off(0, 5)}); errs[0] != nil || wait.Wait() != nil {
		t.Fatalf("commit: %v", errs[0])
	}
	f.c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: off(1, 6)})
	if errs, _ := f.c.TxnCommit(TxnCommitRequest{Group: "g", ProducerID: 9, Generation: -1, Offsets: off(0, 50)}); errs[0] != nil {
		t.Fatalf("txn commit: %v", errs[0])
	}
	if errs, _ := f.c.TxnCommit(TxnCommitRequest{Group: "only-pending", ProducerID: 9, Generation: -1, Offsets: off(0, 1)}); errs[0] != nil {
		t.Fatalf("txn commit: %v", errs[0])
	}
	f.clock.Advance(8 * 24 * time.Hour)
	f.c.ExpireOffsets()
	if co := fetchOne(f, "g", "t", 0); co.Offset.Offset != 5 || !co.Unstable {
		t.Fatalf("offset under a pending transaction after expiry: %+v", co)
	}
	if co := fetchOne(f, "g", "t", 1); co.Offset.Offset != -1 {
		t.Fatalf("expired offset: %+v", co)
	}
	if co := fetchOne(f, "only-pending", "t", 0); !co.Unstable {
		t.Fatalf("group with pending offsets only, after expiry: %+v", co)
	}
	f.c.CompleteTxn(PartitionFor("g", 3), 9, true)
	if co := fetchOne(f, "g", "t", 0); co.Offset.Offset != 50 || co.Unstable {
		t.Fatalf("after the commit: %+v", co)
	}
}
