package groupcommit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

const recSize = 64

// record is the recSize bytes writer w writes as its i-th record.
func record(w, i int) []byte {
	b := make([]byte, recSize)
	binary.BigEndian.PutUint32(b, uint32(w))
	binary.BigEndian.PutUint32(b[4:], uint32(i))
	for j := 8; j < recSize; j++ {
		b[j] = byte(w*31 + i*7 + j)
	}
	return b
}

// createFiles creates n files in dir and makes their entries durable through c.
func createFiles(t *testing.T, fs vfs.FS, c *Committer, dir string, n int) []vfs.File {
	t.Helper()
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if err := fs.SyncDir(filepath.Dir(d)); err != nil {
			t.Fatal(err)
		}
	}
	files := make([]vfs.File, n)
	for i := range files {
		f, err := vfs.Create(fs, filepath.Join(dir, fmt.Sprintf("%020d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		files[i] = f
	}
	seq, err := c.MarkDirDirty(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(seq); err != nil {
		t.Fatal(err)
	}
	return files
}

// checkSurvived reopens writer w's file after a crash and checks its first n records.
func checkSurvived(t *testing.T, fs vfs.FS, dir string, w, n int) {
	t.Helper()
	data, err := vfs.ReadFile(fs, filepath.Join(dir, fmt.Sprintf("%020d.log", w)))
	if err != nil {
		t.Fatalf("writer %d: acknowledged %d records, file lost: %v", w, n, err)
	}
	if len(data) < n*recSize {
		t.Fatalf("writer %d: acknowledged %d records, %d bytes survived", w, n, len(data))
	}
	for i := range n {
		if !bytes.Equal(data[i*recSize:(i+1)*recSize], record(w, i)) {
			t.Fatalf("writer %d: acknowledged record %d corrupt after crash", w, i)
		}
	}
}

// TestAcknowledgedSurvivesCrash: many writers write then Wait; the MemFS crashes in the middle
// of the run; every write acknowledged before the crash must survive it.
func TestAcknowledgedSurvivesCrash(t *testing.T) {
	for _, par := range []int{1, 8} {
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			fs := vfs.NewMemFS()
			c := New(Config{FS: fs, Dir: "/data", Parallelism: par})
			defer c.Close()
			const writers = 32
			files := createFiles(t, fs, c, "/data/t-0", writers)

			var acked [writers]atomic.Int64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						if _, err := files[w].WriteAt(record(w, i), int64(i*recSize)); err != nil {
							return // crashed
						}
						seq, err := c.MarkDirty(files[w])
						if err != nil {
							return
						}
						if err := c.Wait(seq); err != nil {
							return
						}
						acked[w].Store(int64(i + 1))
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)
			var snap [writers]int
			for w := range snap {
				snap[w] = int(acked[w].Load())
			}
			fs.Crash(nil)
			wg.Wait()

			// The crash killed the handles: the next sync of one fails and takes the dir offline
			// (already, if a round was in flight at the crash).
			seq, err := c.MarkDirty(files[0])
			if err == nil {
				err = c.Wait(seq)
			}
			if !errors.Is(err, ErrLogDirOffline) || !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("after the crash: %v, want ErrLogDirOffline wrapping ErrCrashed", err)
			}
			total := 0
			for w := range writers {
				checkSurvived(t, fs, "/data/t-0", w, snap[w])
				total += snap[w]
			}
			st := c.Stats()
			t.Logf("acked before crash %d, rounds %d, appends/round %.1f", total, st.Rounds, float64(st.Appends)/float64(st.Rounds))
			if total == 0 {
				t.Fatal("nothing acknowledged in 50ms")
			}
		})
	}
}

