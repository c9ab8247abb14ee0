package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

var tp0 = TopicPartition{Topic: "events", Partition: 0}

// forEachFS runs a test on real files and on the crashable in-memory filesystem.
func forEachFS(t *testing.T, f func(t *testing.T, fs vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { f(t, vfs.Default, t.TempDir()) })
	t.Run("mem", func(t *testing.T) { f(t, vfs.NewMemFS(), "/data") })
}

func TestAppendReadReopen(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		env := newTestEnv(t, fs, dir)
		cfg := DefaultLogConfig
		cfg.SegmentBytes = 4096
		cfg.IndexIntervalBytes = 256
		l := env.log(tp0, cfg)
		var want []int64
		for i := 0; i < 100; i++ {
			res := mustAppend(t, l, batch(3, 100, int64(i*10)))
			if res.BaseOffset != int64(i*3) || res.LastOffset != int64(i*3+2) {
				t.Fatalf("append %d: %+v", i, res)
			}
			want = append(want, res.BaseOffset)
		}
		if l.Segments() < 10 {
			t.Fatalf("expected rolls, have %d segments", l.Segments())
		}
		check := func(l *Log) {
			t.Helper()
			hs := readAll(t, l, 0, l.HighWatermark())
			if len(hs) != len(want) {
				t.Fatalf("read %d batches, want %d", len(hs), len(want))
			}
			for i, h := range hs {
				if h.BaseOffset != want[i] {
					t.Fatalf("batch %d at offset %d, want %d", i, h.BaseOffset, want[i])
				}
			}
			// Every offset, including one in the middle of a batch, finds its batch.
			for off := int64(0); off < 300; off += 7 {
				r, err := l.Read(off, 1, l.HighWatermark())
				if err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, segment.HeaderSize)
				r.File.ReadAt(buf, r.Pos)
				h, _ := segment.ParseHeader(buf)
				if h.BaseOffset > off || h.LastOffset() < off || r.Len != int64(h.Size()) {
					t.Fatalf("read %d: batch %d-%d len %d", off, h.BaseOffset, h.LastOffset(), r.Len)
				}
				r.Release()
			}
		}
		check(l)
		env.reopen()
		if strings.Contains(env.logs.String(), "recovered partition") {
			t.Fatal("clean reopen recovered")
		}
		l = env.log(tp0, cfg)
		if l.LogEndOffset() != 300 || l.HighWatermark() != 300 {
			t.Fatalf("reopened: end %d hw %d", l.LogEndOffset(), l.HighWatermark())
		}
		check(l)
		res := mustAppend(t, l, batch(1, 10, 5000))
		if res.BaseOffset != 300 {
			t.Fatalf("append after reopen at %d", res.BaseOffset)
		}
		env.close()
	})
}

func TestReadBounds(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	l := env.log(tp0, DefaultLogConfig)
	var sizes []int64
	for i := 0; i < 10; i++ {
		b := batch(2, 1000, 0)
		sizes = append(sizes, int64(len(b)))
		mustAppend(t, l, b)
	}
	// maxBytes smaller than the first batch: the first batch whole.
	r, err := l.Read(0, 10, 20)
	if err != nil || r.Len != sizes[0] {
		t.Fatalf("tiny max: %+v %v", r, err)
	}
	r.Release()
	// maxBytes of 2.5 batches: two whole batches.
	r, _ = l.Read(0, int32(sizes[0]*5/2), 20)
	if r.Len != sizes[0]+sizes[1] {
		t.Fatalf("2.5 batches: len %d", r.Len)
	}
	r.Release()
	// upTo in the middle of the log: stop at the batch holding it.
	r, _ = l.Read(2, 1<<20, 6)
	if r.Pos != sizes[0] || r.Len != sizes[1]+sizes[2] {
		t.Fatalf("bounded by upTo: %+v", r)
	}
	r.Release()
	// At the bound: empty, no error. Past the end: out of range.
	if r, err := l.Read(20, 100, 20); err != nil || r.Len != 0 {
		t.Fatalf("at end: %+v %v", r, err)
	}
	if _, err := l.Read(21, 100, 21); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past end: %v", err)
	}
	if n := testingAllocs(func() {
		r, _ := l.Read(7, 5000, 20)
		r.Release()
	}); n != 0 {
		t.Fatalf("Read allocates %v per call", n)
	}
}

