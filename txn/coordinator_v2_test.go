package txn

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/logd/logd/engine"
)

// Transaction version 2 (KIP-890 part 2): partitions added implicitly (AddPartitions with
// v2), an epoch bump on every EndTxn v5.

func (e *env) addV2(id string, r initRes, parts ...engine.TopicPartition) error {
	e.t.Helper()
	ch := make(chan error, 1)
	e.c.AddPartitions(id, r.pid, r.epoch, parts, true, func(err error) { ch <- err })
	return wait(e.t, ch)
}

// endV2 sends EndTxn v5 as producer r; the answer is the producer id and epoch to go on with.
func (e *env) endV2(id string, r initRes, commit bool) initRes {
	e.t.Helper()
	ch := make(chan initRes, 1)
	e.c.EndTxn(id, r.pid, r.epoch, commit, true, func(pid int64, epoch int16, err error) { ch <- initRes{pid, epoch, err} })
	return wait(e.t, ch)
}

func (e *env) mustEndV2(id string, r initRes, commit bool) initRes {
	e.t.Helper()
	n := e.endV2(id, r, commit)
	if n.err != nil {
		e.t.Fatalf("EndTxn v5 %s as %+v: %v", id, r, n.err)
	}
	return n
}

func TestV2EndTxnBumpsEpochAndRetries(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	if err := e.addV2("tx", r, tp0, tp1); err != nil {
		t.Fatal(err)
	}
	n := e.mustEndV2("tx", r, true)
	if n.pid != r.pid || n.epoch != r.epoch+1 {
		t.Fatalf("EndTxn v5 answered %+v, want producer %d epoch %d", n, r.pid, r.epoch+1)
	}
	s := wait(t, e.sent)
	if !s.m.Commit || s.m.ProducerID != r.pid || s.m.ProducerEpoch != n.epoch || s.m.TxnVersion != Version2 ||
		!slices.Equal(s.m.Partitions, []engine.TopicPartition{tp0, tp1}) {
		t.Fatalf("markers %+v: want a transaction version 2 commit at the bumped epoch %d", s.m, n.epoch)
	}
	// While the markers are written: the retry (old epoch) waits, the new epoch's changes too.
	wantErr(t, e.endV2("tx", r, true).err, ErrConcurrentTransactions)
	wantErr(t, e.addV2("tx", n, tp0), ErrConcurrentTransactions)
	// The bumped epoch has no transaction to end yet: Kafka fences it, logd says retry (the
	// producer that holds the bumped epoch is the live one).
	wantErr(t, e.endV2("tx", n, true).err, ErrConcurrentTransactions)
	wantErr(t, e.endV2("tx", n, false).err, ErrConcurrentTransactions)
	s.done(nil)
	e.waitState("tx", CompleteCommit)
	// A retry of the EndTxn that completed gets the same answer; the other outcome does not.
	if again := e.endV2("tx", r, true); again != n {
		t.Fatalf("retried EndTxn: %+v, want %+v", again, n)
	}
	wantErr(t, e.endV2("tx", r, false).err, ErrInvalidTxnState)
	wantErr(t, e.endV2("tx", n, true).err, ErrInvalidTxnState) // no transaction at the new epoch
	wantErr(t, e.addV2("tx", r, tp0), ErrProducerFenced)       // the old epoch starts nothing
	// The next transaction runs at the bumped epoch and aborts with another bump.
	if err := e.addV2("tx", n, tp1); err != nil {
		t.Fatal(err)
	}
	n2 := e.mustEndV2("tx", n, false)
	if n2.pid != r.pid || n2.epoch != n.epoch+1 {
		t.Fatalf("abort answered %+v", n2)
	}
	s = wait(t, e.sent)
	if s.m.Commit || s.m.ProducerEpoch != n2.epoch || s.m.TxnVersion != Version2 || !slices.Equal(s.m.Partitions, []engine.TopicPartition{tp1}) {
		t.Fatalf("abort markers %+v", s.m)
	}
	s.done(nil)
	if in := e.waitState("tx", CompleteAbort); in.ProducerEpoch != n2.epoch {
		t.Fatalf("state %+v", in)
	}
}

