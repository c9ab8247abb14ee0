package group

import (
	"errors"
	"log/slog"
	"math/rand"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/vfs"
)

// journalEnv is a coordinator over a LogJournal over engine logs on the crashable MemFS.
type journalEnv struct {
	t     *testing.T
	fs    *vfs.MemFS
	eng   *engine.Engine
	j     *LogJournal
	c     *Coordinator
	clock *ManualClock
}

const journalParts = 2

// logAppend is the AppendFunc of a log without followers: the broker's replication leader
// with an ISR of one, whose high watermark follows the log's durability.
func logAppend(logs []*engine.Log) AppendFunc {
	return func(p int32, batch []byte) (Durable, error) {
		res, err := logs[p].Append(batch, engine.AppendOptions{SkipProducerChecks: true})
		if err != nil {
			return nil, err
		}
		return func(done func(error)) { logs[p].NotifyDurable(res.SyncSeq, done) }, nil
	}
}

func openJournalEnv(t *testing.T, fs *vfs.MemFS, clock *ManualClock) *journalEnv {
	t.Helper()
	eng, err := engine.Open(engine.Config{Dir: "/data", FS: fs, Logger: slog.New(slog.DiscardHandler),
		RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.DefaultLogConfig
	cfg.SegmentBytes, cfg.MaxIndexBytes, cfg.RetentionMs = 4096, 4096, -1
	var logs []*engine.Log
	for p := int32(0); p < journalParts; p++ {
		l, err := eng.OpenLog(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p}, cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	j, err := OpenLogJournal(logs, JournalConfig{CompactAfter: 1 << 40, Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Append: logAppend(logs)})
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{Partitions: journalParts, Clock: clock, InitialRebalanceDelay: -1, Logger: slog.New(slog.DiscardHandler)}, j, j.Records)
	return &journalEnv{t: t, fs: fs, eng: eng, j: j, c: c, clock: clock}
}

func (e *journalEnv) close() {
	e.c.Close()
	e.j.Close()
	if err := e.eng.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// crash keeps only what was synced and reopens from it; the old engine is closed afterwards
// on the old filesystem.
func (e *journalEnv) crash(seed int64) *journalEnv {
	clone := e.fs.CrashClone(rand.New(rand.NewSource(seed)))
	e.c.Close()
	e.eng.Close()
	return openJournalEnv(e.t, clone, e.clock)
}

func (e *journalEnv) commit(group string, partition int32, offset int64) {
	e.t.Helper()
	errs, wait := e.c.Commit(CommitRequest{Group: group, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: partition, Offset: offset, LeaderEpoch: -1}}})
	if errs[0] != nil {
		e.t.Fatal(errs[0])
	}
	if err := wait.Wait(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *journalEnv) offset(group string, partition int32) int64 {
	return e.c.FetchOffsets(group, []TopicPartitions{{Topic: "t", Partitions: []int32{partition}}})[0].Offset.Offset
}

// TestJournalAckedCommitsSurviveCrash: every acknowledged commit (its wait returned) is there
// after a crash that drops everything unsynced, and deletions stay deleted.
func TestJournalAckedCommitsSurviveCrash(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	e := openJournalEnv(t, vfs.NewMemFS(), clock)
	groups := []string{"a", "b", "c", "d", "e"}
	for i := int64(0); i < 50; i++ {
		e.commit(groups[i%5], int32(i%3), i)
	}
	if err, wait := e.c.Delete("e"); err != nil || wait.Wait() != nil {
		t.Fatal(err)
	}
	e = e.crash(1)
	defer e.close()
	for i := int64(35); i < 50; i++ {
		if g := groups[i%5]; g != "e" {
			if got := e.offset(g, int32(i%3)); got != i {
				t.Fatalf("group %s partition %d: offset %d, want %d", g, i%3, got, i)
			}
		}
	}
	if _, ok := e.c.Describe("e"); ok {
		t.Fatal("deleted group back after the crash")
	}
}

// TestJournalCompaction: rewriting a partition keeps the state, frees whole segments, and a
// crash right after it (or a replay of the whole log) gives the same state.
func TestJournalCompaction(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	e := openJournalEnv(t, vfs.NewMemFS(), clock)
	for i := int64(0); i < 2000; i++ {
		e.commit("g", int32(i%4), i) // 4 live keys, rewritten 500 times each
	}
	e.commit("gone", 0, 1)
	if err, wait := e.c.Delete("gone"); err != nil || wait.Wait() != nil {
		t.Fatal(err)
	}
	p := PartitionFor("g", journalParts)
	before := e.j.parts[p].log.Size()
	if err := e.j.Compact(p); err != nil {
		t.Fatal(err)
	}
	after := e.j.parts[p].log.Size()
	if after*10 > before {
		t.Fatalf("log %d bytes before compaction, %d after", before, after)
	}
	e.commit("g", 0, 5000)
	e = e.crash(2)
	defer e.close()
	want := []int64{5000, 1997, 1998, 1999}
	for part, w := range want {
		if got := e.offset("g", int32(part)); got != w {
			t.Fatalf("partition %d: %d, want %d", part, got, w)
		}
	}
	if got := e.c.FetchOffsets("gone", nil); len(got) != 0 {
		t.Fatalf("deleted group's offsets back: %+v", got)
	}
}

// TestJournalCompactsByItself: past CompactAfter superseded records, appends trigger a
// background rewrite.
func TestJournalCompactsByItself(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	e := openJournalEnv(t, vfs.NewMemFS(), clock)
	defer e.close()
	e.j.compactAfter = 100
	p := e.j.parts[PartitionFor("g", journalParts)]
	for i := int64(0); i < 1000; i++ {
		e.commit("g", 0, i)
	}
	for p.compacting.Load() {
		time.Sleep(time.Millisecond)
	}
	if start := p.log.LogStartOffset(); start == 0 {
		t.Fatal("no compaction moved the log start")
	}
	if got := e.offset("g", 0); got != 999 {
		t.Fatalf("offset %d", got)
	}
}

// TestJournalAppendFunc: JournalConfig.Append gets every batch (commits and compaction
// rewrites) goes through it, with the batch's partition; its wait's error reaches the
// commit's wait, and an append error fails the commit (nothing acknowledged).
func TestJournalAppendFunc(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	eng, err := engine.Open(engine.Config{Dir: "/data", FS: vfs.NewMemFS(), Logger: slog.New(slog.DiscardHandler),
		RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	var logs []*engine.Log
	for p := int32(0); p < journalParts; p++ {
		l, err := eng.OpenLog(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p}, engine.DefaultLogConfig, true)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	calls := map[int32]int{}
	var failAppend, failWait error
	appendFn := func(p int32, batch []byte) (Durable, error) {
		calls[p]++
		if failAppend != nil {
			return nil, failAppend
		}
		res, err := logs[p].Append(batch, engine.AppendOptions{})
		if err != nil {
			return nil, err
		}
		return func(done func(error)) {
			if failWait != nil {
				done(failWait)
				return
			}
			logs[p].NotifyDurable(res.SyncSeq, done)
		}, nil
	}
	j, err := OpenLogJournal(logs, JournalConfig{CompactAfter: 1 << 40, Logger: slog.New(slog.DiscardHandler), Now: clock.Now, Append: appendFn})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := New(Config{Partitions: journalParts, Clock: clock, InitialRebalanceDelay: -1, Logger: slog.New(slog.DiscardHandler)}, j, j.Records)
	defer c.Close()
	commit := func(offset int64) (*kerr.Error, error) {
		errs, wait := c.Commit(CommitRequest{Group: "g", Generation: -1, Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: offset, LeaderEpoch: -1}}})
		if errs[0] != nil {
			return errs[0], nil
		}
		return nil, wait.Wait()
	}
	p := PartitionFor("g", journalParts)
	if e, err := commit(1); e != nil || err != nil {
		t.Fatalf("commit: %v %v", e, err)
	}
	if calls[p] != 1 || calls[1-p] != 0 {
		t.Fatalf("append calls %v, want 1 on partition %d", calls, p)
	}
	failWait = errors.New("not replicated")
	if _, err := commit(2); err != failWait {
		t.Fatalf("commit wait: %v, want %v", err, failWait)
	}
	failWait, failAppend = nil, errors.New("not leader")
	if e, _ := commit(3); e != kerr.CoordinatorNotAvailable {
		t.Fatalf("commit with a failing append: %v, want COORDINATOR_NOT_AVAILABLE", e)
	}
	failAppend = nil
	if err := j.Compact(p); err != nil {
		t.Fatal(err)
	}
	if calls[p] != 4 {
		t.Fatalf("append calls %v: the compaction did not go through the AppendFunc", calls)
	}
	// A replay of the log gives the last written state.
	j2, err := OpenLogJournal(logs, JournalConfig{Logger: slog.New(slog.DiscardHandler), Append: logAppend(logs)})
	if err != nil {
		t.Fatal(err)
	}
	c2 := New(Config{Partitions: journalParts, Clock: clock, Logger: slog.New(slog.DiscardHandler)}, j2, j2.Records)
	defer c2.Close()
	if got := c2.FetchOffsets("g", []TopicPartitions{{Topic: "t", Partitions: []int32{0}}})[0].Offset.Offset; got != 2 {
		t.Fatalf("replayed offset %d, want 2 (written, its wait failed)", got)
	}
}
