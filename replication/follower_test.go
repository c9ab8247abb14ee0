package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

var testTP = engine.TopicPartition{Topic: "t", Partition: 0}

// openTestLog opens a partition log on its own in-memory engine.
func openTestLog(t *testing.T, dir string) *engine.Log {
	t.Helper()
	fs := vfs.NewMemFS()
	fs.MkdirAll(dir, 0o755)
	fs.SyncDir("/")
	e, err := engine.Open(engine.Config{Dir: dir, FS: fs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	l, err := e.OpenLogWith(testTP, engine.DefaultLogConfig, engine.OpenOptions{Create: true, Replicated: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// appendAsLeader appends n one-batch produces in leader epoch epoch, values filled with fill.
func appendAsLeader(t *testing.T, l *engine.Log, epoch int32, n int, fill byte) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(testbatch.Build(testbatch.Options{Records: 2, Fill: fill}), engine.AppendOptions{LeaderEpoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
}

// logBytes reads a whole log, segment by segment.
func logBytes(t *testing.T, l *engine.Log) []byte {
	t.Helper()
	var out []byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		r, err := l.Read(off, 1<<30, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, r.Len)
		_, err = r.File.ReadAt(b, r.Pos)
		r.Release()
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d: %v", off, err)
		}
		out = append(out, b...)
		off = lastOffset(b) + 1
	}
	return out
}

// lastOffset is the last offset of the last whole batch in b.
func lastOffset(b []byte) int64 {
	last := int64(-1)
	for n := 0; n < len(b); {
		h, err := segment.ParseHeader(b[n:])
		if err != nil || h.Size() > len(b)-n {
			break
		}
		last = h.LastOffset()
		n += h.Size()
	}
	return last
}

// engineLeader serves a follower from a leader's engine.Log, as the broker will over the wire:
// OffsetForLeaderEpoch with Kafka's semantics, fetches of whole batches up to the log end.
type engineLeader struct {
	log   *engine.Log
	epoch int32
	calls []string
	// cut, if set, makes every fetch answer of more than one batch end inside its last one.
	cut bool
}

func (l *engineLeader) OffsetForLeaderEpoch(_ context.Context, _ engine.TopicPartition, current, epoch int32) (engine.EpochEndOffset, error) {
	if current != l.epoch {
		return engine.EpochEndOffset{}, ErrFencedLeaderEpoch
	}
	a := engine.EndOffsetForEpoch(l.log.EpochEntries(), epoch, l.log.LogEndOffset())
	l.calls = append(l.calls, fmt.Sprintf("epoch %d -> %d@%d", epoch, a.Epoch, a.EndOffset))
	return a, nil
}

func (l *engineLeader) LogStartOffset(_ context.Context, _ engine.TopicPartition, current int32) (int64, error) {
	if current != l.epoch {
		return 0, ErrFencedLeaderEpoch
	}
	l.calls = append(l.calls, "start")
	return l.log.LogStartOffset(), nil
}

func (l *engineLeader) Fetch(_ context.Context, _ engine.TopicPartition, current int32, offset int64, maxBytes int32) (FetchResult, error) {
	if current != l.epoch {
		return FetchResult{}, ErrFencedLeaderEpoch
	}
	if offset > l.log.LogEndOffset() || offset < l.log.LogStartOffset() {
		return FetchResult{}, ErrOffsetOutOfRange
	}
	l.calls = append(l.calls, fmt.Sprintf("fetch %d", offset))
	r, err := l.log.Read(offset, maxBytes, l.log.LogEndOffset())
	if err != nil {
		return FetchResult{}, err
	}
	defer r.Release()
	b := make([]byte, r.Len)
	if r.Len > 0 {
		if _, err := r.File.ReadAt(b, r.Pos); err != nil {
			return FetchResult{}, err
		}
	}
	if l.cut && len(b) > 10 && lastOffset(b[:len(b)-10]) >= 0 {
		b = b[:len(b)-10]
	}
	return FetchResult{Records: b, HighWatermark: l.log.HighWatermark(), LogStartOffset: l.log.LogStartOffset()}, nil
}

// TestFollowerTruncatesDivergedLogAndCatchesUp runs the KIP-279 case on real engine logs: the
// follower led epoch 1 and wrote batches nobody else has; the leader knows epochs 0, 2 and 3.
// The follower must cut its epoch-1 batches (and nothing of epoch 0 the leader has), then
// fetch until its log is byte for byte the leader's, epochs and high watermark included.
func TestFollowerTruncatesDivergedLogAndCatchesUp(t *testing.T) {
	leaderLog := openTestLog(t, "/leader")
	followerLog := openTestLog(t, "/follower")
	appendAsLeader(t, leaderLog, 0, 3, 'a')
	// The follower has the first two epoch-0 batches, then its own epoch-1 batches.
	res := &engineLeader{log: leaderLog, epoch: 0}
	for i := 0; i < 2; i++ {
		r, _ := res.Fetch(context.Background(), testTP, 0, followerLog.LogEndOffset(), 1)
		if _, err := followerLog.Append(r.Records, engine.AppendOptions{KeepOffsets: true, SkipProducerChecks: true}); err != nil {
			t.Fatal(err)
		}
	}
	appendAsLeader(t, followerLog, 1, 4, 'z')
	appendAsLeader(t, leaderLog, 2, 2, 'b')
	appendAsLeader(t, leaderLog, 3, 1, 'c')
	leaderLog.SetHighWatermark(leaderLog.LogEndOffset())

	leader := &engineLeader{log: leaderLog, epoch: 3, cut: true}
	f := mustFollower(t, 3, followerLog, leader, 250) // two or three batches a fetch
	if _, err := mustFollower(t, 2, followerLog, leader, 250).Step(context.Background()); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Fatalf("a stale leader epoch must be fenced: %v", err)
	}
	for i := 0; i < 20 && (!f.Truncated() || followerLog.LogEndOffset() < leaderLog.LogEndOffset()); i++ {
		if _, err := f.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if followerLog.LogEndOffset() != leaderLog.LogEndOffset() {
		t.Fatalf("follower stuck at %d, leader at %d; calls %v", followerLog.LogEndOffset(), leaderLog.LogEndOffset(), leader.calls)
	}
	// One more step brings the high watermark.
	if _, err := f.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The follower asked about its epoch 1; the leader answered epoch 0 ending at 6 (where
	// epoch 2 starts); the follower has epoch 0 up to 4, so it cut there.
	if leader.calls[0] != "epoch 1 -> 0@6" || leader.calls[1] != "fetch 4" {
		t.Fatalf("calls %v", leader.calls)
	}
	if !bytes.Equal(logBytes(t, followerLog), logBytes(t, leaderLog)) {
		fb, lb := logBytes(t, followerLog), logBytes(t, leaderLog)
		i := 0
		for i < min(len(fb), len(lb)) && fb[i] == lb[i] {
			i++
		}
		t.Fatalf("follower log differs from the leader's: %d vs %d bytes, first difference at %d (%d segments)", len(fb), len(lb), i, followerLog.Segments())
	}
	if !slices.Equal(followerLog.EpochEntries(), leaderLog.EpochEntries()) {
		t.Fatalf("epochs %v, leader %v", followerLog.EpochEntries(), leaderLog.EpochEntries())
	}
	if followerLog.HighWatermark() != leaderLog.HighWatermark() {
		t.Fatalf("hw %d, leader %d", followerLog.HighWatermark(), leaderLog.HighWatermark())
	}
}

func mustFollower(t *testing.T, epoch int32, log ReplicaLog, leader LeaderClient, maxBytes int32) *Follower {
	t.Helper()
	f, err := NewFollower(testTP, epoch, log, leader, maxBytes)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFollowerBelowLeaderLogStartRestartsThere: the leader deleted records the follower never
// fetched, so fetching from the follower's end is out of range. The follower must empty its log
// and restart at the leader's log start (Kafka's truncateFullyAndStartAt), then copy the rest
// byte for byte; a follower inside the leader's range must not.
func TestFollowerBelowLeaderLogStartRestartsThere(t *testing.T) {
	leaderLog := openTestLog(t, "/leader")
	followerLog := openTestLog(t, "/follower")
	appendAsLeader(t, leaderLog, 0, 2, 'a')
	leader := &engineLeader{log: leaderLog, epoch: 0}
	f := mustFollower(t, 0, followerLog, leader, 1<<20)
	if _, err := f.Step(context.Background()); err != nil || followerLog.LogEndOffset() != 4 {
		t.Fatalf("first fetch: %v, end %d", err, followerLog.LogEndOffset())
	}
	appendAsLeader(t, leaderLog, 0, 3, 'b') // offsets 4..9
	leaderLog.SetHighWatermark(8)
	if _, err := leaderLog.DeleteRecordsBefore(8); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Step(context.Background()); err != nil {
		t.Fatalf("out-of-range step: %v (calls %v)", err, leader.calls)
	}
	if followerLog.LogStartOffset() != 8 || followerLog.LogEndOffset() != 8 || followerLog.HighWatermark() != 8 || len(followerLog.EpochEntries()) != 0 {
		t.Fatalf("after restart: start %d end %d hw %d epochs %v", followerLog.LogStartOffset(), followerLog.LogEndOffset(), followerLog.HighWatermark(), followerLog.EpochEntries())
	}
	if _, err := f.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The leader's first readable batch holds 8 and 9; its bytes start at the batch's base.
	if !bytes.Equal(logBytes(t, followerLog), logBytes(t, leaderLog)) {
		t.Fatalf("follower %d bytes, leader %d", len(logBytes(t, followerLog)), len(logBytes(t, leaderLog)))
	}
	if !slices.Equal(followerLog.EpochEntries(), []engine.EpochEntry{{Epoch: 0, StartOffset: 8}}) {
		t.Fatalf("epochs %v", followerLog.EpochEntries())
	}
}

// TestFollowerNeedsReplicatedLog: a log whose high watermark follows its own end would show
// consumers records the leader has not committed.
func TestFollowerNeedsReplicatedLog(t *testing.T) {
	fs := vfs.NewMemFS()
	e, err := engine.Open(engine.Config{Dir: "/d", FS: fs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RetentionCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	l, err := e.OpenLog(testTP, engine.DefaultLogConfig, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewFollower(testTP, 0, l, &engineLeader{log: l}, 100); !errors.Is(err, ErrNotReplicated) {
		t.Fatalf("NewFollower on a single-replica log: %v", err)
	}
}

func TestWholeBatches(t *testing.T) {
	a := testbatch.Build(testbatch.Options{Records: 3})
	b := testbatch.Build(testbatch.Options{Records: 1})
	both := append(slices.Clone(a), b...)
	for cut, want := range map[int]int{0: len(both), 1: len(a), len(b) - 1: len(a), len(b): len(a), len(b) + 1: 0} {
		if got := len(wholeBatches(both[:len(both)-cut])); got != want {
			t.Errorf("cut %d: %d bytes, want %d", cut, got, want)
		}
	}
}
