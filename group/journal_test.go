package group

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// journalEnv is a coordinator over a LogJournal over compacted engine logs on the crashable
// MemFS. The engine's cleaner runs only when a test calls clean, on the engine's own clock
// (engineNow), apart from the coordinator's.
type journalEnv struct {
	t         *testing.T
	fs        *vfs.MemFS
	eng       *engine.Engine
	logs      []*engine.Log
	j         *LogJournal
	c         *Coordinator
	clock     *ManualClock
	engineNow *time.Time
}

const journalParts = 2

// journalLogConfig is __consumer_offsets' config as the broker creates it (compact, no
// retention), with small segments so that cleaning has whole segments to work on.
func journalLogConfig() engine.LogConfig {
	cfg := engine.DefaultLogConfig
	cfg.SegmentBytes, cfg.MaxIndexBytes, cfg.RetentionMs = 4096, 4096, -1
	cfg.CleanupPolicy, cfg.DeleteRetention = engine.CleanupCompact, time.Hour
	return cfg
}

// logAppend is the AppendFunc of a log without followers: the broker's replication leader
// with an ISR of one, whose high watermark follows the log's durability.
func logAppend(logs []*engine.Log) AppendFunc {
	return logAppendWith(logs, engine.AppendOptions{SkipProducerChecks: true})
}

// logAppendWith is logAppend appending with opts (Coordinator for AppendTxn).
func logAppendWith(logs []*engine.Log, opts engine.AppendOptions) AppendFunc {
	return func(p int32, batch []byte) (Durable, error) {
		res, err := logs[p].Append(batch, opts)
		if err != nil {
			return nil, err
		}
		return func(done func(error)) { logs[p].NotifyDurable(res.SyncSeq, done) }, nil
	}
}