// TestV2LateEndTxnCannotEndLaterTransaction is KAFKA-17754 at the coordinator: an EndTxn
// delayed past the next transaction's first produce (its implicit AddPartitions) can neither
// commit nor abort that later transaction.
func TestV2LateEndTxnCannotEndLaterTransaction(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	if err := e.addV2("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	n := e.mustEndV2("tx", r, true)
	wait(t, e.sent).done(nil)
	e.waitState("tx", CompleteCommit)
	if err := e.addV2("tx", n, tp1); err != nil { // the next transaction's first produce
		t.Fatal(err)
	}
	for _, commit := range []bool{true, false} {
		wantErr(t, e.endV2("tx", r, commit).err, ErrProducerFenced)
	}
	e.noMarkers()
	if in := e.state("tx"); in.State != Ongoing || in.ProducerEpoch != n.epoch || !slices.Equal(in.Partitions, []engine.TopicPartition{tp1}) {
		t.Fatalf("the later transaction changed: %+v", in)
	}
	// Its own EndTxn still works.
	if n2 := e.mustEndV2("tx", n, true); n2.epoch != n.epoch+1 {
		t.Fatalf("EndTxn of the later transaction: %+v", n2)
	}
	wait(t, e.sent).done(nil)
	e.waitState("tx", CompleteCommit)
}

// TestV2EpochExhaustionRotatesProducerID: a v2 EndTxn at an exhausted epoch writes its
// markers at the last epoch and moves the id to a new producer id at epoch 0, which the
// answer already gives; the retry of that EndTxn (old id, old epoch) answers the same, also
// after a failover, which restores the previous producer id from the record.
func TestV2EpochExhaustionRotatesProducerID(t *testing.T) {
	e := newEnv(t)
	old := initRes{pid: 5, epoch: math.MaxInt16 - 1}
	e.seed("tx", meta{pid: old.pid, epoch: old.epoch, prevPID: -1, nextPID: -1, clientVersion: Version2, timeout: time.Minute,
		state: Ongoing, parts: []engine.TopicPartition{tp0}, start: e.clock.Now(), updated: e.clock.Now()})
	e = e.crash(1)
	n := e.mustEndV2("tx", old, true)
	if n.pid == old.pid || n.epoch != 0 {
		t.Fatalf("EndTxn at an exhausted epoch answered %+v, want a new producer id at epoch 0", n)
	}
	s := wait(t, e.sent)
	if s.m.ProducerID != old.pid || s.m.ProducerEpoch != math.MaxInt16 || !s.m.Commit {
		t.Fatalf("markers %+v: want producer %d at epoch %d", s.m, old.pid, math.MaxInt16)
	}
	// A failover before the markers: the new coordinator sends them again, then rotates.
	e = e.crash(2)
	s = wait(t, e.sent)
	if s.m.ProducerID != old.pid || s.m.ProducerEpoch != math.MaxInt16 {
		t.Fatalf("markers after failover %+v", s.m)
	}
	s.done(nil)
	if in := e.waitState("tx", CompleteCommit); in.ProducerID != n.pid || in.ProducerEpoch != 0 {
		t.Fatalf("completed as %+v, want producer %d epoch 0", in, n.pid)
	}
	e = e.crash(3)
	if again := e.endV2("tx", old, true); again != n {
		t.Fatalf("retried EndTxn after failover: %+v, want %+v", again, n)
	}
	wantErr(t, e.endV2("tx", initRes{pid: old.pid, epoch: 3}, true).err, ErrInvalidProducerIDMapping)
	if err := e.addV2("tx", n, tp1); err != nil {
		t.Fatalf("the new producer id's first transaction: %v", err)
	}
}

// TestV2AbortWithoutTransactionBumpsEpoch: a v2 abort with the current epoch and nothing
// ongoing bumps the epoch (no markers); a commit is refused.
func TestV2AbortWithoutTransactionBumpsEpoch(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	wantErr(t, e.endV2("tx", r, true).err, ErrInvalidTxnState)
	n := e.mustEndV2("tx", r, false)
	if n.pid != r.pid || n.epoch != r.epoch+1 {
		t.Fatalf("empty abort answered %+v", n)
	}
	if in := e.waitState("tx", CompleteAbort); in.ProducerEpoch != n.epoch {
		t.Fatalf("state %+v", in)
	}
	e.noMarkers()
	// Transaction version 1 keeps Kafka's answer: nothing to abort.
	e2 := newEnv(t)
	r2 := e2.mustInit("tx")
	wantErr(t, e2.end("tx", r2, false), ErrInvalidTxnState)
}

// TestV2TimeoutBumpsOnce: a timed-out v2 transaction is aborted at the epoch bumped once,
// as Apache Kafka 4.3.1 does; the producer's abort at its old epoch is a retry of that abort
// and learns the new epoch, its commit is refused.
func TestV2TimeoutBumpsOnce(t *testing.T) {
	e := newEnv(t)
	r := e.init("tx", 10*time.Second, -1, -1)
	if err := e.addV2("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Second)
	s := wait(t, e.sent)
	if s.m.Commit || s.m.ProducerEpoch != r.epoch+1 {
		t.Fatalf("timeout markers %+v, want an abort at epoch %d", s.m, r.epoch+1)
	}
	s.done(nil)
	e.waitState("tx", CompleteAbort)
	wantErr(t, e.endV2("tx", r, true).err, ErrInvalidTxnState)
	if n := e.mustEndV2("tx", r, false); n.pid != r.pid || n.epoch != r.epoch+1 {
		t.Fatalf("abort after the timeout: %+v, want epoch %d", n, r.epoch+1)
	}
}

// TestV2StateSurvivesFailover: the client's transaction version is in the record, so the
// retry rules hold after a failover in every state of a v2 transaction.
func TestV2StateSurvivesFailover(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	if err := e.addV2("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	e = e.crash(1)
	wantErr(t, e.endV2("tx", initRes{pid: r.pid, epoch: r.epoch - 1}, true).err, ErrProducerFenced)
	n := e.mustEndV2("tx", r, false)
	e = e.crash(2)
	wantErr(t, e.endV2("tx", r, false).err, ErrConcurrentTransactions) // markers still to write
	s := wait(t, e.sent)
	if s.m.ProducerEpoch != n.epoch || s.m.Commit || s.m.TxnVersion != Version2 {
		t.Fatalf("markers after failover %+v, want a transaction version 2 abort at epoch %d", s.m, n.epoch)
	}
	s.done(nil)
	e.waitState("tx", CompleteAbort)
	e = e.crash(3)
	if again := e.endV2("tx", r, false); again != n {
		t.Fatalf("retried abort after failover: %+v, want %+v", again, n)
	}
}