// TestAcknowledgedSurvivesCrashQuiesced: the same invariant with every write acknowledged and
// the crash after the run, also checking the counters.
func TestAcknowledgedSurvivesCrashQuiesced(t *testing.T) {
	fs := vfs.NewMemFS()
	var onSyncFiles atomic.Int64
	c := New(Config{FS: fs, OnSync: func(d time.Duration, files int) { onSyncFiles.Add(int64(files)) }})
	const writers, n = 16, 200
	files := createFiles(t, fs, c, "/data/t-1", writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := files[w].WriteAt(record(w, i), int64(i*recSize)); err != nil {
					t.Error(err)
					return
				}
				seq, err := c.MarkDirty(files[w])
				if err == nil {
					err = c.Wait(seq)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := c.Stats()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	fs.Crash(nil)
	for w := range writers {
		checkSurvived(t, fs, "/data/t-1", w, n)
	}
	if st.Appends != writers*n+1 { // +1: MarkDirDirty
		t.Errorf("Appends = %d, want %d", st.Appends, writers*n+1)
	}
	if st.Rounds == 0 || st.Rounds > st.Appends || st.DirsSynced != 1 {
		t.Errorf("stats %+v", st)
	}
	if got := onSyncFiles.Load(); got != int64(st.FilesSynced) {
		t.Errorf("OnSync saw %d files, Stats %d", got, st.FilesSynced)
	}
	t.Logf("stats %+v, appends/round %.1f", st, float64(st.Appends)/float64(st.Rounds))
}

// TestDirEntryDurable: a created file survives a crash only once MarkDirDirty's seq is covered.
func TestDirEntryDurable(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	if err := fs.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := vfs.Create(fs, "/d/a.log")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("hello"), 0)
	if _, err := c.MarkDirty(f); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkDirDirty("/"); err != nil {
		t.Fatal(err)
	}
	seq, err := c.MarkDirDirty("/d")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(seq); err != nil {
		t.Fatal(err)
	}
	fs.Crash(nil)
	got, err := vfs.ReadFile(fs, "/d/a.log")
	if err != nil || string(got) != "hello" {
		t.Fatalf("after crash: %q, %v", got, err)
	}
}

// hookFile runs hook before each Sync of the wrapped file.
type hookFile struct {
	vfs.File
	hook  func() error
	syncs atomic.Int64
}

func (f *hookFile) Sync() error {
	f.syncs.Add(1)
	if f.hook != nil {
		if err := f.hook(); err != nil {
			return err
		}
	}
	return f.File.Sync()
}

// gatedFile returns a file whose Syncs block until release is closed, and a channel that
// receives once per Sync entered.
func gatedFile(t *testing.T, fs vfs.FS, name string) (f *hookFile, entered chan struct{}, release chan struct{}) {
	t.Helper()
	inner, err := vfs.Create(fs, name)
	if err != nil {
		t.Fatal(err)
	}
	entered, release = make(chan struct{}, 100), make(chan struct{})
	f = &hookFile{File: inner, hook: func() error {
		entered <- struct{}{}
		<-release
		return nil
	}}
	return f, entered, release
}

func TestNotifyOrder(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	g, entered, release := gatedFile(t, fs, "/g")
	plain, err := vfs.Create(fs, "/p")
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var order []uint64
	calls := map[uint64]int{}
	called := make(chan struct{}, 100)
	record := func(seq uint64) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("seq %d: %v", seq, err)
			}
			mu.Lock()
			order = append(order, seq)
			calls[seq]++
			mu.Unlock()
			called <- struct{}{}
		}
	}

	first := startRound(c, g)
	<-entered // round 1 is syncing g and blocked
	var seqs []uint64
	for range 20 {
		s, err := c.MarkDirty(plain)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s)
	}
	// Register in reverse seq order, some twice, and round 1's seq last.
	for i := len(seqs) - 1; i >= 0; i-- {
		c.Notify(seqs[i], record(seqs[i]))
	}
	c.Notify(seqs[3], record(seqs[3]))
	c.Notify(first, record(first))
	mu.Lock()
	if len(order) != 0 {
		t.Fatalf("callbacks ran before any sync: %v", order)
	}
	mu.Unlock()
	close(release)
	for range len(seqs) + 2 {
		<-called
	}
	mu.Lock()
	defer mu.Unlock()
	want := []uint64{first}
	for i, s := range seqs {
		want = append(want, s)
		if i == 3 {
			want = append(want, s)
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("callback order %v, want %v", order, want)
	}

	// Already covered: called at once, on the caller's goroutine.
	ran := false
	c.Notify(first, func(err error) { ran = err == nil })
	if !ran {
		t.Fatal("Notify of a covered seq did not run inline with nil")
	}
}