func TestIdempotentProducer(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		env := newTestEnv(t, fs, dir)
		l := env.log(tp0, DefaultLogConfig)
		idem := func(seq int32, n int, epoch int16) []byte {
			return testbatch.Build(testbatch.Options{Records: n, Idempotent: true, ProducerID: 42, ProducerEpoch: epoch, BaseSequence: seq})
		}
		mustAppend(t, l, batch(5, 10, 0))
		first := mustAppend(t, l, idem(0, 3, 0))
		mustAppend(t, l, idem(3, 2, 0))
		dup, err := l.Append(idem(0, 3, 0), AppendOptions{})
		if err != nil || !dup.Duplicate || dup.BaseOffset != first.BaseOffset || dup.LastOffset != first.LastOffset {
			t.Fatalf("duplicate: %+v %v", dup, err)
		}
		if _, err := l.Append(idem(9, 1, 0), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("gap: %v", err)
		}
		mustAppend(t, l, idem(0, 1, 1)) // epoch bump
		if _, err := l.Append(idem(5, 1, 0), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("fenced: %v", err)
		}
		end := l.LogEndOffset()
		env.reopen()
		l = env.log(tp0, DefaultLogConfig)
		if _, err := l.Append(idem(5, 1, 0), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
			t.Fatalf("fenced after reopen: %v", err)
		}
		dup, err = l.Append(idem(0, 1, 1), AppendOptions{})
		if err != nil || !dup.Duplicate || l.LogEndOffset() != end {
			t.Fatalf("duplicate after reopen: %+v %v", dup, err)
		}
		env.close()
	})
}

func TestRetentionAndDeleteRecords(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 2000
	cfg.RetentionMs = time.Hour
	l := env.log(tp0, cfg)
	now := env.clock.Now().UnixMilli()
	for i := 0; i < 20; i++ {
		// Old records first, then fresh ones.
		ts := now - 2*time.Hour.Milliseconds()
		if i >= 10 {
			ts = now
		}
		mustAppend(t, l, batch(1, 900, ts))
	}
	segsBefore := l.Segments()
	n, err := l.ApplyRetention()
	if err != nil || n == 0 {
		t.Fatalf("time retention deleted %d (%v)", n, err)
	}
	if l.LogStartOffset() != 10 {
		t.Fatalf("log start %d after time retention, want 10 (segments %d -> %d)", l.LogStartOffset(), segsBefore, l.Segments())
	}
	if _, err := l.Read(5, 100, 20); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// Size retention keeps at most ~3 segments' worth; never the active segment.
	cfg.RetentionBytes = 3000
	l.SetConfig(cfg)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 3000+2000 || l.Segments() < 1 {
		t.Fatalf("size retention left %d bytes in %d segments", l.Size(), l.Segments())
	}
	// DeleteRecords moves the start and is persisted.
	start, err := l.DeleteRecordsBefore(18)
	if err != nil || start != 18 {
		t.Fatalf("delete records: %d %v", start, err)
	}
	if _, err := l.DeleteRecordsBefore(21); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("delete past hw: %v", err)
	}
	env.reopen()
	l = env.log(tp0, cfg)
	if l.LogStartOffset() != 18 || l.LogEndOffset() != 20 {
		t.Fatalf("after reopen start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	hs := readAll(t, l, 18, 20)
	if len(hs) != 2 || hs[0].BaseOffset != 18 {
		t.Fatalf("read after delete: %+v", hs)
	}
	env.close()
}

func TestTruncateTo(t *testing.T) {
	forEachFS(t, func(t *testing.T, fs vfs.FS, dir string) {
		env := newTestEnv(t, fs, dir)
		cfg := DefaultLogConfig
		cfg.SegmentBytes = 1500
		l := env.log(tp0, cfg)
		for i := 0; i < 12; i++ {
			mustAppend(t, l, batch(2, 500, int64(i)))
		}
		if err := l.TruncateTo(9); err != nil { // inside batch 8-9: removed whole
			t.Fatal(err)
		}
		if l.LogEndOffset() != 8 || l.HighWatermark() != 8 {
			t.Fatalf("after truncate end %d hw %d", l.LogEndOffset(), l.HighWatermark())
		}
		if res := mustAppend(t, l, batch(1, 10, 100)); res.BaseOffset != 8 {
			t.Fatalf("append after truncate at %d", res.BaseOffset)
		}
		env.reopen()
		l = env.log(tp0, cfg)
		hs := readAll(t, l, 0, l.LogEndOffset())
		if len(hs) != 5 || hs[4].BaseOffset != 8 || l.LogEndOffset() != 9 {
			t.Fatalf("after reopen: %d batches, end %d", len(hs), l.LogEndOffset())
		}
		env.close()
	})
}

func TestLeaderEpochs(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	l := env.log(tp0, DefaultLogConfig)
	for epoch := int32(0); epoch < 3; epoch++ {
		for i := 0; i < 2; i++ {
			if _, err := l.Append(batch(5, 10, 0), AppendOptions{LeaderEpoch: epoch}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		ask       int32
		epoch     int32
		endOffset int64
	}{{0, 0, 10}, {1, 1, 20}, {2, 2, 30}, {7, UndefinedEpoch, UndefinedOffset}} {
		if got := l.EndOffsetForEpoch(c.ask); got != (EpochEndOffset{c.epoch, c.endOffset}) {
			t.Errorf("epoch %d: got %+v, want %d@%d", c.ask, got, c.epoch, c.endOffset)
		}
	}
	l.TruncateTo(15)
	env.reopen()
	l = env.log(tp0, DefaultLogConfig)
	if got := l.EndOffsetForEpoch(1); got != (EpochEndOffset{1, 15}) {
		t.Fatalf("after truncation and reopen: %+v", got)
	}
	if got := l.EndOffsetForEpoch(2); got != (EpochEndOffset{UndefinedEpoch, UndefinedOffset}) {
		t.Fatalf("epoch 2 was truncated away, yet: %+v", got)
	}
	env.close()
}

func TestListOffsetsByTime(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 3000
	cfg.IndexIntervalBytes = 100
	l := env.log(tp0, cfg)
	for i := 0; i < 50; i++ {
		mustAppend(t, l, batch(2, 200, int64(1000+i*10))) // batch i: timestamps 1000+10i, +1
	}
	for _, c := range []struct {
		ts    int64
		off   int64
		found bool
	}{{0, 0, true}, {1000, 0, true}, {1001, 0, true}, {1002, 2, true}, {1255, 52, true}, {1491, 98, true}, {1492, 0, false}} {
		off, found, err := l.OffsetForTimestamp(c.ts)
		if err != nil || found != c.found || (found && off != c.off) {
			t.Errorf("ts %d: got %d %v %v, want %d %v", c.ts, off, found, err, c.off, c.found)
		}
	}
	if ts, off, _ := l.MaxTimestamp(); ts != 1491 || off != 98 {
		t.Fatalf("max timestamp %d at %d", ts, off)
	}
	env.close()
}

func TestMessageTooLargeAndBadInput(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	cfg := DefaultLogConfig
	cfg.MaxMessageBytes = 500
	l := env.log(tp0, cfg)
	if _, err := l.Append(batch(1, 600, 0), AppendOptions{}); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("too large: %v", err)
	}
	b := batch(1, 10, 0)
	b[len(b)-1] ^= 0xff
	if _, err := l.Append(b, AppendOptions{}); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("bad crc: %v", err)
	}
	if _, err := l.Append(append(batch(1, 10, 0), 1, 2, 3), AppendOptions{}); !errors.Is(err, segment.ErrTruncated) {
		t.Fatalf("trailing garbage: %v", err)
	}
	if _, err := l.Append(nil, AppendOptions{}); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("empty: %v", err)
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("bad input appended: end %d", l.LogEndOffset())
	}
	env.close()
}

