package vfs

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand"
	"os"
	"testing"
)

// newMem returns a MemFS with a durable directory /d.
func newMem(t *testing.T) *MemFS {
	t.Helper()
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCreate(t *testing.T, fs FS, name string) File {
	t.Helper()
	f, err := Create(fs, name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustWrite(t *testing.T, f File, b []byte, off int64) {
	t.Helper()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func mustSync(t *testing.T, f File) {
	t.Helper()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func mustSyncDir(t *testing.T, fs FS, dir string) {
	t.Helper()
	if err := fs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
}

// contents returns name's bytes, or nil and false when it does not exist.
func contents(t *testing.T, fs FS, name string) ([]byte, bool) {
	t.Helper()
	b, err := ReadFile(fs, name)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func wantContents(t *testing.T, fs FS, name string, want []byte) {
	t.Helper()
	got, ok := contents(t, fs, name)
	if !ok {
		t.Fatalf("%s does not exist, want %q", name, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", name, got, want)
	}
}

func wantAbsent(t *testing.T, fs FS, name string) {
	t.Helper()
	if _, err := fs.Stat(name); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("stat %s: %v, want ErrNotExist", name, err)
	}
}

func TestMemFSCrashKeepsOnlySyncedBytes(t *testing.T) {
	m := newMem(t)
	f := mustCreate(t, m, "/d/f")
	mustSyncDir(t, m, "/d")

	mustWrite(t, f, []byte("lost"), 0)
	m.Crash(nil)
	wantContents(t, m, "/d/f", []byte{}) // the entry is durable, the bytes were never synced

	f = mustCreate(t, m, "/d/f")
	mustWrite(t, f, []byte("synced"), 0)
	mustSync(t, f)
	mustWrite(t, f, []byte("+tail"), 6) // unsynced growth
	mustWrite(t, f, []byte("S"), 0)     // unsynced overwrite of synced bytes
	wantContents(t, m, "/d/f", []byte("Synced+tail"))
	m.Crash(nil)
	wantContents(t, m, "/d/f", []byte("synced"))

	// A synced truncation is durable too.
	f, err := m.OpenFile("/d/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	mustSync(t, f)
	m.Crash(nil)
	wantContents(t, m, "/d/f", []byte("syn"))
}

func TestMemFSNamespaceDurability(t *testing.T) {
	t.Run("create without SyncDir is lost", func(t *testing.T) {
		m := newMem(t)
		f := mustCreate(t, m, "/d/new")
		mustWrite(t, f, []byte("data"), 0)
		mustSync(t, f) // the bytes are durable, the name is not
		m.Crash(nil)
		wantAbsent(t, m, "/d/new")
	})
	t.Run("create with SyncDir survives", func(t *testing.T) {
		m := newMem(t)
		f := mustCreate(t, m, "/d/new")
		mustWrite(t, f, []byte("data"), 0)
		mustSync(t, f)
		mustSyncDir(t, m, "/d")
		m.Crash(nil)
		wantContents(t, m, "/d/new", []byte("data"))
	})
	t.Run("SyncDir of another directory does not help", func(t *testing.T) {
		m := newMem(t)
		mustCreate(t, m, "/d/new")
		mustSyncDir(t, m, "/")
		m.Crash(nil)
		wantAbsent(t, m, "/d/new")
	})
	t.Run("rename durable after SyncDir of the target", func(t *testing.T) {
		m := newMem(t)
		writeDurable(t, m, "/d/a", "old")
		writeDurable(t, m, "/d/b", "new")
		if err := m.Rename("/d/b", "/d/a"); err != nil {
			t.Fatal(err)
		}
		wantContents(t, m, "/d/a", []byte("new"))
		wantAbsent(t, m, "/d/b")
		c := m.CrashClone(nil)
		wantContents(t, c, "/d/a", []byte("old"))
		wantContents(t, c, "/d/b", []byte("new"))

		mustSyncDir(t, m, "/d")
		m.Crash(nil)
		wantContents(t, m, "/d/a", []byte("new"))
		wantAbsent(t, m, "/d/b")
	})
	t.Run("rename across directories", func(t *testing.T) {
		m := newMem(t)
		if err := m.MkdirAll("/e", 0o755); err != nil {
			t.Fatal(err)
		}
		mustSyncDir(t, m, "/")
		writeDurable(t, m, "/d/f", "x")
		if err := m.Rename("/d/f", "/e/f"); err != nil {
			t.Fatal(err)
		}
		if c := m.CrashClone(nil); true {
			wantContents(t, c, "/d/f", []byte("x"))
			wantAbsent(t, c, "/e/f")
		}
		mustSyncDir(t, m, "/e")
		if c := m.CrashClone(nil); true {
			wantContents(t, c, "/e/f", []byte("x"))
		}
		mustSyncDir(t, m, "/d")
		m.Crash(nil)
		wantContents(t, m, "/e/f", []byte("x"))
		wantAbsent(t, m, "/d/f")
	})
	t.Run("remove durable after SyncDir", func(t *testing.T) {
		m := newMem(t)
		writeDurable(t, m, "/d/f", "x")
		if err := m.Remove("/d/f"); err != nil {
			t.Fatal(err)
		}
		wantAbsent(t, m, "/d/f")
		wantContents(t, m.CrashClone(nil), "/d/f", []byte("x"))
		mustSyncDir(t, m, "/d")
		m.Crash(nil)
		wantAbsent(t, m, "/d/f")
	})
}

// writeDurable creates name with data, syncs it and its directory.
func writeDurable(t *testing.T, m *MemFS, name, data string) {
	t.Helper()
	f := mustCreate(t, m, name)
	mustWrite(t, f, []byte(data), 0)
	mustSync(t, f)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	dir := name[:bytes.LastIndexByte([]byte(name), '/')]
	mustSyncDir(t, m, dir)
}

// TestMemFSCrashTornTail checks Crash(rng): the file keeps its synced bytes plus a prefix of
// the unsynced tail, sometimes zeroed, and over many seeds every outcome happens.
func TestMemFSCrashTornTail(t *testing.T) {
	synced := []byte("0123456789")
	unsynced := []byte("abcdefghijklmnopqrstuvwxyz")
	var sawNone, sawPartial, sawZeros, sawAll bool
	for seed := int64(0); seed < 300; seed++ {
		m := newMem(t)
		f := mustCreate(t, m, "/d/f")
		mustSyncDir(t, m, "/d")
		mustWrite(t, f, synced, 0)
		mustSync(t, f)
		mustWrite(t, f, unsynced, int64(len(synced)))
		m.Crash(rand.New(rand.NewSource(seed)))
		got, _ := contents(t, m, "/d/f")
		if !bytes.HasPrefix(got, synced) || len(got) > len(synced)+len(unsynced) {
			t.Fatalf("seed %d: %q", seed, got)
		}
		tail := got[len(synced):]
		switch {
		case len(tail) == 0:
			sawNone = true
		case bytes.Equal(tail, unsynced[:len(tail)]):
			sawPartial = true
			if len(tail) == len(unsynced) {
				sawAll = true
			}
		case bytes.Count(tail, []byte{0}) == len(tail):
			sawZeros = true
		default:
			t.Fatalf("seed %d: tail %q is neither a prefix of %q nor zeros", seed, tail, unsynced)
		}
		// The crash result is itself durable: a second crash changes nothing.
		m.Crash(rand.New(rand.NewSource(seed)))
		wantContents(t, m, "/d/f", got)
	}
	if !sawNone || !sawPartial || !sawZeros || !sawAll {
		t.Fatalf("outcomes: none %v, prefix %v, zeros %v, whole tail %v", sawNone, sawPartial, sawZeros, sawAll)
	}
}

func TestMemFSCrashCloneLeavesOriginal(t *testing.T) {
	m := newMem(t)
	f := mustCreate(t, m, "/d/f")
	mustSyncDir(t, m, "/d")
	mustWrite(t, f, []byte("synced"), 0)
	mustSync(t, f)
	mustWrite(t, f, []byte("+unsynced"), 6)
	mustCreate(t, m, "/d/undurable")

	c := m.CrashClone(nil)
	wantContents(t, c, "/d/f", []byte("synced"))
	wantAbsent(t, c, "/d/undurable")

	// The original and its handles are untouched, and the two do not share bytes.
	wantContents(t, m, "/d/f", []byte("synced+unsynced"))
	if _, err := m.Stat("/d/undurable"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, f, []byte("S"), 0)
	mustSync(t, f)
	wantContents(t, c, "/d/f", []byte("synced"))
	cf, err := c.OpenFile("/d/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, cf, []byte("C"), 1)
	mustSync(t, cf)
	wantContents(t, m, "/d/f", []byte("Synced+unsynced"))
	wantContents(t, c, "/d/f", []byte("sCnced"))
	// Crashing the original later does not disturb the clone either.
	m.Crash(nil)
	wantContents(t, c, "/d/f", []byte("sCnced"))
	wantContents(t, m, "/d/f", []byte("Synced+unsynced"))
}

func TestMemFSHandlesDieInCrash(t *testing.T) {
	m := newMem(t)
	f := mustCreate(t, m, "/d/f")
	mustSyncDir(t, m, "/d")
	mustWrite(t, f, make([]byte, 16), 0)
	mustSync(t, f)
	m.Crash(nil)
	ops := map[string]func() error{
		"ReadAt":   func() error { _, err := f.ReadAt(make([]byte, 1), 0); return err },
		"WriteAt":  func() error { _, err := f.WriteAt([]byte("x"), 0); return err },
		"Sync":     f.Sync,
		"Truncate": func() error { return f.Truncate(0) },
		"Size":     func() error { _, err := f.Size(); return err },
		"Map":      func() error { _, err := f.Map(8); return err },
	}
	for name, op := range ops {
		if err := op(); !errors.Is(err, ErrCrashed) {
			t.Errorf("%s after crash: %v, want ErrCrashed", name, err)
		}
	}
	// The dead handle wrote nothing into the file that survived.
	wantContents(t, m, "/d/f", make([]byte, 16))
	// A new handle works.
	g, err := m.OpenFile("/d/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, g, []byte("ok"), 0)
}

// TestMemFSMap checks the mapping contract: writes through the mapping are the file's bytes,
// durable on Sync; while mapped, only Size, Sync, Unmap, Name and Close are valid, so the file
// cannot change size under the mapping.
func TestMemFSMap(t *testing.T) {
	m := newMem(t)
	f := mustCreate(t, m, "/d/idx")
	mustSyncDir(t, m, "/d")
	if err := f.Truncate(64); err != nil {
		t.Fatal(err)
	}
	mustSync(t, f)
	if _, err := f.Map(0); err == nil {
		t.Fatal("Map(0) succeeded")
	}
	if _, err := f.Map(65); err == nil {
		t.Fatal("Map past the end succeeded")
	}
	b, err := f.Map(64)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Map(64); err == nil {
		t.Fatal("second Map succeeded")
	}
	copy(b, "through the mapping")

	// Mapped: growth, truncation and byte I/O are refused, through any handle.
	other, err := m.OpenFile("/d/idx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []File{f, other} {
		if _, err := h.WriteAt([]byte("x"), 64); err == nil {
			t.Fatal("WriteAt grew a mapped file")
		}
		if err := h.Truncate(128); err == nil {
			t.Fatal("Truncate of a mapped file succeeded")
		}
		if _, err := h.ReadAt(make([]byte, 1), 0); err == nil {
			t.Fatal("ReadAt of a mapped file succeeded")
		}
	}
	if _, err := m.OpenFile("/d/idx", os.O_RDWR|os.O_TRUNC, 0); err == nil {
		t.Fatal("O_TRUNC of a mapped file succeeded")
	}
	if size, err := f.Size(); err != nil || size != 64 {
		t.Fatalf("Size of a mapped file: %d %v", size, err)
	}

	// Mapped writes are durable after Sync, and only then.
	c := m.CrashClone(nil)
	wantContents(t, c, "/d/idx", make([]byte, 64))
	mustSync(t, f)
	copy(b[32:], "unsynced")
	want := make([]byte, 64)
	copy(want, "through the mapping")
	wantContents(t, m.CrashClone(nil), "/d/idx", want)

	// After Unmap, ReadAt sees the mapped writes and the file may grow again.
	if err := f.Unmap(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64)
	if _, err := other.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	wantLive := append([]byte(nil), want...)
	copy(wantLive[32:], "unsynced")
	if !bytes.Equal(got, wantLive) {
		t.Fatalf("ReadAt after Unmap: %q", got)
	}
	mustWrite(t, f, []byte("grow"), 64)

	// A crash detaches an old mapping from the file.
	b2, err := f.Map(68)
	if err != nil {
		t.Fatal(err)
	}
	m.Crash(nil)
	b2[0] = 'Z'
	wantContents(t, m, "/d/idx", want)

	// Close releases a mapping too.
	g, err := m.OpenFile("/d/idx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Map(64); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := m.OpenFile("/d/idx", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Truncate(8); err != nil {
		t.Fatalf("truncate after Close released the mapping: %v", err)
	}
}

func TestMemFSSetSyncError(t *testing.T) {
	m := newMem(t)
	errDisk := errors.New("disk on fire")
	f := mustCreate(t, m, "/d/f")
	mustWrite(t, f, []byte("x"), 0)
	m.SetSyncError(func(name string) error {
		if name == "/d/f" || name == "/d" {
			return fmt.Errorf("%s: %w", name, errDisk)
		}
		return nil
	})
	if err := f.Sync(); !errors.Is(err, errDisk) {
		t.Fatalf("Sync: %v", err)
	}
	if err := m.SyncDir("/d"); !errors.Is(err, errDisk) {
		t.Fatalf("SyncDir: %v", err)
	}
	mustSyncDir(t, m, "/") // other names are unaffected
	// A failed sync made nothing durable.
	wantAbsent(t, m.CrashClone(nil), "/d/f")
	m.SetSyncError(nil)
	mustSync(t, f)
	mustSyncDir(t, m, "/d")
	m.Crash(nil)
	wantContents(t, m, "/d/f", []byte("x"))
}

func TestMemFSNamespace(t *testing.T) {
	m := newMem(t)
	for _, n := range []string{"/d/c", "/d/a", "/d/b"} {
		mustCreate(t, m, n)
	}
	if err := m.MkdirAll("/d/sub/x", 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := m.ReadDir("/d")
	if err != nil || fmt.Sprint(names) != "[a b c sub]" {
		t.Fatalf("ReadDir: %v %v", names, err)
	}
	if _, err := m.OpenFile("/d/a", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, iofs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	if _, err := m.OpenFile("/nodir/f", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("create without a parent: %v", err)
	}
	if err := m.Remove("/d/sub"); err == nil {
		t.Fatal("removed a non-empty directory")
	}
	if err := m.RemoveAll("/d/sub"); err != nil {
		t.Fatal(err)
	}
	wantAbsent(t, m, "/d/sub/x")
	ro, err := Open(m, "/d/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ro.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("write through a read-only handle")
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(); err == nil {
		t.Fatal("double Close succeeded")
	}
	if _, err := ro.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadAt after Close: %v", err)
	}
}

// crashRecorder wraps a MemFS and takes a crash image after every operation, so a test can
// check what a power loss at any point of a sequence would leave.
type crashRecorder struct {
	*MemFS
	images []*MemFS
	steps  []string
}

func (r *crashRecorder) snap(step string) {
	r.images = append(r.images, r.MemFS.CrashClone(nil))
	r.steps = append(r.steps, step)
}

func (r *crashRecorder) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := r.MemFS.OpenFile(name, flag, perm)
	r.snap("open " + name)
	if err != nil {
		return nil, err
	}
	return &recordedFile{File: f, r: r}, nil
}

func (r *crashRecorder) Rename(oldname, newname string) error {
	err := r.MemFS.Rename(oldname, newname)
	r.snap("rename")
	return err
}

func (r *crashRecorder) SyncDir(dir string) error {
	err := r.MemFS.SyncDir(dir)
	r.snap("syncdir " + dir)
	return err
}

type recordedFile struct {
	File
	r *crashRecorder
}

func (f *recordedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.r.snap("write")
	return n, err
}

func (f *recordedFile) Sync() error {
	err := f.File.Sync()
	f.r.snap("sync")
	return err
}

func (f *recordedFile) Close() error {
	err := f.File.Close()
	f.r.snap("close")
	return err
}

// TestWriteFileAtomicCrashAtEveryStep crashes after every filesystem operation of
// WriteFileAtomic (and with random torn tails) and checks the file holds the old or the new
// contents, never anything else, and the new contents once the call returned.
func TestWriteFileAtomicCrashAtEveryStep(t *testing.T) {
	for _, existed := range []bool{true, false} {
		t.Run(fmt.Sprintf("existed=%v", existed), func(t *testing.T) {
			m := newMem(t)
			old := []byte("old contents")
			if existed {
				writeDurable(t, m, "/d/meta", string(old))
			}
			// A leftover temporary file from an earlier crash must not matter.
			writeDurable(t, m, "/d/meta.tmp", "stale leftover, longer than the new contents")
			r := &crashRecorder{MemFS: m}
			next := []byte("new")
			if err := WriteFileAtomic(r, "/d", "/d/meta", next); err != nil {
				t.Fatal(err)
			}
			if len(r.images) < 5 {
				t.Fatalf("only %d steps recorded", len(r.images))
			}
			for i, img := range r.images {
				got, ok := contents(t, img, "/d/meta")
				switch {
				case !ok && !existed:
				case ok && existed && bytes.Equal(got, old):
				case ok && bytes.Equal(got, next):
				default:
					t.Fatalf("crash after step %d (%s): exists %v, %q", i, r.steps[i], ok, got)
				}
			}
			last := r.images[len(r.images)-1]
			wantContents(t, last, "/d/meta", next)
			for seed := int64(0); seed < 20; seed++ {
				wantContents(t, m.CrashClone(rand.New(rand.NewSource(seed))), "/d/meta", next)
			}
		})
	}
}

func TestWriteFileAtomicSyncFailure(t *testing.T) {
	m := newMem(t)
	writeDurable(t, m, "/d/meta", "old")
	errDisk := errors.New("EIO")
	m.SetSyncError(func(string) error { return errDisk })
	if err := WriteFileAtomic(m, "/d", "/d/meta", []byte("new")); !errors.Is(err, errDisk) {
		t.Fatalf("WriteFileAtomic: %v", err)
	}
	m.SetSyncError(nil)
	wantContents(t, m, "/d/meta", []byte("old")) // failed before the rename
	m.Crash(nil)
	wantContents(t, m, "/d/meta", []byte("old"))
}
