package groupcommit

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// waitSynced waits (with a generous deadline) until f has entered Sync n times.
func waitSynced(t *testing.T, f *hookFile, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for f.syncs.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d syncs after 10 s, want %d", f.Name(), f.syncs.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAsync runs c.Wait(seq) on its own goroutine; the channel receives its result.
func waitAsync(c *Committer, seq uint64) chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Wait(seq) }()
	return ch
}

// TestPipelinedRoundOverlaps: with the default depth, a write that arrives while a round's
// fdatasync is stuck starts the next round at once (its file is synced during the stuck sync),
// but is released only after the earlier round: rounds release in seq order.
func TestPipelinedRoundOverlaps(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	a, entered, release := gatedFile(t, fs, "/a.log")
	inner, _ := vfs.Create(fs, "/b.log")
	b := &hookFile{File: inner}
	seqA := startRound(c, a)
	<-entered // round 1 syncs a and hangs
	seqB, _ := c.MarkDirty(b)
	doneA, doneB := waitAsync(c, seqA), waitAsync(c, seqB)
	waitSynced(t, b, 1) // round 2 synced b while round 1 is still in flight
	select {
	case err := <-doneB:
		t.Fatalf("seq %d released (%v) before the earlier round %d", seqB, err, seqA)
	case <-doneA:
		t.Fatal("round 1 released while its sync hangs")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Rounds != 2 || st.FilesSynced != 2 {
		t.Fatalf("stats %+v, want 2 rounds syncing one file each", st)
	}
}

// TestDepthOne: Depth 1 is one round at a time: nothing is synced while a round hangs.
func TestDepthOne(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs, Depth: 1})
	defer c.Close()
	a, entered, release := gatedFile(t, fs, "/a.log")
	inner, _ := vfs.Create(fs, "/b.log")
	b := &hookFile{File: inner}
	startRound(c, a)
	<-entered
	seqB, _ := c.MarkDirty(b)
	doneB := waitAsync(c, seqB)
	time.Sleep(20 * time.Millisecond) // a wrongly started round would sync b in this time
	if n := b.syncs.Load(); n != 0 {
		t.Fatalf("depth 1: b synced %d times while round 1 was in flight", n)
	}
	close(release)
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	if n := b.syncs.Load(); n != 1 {
		t.Fatalf("b synced %d times, want 1", n)
	}
}

// TestOneSyncPerFile: a file dirtied again while its fdatasync is in flight is synced by the
// next round only after that sync returns, never by two syncs at once (Linux reports a
// write-back error to one of two racing fsyncs of a descriptor only: the other could release
// writes that were lost). Its writer is released by the second sync.
func TestOneSyncPerFile(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	inner, err := vfs.Create(fs, "/a.log")
	if err != nil {
		t.Fatal(err)
	}
	var running, most atomic.Int32
	gate := make(chan struct{})
	a := &hookFile{File: inner}
	a.hook = func() error {
		n := running.Add(1)
		defer running.Add(-1)
		if n > most.Load() {
			most.Store(n)
		}
		<-gate
		return nil
	}
	seq1 := startRound(c, a)
	waitSynced(t, a, 1)
	seq2, _ := c.MarkDirty(a)
	done2 := waitAsync(c, seq2)
	time.Sleep(20 * time.Millisecond) // room for a wrong second sync to start
	if n := a.syncs.Load(); n != 1 {
		t.Fatalf("a: %d syncs started while the first is in flight", n)
	}
	close(gate)
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(seq1); err != nil {
		t.Fatal(err)
	}
	if n, m := a.syncs.Load(), most.Load(); n != 2 || m != 1 {
		t.Fatalf("a: %d syncs, %d at once; want 2, one at a time", n, m)
	}
}

// TestPipelinedLaterRoundFails: round 2 fails while round 1 is still in flight. Round 1's
// writes are released with nil once it completes, round 2's with the failure, and the
// committer stays failed.
func TestPipelinedLaterRoundFails(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	a, entered, release := gatedFile(t, fs, "/a.log")
	inner, _ := vfs.Create(fs, "/b.log")
	eio := errors.New("input/output error")
	b := &hookFile{File: inner, hook: func() error { return eio }}
	seqA := startRound(c, a)
	<-entered
	seqB, _ := c.MarkDirty(b)
	doneB := waitAsync(c, seqB)
	waitSynced(t, b, 1)
	doneA := waitAsync(c, seqA)
	close(release)
	if err := <-doneA; err != nil {
		t.Fatalf("round 1 synced fine before round 2 failed: %v", err)
	}
	if err := <-doneB; !errors.Is(err, ErrLogDirOffline) || !errors.Is(err, eio) {
		t.Fatalf("round 2 waiter: %v, want the failure", err)
	}
	if _, err := c.MarkDirty(a); !errors.Is(err, eio) {
		t.Fatalf("MarkDirty after the failure: %v", err)
	}
}

