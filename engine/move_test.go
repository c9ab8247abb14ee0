package engine

import (
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
)

// waitMoved waits (generously: the machine may be loaded) until tp is in dest with no move
// in progress.
func waitMoved(t *testing.T, d *LogDirs, tp TopicPartition, dest *LogDir) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, moving := d.Futures()[tp]
		if d.DirOf(tp) == dest && !moving {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not moved to %s within 60 s (in %v, moving %v)", tp, dest.Path, d.DirOf(tp).Path, moving)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noMoveLeftovers fails if a "-future" or "-delete" directory is left in dirs.
func noMoveLeftovers(t *testing.T, fsys vfs.FS, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		names, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, futureSuffix) || strings.HasSuffix(n, deleteSuffix) {
				t.Fatalf("left over in %s: %s", dir, n)
			}
		}
	}
}

// TestMoveLogDuringAppends moves a partition between two real directories while a writer
// appends (each append waited durable, some of them idempotent, the segments rolling), then
// checks every acknowledged batch is in the moved log byte for byte, the writer never saw an
// error, the files are only in the destination, and a restart finds it there.
func TestMoveLogDuringAppends(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	tp := TopicPartition{Topic: "t", Partition: 0}
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 16 << 10
	l, err := d.OpenLogWith(tp, cfg, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	src, dest := d.DirOf(tp), d.Dirs()[1]
	if src != d.Dirs()[0] {
		t.Fatalf("placed in %s, want %s", src.Path, a)
	}
	var mu sync.Mutex
	acked := map[int64][]byte{}
	seq := int32(0)
	var last []byte // the last idempotent batch appended
	next := func(i int) error {
		n := 1 + i%4
		last = testbatch.Build(testbatch.Options{Records: n, ValueSize: 200 + i%300, BaseTimestamp: int64(i),
			Fill: byte('a' + i%26), Idempotent: true, ProducerID: 7, BaseSequence: seq})
		seq += int32(n)
		return appendAcked(l, last, &mu, acked)
	}
	i := 0
	for ; i < 200; i++ {
		if err := next(i); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		for j := i; ; j++ {
			select {
			case <-stop:
				writerErr <- nil
				return
			default:
			}
			if err := next(j); err != nil {
				writerErr <- err
				return
			}
		}
	}()
	if err := d.MoveLog(tp, b); err != nil {
		t.Fatal(err)
	}
	waitMoved(t, d, tp, dest)
	close(stop)
	if err := <-writerErr; err != nil {
		t.Fatalf("append during the move: %v", err)
	}
	// Appends after the move go to the destination, and wait on its committer.
	for j := 0; j < 20; j++ {
		if err := next(100000 + j); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Dir(); got != filepath.Join(b, tp.dirName()) {
		t.Fatalf("log directory %s, want %s", got, filepath.Join(b, tp.dirName()))
	}
	if d.Log(tp) != l || dest.Engine.Log(tp) != l || src.Engine.Log(tp) != nil {
		t.Fatal("the moved log is not the same *Log, registered in the destination only")
	}
	if _, err := os.Stat(filepath.Join(a, tp.dirName())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("source directory still there: %v", err)
	}
	noMoveLeftovers(t, vfs.Default, a, b)
	verifyLog(t, l, acked, 0, false)
	// The producer state moved with the log: a resent batch is a duplicate.
	if res, err := l.Append(append([]byte(nil), last...), AppendOptions{}); err != nil || !res.Duplicate {
		t.Fatalf("resending the last batch after the move: %+v, %v; want a duplicate", res, err)
	}
	end := l.LogEndOffset()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDirs(t, -1, a, b)
	defer d.Close()
	if got := d.DirOf(tp); got == nil || got.Path != b {
		t.Fatalf("after restart the partition is in %v, want %s", got, b)
	}
	l, err = d.OpenLogWith(tp, cfg, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != end {
		t.Fatalf("end offset %d after restart, want %d", l.LogEndOffset(), end)
	}
	verifyLog(t, l, acked, 1, false)
}

// appendAcked appends b, waits for it to be durable and records it as acknowledged.
func appendAcked(l *Log, b []byte, mu *sync.Mutex, acked map[int64][]byte) error {
	res, err := l.Append(b, AppendOptions{})
	if err != nil {
		return err
	}
	if err := l.WaitDurable(res.SyncSeq); err != nil {
		return err
	}
	mu.Lock()
	acked[res.BaseOffset] = b
	mu.Unlock()
	return nil
}

// TestMoveLogRequests covers the answers that start no copy: the same directory, an unknown
// path, an offline destination, and a partition not created yet (placed in the asked
// directory when it is).
func TestMoveLogRequests(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	defer d.Close()
	tp := TopicPartition{Topic: "t", Partition: 0}
	l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, batch(3, 10, 1))
	if err := d.MoveLog(tp, a+"/"); err != nil {
		t.Fatalf("move to its own directory: %v", err)
	}
	if _, moving := d.Futures()[tp]; moving || d.DirOf(tp).Path != a {
		t.Fatal("a move to the same directory started a copy")
	}
	if err := d.MoveLog(tp, filepath.Join(root, "c")); !errors.Is(err, ErrLogDirNotFound) {
		t.Fatalf("unknown directory: %v, want ErrLogDirNotFound", err)
	}
	newTP := TopicPartition{Topic: "new", Partition: 0}
	if err := d.MoveLog(newTP, b); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition not created: %v, want ErrUnknownPartition", err)
	}
	// Placement would pick b anyway (a holds one partition): ask for a instead.
	newTP2 := TopicPartition{Topic: "new", Partition: 1}
	if err := d.MoveLog(newTP2, a); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition not created: %v, want ErrUnknownPartition", err)
	}
	if _, err := d.OpenLogWith(newTP2, DefaultLogConfig, OpenOptions{Create: true}); err != nil {
		t.Fatal(err)
	}
	if got := d.DirOf(newTP2).Path; got != a {
		t.Fatalf("created in %s, want %s (AlterReplicaLogDirs' choice)", got, a)
	}
	d.Dirs()[1].Engine.gc.Fail(errors.New("test: disk failed"))
	if err := d.MoveLog(tp, b); !errors.Is(err, ErrLogDirOffline) {
		t.Fatalf("offline destination: %v, want ErrLogDirOffline", err)
	}
}

