package engine

import (
	"log/slog"
	"math/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// replicatedLog opens (creating) tp as a replicated log.
func (env *testEnv) replicatedLog(tp TopicPartition, cfg LogConfig) *Log {
	env.t.Helper()
	l, err := env.e.OpenLogWith(tp, cfg, OpenOptions{Create: true, Replicated: true})
	if err != nil {
		env.t.Fatal(err)
	}
	return l
}

// TestHighWatermarkCheckpoint, on real files: a replicated log's high watermark is written to
// replication-offset-checkpoint at a clean close (in Kafka's format) and restored on open; a
// single-replica log in the same directory keeps HW = LEO and is not listed; a replicated
// partition not opened in a run keeps its entry; a checkpoint beyond the log is clamped to it.
func TestHighWatermarkCheckpoint(t *testing.T) {
	dir := t.TempDir()
	env := newTestEnv(t, vfs.Default, dir)
	single := TopicPartition{"single", 0}
	rl := env.replicatedLog(tp0, DefaultLogConfig)
	sl := env.log(single, DefaultLogConfig)
	for i := 0; i < 3; i++ {
		mustAppend(t, rl, batch(4, 10, 0))
		mustAppend(t, sl, batch(4, 10, 0))
	}
	if rl.HighWatermark() != 0 || sl.HighWatermark() != 12 {
		t.Fatalf("before replication: replicated hw %d, single hw %d", rl.HighWatermark(), sl.HighWatermark())
	}
	rl.SetHighWatermark(6)
	env.close()
	data, err := vfs.ReadFile(vfs.Default, filepath.Join(dir, highWatermarkFile))
	if err != nil || string(data) != "0\n1\n"+tp0.Topic+" 0 6\n" {
		t.Fatalf("checkpoint %q, %v", data, err)
	}

	env.open()
	if rl = env.replicatedLog(tp0, DefaultLogConfig); rl.HighWatermark() != 6 || rl.LogEndOffset() != 12 {
		t.Fatalf("reopened: hw %d end %d, want 6 and 12", rl.HighWatermark(), rl.LogEndOffset())
	}
	if sl = env.log(single, DefaultLogConfig); sl.HighWatermark() != 12 {
		t.Fatalf("single-replica hw %d, want its end 12", sl.HighWatermark())
	}
	if _, err := env.e.OpenLog(tp0, DefaultLogConfig, false); err == nil {
		t.Fatal("opening a replicated log as single-replica must fail")
	}
	env.close()

	// A run that never opens the replicated partition keeps its high watermark.
	env.open()
	env.log(single, DefaultLogConfig)
	if err := env.e.CheckpointHighWatermarks(); err != nil {
		t.Fatal(err)
	}
	env.close()
	env.open()
	if rl = env.replicatedLog(tp0, DefaultLogConfig); rl.HighWatermark() != 6 {
		t.Fatalf("after a run without it: hw %d, want 6", rl.HighWatermark())
	}
	env.close()

	// A checkpoint beyond the log (its tail was lost) is clamped to the end.
	ckpt := map[TopicPartition]int64{tp0: 100}
	if err := writeOffsetCheckpoint(vfs.Default, dir, highWatermarkFile, ckpt); err != nil {
		t.Fatal(err)
	}
	env.open()
	if rl = env.replicatedLog(tp0, DefaultLogConfig); rl.HighWatermark() != 12 {
		t.Fatalf("checkpoint beyond the end: hw %d, want 12", rl.HighWatermark())
	}
	env.close()
}

// TestHighWatermarkCheckpointPeriodic: the housekeeping loop writes the checkpoint every
// HighWatermarkCheckpointInterval, without a close.
func TestHighWatermarkCheckpointPeriodic(t *testing.T) {
	fs := vfs.NewMemFS()
	e, err := Open(Config{Dir: "/d", FS: fs, Logger: slog.New(slog.DiscardHandler),
		FlushCheckInterval: time.Millisecond, HighWatermarkCheckpointInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	l, err := e.OpenLogWith(tp0, DefaultLogConfig, OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(5, 10, 0))
	l.SetHighWatermark(3)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		got, err := readOffsetCheckpoint(fs, "/d", highWatermarkFile)
		if err == nil && got[tp0] == 3 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no periodic checkpoint of hw 3: %v, %v", got, err)
		}
	}
}

// TestHighWatermarkCrash appends to a replicated log on the crashable filesystem, moves the
// high watermark forward at random (up to the end offset, durable or not, as followers may
// have what this disk lost), checkpoints at random and crashes. After each restart the high
// watermark is exactly the last checkpointed one clamped to the recovered log: it never goes
// back past what was checkpointed unless the log itself is shorter, and never exceeds the end.
func TestHighWatermarkCrash(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fs := vfs.NewMemFS()
	ckpt := int64(0) // last high watermark known durable in the checkpoint
	cycles := 40
	if testing.Short() {
		cycles = 10
	}
	for cycle := 0; cycle < cycles; cycle++ {
		env := newTestEnv(t, fs, "/data")
		cfg := DefaultLogConfig
		cfg.SegmentBytes = int64(1000 + rng.Intn(4000))
		l := env.replicatedLog(tp0, cfg)
		want := min(max(ckpt, l.LogStartOffset()), l.LogEndOffset())
		if hw := l.HighWatermark(); hw != want || hw > l.LogEndOffset() {
			t.Fatalf("cycle %d: hw %d, want %d (checkpointed %d, log %d..%d)", cycle, hw, want, ckpt, l.LogStartOffset(), l.LogEndOffset())
		}
		for i, ops := 0, rng.Intn(40); i < ops; i++ {
			res := mustAppend(t, l, batch(1+rng.Intn(4), rng.Intn(300), int64(i)))
			if rng.Intn(3) == 0 {
				if err := l.WaitDurable(res.SyncSeq); err != nil {
					t.Fatal(err)
				}
			}
			if rng.Intn(2) == 0 {
				hw := l.HighWatermark()
				l.SetHighWatermark(hw + rng.Int63n(l.LogEndOffset()-hw+1))
			}
			if rng.Intn(6) == 0 {
				hw := l.HighWatermark()
				if err := env.e.CheckpointHighWatermarks(); err != nil {
					t.Fatal(err)
				}
				ckpt = hw
			}
		}
		if rng.Intn(5) == 0 {
			hw := l.HighWatermark()
			env.close()
			ckpt = hw
		} else {
			crashed := fs.CrashClone(rng)
			env.e.Close()
			fs = crashed
		}
	}
}