// TestNotifyConcurrent: every Notify from many goroutines is called exactly once with nil.
func TestNotifyConcurrent(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	files := createFiles(t, fs, c, "/n/p", 8)
	var calls atomic.Int64
	var wg sync.WaitGroup
	const per = 500
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for i := range per {
				f := files[(w+i)%len(files)]
				seq, err := c.MarkDirty(f)
				if err != nil {
					t.Error(err)
					return
				}
				c.Notify(seq, func(err error) {
					calls.Add(1)
					done <- err
				})
				if err := <-done; err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 16*per {
		t.Fatalf("%d callbacks, want %d", calls.Load(), 16*per)
	}
}

func TestSyncErrorFailsEveryone(t *testing.T) {
	fs := vfs.NewMemFS()
	var failures atomic.Int64
	var failErr atomic.Value
	c := New(Config{FS: fs, Dir: "/logs", OnFailure: func(err error) {
		failures.Add(1)
		failErr.Store(err)
	}})
	defer c.Close()

	ok, err := vfs.Create(fs, "/ok.log")
	if err != nil {
		t.Fatal(err)
	}
	okSeq, _ := c.MarkDirty(ok)
	if err := c.Wait(okSeq); err != nil {
		t.Fatal(err)
	}

	bad, entered, release := gatedFile(t, fs, "/bad.log")
	bad.hook = func() error {
		entered <- struct{}{}
		<-release
		return syscall.EIO
	}
	badSeq := startRound(c, bad)
	<-entered
	// Waiters of the failing round and of the next one, blocked and queued.
	nextSeq, _ := c.MarkDirty(ok)
	var wg sync.WaitGroup
	waitErrs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := badSeq
			if i%2 == 1 {
				s = nextSeq
			}
			waitErrs <- c.Wait(s)
		}()
	}
	notifyErrs := make(chan error, 2)
	c.Notify(badSeq, func(err error) { notifyErrs <- err })
	c.Notify(nextSeq, func(err error) { notifyErrs <- err })
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	close(waitErrs)

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrLogDirOffline) || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "/bad.log") {
			t.Errorf("%s: %v, want ErrLogDirOffline wrapping EIO naming /bad.log", what, err)
		}
	}
	for err := range waitErrs {
		check("Wait", err)
	}
	check("Notify", <-notifyErrs)
	check("Notify", <-notifyErrs)
	_, err = c.MarkDirty(ok)
	check("later MarkDirty", err)
	_, err = c.MarkDirDirty("/")
	check("later MarkDirDirty", err)
	check("Flush", c.Flush())
	c.Notify(nextSeq, func(err error) { check("later Notify", err) })
	check("OnFailure", failErr.Load().(error))
	if failures.Load() != 1 {
		t.Errorf("OnFailure called %d times", failures.Load())
	}
	// A seq covered before the failure stays acknowledged.
	if err := c.Wait(okSeq); err != nil {
		t.Errorf("Wait of a seq synced before the failure: %v", err)
	}
	// Never retried.
	if n := bad.syncs.Load(); n != 1 {
		t.Errorf("failing file synced %d times, want 1", n)
	}
	check("Close", c.Close())
}

func TestSyncDirErrorFails(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	fs.SetSyncError(func(name string) error {
		if name == "/" {
			return syscall.ENOSPC
		}
		return nil
	})
	seq, _ := c.MarkDirDirty("/")
	err := c.Wait(seq)
	if !errors.Is(err, ErrLogDirOffline) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Wait: %v", err)
	}
}