// TestPipelinedEarlierRoundFails: round 1 fails while round 2 (on another file) already
// succeeded: round 2 must not be released, since it covers sequence numbers after round 1's.
func TestPipelinedEarlierRoundFails(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	inner, _ := vfs.Create(fs, "/a.log")
	entered, release := make(chan struct{}, 1), make(chan struct{})
	eio := errors.New("input/output error")
	a := &hookFile{File: inner, hook: func() error {
		entered <- struct{}{}
		<-release
		return eio
	}}
	innerB, _ := vfs.Create(fs, "/b.log")
	b := &hookFile{File: innerB}
	seqA := startRound(c, a)
	<-entered
	seqB, _ := c.MarkDirty(b)
	doneB := waitAsync(c, seqB)
	waitSynced(t, b, 1)
	close(release)
	if err := c.Wait(seqA); !errors.Is(err, eio) {
		t.Fatalf("round 1 waiter: %v, want the failure", err)
	}
	if err := <-doneB; !errors.Is(err, eio) {
		t.Fatalf("round 2 waiter released with %v after round 1 failed", err)
	}
}

// TestForgetParked: Forget of a file parked behind its own in-flight sync drops the parked
// sync (the file is synced once), waits for the running one, and the round still completes.
func TestForgetParked(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	a, entered, release := gatedFile(t, fs, "/a.log")
	startRound(c, a)
	<-entered
	seq2, _ := c.MarkDirty(a)
	done2 := waitAsync(c, seq2)
	deadline := time.Now().Add(10 * time.Second)
	for { // wait until round 2 is started (and has parked a)
		c.mu.Lock()
		started := c.startedSeq >= seq2
		c.mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("round 2 did not start")
		}
		time.Sleep(time.Millisecond)
	}
	forgotten := make(chan struct{})
	go func() {
		c.Forget(a)
		close(forgotten)
	}()
	select {
	case <-forgotten:
		t.Fatal("Forget returned while the file's sync runs")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-forgotten
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	if n := a.syncs.Load(); n != 1 {
		t.Fatalf("forgotten file synced %d times, want 1", n)
	}
}

// TestSyncAndForget: a round that wants a file while SyncAndForget syncs it parks behind that
// sync (never a second sync of the descriptor at once) and takes its result: released with
// nil once it returns, or failed with its error. The file is synced once either way.
func TestSyncAndForget(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "ok", true: "error"}[fail], func(t *testing.T) {
			fs := vfs.NewMemFS()
			c := New(Config{FS: fs})
			defer c.Close()
			inner, _ := vfs.Create(fs, "/a.log")
			entered, release := make(chan struct{}, 1), make(chan struct{})
			eio := errors.New("input/output error")
			a := &hookFile{File: inner, hook: func() error {
				entered <- struct{}{}
				<-release
				if fail {
					return eio
				}
				return nil
			}}
			seq, _ := c.MarkDirty(a) // written before, synced by nobody yet
			result := make(chan error, 1)
			go func() { result <- c.SyncAndForget(a) }()
			<-entered
			done := waitAsync(c, seq) // starts a round that parks a behind the sync
			select {
			case err := <-done:
				t.Fatalf("seq %d released (%v) while the only sync of its file hangs", seq, err)
			case <-time.After(20 * time.Millisecond):
			}
			close(release)
			err, werr := <-result, <-done
			if !fail && (err != nil || werr != nil) {
				t.Fatalf("SyncAndForget %v, Wait %v; want nil, nil", err, werr)
			}
			if fail && (!errors.Is(err, eio) || !errors.Is(werr, eio)) {
				t.Fatalf("SyncAndForget %v, Wait %v; want the sync error for both", err, werr)
			}
			if n := a.syncs.Load(); n != 1 {
				t.Fatalf("a synced %d times, want 1", n)
			}
		})
	}
}