func TestLogAppendTime(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	cfg := DefaultLogConfig
	cfg.LogAppendTime = true
	l := env.log(tp0, cfg)
	res := mustAppend(t, l, batch(3, 10, 5))
	if res.LogAppendTime != env.clock.Now().UnixMilli() {
		t.Fatalf("log append time %d", res.LogAppendTime)
	}
	hs := readAll(t, l, 0, 3)
	if hs[0].MaxTimestamp != res.LogAppendTime || hs[0].Attributes&segment.AttrLogAppendTime == 0 {
		t.Fatalf("stored header %+v", hs[0])
	}
	env.close()
}

func TestFsyncErrorTakesDirOffline(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/d")
	l := env.log(tp0, DefaultLogConfig)
	res := mustAppend(t, l, batch(1, 10, 0))
	if err := l.WaitDurable(res.SyncSeq); err != nil {
		t.Fatal(err)
	}
	fs.SetSyncError(func(name string) error {
		if strings.HasSuffix(name, ".log") {
			return fmt.Errorf("EIO")
		}
		return nil
	})
	res = mustAppend(t, l, batch(1, 10, 0))
	if err := l.WaitDurable(res.SyncSeq); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("wait after fsync error: %v", err)
	}
	fs.SetSyncError(nil) // the disk "recovers": we must not pretend the data was synced
	if _, err := l.Append(batch(1, 10, 0), AppendOptions{}); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("append after failure: %v", err)
	}
	if env.e.Offline() == nil {
		t.Fatal("engine not offline")
	}
	if _, err := env.e.OpenLog(TopicPartition{"other", 0}, DefaultLogConfig, true); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("open after failure: %v", err)
	}
	if err := env.e.Close(); err == nil {
		t.Fatal("close of an offline dir reported success")
	}
	if _, err := fs.Stat("/d/" + cleanShutdownFile); err == nil {
		t.Fatal("clean shutdown marker written for an offline dir")
	}
}

func testingAllocs(f func()) float64 { return testing.AllocsPerRun(100, f) }

