package producer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// txn returns a transactional batch of count records.
func txn(pid int64, epoch int16, base, count int32, first int64) BatchInfo {
	b := at(batch(pid, epoch, base, count), first, first)
	b.Transactional = true
	return b
}

func TestTransactionLifecycle(t *testing.T) {
	s := New()
	if _, ok := s.FirstUnstableOffset(); ok {
		t.Fatal("an empty state has an open transaction")
	}
	s.Update(txn(1, 0, 0, 2, 10))
	s.Update(txn(2, 3, 0, 1, 12))
	s.Update(txn(1, 0, 2, 1, 13)) // a second batch does not move the first offset
	if first, ok := s.FirstUnstableOffset(); !ok || first != 10 {
		t.Fatalf("FirstUnstableOffset = %d %v, want 10", first, ok)
	}
	if first, ok := s.FirstUnstableOffsetExcept(1); !ok || first != 12 {
		t.Fatalf("FirstUnstableOffsetExcept(1) = %d %v, want 12", first, ok)
	}
	if _, err := s.Check(at(batch(1, 0, 3, 1), 0, 0)); !errors.Is(err, ErrInvalidTxnState) {
		t.Fatalf("non-transactional batch inside a transaction: %v, want ErrInvalidTxnState", err)
	}
	c := s.EndTxn(Marker{ProducerID: 1, ProducerEpoch: 0, CoordinatorEpoch: 5, Commit: false, Offset: 14})
	if c != (CompletedTxn{ProducerID: 1, FirstOffset: 10, LastOffset: 14, Aborted: true}) {
		t.Fatalf("EndTxn = %+v", c)
	}
	if first, ok := s.FirstUnstableOffset(); !ok || first != 12 {
		t.Fatalf("after the abort FirstUnstableOffset = %d %v, want 12", first, ok)
	}
	if err := s.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: 0, CoordinatorEpoch: 4}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("older coordinator epoch: %v, want ErrCoordinatorFenced", err)
	}
	if err := s.CheckMarker(Marker{ProducerID: 2, ProducerEpoch: 2}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("older producer epoch: %v, want ErrInvalidProducerEpoch", err)
	}
	if err := s.CheckMarker(Marker{ProducerID: 99, ProducerEpoch: 0}); err != nil {
		t.Fatalf("marker of an unknown producer: %v", err)
	}
	// A commit with a bumped epoch fences the old epoch and restarts sequences at 0.
	c = s.EndTxn(Marker{ProducerID: 2, ProducerEpoch: 4, Commit: true, Offset: 15})
	if c != (CompletedTxn{ProducerID: 2, FirstOffset: 12, LastOffset: 15}) {
		t.Fatalf("EndTxn = %+v", c)
	}
	if _, ok := s.FirstUnstableOffset(); ok {
		t.Fatal("every transaction ended, one still open")
	}
	if _, err := s.Check(txn(2, 3, 1, 1, 0)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("zombie of the fenced epoch: %v", err)
	}
	if v, err := s.Check(txn(2, 4, 0, 1, 0)); err != nil || v.Duplicate {
		t.Fatalf("first batch of the new epoch: %+v %v", v, err)
	}
	// A marker with no transaction open ends an empty one at its own offset.
	if c := s.EndTxn(Marker{ProducerID: 1, ProducerEpoch: 0, CoordinatorEpoch: 5, Offset: 20}); c.FirstOffset != 20 || c.LastOffset != 20 {
		t.Fatalf("empty transaction = %+v", c)
	}
}

func TestTransactionSnapshotRoundTrip(t *testing.T) {
	s := New()
	s.Update(txn(1, 0, 0, 2, 10))
	s.Update(txn(2, 0, 0, 1, 12))
	s.EndTxn(Marker{ProducerID: 2, ProducerEpoch: 0, CoordinatorEpoch: 7, Commit: true, Offset: 13})
	data := s.MarshalSnapshot(nil)
	got, err := UnmarshalSnapshot(data)
	if err != nil {
		t.Fatal(err)
	}
	if first, ok := got.FirstUnstableOffset(); !ok || first != 10 {
		t.Fatalf("reloaded FirstUnstableOffset = %d %v, want 10", first, ok)
	}
	if e := got.Entries(); e[0].TxnStartOffset != 10 || e[1].TxnStartOffset != -1 || e[1].CoordinatorEpoch != 7 {
		t.Fatalf("reloaded entries %+v", e)
	}
	if again := got.MarshalSnapshot(nil); !bytes.Equal(again, data) {
		t.Fatal("re-encoding differs")
	}
}

func TestTransactionTruncateAndExpiry(t *testing.T) {
	s := New()
	s.Update(at(batch(1, 0, 0, 1), 5, 0))
	s.Update(txn(1, 0, 1, 1, 10))
	s.TruncateFrom(10)
	if _, ok := s.FirstUnstableOffset(); ok {
		t.Fatal("a transaction opened above the truncation survived it")
	}
	s.Update(txn(1, 0, 1, 1, 10))
	if n := s.RemoveExpired(1<<40, 1); n != 0 {
		t.Fatalf("expired %d producers with an open transaction", n)
	}
	s.RemoveBefore(100)
	if _, ok := s.FirstUnstableOffset(); ok {
		t.Fatal("a removed producer's transaction is still open")
	}
}

// TestSnapshotVersion1StillRead: a snapshot written before transactions (version 1, entries
// without the transaction fields) loads as producers with no transaction.
func TestSnapshotVersion1StillRead(t *testing.T) {
	s := sevenBatches(t)
	s.Update(at(batch(3, 0, 0, 1), 200, 5))
	v2 := s.MarshalSnapshot(nil)
	// Rewrite as version 1: drop each entry's 12 transaction bytes.
	v1 := append([]byte(nil), v2[:snapHeaderLen]...)
	binary.BigEndian.PutUint16(v1[offVersion:], 1)
	for rest := v2[snapHeaderLen:]; len(rest) > 0; {
		n := int(rest[entryHeaderLen-1])
		v1 = append(v1, rest[:18]...)
		v1 = append(v1, rest[entryHeaderLen-1:entryHeaderLen+n*batchLen]...)
		rest = rest[entryHeaderLen+n*batchLen:]
	}
	got, err := UnmarshalSnapshot(reseal(v1))
	if err != nil {
		t.Fatal(err)
	}
	if again := got.MarshalSnapshot(nil); !bytes.Equal(again, v2) {
		t.Fatal("a version-1 snapshot does not load as the same state")
	}
}
