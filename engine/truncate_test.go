package engine

import (
	"bytes"
	"errors"
	"math/rand"
	"slices"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// TestElectionEpochTruncated: a leader records its epoch when elected (AssignEpochStartOffset)
// and loses leadership before appending in it. Truncating to its log end removes no record,
// but the epoch entry must go (Kafka's truncateTo), or the next leader's OffsetForLeaderEpoch
// would be answered from an epoch this log never held; the removal is persisted.
func TestElectionEpochTruncated(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	l := env.replicatedLog(tp0, DefaultLogConfig)
	mustAppend(t, l, batch(5, 10, 0))
	if err := l.AssignEpochStartOffset(3, 5); err != nil {
		t.Fatal(err)
	}
	if got := l.EndOffsetForEpoch(3); got != (EpochEndOffset{3, 5}) {
		t.Fatalf("current epoch before any append: %+v", got)
	}
	if got := l.EndOffsetForEpoch(1); got != (EpochEndOffset{0, 5}) {
		t.Fatalf("epoch between 0 and 3: %+v", got)
	}
	if err := l.AssignEpochStartOffset(4, 6); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("epoch start beyond the end: %v", err)
	}
	if err := l.AssignEpochStartOffset(2, 5); err != nil || l.LatestEpoch() != 3 {
		t.Fatalf("an older epoch must be ignored: %v, latest %d", err, l.LatestEpoch())
	}
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != 5 || !slices.Equal(l.EpochEntries(), []EpochEntry{{0, 0}}) {
		t.Fatalf("after truncating to the end: end %d, epochs %v", l.LogEndOffset(), l.EpochEntries())
	}
	env.reopen()
	l = env.replicatedLog(tp0, DefaultLogConfig)
	if !slices.Equal(l.EpochEntries(), []EpochEntry{{0, 0}}) {
		t.Fatalf("after reopen: epochs %v", l.EpochEntries())
	}
	env.close()
}

// TestTruncateFullyAndStartAt, on real files: a follower's log with several segments, epochs
// and an idempotent producer is emptied and restarted at offset 1000 while a reader holds a
// region of an old segment. Every offset is 1000, the epochs and producer state are gone (a
// sequence that would be out of order before is accepted), the reader still reads its bytes,
// the next replica append lands at 1000, and all of it survives a reopen.
func TestTruncateFullyAndStartAt(t *testing.T) {
	env := newTestEnv(t, vfs.Default, t.TempDir())
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 300
	l := env.replicatedLog(tp0, cfg)
	for i := 0; i < 6; i++ {
		b := testbatch.Build(testbatch.Options{Records: 2, ValueSize: 50, Idempotent: true, ProducerID: 7, BaseSequence: int32(2 * i)})
		if _, err := l.Append(b, AppendOptions{LeaderEpoch: int32(i / 2)}); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(8)
	if l.Segments() < 3 {
		t.Fatalf("want several segments, have %d", l.Segments())
	}
	r, err := l.Read(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	before := make([]byte, r.Len)
	r.File.ReadAt(before, r.Pos)

	if err := l.TruncateFullyAndStartAt(1000); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || l.HighWatermark() != 1000 || l.RecoveryPoint() != 1000 ||
		l.Segments() != 1 || len(l.EpochEntries()) != 0 {
		t.Fatalf("start %d end %d hw %d rp %d segments %d epochs %v", l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(),
			l.RecoveryPoint(), l.Segments(), l.EpochEntries())
	}
	after := make([]byte, r.Len)
	if _, err := r.File.ReadAt(after, r.Pos); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("a reader's region changed under it: %v", err)
	}
	r.Release()
	if _, err := l.Read(0, 100, 2000); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	// Sequence 100 follows nothing the log now knows: accepted.
	b := testbatch.Build(testbatch.Options{Records: 3, ValueSize: 20, Idempotent: true, ProducerID: 7, BaseSequence: 100})
	b = stampedAt(b, 1000, 9)
	if res, err := l.Append(b, AppendOptions{KeepOffsets: true}); err != nil || res.BaseOffset != 1000 || l.LogEndOffset() != 1003 {
		t.Fatalf("replica append after the restart: %+v, %v", res, err)
	}
	env.reopen()
	l = env.replicatedLog(tp0, cfg)
	hs := readAll(t, l, 1000, l.LogEndOffset())
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1003 || len(hs) != 1 || hs[0].BaseOffset != 1000 ||
		!slices.Equal(l.EpochEntries(), []EpochEntry{{9, 1000}}) {
		t.Fatalf("after reopen: start %d end %d batches %d epochs %v", l.LogStartOffset(), l.LogEndOffset(), len(hs), l.EpochEntries())
	}
	env.close()
}

// TestTruncateFullyAndStartAtCrash restarts a log at a random offset (below, inside or beyond
// its current range, the active segment's base included) on the crashable filesystem, appends
// a durable replica batch there and crashes: recovery must come back with the log starting at
// the restart offset and holding that batch, never the old records.
func TestTruncateFullyAndStartAtCrash(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	for round := 0; round < 30; round++ {
		fs := vfs.NewMemFS()
		env := newTestEnv(t, fs, "/data")
		cfg := DefaultLogConfig
		cfg.SegmentBytes = int64(200 + rng.Intn(800))
		l := env.replicatedLog(tp0, cfg)
		for i, n := 0, rng.Intn(20); i < n; i++ {
			mustAppend(t, l, batch(1+rng.Intn(3), rng.Intn(100), int64(i)))
		}
		if rng.Intn(2) == 0 {
			env.e.Checkpoint()
		}
		var at int64
		switch rng.Intn(3) {
		case 0:
			at = l.LogEndOffset() + rng.Int63n(100)
		case 1:
			at = rng.Int63n(l.LogEndOffset() + 1)
		default:
			at = l.segments()[len(l.segments())-1].base
		}
		// Half the time a reader holds the oldest segment across the restart and the crash.
		if rng.Intn(2) == 0 && l.LogEndOffset() > 0 {
			held, err := l.Read(0, 1, l.LogEndOffset())
			if err != nil {
				t.Fatal(err)
			}
			defer held.Release()
		}
		if err := l.TruncateFullyAndStartAt(at); err != nil {
			t.Fatal(err)
		}
		want := stampedAt(batch(2, 30, 5), at, 4)
		res, err := l.Append(slices.Clone(want), AppendOptions{KeepOffsets: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.WaitDurable(res.SyncSeq); err != nil {
			t.Fatal(err)
		}
		crashed := fs.CrashClone(rng)
		env.e.Close()
		env = newTestEnv(t, crashed, "/data")
		l = env.replicatedLog(tp0, cfg)
		if l.LogStartOffset() != at || l.LogEndOffset() != at+2 {
			t.Fatalf("round %d: restarted at %d, recovered log %d..%d", round, at, l.LogStartOffset(), l.LogEndOffset())
		}
		r, err := l.Read(at, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, r.Len)
		r.File.ReadAt(got, r.Pos)
		r.Release()
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: the batch at %d changed", round, at)
		}
		env.close()
	}
}

// stampedAt sets a batch's base offset and leader epoch as a leader's log would have them.
func stampedAt(b []byte, base int64, epoch int32) []byte {
	segment.SetBaseOffset(b, base)
	segment.SetPartitionLeaderEpoch(b, epoch)
	return b
}
