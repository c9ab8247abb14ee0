package txn

import (
	"errors"
	"log/slog"
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/internal/vfs"
)

// env is a coordinator over a group.LogJournal over a real engine log on the crashable
// MemFS, with a manual clock. The markers it asks for are recorded in sent; the test plays
// the partition leaders by calling their done.
type env struct {
	t     *testing.T
	fs    *vfs.MemFS
	eng   *engine.Engine
	log   *engine.Log
	j     *group.LogJournal
	c     *Coordinator
	clock *group.ManualClock
	sent  chan sent
	pids  *int64 // the producer id allocator, shared across restarts
}

type sent struct {
	m    Markers
	done func(error)
}

const (
	testEpoch   = 7 // the coordinator epoch markers carry
	waitTimeout = 5 * time.Second
)

var tp0, tp1 = engine.TopicPartition{Topic: "t", Partition: 0}, engine.TopicPartition{Topic: "t", Partition: 1}

func newEnv(t *testing.T) *env {
	pids := int64(1000)
	return openEnv(t, vfs.NewMemFS(), group.NewManualClock(time.Unix(1_700_000_000, 0)), &pids)
}

func openEnv(t *testing.T, fs *vfs.MemFS, clock *group.ManualClock, pids *int64) *env {
	t.Helper()
	eng, err := engine.Open(engine.Config{Dir: "/data", FS: fs, Logger: slog.New(slog.DiscardHandler),
		RetentionCheckInterval: -1, CheckpointInterval: -1, FlushCheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	lc := engine.DefaultLogConfig
	lc.SegmentBytes, lc.MaxIndexBytes, lc.RetentionMs = 4096, 4096, -1
	l, err := eng.OpenLog(engine.TopicPartition{Topic: "__transaction_state", Partition: 0}, lc, true)
	if err != nil {
		t.Fatal(err)
	}
	appendFn := func(_ int32, batch []byte) (group.Durable, error) {
		res, err := l.Append(batch, engine.AppendOptions{SkipProducerChecks: true})
		if err != nil {
			return nil, err
		}
		return func(done func(error)) { l.NotifyDurable(res.SyncSeq, done) }, nil
	}
	j, rp, err := group.OpenLogJournal([]*engine.Log{l}, group.JournalConfig{Now: clock.Now, Append: appendFn})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fs: fs, eng: eng, log: l, j: j, clock: clock, sent: make(chan sent, 16), pids: pids}
	e.c = New(Config{CoordinatorEpoch: testEpoch, MaxTimeout: time.Hour, Clock: clock, Logger: slog.New(slog.DiscardHandler),
		NewProducerID: func() (int64, error) { *e.pids++; return *e.pids, nil },
		SendMarkers:   func(m Markers, done func(error)) { e.sent <- sent{m, done} }}, j, rp.Records)
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	if e.eng == nil {
		return
	}
	e.c.Close()
	e.j.Close()
	e.eng.Close()
	e.eng = nil
}

// crash keeps only what was synced and opens a new coordinator on it: a failover, since a
// new leader's log holds exactly the committed records.
func (e *env) crash(seed int64) *env {
	clone := e.fs.CrashClone(rand.New(rand.NewSource(seed)))
	e.close()
	return openEnv(e.t, clone, e.clock, e.pids)
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("no answer")
		panic("unreachable")
	}
}

type initRes struct {
	pid   int64
	epoch int16
	err   error
}

func (e *env) init(id string, timeout time.Duration, pid int64, epoch int16) initRes {
	e.t.Helper()
	ch := make(chan initRes, 1)
	e.c.InitProducerID(id, timeout, pid, epoch, func(p int64, ep int16, err error) { ch <- initRes{p, ep, err} })
	return wait(e.t, ch)
}

func (e *env) mustInit(id string) initRes {
	e.t.Helper()
	r := e.init(id, time.Minute, -1, -1)
	if r.err != nil {
		e.t.Fatalf("init %s: %v", id, r.err)
	}
	return r
}

func (e *env) add(id string, r initRes, parts ...engine.TopicPartition) error {
	e.t.Helper()
	ch := make(chan error, 1)
	e.c.AddPartitions(id, r.pid, r.epoch, parts, false, func(err error) { ch <- err })
	return wait(e.t, ch)
}

func (e *env) end(id string, r initRes, commit bool) error {
	e.t.Helper()
	ch := make(chan error, 1)
	e.c.EndTxn(id, r.pid, r.epoch, commit, false, func(_ int64, _ int16, err error) { ch <- err })
	return wait(e.t, ch)
}

