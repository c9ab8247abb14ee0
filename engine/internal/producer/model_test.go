package producer

import (
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of TestModel (0: time-based)")
	stepsFlag = flag.Int("steps", 20000, "operations per TestModel run")
)

// model is the dumb reference: plain slices, linear scans, no ring arithmetic.
type modelProducer struct {
	epoch   int16
	since   int64
	batches []batchMeta // oldest first, at most RetainedBatches
}

type model map[int64]*modelProducer

func (m model) check(b BatchInfo) (Verdict, error) {
	if b.ProducerID < 0 {
		return Verdict{}, nil
	}
	if b.ProducerEpoch < 0 || b.BaseSequence < 0 || b.LastSequence < 0 {
		return Verdict{}, ErrInvalidRecord
	}
	p, ok := m[b.ProducerID]
	if !ok {
		return Verdict{}, nil
	}
	if b.ProducerEpoch < p.epoch {
		return Verdict{}, ErrInvalidProducerEpoch
	}
	if b.ProducerEpoch > p.epoch {
		if b.BaseSequence == 0 {
			return Verdict{}, nil
		}
		return Verdict{}, ErrOutOfOrderSequence
	}
	for _, x := range p.batches {
		if x.firstSeq == b.BaseSequence && x.lastSeq == b.LastSequence {
			return Verdict{true, x.firstOffset, x.lastOffset, x.timestamp}, nil
		}
	}
	last := p.batches[len(p.batches)-1].lastSeq
	want := last + 1
	if last == math.MaxInt32 {
		want = 0
	}
	if b.BaseSequence != want {
		return Verdict{}, ErrOutOfOrderSequence
	}
	return Verdict{}, nil
}

func (m model) update(b BatchInfo) {
	if b.ProducerID < 0 {
		return
	}
	p, ok := m[b.ProducerID]
	if !ok {
		p = &modelProducer{epoch: b.ProducerEpoch, since: b.FirstOffset}
		m[b.ProducerID] = p
	}
	if p.epoch != b.ProducerEpoch {
		p.epoch, p.batches = b.ProducerEpoch, nil
	}
	p.batches = append(p.batches, batchMeta{b.BaseSequence, b.LastSequence, b.FirstOffset, b.LastOffset, b.MaxTimestamp})
	if len(p.batches) > RetainedBatches {
		p.batches = p.batches[1:]
	}
}

func (m model) truncateFrom(off int64) bool {
	exact := true
	for id, p := range m {
		p.batches = slices.DeleteFunc(p.batches, func(x batchMeta) bool { return x.lastOffset >= off })
		if len(p.batches) == 0 {
			exact = exact && p.since >= off
			delete(m, id)
		}
	}
	return exact
}

func (m model) removeIf(f func(newest batchMeta) bool) int {
	n := 0
	for id, p := range m {
		if f(p.batches[len(p.batches)-1]) {
			delete(m, id)
			n++
		}
	}
	return n
}

func (m model) dump() map[int64]dumpEntry {
	out := make(map[int64]dumpEntry, len(m))
	for id, p := range m {
		out[id] = dumpEntry{epoch: p.epoch, since: p.since, batches: slices.Clone(p.batches)}
	}
	return out
}

