package producer

import (
	"errors"
	"math"
	"testing"
)

// batch returns a batch of count records from producer pid starting at sequence base.
func batch(pid int64, epoch int16, base int32, count int32) BatchInfo {
	return BatchInfo{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: base, LastSequence: LastSequence(base, count-1)}
}

// at sets b's offsets and timestamp.
func at(b BatchInfo, first int64, ts int64) BatchInfo {
	seqs := int64(b.LastSequence) - int64(b.BaseSequence)
	if seqs < 0 {
		seqs += math.MaxInt32 + 1
	}
	b.FirstOffset, b.LastOffset, b.MaxTimestamp = first, first+seqs, ts
	return b
}

// sevenBatches is producer 7 at epoch 2 after 7 batches of 3 records: sequences 0..20 at
// offsets 100+10i .. 102+10i, timestamps 1000+i. Batches 2..6 (sequences 6..20) are retained.
func sevenBatches(t testing.TB) *State {
	t.Helper()
	s := New()
	for i := range int32(7) {
		b := at(batch(7, 2, 3*i, 3), 100+10*int64(i), 1000+int64(i))
		if v, err := s.Check(b); err != nil || v.Duplicate {
			t.Fatalf("setup batch %d: %+v %v", i, v, err)
		}
		s.Update(b)
	}
	return s
}

func TestCheck(t *testing.T) {
	dup := func(i int64) Verdict {
		return Verdict{Duplicate: true, FirstOffset: 100 + 10*i, LastOffset: 102 + 10*i, Timestamp: 1000 + i}
	}
	tests := []struct {
		name string
		b    BatchInfo
		want Verdict
		err  error
	}{
		{"no producer id skips every check", batch(-1, -5, -1, 1), Verdict{}, nil},
		{"unknown producer any sequence", batch(8, 0, 12345, 2), Verdict{}, nil},
		{"unknown producer any epoch", batch(8, 900, 7, 1), Verdict{}, nil},
		{"negative sequence with producer id", batch(7, 2, -1, 1), Verdict{}, ErrInvalidRecord},
		{"negative sequence, unknown producer", batch(8, 0, -1, 1), Verdict{}, ErrInvalidRecord},
		{"negative epoch", batch(7, -1, 21, 1), Verdict{}, ErrInvalidRecord},
		{"next in sequence", batch(7, 2, 21, 5), Verdict{}, nil},
		{"gap", batch(7, 2, 22, 1), Verdict{}, ErrOutOfOrderSequence},
		{"repeat of last sequence, other range", batch(7, 2, 20, 1), Verdict{}, ErrOutOfOrderSequence},
		{"dup of newest", batch(7, 2, 18, 3), dup(6), nil},
		{"dup of 2nd newest", batch(7, 2, 15, 3), dup(5), nil},
		{"dup of 3rd newest", batch(7, 2, 12, 3), dup(4), nil},
		{"dup of 4th newest", batch(7, 2, 9, 3), dup(3), nil},
		{"dup of 5th newest (oldest retained)", batch(7, 2, 6, 3), dup(2), nil},
		{"6th newest is forgotten", batch(7, 2, 3, 3), Verdict{}, ErrOutOfOrderSequence},
		{"7th newest is forgotten", batch(7, 2, 0, 3), Verdict{}, ErrOutOfOrderSequence},
		{"same first sequence, other last", batch(7, 2, 18, 2), Verdict{}, ErrOutOfOrderSequence},
		{"lower epoch fenced", batch(7, 1, 21, 1), Verdict{}, ErrInvalidProducerEpoch},
		{"lower epoch fenced even as a dup", batch(7, 1, 18, 3), Verdict{}, ErrInvalidProducerEpoch},
		{"higher epoch at 0", batch(7, 3, 0, 4), Verdict{}, nil},
		{"higher epoch not at 0", batch(7, 3, 21, 1), Verdict{}, ErrOutOfOrderSequence},
		{"higher epoch, retained range is not a dup", batch(7, 3, 18, 3), Verdict{}, ErrOutOfOrderSequence},
		{"max epoch at 0", batch(7, math.MaxInt16, 0, 1), Verdict{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sevenBatches(t)
			v, err := s.Check(tt.b)
			if !errors.Is(err, tt.err) || v != tt.want {
				t.Fatalf("Check(%+v) = %+v, %v; want %+v, %v", tt.b, v, err, tt.want, tt.err)
			}
		})
	}
}

