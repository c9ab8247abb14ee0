package engine

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// cleanModel is the dumb model of a compacted log: every record ever appended at its offset,
// and the cleans that ran.
type cleanModel struct {
	recs   map[int64]kv    // offset -> record
	appAt  map[int64]int64 // offset -> append time (ms)
	last   map[string]int64
	cleans []modelClean
	dr     int64 // delete.retention.ms
}

type modelClean struct{ at, end int64 } // time (ms) and the EndOffset it reached

func newCleanModel(dr time.Duration) *cleanModel {
	return &cleanModel{recs: map[int64]kv{}, appAt: map[int64]int64{}, last: map[string]int64{}, dr: dr.Milliseconds()}
}

// check compares the log with the model at time now (ms):
//   - every record read is the one appended at its offset (offsets preserved);
//   - each key's last record is present, unless it is a tombstone that a clean reached at
//     least delete.retention.ms before a later clean (then it may go, and must be gone once a
//     clean ran that long after one that reached it);
//   - a record superseded by a later one, both below a clean's end, is gone.
func (m *cleanModel) check(t *testing.T, l *Log, step int) {
	t.Helper()
	got, _ := readRecords(t, l)
	present := map[int64]bool{}
	for _, r := range got {
		want, ok := m.recs[r.offset]
		if !ok || want.key != r.key || !bytes.Equal(want.value, r.value) || (want.value == nil) != (r.value == nil) {
			t.Fatalf("step %d: offset %d holds %q=%q, appended %q=%q (known %v)", step, r.offset, r.key, r.value, want.key, want.value, ok)
		}
		present[r.offset] = true
	}
	lastEnd := int64(-1)
	if len(m.cleans) > 0 {
		lastEnd = m.cleans[len(m.cleans)-1].end
	}
	for key, off := range m.last {
		r := m.recs[off]
		if present[off] {
			if r.value == nil && m.tombstoneExpired(off) {
				t.Fatalf("step %d: tombstone %q at %d outlived its delete horizon (cleans %v)", step, key, off, m.cleans)
			}
			continue
		}
		if r.value != nil {
			t.Fatalf("step %d: live key %q lost: its last value at %d is gone", step, key, off)
		}
		if !m.tombstoneMayGo(off) {
			t.Fatalf("step %d: tombstone %q at %d removed before delete.retention.ms passed (KAFKA-4529; cleans %v, appended at %d)", step, key, off, m.cleans, m.appAt[off])
		}
	}
	for off := range present {
		r := m.recs[off]
		if last := m.last[r.key]; last != off && last < lastEnd {
			t.Fatalf("step %d: record %q at %d superseded at %d, below the clean end %d, still present", step, r.key, off, last, lastEnd)
		}
	}
}

// tombstoneMayGo: some clean reached the tombstone (its end passed it) and a later clean ran
// delete.retention.ms after that one.
func (m *cleanModel) tombstoneMayGo(off int64) bool {
	for _, c := range m.cleans {
		if c.end > off {
			for _, d := range m.cleans {
				if d.at >= c.at+m.dr {
					return true
				}
			}
			return false
		}
	}
	return false
}

// tombstoneExpired: a clean reached the tombstone and the latest clean (which reached it too,
// since cleans recopy from the log start) ran at least delete.retention.ms after the first.
func (m *cleanModel) tombstoneExpired(off int64) bool {
	if len(m.cleans) == 0 {
		return false
	}
	last := m.cleans[len(m.cleans)-1]
	for _, c := range m.cleans {
		if c.end > off {
			// Strictly after: the horizon is set when the batch is first recopied, which may be a
			// clean after the one that mapped it; give it one clean of slack.
			return last.at > c.at+m.dr && last.end > off && m.cleanedTwiceAfter(c.at+m.dr, off)
		}
	}
	return false
}

func (m *cleanModel) cleanedTwiceAfter(at, off int64) bool {
	n := 0
	for _, c := range m.cleans {
		if c.at >= at && c.end > off {
			n++
		}
	}
	return n >= 2
}

