package metadata

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/logd/logd/internal/vfs"
)

func testLogs(from, to uint64, size int) []*raft.Log {
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("%0*d", size, i)),
			AppendedAt: time.Unix(int64(i), 0)})
	}
	return logs
}

func newMemFS(t *testing.T) *vfs.MemFS {
	fs := vfs.NewMemFS()
	fs.MkdirAll("/d", 0o755)
	fs.SyncDir("/")
	return fs
}

func checkRange(t *testing.T, s *LogStore, first, last uint64) {
	t.Helper()
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	if f != first || l != last {
		t.Fatalf("range %d..%d, want %d..%d", f, l, first, last)
	}
	for i := first; i <= last && last != 0; i++ {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if got.Index != i || got.Term != 1+i/10 || string(got.Data) != fmt.Sprintf("%0*d", len(got.Data), i) || got.AppendedAt.Unix() != int64(i) {
			t.Fatalf("entry %d: %+v", i, got)
		}
	}
	var got raft.Log
	if err := s.GetLog(last+1, &got); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("past the end: %v", err)
	}
}

func TestLogStoreSurvivesCrashes(t *testing.T) {
	fs := newMemFS(t)
	s, err := OpenLogStore(fs, "/d/raft")
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 0, 0)
	if err := s.StoreLogs(testLogs(1, 20, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(testLogs(21, 21, 10)[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(testLogs(23, 24, 10)); err == nil {
		t.Fatal("a gap was accepted")
	}
	if err := s.DeleteRange(1, 5); err != nil { // compaction after a snapshot
		t.Fatal(err)
	}
	if err := s.DeleteRange(19, 21); err != nil { // a conflicting suffix
		t.Fatal(err)
	}
	if err := s.DeleteRange(8, 9); err == nil {
		t.Fatal("a hole in the middle was accepted")
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node2")); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 6, 18)

	// Power loss: everything acknowledged was synced, so everything survives, for any torn
	// garbage the crash leaves.
	for seed := int64(0); seed < 10; seed++ {
		crashed := fs.CrashClone(rand.New(rand.NewSource(seed)))
		r, err := OpenLogStore(crashed, "/d/raft")
		if err != nil {
			t.Fatal(err)
		}
		checkRange(t, r, 6, 18)
		if v, _ := r.GetUint64([]byte("CurrentTerm")); v != 7 {
			t.Fatalf("term %d", v)
		}
		if v, _ := r.Get([]byte("LastVoteCand")); string(v) != "node2" {
			t.Fatalf("vote %q", v)
		}
		if v, _ := r.Get([]byte("missing")); len(v) != 0 {
			t.Fatalf("missing key: %q", v)
		}
		// It goes on appending after the recovered end.
		if err := r.StoreLogs(testLogs(19, 19, 10)); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
}

func TestLogStoreCutsTornTail(t *testing.T) {
	fs := newMemFS(t)
	s, _ := OpenLogStore(fs, "/d")
	s.StoreLogs(testLogs(1, 3, 10))
	s.StoreLogs(testLogs(4, 6, 10))
	s.Close()
	f, _ := fs.OpenFile("/d/"+logFileName, os.O_RDWR, 0)
	size, _ := f.Size()
	// Corrupt the last record's last byte: the whole second batch goes, the first stays.
	f.WriteAt([]byte{0xff}, size-1)
	f.WriteAt([]byte("garbage after it"), size)
	f.Sync()
	f.Close()
	s, err := OpenLogStore(fs, "/d")
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 1, 3)
	if err := s.StoreLogs(testLogs(4, 4, 10)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, _ = OpenLogStore(fs, "/d")
	checkRange(t, s, 1, 4)
}

func TestLogStoreRewritesDeadSpace(t *testing.T) {
	fs := newMemFS(t)
	s, _ := OpenLogStore(fs, "/d")
	const size = 64 << 10
	for i := uint64(1); i <= 100; i += 10 {
		if err := s.StoreLogs(testLogs(i, i+9, size)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRange(1, 90); err != nil {
		t.Fatal(err)
	}
	if s.rewrites != 1 {
		t.Fatalf("rewrites %d", s.rewrites)
	}
	if fi, _ := fs.Stat("/d/" + logFileName); fi.Size() > 11*size {
		t.Fatalf("file still %d bytes", fi.Size())
	}
	if err := s.StoreLogs(testLogs(101, 101, size)); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 91, 101)
	crashed := fs.CrashClone(nil)
	r, err := OpenLogStore(crashed, "/d")
	if err != nil {
		t.Fatal(err)
	}
	checkRange(t, r, 91, 101)
}

func TestLogStoreFailsForGoodAfterSyncError(t *testing.T) {
	fs := newMemFS(t)
	s, _ := OpenLogStore(fs, "/d")
	fs.SetSyncError(func(string) error { return errors.New("EIO") })
	if err := s.StoreLogs(testLogs(1, 1, 1)); !errors.Is(err, ErrLogStoreFailed) {
		t.Fatalf("sync error: %v", err)
	}
	fs.SetSyncError(nil)
	if err := s.StoreLogs(testLogs(1, 1, 1)); !errors.Is(err, ErrLogStoreFailed) {
		t.Fatalf("after a sync error the store must refuse: %v", err)
	}
}