func TestLastSequence(t *testing.T) {
	tests := []struct{ base, delta, want int32 }{
		{0, 0, 0},
		{0, 4, 4},
		{-1, 4, -1},
		{math.MaxInt32, 0, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 1, 3, 1},
		{math.MaxInt32 - 5, 5, math.MaxInt32},
		{math.MaxInt32 - 5, 6, 0},
		{1, math.MaxInt32, 0},
	}
	for _, tt := range tests {
		if got := LastSequence(tt.base, tt.delta); got != tt.want {
			t.Errorf("LastSequence(%d, %d) = %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

func TestSequenceWrap(t *testing.T) {
	s := New()
	b := at(batch(1, 0, math.MaxInt32-1, 2), 0, 0) // MaxInt32-1 .. MaxInt32
	s.Update(b)
	for _, tt := range []struct {
		b   BatchInfo
		err error
	}{
		{batch(1, 0, 0, 1), nil},
		{batch(1, 0, math.MaxInt32, 1), ErrOutOfOrderSequence},
		{batch(1, 0, 1, 1), ErrOutOfOrderSequence},
	} {
		if _, err := s.Check(tt.b); !errors.Is(err, tt.err) {
			t.Errorf("after MaxInt32: Check(%d..%d) = %v, want %v", tt.b.BaseSequence, tt.b.LastSequence, err, tt.err)
		}
	}
	// A batch spanning the wrap: MaxInt32 ... 1 after MaxInt32-1.
	s = New()
	s.Update(at(batch(1, 0, math.MaxInt32-2, 2), 0, 0)) // ..MaxInt32-1
	span := at(batch(1, 0, math.MaxInt32, 3), 2, 0)
	if span.LastSequence != 1 {
		t.Fatalf("span last sequence %d", span.LastSequence)
	}
	if _, err := s.Check(span); err != nil {
		t.Fatalf("span: %v", err)
	}
	s.Update(span)
	if v, err := s.Check(batch(1, 0, math.MaxInt32, 3)); err != nil || !v.Duplicate || v.FirstOffset != 2 {
		t.Fatalf("span retry: %+v %v", v, err)
	}
	if _, err := s.Check(batch(1, 0, 2, 1)); err != nil {
		t.Fatalf("after span: %v", err)
	}
}

func TestUpdateEpochChangeForgetsBatches(t *testing.T) {
	s := sevenBatches(t)
	s.Update(at(batch(7, 3, 0, 1), 200, 2000))
	if v, err := s.Check(batch(7, 3, 0, 1)); err != nil || !v.Duplicate || v.FirstOffset != 200 {
		t.Fatalf("retry in new epoch: %+v %v", v, err)
	}
	if _, err := s.Check(batch(7, 2, 18, 3)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch retry: %v", err)
	}
	if _, err := s.Check(batch(7, 3, 1, 1)); err != nil {
		t.Fatalf("next in new epoch: %v", err)
	}
	// A follower copies a lower epoch from its leader (Kafka logs and accepts it).
	s.Update(at(batch(7, 1, 50, 1), 201, 2001))
	if got := s.Entries()[0]; got.ProducerEpoch != 1 || got.LastSequence != 50 {
		t.Fatalf("after lower-epoch Update: %+v", got)
	}
}

func TestUpdateIgnoresNoProducerID(t *testing.T) {
	s := New()
	s.Update(at(batch(-1, -1, -1, 1), 0, 0))
	if s.Len() != 0 {
		t.Fatalf("Len = %d", s.Len())
	}
}

func TestEntries(t *testing.T) {
	s := sevenBatches(t)
	s.Update(at(batch(3, 0, 0, 1), 200, 5))
	s.Update(at(batch(900, 4, 10, 2), 201, 6))
	got := s.Entries()
	want := []Entry{
		{ProducerID: 3, ProducerEpoch: 0, LastSequence: 0, LastOffset: 200, LastTimestamp: 5, CoordinatorEpoch: -1, TxnStartOffset: -1},
		{ProducerID: 7, ProducerEpoch: 2, LastSequence: 20, LastOffset: 162, LastTimestamp: 1006, CoordinatorEpoch: -1, TxnStartOffset: -1},
		{ProducerID: 900, ProducerEpoch: 4, LastSequence: 11, LastOffset: 202, LastTimestamp: 6, CoordinatorEpoch: -1, TxnStartOffset: -1},
	}
	if len(got) != len(want) || s.Len() != len(want) {
		t.Fatalf("Entries = %+v, Len %d", got, s.Len())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Entries[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestTruncateFrom(t *testing.T) {
	// Producer 7: batches at 100..162 (retained 120..162), first seen at 100.
	t.Run("tail of retained batches", func(t *testing.T) {
		s := sevenBatches(t)
		if !s.TruncateFrom(150) { // drops 150..152 and 160..162
			t.Fatal("not exact")
		}
		if _, err := s.Check(batch(7, 2, 15, 1)); err != nil {
			t.Fatalf("next after truncation: %v", err)
		}
		if v, _ := s.Check(batch(7, 2, 12, 3)); !v.Duplicate || v.FirstOffset != 140 {
			t.Fatalf("retained dup after truncation: %+v", v)
		}
		if _, err := s.Check(batch(7, 2, 18, 3)); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("truncated batch must be new, not a dup: %v", err)
		}
	})
	t.Run("batch straddling the offset is dropped", func(t *testing.T) {
		s := sevenBatches(t)
		s.TruncateFrom(161)
		if e := s.Entries()[0]; e.LastOffset != 152 {
			t.Fatalf("last offset %d", e.LastOffset)
		}
	})
	t.Run("producer with history below the offset is lost", func(t *testing.T) {
		s := sevenBatches(t)
		if s.TruncateFrom(115) {
			t.Fatal("exact, but producer 7 had batches below 115 that are not retained")
		}
		if s.Len() != 0 {
			t.Fatalf("Len %d", s.Len())
		}
	})
	t.Run("producer born above the offset", func(t *testing.T) {
		s := sevenBatches(t)
		s.Update(at(batch(8, 0, 0, 1), 170, 0))
		s.Update(at(batch(8, 0, 1, 1), 171, 0))
		if !s.TruncateFrom(170) {
			t.Fatal("not exact")
		}
		if s.Len() != 1 {
			t.Fatalf("Len %d", s.Len())
		}
		if s.TruncateFrom(math.MaxInt64); s.Len() != 1 {
			t.Fatal("truncating at the end changed the state")
		}
	})
}

func TestRemoveBefore(t *testing.T) {
	s := sevenBatches(t)
	s.Update(at(batch(8, 0, 0, 1), 170, 0))
	if n := s.RemoveBefore(162); n != 0 || s.Len() != 2 {
		t.Fatalf("RemoveBefore(162) = %d, Len %d", n, s.Len())
	}
	if n := s.RemoveBefore(163); n != 1 || s.Len() != 1 || s.Entries()[0].ProducerID != 8 {
		t.Fatalf("RemoveBefore(163) = %d, %+v", n, s.Entries())
	}
	if _, err := s.Check(batch(7, 0, 99, 1)); err != nil {
		t.Fatalf("removed producer must be unknown: %v", err)
	}
}

func TestRemoveExpired(t *testing.T) {
	s := sevenBatches(t) // last timestamp 1006
	s.Update(at(batch(8, 0, 0, 1), 170, 5000))
	if n := s.RemoveExpired(1006+DefaultProducerIDExpirationMs-1, DefaultProducerIDExpirationMs); n != 0 {
		t.Fatalf("removed %d before expiry", n)
	}
	if n := s.RemoveExpired(1006+DefaultProducerIDExpirationMs, DefaultProducerIDExpirationMs); n != 1 || s.Len() != 1 {
		t.Fatalf("removed %d at expiry, Len %d", n, s.Len())
	}
	if _, err := s.Check(batch(7, 0, 99, 1)); err != nil {
		t.Fatalf("expired producer must be unknown: %v", err)
	}
}

// TestCheckUpdateAllocs pins the hot path: Check and Update of a known producer allocate nothing.
func TestCheckUpdateAllocs(t *testing.T) {
	s := sevenBatches(t)
	for i := range 1000 {
		s.Update(at(batch(int64(1000+i), 0, 0, 1), 0, 0))
	}
	seq, off := int32(21), int64(200)
	allocs := testing.AllocsPerRun(1000, func() {
		b := batch(7, 2, seq, 4)
		if v, err := s.Check(b); err != nil || v.Duplicate {
			t.Fatalf("Check: %+v %v", v, err)
		}
		s.Update(at(b, off, off))
		if v, _ := s.Check(b); !v.Duplicate {
			t.Fatal("retry not a duplicate")
		}
		_, _ = s.Check(batch(7, 1, seq, 1)) // refusals allocate nothing either
		seq, off = b.LastSequence+1, off+4
	})
	if allocs != 0 {
		t.Fatalf("Check+Update allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkCheckUpdate(b *testing.B) {
	for _, producers := range []int{1, 10000} {
		b.Run(map[int]string{1: "producers=1", 10000: "producers=10000"}[producers], func(b *testing.B) {
			s := New()
			for i := range producers {
				s.Update(at(batch(int64(i), 0, 0, 1), int64(i), 0))
			}
			seqs := make([]int32, producers)
			for i := range seqs {
				seqs[i] = 1
			}
			off := int64(producers)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				pid := i % producers
				bi := batch(int64(pid), 0, seqs[pid], 10)
				if _, err := s.Check(bi); err != nil {
					b.Fatal(err)
				}
				s.Update(at(bi, off, off))
				seqs[pid] = bi.LastSequence + 1
				off += 10
			}
		})
	}
}

func BenchmarkCheckDuplicate(b *testing.B) {
	s := sevenBatches(b)
	bi := batch(7, 2, 6, 3) // the oldest retained: the longest scan
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := s.Check(bi); !v.Duplicate {
			b.Fatal("not a duplicate")
		}
	}
}