// TestForgetInFlight: Forget of a file under sync waits for that sync, so the caller can
// close it safely afterwards; the closed file is never synced again.
func TestForgetInFlight(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	f, entered, release := gatedFile(t, fs, "/seg.log")
	seq := startRound(c, f)
	<-entered
	forgotten := make(chan struct{})
	go func() {
		c.Forget(f)
		close(forgotten)
	}()
	select {
	case <-forgotten:
		t.Fatal("Forget returned while its file was being synced")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-forgotten
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(seq); err != nil {
		t.Fatal(err)
	}
	other, _ := vfs.Create(fs, "/other.log")
	s2, _ := c.MarkDirty(other)
	if err := c.Wait(s2); err != nil {
		t.Fatal(err)
	}
	if n := f.syncs.Load(); n != 1 {
		t.Fatalf("forgotten file synced %d times", n)
	}
}

// TestForgetPending: a file forgotten while dirty (not in flight) is not synced, its seq is
// still released, and the dir does not fail although the file is closed.
func TestForgetPending(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	g, entered, release := gatedFile(t, fs, "/busy.log")
	inner, _ := vfs.Create(fs, "/seg.log")
	f := &hookFile{File: inner}
	startRound(c, g)
	<-entered // round 1 in flight
	seq, _ := c.MarkDirty(f)
	c.Forget(f) // only in the dirty set: returns at once
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := c.Wait(seq); err != nil { // covered by a round with nothing to sync
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := f.syncs.Load(); n != 0 {
		t.Fatalf("forgotten file synced %d times", n)
	}
	// Forget of an unknown file is a no-op.
	c.Forget(f)
}

// TestCloseReleasesPending: waiters pending at Close are released by Close's final sync.
func TestCloseReleasesPending(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	g, entered, release := gatedFile(t, fs, "/busy.log")
	plain, _ := vfs.Create(fs, "/p.log")
	plain.WriteAt([]byte("x"), 0)
	startRound(c, g)
	<-entered
	seq, _ := c.MarkDirty(plain)
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait(seq) }()
	notifyErr := make(chan error, 1)
	c.Notify(seq, func(err error) { notifyErr <- err })
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	for { // Close has begun once MarkDirty refuses; seqs accepted before are still covered
		_, err := c.MarkDirty(plain)
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("MarkDirty while closing: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := <-waitErr; err != nil {
		t.Fatal(err)
	}
	if err := <-notifyErr; err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal("Flush after Close:", err)
	}
	fs.Crash(nil)
	if b, _ := vfs.ReadFile(fs, "/p.log"); len(b) != 0 {
		// The dir entry was never synced, so the file may be gone; if present it is durable.
		if string(b) != "x" {
			t.Fatalf("got %q", b)
		}
	}
}

func TestRealFiles(t *testing.T) {
	dir := t.TempDir()
	c := New(Config{Dir: dir})
	files := createFiles(t, vfs.Default, c, filepath.Join(dir, "topic-0"), 4)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var wg sync.WaitGroup
	for w, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				f.WriteAt(record(w, i), int64(i*recSize))
				seq, err := c.MarkDirty(f)
				if err == nil {
					err = c.Wait(seq)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	// A closed, forgotten real file neither fails nor gets synced.
	c.Forget(files[0])
	files[0].Close()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MarkDirty(files[1]); !errors.Is(err, ErrClosed) {
		t.Fatalf("MarkDirty after Close: %v", err)
	}
}

// TestClosedFileNotForgottenFails documents the other side of Forget: a dirty file closed
// without Forget is an engine bug and fails the directory loudly.
func TestClosedFileNotForgottenFails(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	g, entered, release := gatedFile(t, fs, "/busy.log")
	f, _ := vfs.Create(fs, "/seg.log")
	startRound(c, g)
	<-entered
	seq, _ := c.MarkDirty(f)
	f.Close()
	close(release)
	if err := c.Wait(seq); !errors.Is(err, ErrLogDirOffline) || !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Wait: %v", err)
	}
}

func TestWaitFutureSeq(t *testing.T) {
	c := New(Config{FS: vfs.NewMemFS()})
	defer c.Close()
	if err := c.Wait(5); err == nil {
		t.Fatal("Wait for an unassigned seq returned nil")
	}
	if err := c.Wait(0); err != nil {
		t.Fatal(err)
	}
}

// TestAllocs pins the steady-state allocation budget of the hot path, flusher included.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	f, _ := vfs.Create(fs, "/a.log")
	g, _ := vfs.Create(fs, "/b.log")
	buf := make([]byte, 128)
	f.WriteAt(buf, 0)
	g.WriteAt(buf, 0)
	done := make(chan error, 1)
	notify := func(err error) { done <- err }
	op := func() {
		f.WriteAt(buf, 0) // overwrite: the MemFS's synced copy needs no growth
		s1, _ := c.MarkDirty(f)
		g.WriteAt(buf, 0)
		s2, _ := c.MarkDirty(g)
		c.Notify(s1, notify)
		if err := c.Wait(s2); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		op() // warm the maps and slices
	}
	if n := testing.AllocsPerRun(1000, op); n > 0 {
		t.Fatalf("%.2f allocations per write/MarkDirty/Notify/Wait, want 0", n)
	}
}

// startRound marks f dirty and asks for a round covering it, as a waiter would, without
// registering a waiter.
func startRound(c *Committer, f vfs.File) uint64 {
	seq, err := c.MarkDirty(f)
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	c.requestLocked(seq)
	c.mu.Unlock()
	return seq
}

// TestNotifyFlush: NotifyFlush answers once a round covers everything marked so far (not
// before), at once when nothing is pending, and with the failure once the committer failed.
func TestNotifyFlush(t *testing.T) {
	fs := vfs.NewMemFS()
	c := New(Config{FS: fs})
	defer c.Close()
	g, entered, release := gatedFile(t, fs, "/g")
	startRound(c, g)
	<-entered
	done := make(chan error, 1)
	c.NotifyFlush(func(err error) { done <- err })
	select {
	case err := <-done:
		t.Fatalf("NotifyFlush answered %v before the sync", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.NotifyFlush(func(err error) { done <- err }) // nothing pending: answered inline
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("NotifyFlush with nothing pending did not answer inline")
	}
	boom := errors.New("boom")
	c.Fail(boom)
	c.NotifyFlush(func(err error) { done <- err })
	if err := <-done; !errors.Is(err, boom) && !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("after Fail: %v", err)
	}
}
