package producer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
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

// TestMarkerEpochTxnVersion2 pins KIP-1228's marker epoch rule against the classic one: a
// transaction version 2 marker must carry an epoch above the producer's while its
// transaction is open; the same markers at version 0 or 1 keep the classic rule (not below).
func TestMarkerEpochTxnVersion2(t *testing.T) {
	s := New()
	s.Update(txn(1, 5, 0, 2, 10)) // producer 1's transaction at epoch 5, open at 10
	for _, tc := range []struct {
		name  string
		epoch int16
		tv    int8
		want  error
	}{
		{"tv2 lower", 4, 2, ErrInvalidProducerEpoch},
		{"tv2 equal, transaction open", 5, 2, ErrInvalidProducerEpoch},
		{"tv2 higher", 6, 2, nil},
		{"tv3 equal", 5, 3, ErrInvalidProducerEpoch},
		{"tv1 lower", 4, 1, ErrInvalidProducerEpoch},
		{"tv1 equal", 5, 1, nil},
		{"tv0 equal", 5, 0, nil},
		{"tv0 higher", 6, 0, nil},
	} {
		err := s.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: tc.epoch, TxnVersion: tc.tv})
		if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("%s: CheckMarker = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := s.CheckMarker(Marker{ProducerID: 7, ProducerEpoch: 0, TxnVersion: 2}); err != nil {
		t.Fatalf("tv2 marker of an unknown producer: %v", err)
	}

	// The coordinator's marker at the bumped epoch ends the transaction and moves the producer
	// to that epoch: its next transaction runs there, from sequence 0.
	c := s.EndTxn(Marker{ProducerID: 1, ProducerEpoch: 6, Commit: true, Offset: 12, TxnVersion: 2})
	if c != (CompletedTxn{ProducerID: 1, FirstOffset: 10, LastOffset: 12}) {
		t.Fatalf("EndTxn = %+v", c)
	}
	if e := s.Entries(); len(e) != 1 || e[0].ProducerEpoch != 6 || e[0].TxnStartOffset != -1 {
		t.Fatalf("after the marker: %+v, want epoch 6 and no open transaction", e)
	}
	// A retry of that marker finds the transaction ended: accepted (written again, as Kafka).
	if err := s.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: 6, TxnVersion: 2}); err != nil {
		t.Fatalf("retried tv2 marker with no transaction open: %v", err)
	}
	if _, err := s.Check(txn(1, 6, 0, 1, 0)); err != nil {
		t.Fatalf("next transaction's first batch at the bumped epoch: %v", err)
	}
	s.Update(txn(1, 6, 0, 1, 13))
	// Now the same late marker would end the next transaction: refused.
	if err := s.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: 6, Commit: true, TxnVersion: 2}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("late tv2 marker while the next transaction is open: %v, want ErrInvalidProducerEpoch", err)
	}
	if err := s.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: 6, Commit: true, TxnVersion: 1}); err != nil {
		t.Fatalf("the same marker at transaction version 1: %v", err)
	}

	// The last epoch cannot be bumped: a marker there passes with its transaction open.
	s.Update(txn(2, math.MaxInt16, 0, 1, 20))
	if err := s.CheckMarker(Marker{ProducerID: 2, ProducerEpoch: math.MaxInt16, TxnVersion: 2}); err != nil {
		t.Fatalf("tv2 marker at epoch MaxInt16: %v", err)
	}
	// The coordinator epoch is still checked after the epoch rule.
	s.EndTxn(Marker{ProducerID: 2, ProducerEpoch: math.MaxInt16, CoordinatorEpoch: 3, Offset: 21})
	if err := s.CheckMarker(Marker{ProducerID: 2, ProducerEpoch: math.MaxInt16, CoordinatorEpoch: 2, TxnVersion: 2}); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("tv2 retry from an older coordinator: %v, want ErrCoordinatorFenced", err)
	}

	// The bumped epoch survives a snapshot.
	got, err := UnmarshalSnapshot(s.MarshalSnapshot(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := got.CheckMarker(Marker{ProducerID: 1, ProducerEpoch: 6, TxnVersion: 2}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("reloaded: late tv2 marker while the next transaction is open: %v", err)
	}
	if e := got.Entries(); e[0].ProducerEpoch != 6 || e[0].TxnStartOffset != 13 {
		t.Fatalf("reloaded entries %+v", e)
	}
}
