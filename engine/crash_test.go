package engine

import (
	"bytes"
	"flag"
	"math/rand"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

var seedFlag = flag.Int64("seed", 0, "seed for randomized engine tests (0: time-based, printed)")

func testSeed(t *testing.T) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -args -seed=%d)", seed, seed)
	return seed
}

// TestCrashRecovery appends batches to a log on the crashable filesystem, waiting for
// durability on some of them (the acknowledged ones), crashes at a random point (keeping
// random torn or zeroed tails of unsynced data), reopens and checks that every acknowledged
// batch is there, byte for byte at its offset, and that the log is a valid contiguous prefix.
func TestCrashRecovery(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	acked := map[int64][]byte{} // base offset -> stamped batch bytes
	cycles := 40
	if testing.Short() {
		cycles = 10
	}
	for cycle := 0; cycle < cycles; cycle++ {
		env := newTestEnv(t, fs, "/data")
		cfg := DefaultLogConfig
		cfg.SegmentBytes = int64(1000 + rng.Intn(8000))
		cfg.IndexIntervalBytes = rng.Intn(2000)
		l := env.log(tp0, cfg)
		verifyLog(t, l, acked, cycle, false)
		ops := rng.Intn(60)
		seq := int32(0)
		for i := 0; i < ops; i++ {
			n := 1 + rng.Intn(5)
			idem := rng.Intn(2) == 0
			b := testbatch.Build(testbatch.Options{
				Records: n, ValueSize: rng.Intn(700), BaseTimestamp: int64(cycle*1000 + i),
				Fill: byte('a' + rng.Intn(26)), Idempotent: idem, ProducerID: int64(cycle), BaseSequence: seq,
			})
			if idem {
				seq += int32(n)
			}
			res, err := l.Append(b, AppendOptions{LeaderEpoch: int32(cycle)})
			if err != nil {
				t.Fatalf("cycle %d op %d: %v", cycle, i, err)
			}
			if rng.Intn(3) == 0 {
				if err := l.WaitDurable(res.SyncSeq); err != nil {
					t.Fatal(err)
				}
				acked[res.BaseOffset] = b // b was stamped in place by Append
			}
			if rng.Intn(20) == 0 {
				env.e.Checkpoint()
			}
		}
		if rng.Intn(5) == 0 {
			env.close() // a clean shutdown now and then
		} else {
			crashed := fs.CrashClone(rng)
			env.e.Close() // the dead process's last writes land in the old filesystem
			fs = crashed
		}
	}
	env := newTestEnv(t, fs, "/data")
	verifyLog(t, env.log(tp0, DefaultLogConfig), acked, cycles, false)
	env.close()
}

// verifyLog checks that every acknowledged batch is in l byte for byte and that the log is
// valid: contiguous, or with offsets increasing when gaps are allowed (a follower's copy of a
// compacted leader).
func verifyLog(t *testing.T, l *Log, acked map[int64][]byte, cycle int, gaps bool) {
	t.Helper()
	next := l.LogStartOffset()
	found := map[int64]bool{}
	for next < l.LogEndOffset() {
		r, err := l.Read(next, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("cycle %d: read %d: %v", cycle, next, err)
		}
		if r.Len == 0 {
			t.Fatalf("cycle %d: nothing to read at %d, below the end offset %d", cycle, next, l.LogEndOffset())
		}
		buf := make([]byte, r.Len)
		r.File.ReadAt(buf, r.Pos)
		r.Release()
		for p := 0; p < len(buf); {
			h, err := segment.ValidateBatch(buf[p:])
			if err != nil {
				t.Fatalf("cycle %d: invalid batch after recovery at offset %d: %v", cycle, next, err)
			}
			if h.BaseOffset < next || (h.BaseOffset != next && !gaps) {
				t.Fatalf("cycle %d: batch at %d, expected %d (gap or overlap)", cycle, h.BaseOffset, next)
			}
			if want, ok := acked[h.BaseOffset]; ok {
				if !bytes.Equal(want, buf[p:p+h.Size()]) {
					t.Fatalf("cycle %d: acknowledged batch at %d changed", cycle, h.BaseOffset)
				}
				found[h.BaseOffset] = true
			}
			p += h.Size()
			next = h.NextOffset()
		}
	}
	for off := range acked {
		if !found[off] {
			t.Fatalf("cycle %d: acknowledged batch at offset %d lost (log %d..%d)", cycle, off, l.LogStartOffset(), l.LogEndOffset())
		}
	}
}