// TestModel drives State and the model with the same random operations: produce (in order,
// retries of recent and older batches, gaps, epoch bumps, zombies, sequences near MaxInt32),
// truncation, log start moves, expiry and snapshot round trips, and compares every answer and
// the whole state after each step. Reproduce a failure with -seed.
func TestModel(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	steps := *stepsFlag
	if testing.Short() {
		steps /= 10
	}

	s, m := New(), model{}
	history := map[int64][]BatchInfo{} // accepted batches per producer, for retries
	var logStart, logEnd, clock int64
	var stats [8]int

	for step := range steps {
		clock += rng.Int64N(1000)
		op := rng.IntN(100)
		switch {
		case op < 75: // produce
			pid := int64(rng.IntN(6)) - 1
			b := BatchInfo{ProducerID: pid}
			count := int32(1 + rng.IntN(5))
			p, known := m[pid]
			h := history[pid]
			switch k := rng.IntN(100); {
			case !known || pid < 0:
				b.ProducerEpoch = int16(rng.IntN(3))
				b.BaseSequence = []int32{0, math.MaxInt32 - 3, rng.Int32()}[rng.IntN(3)]
			case k < 50: // next in sequence
				b.ProducerEpoch = p.epoch
				b.BaseSequence = LastSequence(p.batches[len(p.batches)-1].lastSeq, 1)
			case k < 75 && len(h) > 0: // retry of one of the last 7 accepted batches
				r := h[len(h)-1-rng.IntN(min(len(h), 7))]
				b.ProducerEpoch, b.BaseSequence, count = r.ProducerEpoch, r.BaseSequence, 0
				b.LastSequence = r.LastSequence
			case k < 82: // epoch bump at 0
				b.ProducerEpoch = p.epoch + 1
			case k < 86: // epoch bump, not at 0
				b.ProducerEpoch = p.epoch + 1
				b.BaseSequence = 1 + rng.Int32N(10)
			case k < 91: // zombie
				b.ProducerEpoch = p.epoch - 1 - int16(rng.IntN(2))
				b.BaseSequence = LastSequence(p.batches[len(p.batches)-1].lastSeq, 1)
			case k < 98: // gap or rewind
				b.ProducerEpoch = p.epoch
				b.BaseSequence = LastSequence(p.batches[len(p.batches)-1].lastSeq, 1+rng.Int32N(3)) - rng.Int32N(3)
			default: // garbage
				b.ProducerEpoch = p.epoch
				b.BaseSequence = -1
			}
			if count > 0 {
				b.LastSequence = LastSequence(b.BaseSequence, count-1)
			}
			v, err := s.Check(b)
			mv, merr := m.check(b)
			if v != mv || !errors.Is(err, merr) || (err == nil) != (merr == nil) {
				t.Fatalf("step %d: Check(%+v) = %+v, %v; model %+v, %v", step, b, v, err, mv, merr)
			}
			switch {
			case err != nil:
				stats[0]++
				continue
			case v.Duplicate:
				stats[1]++
				continue
			}
			stats[2]++
			n := int64(b.LastSequence) - int64(b.BaseSequence)
			if n < 0 {
				n += math.MaxInt32 + 1
			}
			if pid < 0 {
				n = int64(rng.IntN(5))
			}
			b.FirstOffset, b.LastOffset, b.MaxTimestamp = logEnd, logEnd+n, clock-rng.Int64N(500)
			logEnd += n + 1
			s.Update(b)
			m.update(b)
			if pid >= 0 {
				history[pid] = append(history[pid], b)
			}
		case op < 82: // truncate
			off := logStart + rng.Int64N(logEnd-logStart+1)
			if got, want := s.TruncateFrom(off), m.truncateFrom(off); got != want {
				t.Fatalf("step %d: TruncateFrom(%d) = %v, model %v", step, off, got, want)
			}
			for pid, h := range history {
				history[pid] = slices.DeleteFunc(h, func(b BatchInfo) bool { return b.LastOffset >= off })
			}
			logEnd = off
			stats[3]++
		case op < 87: // retention moves the log start
			logStart = min(logEnd, logStart+rng.Int64N(20))
			got := s.RemoveBefore(logStart)
			want := m.removeIf(func(x batchMeta) bool { return x.lastOffset < logStart })
			if got != want {
				t.Fatalf("step %d: RemoveBefore(%d) = %d, model %d", step, logStart, got, want)
			}
			stats[4] += got
		case op < 92: // expiry
			idle := rng.Int64N(20000)
			got := s.RemoveExpired(clock, idle)
			want := m.removeIf(func(x batchMeta) bool { return clock-x.timestamp >= idle })
			if got != want {
				t.Fatalf("step %d: RemoveExpired(%d, %d) = %d, model %d", step, clock, idle, got, want)
			}
			stats[5] += got
		default: // restart from a snapshot
			var err error
			if s, err = UnmarshalSnapshot(s.MarshalSnapshot(nil)); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			stats[6]++
		}
		if !equalDumps(dump(s), m.dump()) {
			t.Fatalf("step %d: state diverged:\nstate %+v\nmodel %+v", step, dump(s), m.dump())
		}
		if s.Len() != len(m) {
			t.Fatalf("step %d: Len %d, model %d", step, s.Len(), len(m))
		}
	}
	t.Logf("refused %d, duplicates %d, appended %d, truncations %d, removed by log start %d, expired %d, snapshot restarts %d",
		stats[0], stats[1], stats[2], stats[3], stats[4], stats[5], stats[6])
}
