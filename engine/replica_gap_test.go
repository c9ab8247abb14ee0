package engine

import (
	"bytes"
	"errors"
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// replicaBatch builds a batch as a follower receives it from a compacted leader: already
// stamped with its offset and leader epoch.
func replicaBatch(base int64, records, valueSize int, ts int64) []byte {
	b := testbatch.Build(testbatch.Options{Records: records, ValueSize: valueSize, BaseTimestamp: ts})
	segment.SetBaseOffset(b, base)
	segment.SetPartitionLeaderEpoch(b, 1)
	return b
}

// syncCrashReopen syncs everything appended to l (all of it acknowledged), crashes before
// any recovery-point checkpoint, and reopens the log: recovery starts at offset 0.
func syncCrashReopen(t *testing.T, fs *vfs.MemFS, env *testEnv, l *Log, cfg LogConfig) (*testEnv, *Log) {
	t.Helper()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	crashed := fs.CrashClone(rand.New(rand.NewSource(1)))
	env.e.Close()
	env = newTestEnv(t, crashed, "/data")
	return env, env.log(tp0, cfg)
}

// TestReplicaGapsSurviveRecovery appends a compacted leader's batches (offset gaps between
// them) as a follower does, rolling segments at gaps, syncs them (acknowledged), and crashes
// before any recovery-point checkpoint: recovery from offset 0 must keep every batch.
func TestReplicaGapsSurviveRecovery(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 600 // a roll every few batches
	l := env.log(tp0, cfg)
	var want [][]byte
	off := int64(0)
	for i := 0; i < 30; i++ {
		b := replicaBatch(off, 2, 100, int64(i))
		want = append(want, bytes.Clone(b))
		if _, err := l.Append(b, AppendOptions{KeepOffsets: true, SkipProducerChecks: true}); err != nil {
			t.Fatal(err)
		}
		off += 2 + int64(i%3)*10 // the leader's cleaner removed the offsets in between
	}
	if l.Segments() < 5 {
		t.Fatalf("%d segments: the test needs rolls", l.Segments())
	}
	env, l = syncCrashReopen(t, fs, env, l, cfg)
	got := readAll(t, l, l.LogStartOffset(), l.LogEndOffset())
	if len(got) != len(want) {
		t.Fatalf("recovered %d batches of %d (log %d..%d):\n%s", len(got), len(want), l.LogStartOffset(), l.LogEndOffset(), env.logs)
	}
	for i, h := range got {
		w, _ := segment.ParseHeader(want[i])
		if h.BaseOffset != w.BaseOffset || h.CRC != w.CRC {
			t.Fatalf("batch %d: offset %d crc %x, want offset %d crc %x", i, h.BaseOffset, h.CRC, w.BaseOffset, w.CRC)
		}
	}
	env.close()
}

// TestReplicaGapBeyondSegmentSpan copies offset gaps longer than one segment's 32-bit offset
// deltas: the follower starts a segment at the batch itself, and recovery from offset 0 keeps
// both sides of the gap. A batch whose gap recovery could not tell from a lost tail (the new
// segment would start within 2³¹ of the active one's base) is refused, not stored.
func TestReplicaGapBeyondSegmentSpan(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, DefaultLogConfig)
	opts := AppendOptions{KeepOffsets: true, SkipProducerChecks: true}
	far := int64(3) << 31
	for _, base := range []int64{0, 5, far, far + 10} {
		if _, err := l.Append(replicaBatch(base, 3, 10, base), opts); err != nil {
			t.Fatalf("append at %d: %v", base, err)
		}
	}
	if l.Segments() != 2 {
		t.Fatalf("%d segments, want 2 (one roll at the long gap)", l.Segments())
	}
	// After far+13, a batch (emptied by the leader's cleaner, spanning 101 offsets) whose last
	// offset is 2³¹ past the end but whose first is within 2³¹+1 of the active segment's base.
	straddle := segment.AppendBatch(nil, segment.Header{
		BaseOffset: far + math.MaxInt32 - 5, PartitionLeaderEpoch: 1, LastOffsetDelta: 100, ProducerID: -1, BaseSequence: -1,
	}, nil)
	if _, err := l.Append(straddle, opts); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("straddling batch: err %v, want ErrInvalidRecord", err)
	}
	env, l = syncCrashReopen(t, fs, env, l, DefaultLogConfig)
	var got []int64
	for _, h := range readAll(t, l, 0, l.LogEndOffset()) {
		got = append(got, h.BaseOffset)
	}
	if want := []int64{0, 5, far, far + 10}; !slices.Equal(got, want) {
		t.Fatalf("recovered batches at %v, want %v:\n%s", got, want, env.logs)
	}
	env.close()
}

// TestReplicaCrashRecovery is TestCrashRecovery for a follower copying a compacted leader:
// batches keep the leader's offsets, with random gaps between them, some acknowledged (synced),
// checkpoints now and then, crashes at random points. Every acknowledged batch must survive,
// byte for byte, and offsets must increase.
func TestReplicaCrashRecovery(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	acked := map[int64][]byte{}
	cycles := 30
	if testing.Short() {
		cycles = 8
	}
	for cycle := 0; cycle < cycles; cycle++ {
		env := newTestEnv(t, fs, "/data")
		cfg := DefaultLogConfig
		cfg.SegmentBytes = int64(500 + rng.Intn(3000))
		l := env.log(tp0, cfg)
		verifyLog(t, l, acked, cycle, true)
		off := l.LogEndOffset()
		for i, ops := 0, rng.Intn(50); i < ops; i++ {
			off += int64(rng.Intn(3) * rng.Intn(40)) // the leader's cleaner removed these
			b := replicaBatch(off, 1+rng.Intn(4), rng.Intn(300), int64(cycle*1000+i))
			h, _ := segment.ParseHeader(b)
			off = h.NextOffset()
			res, err := l.Append(b, AppendOptions{KeepOffsets: true, SkipProducerChecks: true})
			if err != nil {
				t.Fatalf("cycle %d op %d: %v", cycle, i, err)
			}
			if rng.Intn(3) == 0 {
				if err := l.WaitDurable(res.SyncSeq); err != nil {
					t.Fatal(err)
				}
				acked[h.BaseOffset] = b
			}
			if rng.Intn(15) == 0 {
				env.e.Checkpoint()
			}
		}
		crashed := fs.CrashClone(rng)
		env.e.Close()
		fs = crashed
	}
	env := newTestEnv(t, fs, "/data")
	verifyLog(t, env.log(tp0, DefaultLogConfig), acked, cycles, true)
	env.close()
}