var cleanCodecs = []int{segment.CompressionNone, segment.CompressionNone, segment.CompressionGzip, segment.CompressionSnappy, segment.CompressionLZ4, segment.CompressionZstd}

// TestCleanModel runs random appends (keys, values, tombstones, compressed batches, an
// idempotent producer), rolls, cleans, clock jumps, clean restarts and crashes against the
// model. Seed printed; rerun with -args -seed=N.
func TestCleanModel(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	cfg := compactConfig(int64(400 + rng.Intn(1500)))
	l := env.log(tp0, cfg)
	m := newCleanModel(cfg.DeleteRetention)
	keys := 5 + rng.Intn(30)
	const pid = 7
	seq := int32(0)
	// Half the runs get a dedupe buffer of a few dozen keys: cleans then stop where the offset
	// map fills and cover the rest of the dirty section later, as Kafka's do.
	small := int64(0)
	if rng.Intn(2) == 0 {
		small = int64(6+rng.Intn(keys)) * (16 + 8) * 10 / 9
		t.Logf("dedupe buffer %d bytes", small)
	}
	setBuffer := func() {
		if small > 0 {
			env.e.cleaner.cfg.DedupeBufferSize = small
		}
	}
	setBuffer()
	gone := int64(0)
	steps := 600
	if testing.Short() {
		steps = 150
	}
	for step := 0; step < steps; step++ {
		switch op := rng.Intn(100); {
		case op < 70:
			n := 1 + rng.Intn(4)
			recs := make([]kv, n)
			for i := range recs {
				recs[i].key = fmt.Sprintf("k%02d", rng.Intn(keys))
				if rng.Intn(6) > 0 {
					recs[i].value = []byte(fmt.Sprintf("v%d-%d-%s", step, i, bytes.Repeat([]byte{'x'}, rng.Intn(40))))
				}
			}
			var p producerOpts
			if rng.Intn(4) == 0 {
				p = producerOpts{id: pid, seq: seq}
				seq += int32(n)
			}
			now := env.clock.Now().UnixMilli()
			res, err := l.Append(keyedBatch(cleanCodecs[rng.Intn(len(cleanCodecs))], now, p, recs...), AppendOptions{})
			if err != nil {
				t.Fatalf("step %d: append: %v", step, err)
			}
			for i, r := range recs {
				off := res.BaseOffset + int64(i)
				m.recs[off], m.appAt[off], m.last[r.key] = r, now, off
			}
		case op < 82:
			st, err := env.e.Clean(tp0)
			if err != nil {
				t.Fatalf("step %d: clean: %v", step, err)
			}
			gone += st.RecordsGone
			if st.SegmentsIn > 0 {
				m.cleans = append(m.cleans, modelClean{at: env.clock.Now().UnixMilli(), end: st.EndOffset})
			}
			m.check(t, l, step)
		case op < 90:
			env.clock.Advance(time.Duration(rng.Int63n(int64(cfg.DeleteRetention))))
		case op < 95:
			env.reopen()
			setBuffer()
			l = env.log(tp0, cfg)
			m.check(t, l, step)
		default:
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			crashed := fs.CrashClone(rng)
			env.e.Close()
			fs = crashed
			env.fs = fs
			env.open()
			setBuffer()
			l = env.log(tp0, cfg)
			m.check(t, l, step)
		}
	}
	got, _ := readRecords(t, l)
	t.Logf("%d records appended, %d read back, %d removed by %d cleans", len(m.recs), len(got), gone, len(m.cleans))
	if len(m.cleans) > 3 && gone == 0 {
		t.Fatal("the cleans removed nothing")
	}
	// The idempotent producer's sequence survived every clean: its next batch is in order.
	if _, err := l.Append(keyedBatch(segment.CompressionNone, env.clock.Now().UnixMilli(), producerOpts{id: pid, seq: seq}, kv{"k00", []byte("last")}), AppendOptions{}); err != nil {
		t.Fatalf("producer's next batch after cleans: %v", err)
	}
	env.close()
}