func (e *env) state(id string) Info {
	e.t.Helper()
	in, err := e.c.Describe(id)
	if err != nil {
		e.t.Fatalf("describe %s: %v", id, err)
	}
	return in
}

// waitState waits for the completion write that follows the markers.
func (e *env) waitState(id string, want State) Info {
	e.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		in := e.state(id)
		if in.State == want {
			return in
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: state %s, want %s", id, in.State, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func (e *env) noMarkers() {
	e.t.Helper()
	select {
	case s := <-e.sent:
		e.t.Fatalf("unexpected markers %+v", s.m)
	default:
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

func TestInitProducerIDBumpsEpochAndFences(t *testing.T) {
	e := newEnv(t)
	a := e.mustInit("tx")
	if a.epoch != 0 {
		t.Fatalf("first epoch %d, want 0", a.epoch)
	}
	b := e.mustInit("tx")
	if b.pid != a.pid || b.epoch != 1 {
		t.Fatalf("second init %+v, want pid %d epoch 1", b, a.pid)
	}
	wantErr(t, e.add("tx", a, tp0), ErrProducerFenced)
	wantErr(t, e.add("tx", initRes{pid: a.pid + 1, epoch: 1}, tp0), ErrInvalidProducerIDMapping)
	wantErr(t, e.add("nobody", b, tp0), ErrInvalidProducerIDMapping)
	wantErr(t, e.init("", time.Minute, -1, -1).err, ErrInvalidRequest)
	wantErr(t, e.init("tx", 2*time.Hour, -1, -1).err, ErrInvalidTimeout)
	wantErr(t, e.init("tx", 0, -1, -1).err, ErrInvalidTimeout)
	wantErr(t, e.end("tx", b, true), ErrInvalidTxnState) // nothing ongoing
	if in := e.state("tx"); in.State != Empty || in.ProducerEpoch != 1 || !in.Start.IsZero() {
		t.Fatalf("state %+v", in)
	}
}

func TestCommitSendsMarkersThenCompletes(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	if err := e.add("tx", r, tp1, tp0); err != nil {
		t.Fatal(err)
	}
	if err := e.add("tx", r, tp0); err != nil { // already in: no write
		t.Fatal(err)
	}
	in := e.state("tx")
	if in.State != Ongoing || !slices.Equal(in.Partitions, []engine.TopicPartition{tp0, tp1}) || !in.Start.Equal(e.clock.Now()) {
		t.Fatalf("state %+v", in)
	}
	if err := e.end("tx", r, true); err != nil {
		t.Fatal(err)
	}
	s := wait(t, e.sent)
	if !s.m.Commit || s.m.ProducerID != r.pid || s.m.ProducerEpoch != r.epoch || s.m.CoordinatorEpoch != testEpoch ||
		s.m.TxnVersion != 0 || !slices.Equal(s.m.Partitions, []engine.TopicPartition{tp0, tp1}) {
		t.Fatalf("markers %+v", s.m)
	}
	// While the markers are written: every change waits, a duplicate EndTxn is retried.
	if in := e.state("tx"); in.State != PrepareCommit {
		t.Fatalf("state %s, want PrepareCommit", in.State)
	}
	wantErr(t, e.end("tx", r, true), ErrConcurrentTransactions)
	wantErr(t, e.end("tx", r, false), ErrConcurrentTransactions)
	wantErr(t, e.add("tx", r, tp0), ErrConcurrentTransactions)
	wantErr(t, e.init("tx", time.Minute, -1, -1).err, ErrConcurrentTransactions)
	s.done(nil)
	if in := e.waitState("tx", CompleteCommit); len(in.Partitions) != 0 {
		t.Fatalf("completed with partitions %v", in.Partitions)
	}
	if err := e.end("tx", r, true); err != nil { // a retry whose answer was lost
		t.Fatalf("duplicate commit: %v", err)
	}
	wantErr(t, e.end("tx", r, false), ErrInvalidTxnState)
	// The next transaction of the same producer.
	e.clock.Advance(time.Second)
	if err := e.add("tx", r, tp1); err != nil {
		t.Fatal(err)
	}
	if in := e.state("tx"); in.State != Ongoing || !in.Start.Equal(e.clock.Now()) {
		t.Fatalf("state %+v", in)
	}
	if err := e.end("tx", r, false); err != nil {
		t.Fatal(err)
	}
	s = wait(t, e.sent)
	if s.m.Commit || !slices.Equal(s.m.Partitions, []engine.TopicPartition{tp1}) {
		t.Fatalf("markers %+v", s.m)
	}
	s.done(nil)
	e.waitState("tx", CompleteAbort)
	if err := e.end("tx", r, false); err != nil {
		t.Fatalf("duplicate abort: %v", err)
	}
}

func TestMarkersGivenUpLeavePrepareUntilFailover(t *testing.T) {
	e := newEnv(t)
	r := e.mustInit("tx")
	if err := e.add("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	if err := e.end("tx", r, true); err != nil {
		t.Fatal(err)
	}
	wait(t, e.sent).done(errors.New("coordinator closed"))
	if in := e.state("tx"); in.State != PrepareCommit {
		t.Fatalf("state %s", in.State)
	}
	e = e.crash(1)
	s := wait(t, e.sent) // the new coordinator sends them again
	if !s.m.Commit || s.m.ProducerEpoch != r.epoch {
		t.Fatalf("markers %+v", s.m)
	}
	s.done(nil)
	e.waitState("tx", CompleteCommit)
}

func TestInitAbortsOngoingTransactionOfOldEpoch(t *testing.T) {
	e := newEnv(t)
	old := e.mustInit("tx")
	if err := e.add("tx", old, tp0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.init("tx", time.Minute, -1, -1).err, ErrConcurrentTransactions)
	s := wait(t, e.sent)
	if s.m.Commit || s.m.ProducerEpoch != old.epoch+1 {
		t.Fatalf("fencing abort markers %+v, want abort at epoch %d", s.m, old.epoch+1)
	}
	wantErr(t, e.init("tx", time.Minute, -1, -1).err, ErrConcurrentTransactions) // still aborting
	wantErr(t, e.end("tx", old, true), ErrProducerFenced)                        // the zombie
	s.done(nil)
	e.waitState("tx", CompleteAbort)
	r := e.mustInit("tx")
	if r.pid != old.pid || r.epoch != old.epoch+2 {
		t.Fatalf("init after fencing %+v, want epoch %d", r, old.epoch+2)
	}
}

func TestTimeoutAbortsWithEpochBump(t *testing.T) {
	e := newEnv(t)
	r := e.init("tx", 10*time.Second, -1, -1)
	if err := e.add("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second)
	if err := e.add("tx", r, tp1); err != nil { // adding does not restart the timeout
		t.Fatal(err)
	}
	e.clock.Advance(4 * time.Second)
	e.noMarkers()
	e.clock.Advance(2 * time.Second)
	s := wait(t, e.sent)
	if s.m.Commit || s.m.ProducerEpoch != r.epoch+1 || len(s.m.Partitions) != 2 {
		t.Fatalf("timeout markers %+v", s.m)
	}
	if in := e.state("tx"); in.State != PrepareAbort || in.ProducerEpoch != r.epoch+1 {
		t.Fatalf("state %+v", in)
	}
	wantErr(t, e.end("tx", r, true), ErrProducerFenced)
	s.done(nil)
	e.waitState("tx", CompleteAbort)
	wantErr(t, e.add("tx", r, tp0), ErrProducerFenced)
}

func TestCompletedTransactionHasNoTimeout(t *testing.T) {
	e := newEnv(t)
	r := e.init("tx", 10*time.Second, -1, -1)
	if err := e.add("tx", r, tp0); err != nil {
		t.Fatal(err)
	}
	if err := e.end("tx", r, true); err != nil {
		t.Fatal(err)
	}
	wait(t, e.sent).done(nil)
	e.waitState("tx", CompleteCommit)
	e.clock.Advance(time.Minute)
	e.noMarkers()
	if in := e.state("tx"); in.State != CompleteCommit || in.ProducerEpoch != r.epoch {
		t.Fatalf("state %+v", in)
	}
}

// seed writes a state for id straight into the log, as a previous coordinator would have.
func (e *env) seed(id string, m meta) {
	e.t.Helper()
	d, err := e.j.Append(0, []group.Record{{Key: recordKey(id), Value: recordValue(m)}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := d.Wait(); err != nil {
		e.t.Fatal(err)
	}
}

func TestEpochExhaustionMovesToNewProducerID(t *testing.T) {
	e := newEnv(t)
	e.seed("tx", meta{pid: 5, epoch: math.MaxInt16 - 1, timeout: time.Minute, state: CompleteCommit, updated: e.clock.Now()})
	e = e.crash(1)
	// KIP-360: the producer gives its id and exhausted epoch.
	r := e.init("tx", time.Minute, 5, math.MaxInt16-1)
	if r.err != nil || r.pid == 5 || r.epoch != 0 {
		t.Fatalf("init at an exhausted epoch: %+v, want a new producer id at epoch 0", r)
	}
	// Its retry (the answer lost) gets the same answer.
	if again := e.init("tx", time.Minute, 5, math.MaxInt16-1); again != r {
		t.Fatalf("retry: %+v, want %+v", again, r)
	}
	// At the very last epoch, an InitProducerId that names the producer id without an epoch
	// also moves to a new producer id (never past Short.MAX_VALUE).
	e.seed("tz", meta{pid: 9, epoch: math.MaxInt16, timeout: time.Minute, state: CompleteAbort, updated: e.clock.Now()})
	e = e.crash(4)
	if r := e.init("tz", time.Minute, 9, -1); r.err != nil || r.pid == 9 || r.epoch != 0 {
		t.Fatalf("init at Short.MAX_VALUE: %+v", r)
	}
	// Fencing at the last epoch aborts without overflowing.
	e.seed("ty", meta{pid: 6, epoch: math.MaxInt16, timeout: time.Minute, state: Ongoing, parts: []engine.TopicPartition{tp0},
		start: e.clock.Now(), updated: e.clock.Now()})
	e = e.crash(2)
	wantErr(t, e.init("ty", time.Minute, -1, -1).err, ErrConcurrentTransactions)
	s := wait(t, e.sent)
	if s.m.ProducerEpoch != math.MaxInt16 || s.m.Commit {
		t.Fatalf("markers %+v", s.m)
	}
	s.done(nil)
	e.waitState("ty", CompleteAbort)
	if r := e.mustInit("ty"); r.pid == 6 || r.epoch != 0 {
		t.Fatalf("init after an exhausted epoch: %+v", r)
	}
}

func TestKIP360Recovery(t *testing.T) {
	e := newEnv(t)
	a := e.mustInit("tx")
	b := e.init("tx", time.Minute, a.pid, a.epoch)
	if b.err != nil || b.pid != a.pid || b.epoch != a.epoch+1 {
		t.Fatalf("recovery %+v", b)
	}
	if again := e.init("tx", time.Minute, a.pid, a.epoch); again != b {
		t.Fatalf("retried recovery %+v, want %+v", again, b)
	}
	wantErr(t, e.init("tx", time.Minute, a.pid, 40).err, ErrProducerFenced)
	wantErr(t, e.init("tx", time.Minute, a.pid+1, b.epoch).err, ErrProducerFenced)
}

// TestFailoverInEveryState restarts the coordinator from its log in each state: the state
// comes back, Prepare states send their markers again, Ongoing keeps its deadline.
func TestFailoverInEveryState(t *testing.T) {
	e := newEnv(t)
	ids := map[State]string{Empty: "empty", Ongoing: "ongoing", PrepareCommit: "pc", PrepareAbort: "pa", CompleteCommit: "cc", CompleteAbort: "ca"}
	rs := map[State]initRes{}
	for s, id := range ids {
		rs[s] = e.init(id, 10*time.Second, -1, -1)
		if s == Empty {
			continue
		}
		if err := e.add(id, rs[s], tp0, tp1); err != nil {
			t.Fatal(err)
		}
		if s == Ongoing {
			continue
		}
		commit := s == PrepareCommit || s == CompleteCommit
		if err := e.end(id, rs[s], commit); err != nil {
			t.Fatal(err)
		}
		m := wait(t, e.sent)
		if s == CompleteCommit || s == CompleteAbort {
			m.done(nil)
			e.waitState(id, s)
		}
	}
	before := map[State]Info{}
	for s, id := range ids {
		before[s] = e.state(id)
	}
	e.clock.Advance(3 * time.Second)
	e = e.crash(3)
	for s, id := range ids {
		if got := e.state(id); !infoEqual(got, before[s]) {
			t.Errorf("%s after failover: %+v, want %+v", s, got, before[s])
		}
	}
	resent := map[bool]sent{}
	for range 2 {
		s := wait(t, e.sent)
		resent[s.m.Commit] = s
	}
	if resent[true].m.TransactionalID != "pc" || resent[false].m.TransactionalID != "pa" {
		t.Fatalf("resent markers: %+v", resent)
	}
	resent[true].done(nil)
	resent[false].done(nil)
	e.waitState("pc", CompleteCommit)
	e.waitState("pa", CompleteAbort)
	// The Ongoing transaction times out 10 s after it started, not after the failover.
	e.clock.Advance(6 * time.Second)
	e.noMarkers()
	e.clock.Advance(2 * time.Second)
	if s := wait(t, e.sent); s.m.TransactionalID != "ongoing" || s.m.ProducerEpoch != rs[Ongoing].epoch+1 {
		t.Fatalf("timeout after failover: %+v", s.m)
	}
	// Every other id carries on.
	if r := e.mustInit("cc"); r.epoch != rs[CompleteCommit].epoch+1 {
		t.Fatalf("init after failover %+v", r)
	}
}

func infoEqual(a, b Info) bool {
	return a.TransactionalID == b.TransactionalID && a.ProducerID == b.ProducerID && a.ProducerEpoch == b.ProducerEpoch &&
		a.State == b.State && a.Timeout == b.Timeout && a.Start.Equal(b.Start) && slices.Equal(a.Partitions, b.Partitions)
}

func TestVerifyAndList(t *testing.T) {
	e := newEnv(t)
	a := e.mustInit("a")
	b := e.mustInit("b")
	if err := e.add("a", a, tp0); err != nil {
		t.Fatal(err)
	}
	errs, err := e.c.Verify("a", a.pid, a.epoch, []engine.TopicPartition{tp0, tp1})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrNotInTransaction) {
		t.Fatalf("verify: %v %v", errs, err)
	}
	if _, err := e.c.Verify("a", a.pid, a.epoch+1, []engine.TopicPartition{tp0}); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("verify of another epoch: %v", err)
	}
	e.clock.Advance(time.Minute / 2)
	ids := func(f Filter) []string {
		var out []string
		for _, in := range e.c.List(f) {
			out = append(out, in.TransactionalID)
		}
		return out
	}
	for _, c := range []struct {
		f    Filter
		want []string
	}{
		{Filter{}, []string{"a", "b"}},
		{Filter{States: []State{Ongoing}}, []string{"a"}},
		{Filter{ProducerIDs: []int64{b.pid}}, []string{"b"}},
		{Filter{MinDuration: 20 * time.Second}, []string{"a", "b"}}, // b never started one
		{Filter{MinDuration: 40 * time.Second, States: []State{Ongoing}}, nil},
	} {
		if got := ids(c.f); !slices.Equal(got, c.want) {
			t.Errorf("list %+v: %v, want %v", c.f, got, c.want)
		}
	}
	if _, err := e.c.Describe("nobody"); !errors.Is(err, ErrUnknownTransactionalID) {
		t.Fatalf("describe unknown: %v", err)
	}
	e.c.Close()
	wantErr(t, e.add("a", a, tp1), ErrNotCoordinator)
	wantErr(t, e.init("a", time.Minute, -1, -1).err, ErrNotCoordinator)
}

func TestIdleIDsExpire(t *testing.T) {
	e := newEnv(t)
	old := e.mustInit("old")
	busy := e.init("busy", time.Hour, -1, -1)
	if err := e.add("busy", busy, tp0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour) // busy times out: PrepareAbort until its markers are written
	s := wait(t, e.sent)
	e.clock.Advance(7 * 24 * time.Hour)
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := e.c.Describe("old"); errors.Is(err, ErrUnknownTransactionalID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle id did not expire")
		}
		time.Sleep(time.Millisecond)
	}
	if in := e.state("busy"); in.State != PrepareAbort {
		t.Fatalf("busy: %+v", in)
	}
	wantErr(t, e.add("old", old, tp0), ErrInvalidProducerIDMapping)
	e = e.crash(5) // the tombstone is in the log
	if _, err := e.c.Describe("old"); !errors.Is(err, ErrUnknownTransactionalID) {
		t.Fatalf("after restart: %v", err)
	}
	if r := e.mustInit("old"); r.pid == old.pid || r.epoch != 0 {
		t.Fatalf("init of an expired id: %+v", r)
	}
	wait(t, e.sent).done(nil) // busy's markers, sent again by the new coordinator
	s.done(errors.New("closed"))
	e.waitState("busy", CompleteAbort)
}