func openJournalEnv(t *testing.T, fs *vfs.MemFS, clock *ManualClock, engineNow *time.Time) *journalEnv {
	t.Helper()
	cleaner := engine.DefaultCleanerConfig
	cleaner.Enable = false // the test cleans when it wants to
	eng, err := engine.Open(engine.Config{Dir: "/data", FS: fs, Logger: slog.New(slog.DiscardHandler), Cleaner: &cleaner,
		Now: func() time.Time { return *engineNow }, RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var logs []*engine.Log
	for p := int32(0); p < journalParts; p++ {
		l, err := eng.OpenLog(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p}, journalLogConfig(), true)
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	j, rp, err := OpenLogJournal(logs, JournalConfig{Now: clock.Now, Append: logAppend(logs),
		AppendTxn: logAppendWith(logs, engine.AppendOptions{Coordinator: true})})
	if err != nil {
		t.Fatal(err)
	}
	c := New(Config{Partitions: journalParts, Clock: clock, InitialRebalanceDelay: -1, Logger: slog.New(slog.DiscardHandler),
		Topics: func(name string) (TopicInfo, bool) {
			return TopicInfo{ID: [16]byte{1}, Name: name, Partitions: 4}, name == "t"
		},
		NewMemberID: func(client string) string { return client + "-member" }}, j, rp.Records)
	return &journalEnv{t: t, fs: fs, eng: eng, logs: logs, j: j, c: c, clock: clock, engineNow: engineNow}
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
	return openJournalEnv(e.t, clone, e.clock, e.engineNow)
}

// clean runs the engine's log cleaner over every partition.
func (e *journalEnv) clean() {
	e.t.Helper()
	for p := range e.logs {
		if _, err := e.eng.Clean(engine.TopicPartition{Topic: "__consumer_offsets", Partition: int32(p)}); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *journalEnv) size() (n int64) {
	for _, l := range e.logs {
		n += l.Size()
	}
	return n
}

// records counts the records in the logs, and the tombstones among them.
func (e *journalEnv) records() (n, tombstones int) {
	e.t.Helper()
	for _, l := range e.logs {
		for off := l.LogStartOffset(); off < l.LogEndOffset(); {
			reg, err := l.Read(off, 1<<20, l.LogEndOffset())
			if err != nil {
				e.t.Fatal(err)
			}
			buf := make([]byte, reg.Len)
			_, err = reg.File.ReadAt(buf, reg.Pos)
			reg.Release()
			if err != nil || len(buf) == 0 {
				e.t.Fatalf("read at %d: %v", off, err)
			}
			for pos := 0; pos < len(buf); {
				h, err := segment.ParseHeader(buf[pos:])
				if err != nil {
					e.t.Fatal(err)
				}
				if err := decodeBatch(buf[pos:pos+h.Size()], func(r Record) {
					n++
					if r.Value == nil {
						tombstones++
					}
				}); err != nil {
					e.t.Fatal(err)
				}
				off, pos = h.NextOffset(), pos+h.Size()
			}
		}
	}
	return n, tombstones
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

func (e *journalEnv) delete(group string) {
	e.t.Helper()
	if err, wait := e.c.Delete(group); err != nil || wait.Wait() != nil {
		e.t.Fatalf("delete %s: %v", group, err)
	}
}

func (e *journalEnv) offset(group string, partition int32) int64 {
	return e.c.FetchOffsets(group, []TopicPartitions{{Topic: "t", Partitions: []int32{partition}}})[0].Offset.Offset
}

// state describes everything a restart restores: the groups, their kind and state, a classic
// group's generation, protocol and members with their assignments, and every committed
// offset.
func (e *journalEnv) state() string {
	var b strings.Builder
	for _, l := range e.c.List() {
		fmt.Fprintf(&b, "%s %s %v", l.Group, l.Type, l.State)
		if d, ok := e.c.Describe(l.Group); ok {
			fmt.Fprintf(&b, " gen %d %s %s", d.Generation, d.ProtocolType, d.Protocol)
			for _, m := range d.Members {
				fmt.Fprintf(&b, " [%s %q]", m.MemberID, m.Assignment)
			}
		}
		offs := e.c.FetchOffsets(l.Group, nil)
		slices.SortFunc(offs, func(a, b CommittedOffset) int {
			return strings.Compare(fmt.Sprint(a.Topic, a.Partition), fmt.Sprint(b.Topic, b.Partition))
		})
		for _, o := range offs {
			fmt.Fprintf(&b, " %s-%d@%d", o.Topic, o.Partition, o.Offset.Offset)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestJournalAckedCommitsSurviveCrash: every acknowledged commit (its wait returned) is there
// after a crash that drops everything unsynced, and deletions stay deleted.
func TestJournalAckedCommitsSurviveCrash(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	now := clock.Now()
	e := openJournalEnv(t, vfs.NewMemFS(), clock, &now)
	groups := []string{"a", "b", "c", "d", "e"}
	for i := int64(0); i < 50; i++ {
		e.commit(groups[i%5], int32(i%3), i)
	}
	e.delete("e")
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

// TestJournalReplayAfterClean: the coordinator's records — offsets rewritten thousands of
// times, a classic group's metadata across rebalances, a consumer group's epoch, a deleted
// group, an OffsetDelete, offsets expired by retention — compacted by the engine's log
// cleaner replay to the same state as the whole log did: first with the superseded records
// gone (the tombstones kept), then, past delete.retention.ms, with the tombstones gone too.
// The log shrinks to about its live records.
func TestJournalReplayAfterClean(t *testing.T) {
	clock := NewManualClock(time.Unix(1_700_000_000, 0))
	engineNow := clock.Now()
	e := openJournalEnv(t, vfs.NewMemFS(), clock, &engineNow)

	// Offsets that expire (offsets.retention.minutes) before the rest is written.
	e.commit("old", 0, 1)
	e.commit("old-part", 0, 1)
	clock.Advance(8 * 24 * time.Hour)
	e.commit("old-part", 1, 2)
	e.c.ExpireOffsets() // "old" is deleted whole, "old-part" keeps partition 1

	for i := int64(0); i < 2000; i++ {
		e.commit("g", int32(i%4), i) // 4 live keys, rewritten 500 times each
	}
	e.commit("gone", 0, 1)
	e.delete("gone")
	e.commit("offset-deleted", 0, 1)
	e.commit("offset-deleted", 1, 1)
	if err, _, wait := e.c.DeleteOffsets("offset-deleted", []TopicPartitions{{Topic: "t", Partitions: []int32{0}}}); err != nil || wait.Wait() != nil {
		t.Fatalf("delete offsets: %v", err)
	}

	// A classic group, rebalanced a few times (its metadata record rewritten), left Stable.
	for i := 1; i <= 5; i++ {
		ch, m := joinTwoStep(t, e.c, joinReq("classic", "", "cl", "range"))
		r := mustReady(t, ch)
		if r.Err != nil {
			t.Fatalf("join: %+v", r)
		}
		gen := r.Generation
		s := mustReady(t, e.c.Sync(SyncRequest{Group: "classic", MemberID: m, Generation: gen,
			Assignments: []Assignment{{m, []byte(fmt.Sprint("assignment-", i))}}}))
		if s.Err != nil || s.Wait.Wait() != nil {
			t.Fatalf("sync: %+v", s)
		}
		errs, wait := e.c.Commit(CommitRequest{Group: "classic", MemberID: m, Generation: gen,
			Offsets: []CommitOffset{{Topic: "t", Partition: 0, Offset: int64(gen), LeaderEpoch: -1}}})
		if errs[0] != nil || wait.Wait() != nil {
			t.Fatalf("commit: %v", errs[0])
		}
		if i < 5 {
			if errs := e.c.Leave("classic", []LeaveMember{{MemberID: m}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		}
	}
	// A consumer-protocol group: its epoch record, rewritten at every epoch bump; its
	// members leave (they do not survive a restart) and it keeps its offsets.
	for i := 0; i < 3; i++ {
		r := e.c.ConsumerHeartbeat(HeartbeatRequest{Group: "kip848", MemberID: fmt.Sprint("m", i), MemberEpoch: JoinEpoch,
			RebalanceTimeout: 30 * time.Second, SubscribedTopics: []string{"t"}, Owned: []TopicPartitionsID{}})
		mustErr(t, r.Err, nil)
	}
	for i := 0; i < 3; i++ {
		mustErr(t, e.c.ConsumerHeartbeat(HeartbeatRequest{Group: "kip848", MemberID: fmt.Sprint("m", i), MemberEpoch: LeaveEpoch}).Err, nil)
	}
	e.commit("kip848", 3, 33)
	// Commits of one group per partition, so that every record above lies in a closed
	// segment: the cleaner never touches the active one.
	for p := int32(0); p < journalParts; p++ {
		g := "filler"
		for n := 0; PartitionFor(g, journalParts) != p; n++ {
			g = fmt.Sprint("filler-", n)
		}
		for i := int64(0); i < 100; i++ {
			e.commit(g, 0, i)
		}
	}
	want := e.state()
	for _, g := range []string{"g", "classic", "kip848", "old-part", "offset-deleted"} {
		if !strings.Contains(want, g+" ") {
			t.Fatalf("group %s missing before the clean:\n%s", g, want)
		}
	}
	for _, g := range []string{"old", "gone"} {
		if strings.Contains(want, g+" ") {
			t.Fatalf("group %s not deleted:\n%s", g, want)
		}
	}

	before := e.size()
	beforeRecs, _ := e.records()
	e.clean()
	after := e.size()
	afterRecs, tombstones := e.records()
	if after*5 > before || tombstones == 0 {
		t.Fatalf("log %d bytes (%d records) before the clean, %d (%d records, %d tombstones) after", before, beforeRecs, after, afterRecs, tombstones)
	}
	t.Logf("cleaned: %d bytes, %d records → %d bytes, %d records (%d tombstones)", before, beforeRecs, after, afterRecs, tombstones)
	e = e.crash(2)
	if got := e.state(); got != want {
		t.Fatalf("state after clean and crash:\n%s\nwant:\n%s", got, want)
	}

	// Past delete.retention.ms the next clean drops the tombstones; the groups they deleted
	// stay deleted.
	engineNow = engineNow.Add(2 * time.Hour)
	e.clean()
	if _, tombstones := e.records(); tombstones != 0 {
		t.Fatalf("%d tombstones left after delete.retention.ms", tombstones)
	}
	e = e.crash(3)
	defer e.close()
	if got := e.state(); got != want {
		t.Fatalf("state after the tombstones' removal and a crash:\n%s\nwant:\n%s", got, want)
	}
}

// TestJournalAppendFunc: JournalConfig.Append gets every batch, with the batch's partition;
// its wait's error reaches the commit's wait, and an append error fails the commit (nothing
// acknowledged).
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
		l, err := eng.OpenLog(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p}, journalLogConfig(), true)
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
	j, rp, err := OpenLogJournal(logs, JournalConfig{Now: clock.Now, Append: appendFn})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c := New(Config{Partitions: journalParts, Clock: clock, InitialRebalanceDelay: -1, Logger: slog.New(slog.DiscardHandler)}, j, rp.Records)
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
	// A replay of the log gives the last written state.
	j2, rp2, err := OpenLogJournal(logs, JournalConfig{Append: logAppend(logs)})
	if err != nil {
		t.Fatal(err)
	}
	c2 := New(Config{Partitions: journalParts, Clock: clock, Logger: slog.New(slog.DiscardHandler)}, j2, rp2.Records)
	defer c2.Close()
	if got := c2.FetchOffsets("g", []TopicPartitions{{Topic: "t", Partitions: []int32{0}}})[0].Offset.Offset; got != 2 {
		t.Fatalf("replayed offset %d, want 2 (written, its wait failed)", got)
	}
	// The replay reads the same every time: a second reader is not left with nothing.
	var first, second []string
	for r := range rp2.Records {
		first = append(first, string(r.Key)+"="+string(r.Value))
	}
	for r := range rp2.Records {
		second = append(second, string(r.Key)+"="+string(r.Value))
	}
	slices.Sort(first)
	slices.Sort(second)
	if len(first) == 0 || !slices.Equal(first, second) {
		t.Fatalf("second read of the replay: %d records, first read %d", len(second), len(first))
	}
	c3 := New(Config{Partitions: journalParts, Clock: clock, Logger: slog.New(slog.DiscardHandler)}, j2, rp2.Records)
	defer c3.Close()
	if got := c3.FetchOffsets("g", []TopicPartitions{{Topic: "t", Partitions: []int32{0}}})[0].Offset.Offset; got != 2 {
		t.Fatalf("offset replayed by a second coordinator %d, want 2", got)
	}
}