// TestMoveLogCrashAtEachStep moves a partition on the crashable filesystem and takes a crash
// image after every step of the move; each image must restart with the partition in exactly
// one directory (the source before the future log is renamed into place, the destination
// after) holding every acknowledged batch, and no future or deleted directory left.
func TestMoveLogCrashAtEachStep(t *testing.T) {
	rng := rand.New(rand.NewSource(testSeed(t)))
	fsys := vfs.NewMemFS()
	open := func(fsys vfs.FS) *LogDirs {
		t.Helper()
		d, err := OpenLogDirs(LogDirsConfig{Dirs: []string{"/a", "/b"}, NodeID: 1, WatchInterval: -1,
			Engine: Config{FS: fsys, RetentionCheckInterval: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open(fsys)
	tp := TopicPartition{Topic: "t", Partition: 0}
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 4 << 10
	l, err := d.OpenLogWith(tp, cfg, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[int64][]byte{}
	for i := 0; i < 60; i++ {
		if err := appendAcked(l, batch(1+i%3, rng.Intn(500), int64(i)), &mu, acked); err != nil {
			t.Fatal(err)
		}
	}
	// Unacknowledged appends too: they may or may not survive, never corrupt.
	for i := 0; i < 5; i++ {
		mustAppend(t, l, batch(1, 100, int64(1000+i)))
	}
	images := map[moveStep]*vfs.MemFS{}
	d.afterMoveStep = func(s moveStep) { images[s] = fsys.CrashClone(rng) }
	if err := d.MoveLog(tp, "/b"); err != nil {
		t.Fatal(err)
	}
	dest := d.Dirs()[1]
	waitMoved(t, d, tp, dest)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wantDir := map[moveStep]string{moveCaughtUp: "/a", moveFutureSynced: "/a", moveCurrentRenamed: "/b", moveFutureRenamed: "/b", moveDone: "/b"}
	for step := moveCaughtUp; step <= moveDone; step++ {
		img := images[step]
		if img == nil {
			t.Fatalf("no crash image after step %d", step)
		}
		d2 := open(img)
		ld := d2.DirOf(tp)
		if ld == nil || ld.Path != wantDir[step] {
			t.Fatalf("crash after step %d: partition in %v, want %s", step, ld, wantDir[step])
		}
		noMoveLeftovers(t, img, "/a", "/b")
		l2, err := d2.OpenLogWith(tp, cfg, OpenOptions{})
		if err != nil {
			t.Fatalf("crash after step %d: %v", step, err)
		}
		verifyLog(t, l2, acked, int(step), false)
		if err := d2.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMoveLogTruncatedDuringCopy truncates the log (a follower diverging from its leader)
// while it moves: the move starts over and the moved log holds the truncated data only.
func TestMoveLogTruncatedDuringCopy(t *testing.T) {
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	d := openDirs(t, -1, a, b)
	defer d.Close()
	tp := TopicPartition{Topic: "t", Partition: 0}
	l, err := d.OpenLogWith(tp, DefaultLogConfig, OpenOptions{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		mustAppend(t, l, batch(2, 100, int64(i)))
	}
	truncated := false
	d.afterMoveStep = func(s moveStep) {
		if s == moveCaughtUp && !truncated {
			truncated = true
			if err := l.TruncateTo(40); err != nil {
				t.Error(err)
			}
		}
	}
	if err := d.MoveLog(tp, b); err != nil {
		t.Fatal(err)
	}
	waitMoved(t, d, tp, d.Dirs()[1])
	if !truncated {
		t.Fatal("the hook never ran")
	}
	if l.LogEndOffset() != 40 {
		t.Fatalf("end offset %d, want 40", l.LogEndOffset())
	}
	if hs := readAll(t, l, 0, l.LogEndOffset()); len(hs) != 20 || hs[len(hs)-1].NextOffset() != 40 {
		t.Fatalf("read %d batches after the move, want 20 ending at 40", len(hs))
	}
}