func TestFlushPolicies(t *testing.T) {
	// flush.messages=3: every third message asks for a sync before the acknowledgement.
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	cfg := DefaultLogConfig
	cfg.FlushMessages = 3
	l := env.log(tp0, cfg)
	var must []bool
	for i := 0; i < 4; i++ {
		must = append(must, mustAppend(t, l, batch(2, 10, 0)).MustSync)
	}
	if fmt.Sprint(must) != "[false true false true]" {
		t.Fatalf("MustSync per append: %v", must)
	}
	env.close()

	// flush.ms: the housekeeping loop syncs data nobody waits for once it is old enough.
	fs := vfs.NewMemFS()
	clock := newTestClock()
	e, err := Open(Config{Dir: "/d", FS: fs, Now: clock.Now, FlushCheckInterval: time.Millisecond, RetentionCheckInterval: time.Hour, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cfg = DefaultLogConfig
	cfg.FlushMs = time.Second
	l, err = e.OpenLog(tp0, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(1, 10, 0))
	clock.Advance(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		crashed := fs.CrashClone(nil)
		if fi, err := crashed.Stat("/d/events-0/00000000000000000000.log"); err == nil && fi.Size() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("flush.ms never synced the appended batch")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestProducerExpiry(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	l := env.log(tp0, DefaultLogConfig)
	ts := env.clock.Now().UnixMilli()
	b := testbatch.Build(testbatch.Options{Records: 1, Idempotent: true, ProducerID: 9, BaseSequence: 0, BaseTimestamp: ts})
	mustAppend(t, l, b)
	env.e.RunRetention()
	// Still known: a gap in its sequence is refused.
	if _, err := l.Append(testbatch.Build(testbatch.Options{Idempotent: true, ProducerID: 9, BaseSequence: 5, BaseTimestamp: ts}), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("known producer: %v", err)
	}
	env.clock.Advance(25 * time.Hour) // past producer.id.expiration.ms (24 h)
	env.e.RunRetention()
	// Forgotten: any sequence is accepted, as for a new producer.
	if _, err := l.Append(testbatch.Build(testbatch.Options{Idempotent: true, ProducerID: 9, BaseSequence: 5, BaseTimestamp: ts}), AppendOptions{}); err != nil {
		t.Fatalf("expired producer: %v", err)
	}
	env.close()
}

// TestRetentionDeletesActiveSegment: once every record of the active segment is past
// retention.ms (or the log is over retention.bytes), the active segment goes too, as in
// Kafka: a new empty segment is rolled at the end offset first. Never past the high
// watermark, and never an empty active segment.
func TestRetentionDeletesActiveSegment(t *testing.T) {
	env := newTestEnv(t, vfs.NewMemFS(), "/d")
	defer env.close()
	cfg := DefaultLogConfig
	cfg.RetentionMs = time.Hour
	l, err := env.e.OpenLogWith(tp0, cfg, OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	old := env.clock.Now().Add(-2 * time.Hour).UnixMilli()
	for i := 0; i < 3; i++ {
		mustAppend(t, l, batch(2, 100, old))
	}
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("retention past the high watermark deleted %d (%v)", n, err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := l.ApplyRetention(); err != nil || n != 1 {
		t.Fatalf("retention of an expired active segment deleted %d (%v), want 1", n, err)
	}
	if l.LogStartOffset() != 6 || l.LogEndOffset() != 6 || l.Segments() != 1 || l.Size() != 0 {
		t.Fatalf("after deleting the active segment: start %d end %d, %d segments, %d bytes",
			l.LogStartOffset(), l.LogEndOffset(), l.Segments(), l.Size())
	}
	if n, err := l.ApplyRetention(); err != nil || n != 0 {
		t.Fatalf("retention of an empty active segment deleted %d (%v)", n, err)
	}
	if res := mustAppend(t, l, batch(1, 100, env.clock.Now().UnixMilli())); res.BaseOffset != 6 {
		t.Fatalf("append after retention at %d, want 6", res.BaseOffset)
	}
	// retention.bytes=0: everything goes, the active segment included.
	cfg.RetentionMs, cfg.RetentionBytes = -1, 0
	l.SetConfig(cfg)
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := l.ApplyRetention(); err != nil || n != 1 || l.LogStartOffset() != 7 {
		t.Fatalf("retention.bytes=0 deleted %d (%v), log start %d, want 1 and 7", n, err, l.LogStartOffset())
	}
	env.reopen()
	l, err = env.e.OpenLogWith(tp0, cfg, OpenOptions{Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 7 || l.LogEndOffset() != 7 {
		t.Fatalf("after reopen: start %d end %d, want 7 and 7", l.LogStartOffset(), l.LogEndOffset())
	}
}
