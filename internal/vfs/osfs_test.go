package vfs

import (
	"bytes"
	"errors"
	iofs "io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOSFSMapSyncRoundTrip(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "idx")
	f, err := Create(Default, name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok := f.(FdFile); !ok {
		t.Fatal("OS files must expose their descriptor for sendfile")
	}
	if _, err := f.Map(0); err == nil {
		t.Fatal("Map(0) succeeded")
	}
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	m, err := f.Map(4096)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Map(4096); err == nil {
		t.Fatal("second Map succeeded")
	}
	copy(m[100:], "mapped bytes")
	// Mapped, the descriptor is given back: only Size, Sync, Unmap, Name and Close work.
	if _, err := f.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("ReadAt of a mapped file succeeded")
	}
	if err := f.Truncate(1); err == nil {
		t.Fatal("Truncate of a mapped file succeeded")
	}
	if size, err := f.Size(); err != nil || size != 4096 {
		t.Fatalf("Size of a mapped file: %d %v", size, err)
	}
	if f.Name() != name {
		t.Fatalf("Name %q", f.Name())
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := f.Unmap(); err != nil {
		t.Fatalf("second Unmap: %v", err)
	}
	got := make([]byte, 12)
	if _, err := f.ReadAt(got, 100); err != nil || string(got) != "mapped bytes" {
		t.Fatalf("ReadAt after Unmap: %q %v", got, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Writes through the mapping stay in the file after Unmap, seen by another opener.
	disk, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(disk) != 4096 || !bytes.Equal(disk[100:112], []byte("mapped bytes")) {
		t.Fatalf("file after unmap: %d bytes, %q", len(disk), disk[100:112])
	}
	// Unmapped, the file can change size and be mapped again; Close releases the mapping.
	if err := f.Truncate(8192); err != nil {
		t.Fatal(err)
	}
	if size, err := f.Size(); err != nil || size != 8192 {
		t.Fatalf("Size %d %v", size, err)
	}
	m, err = f.Map(8192)
	if err != nil {
		t.Fatal(err)
	}
	m[8191] = 'z'
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(Default, name)
	if err != nil || len(b) != 8192 || b[8191] != 'z' || b[100] != 'm' {
		t.Fatalf("ReadFile: %d bytes, %v", len(b), err)
	}
}

func TestOSFSDirectories(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"c", "a", "b10", "b2"} {
		f, err := Create(Default, filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := Default.MkdirAll(filepath.Join(dir, "0sub", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	names, err := Default.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0sub", "a", "b10", "b2", "c"}
	if len(names) != len(want) {
		t.Fatalf("ReadDir %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("ReadDir %v, want %v", names, want)
		}
	}
	if err := Default.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	if err := Default.SyncDir(missing); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("SyncDir of a missing directory: %v", err)
	}
	if _, err := Default.Stat(missing); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("Stat of a missing file: %v", err)
	}
	if _, err := Default.ReadDir(missing); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("ReadDir of a missing directory: %v", err)
	}
	if _, err := Default.OpenFile(filepath.Join(dir, "a"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, iofs.ErrExist) {
		t.Fatalf("O_EXCL on an existing file: %v", err)
	}
	if err := Default.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "z")); err != nil {
		t.Fatal(err)
	}
	if err := Default.Remove(filepath.Join(dir, "z")); err != nil {
		t.Fatal(err)
	}
	if err := Default.RemoveAll(filepath.Join(dir, "0sub")); err != nil {
		t.Fatal(err)
	}
	names, _ = Default.ReadDir(dir)
	if len(names) != 3 || names[0] != "b10" {
		t.Fatalf("after removes: %v", names)
	}
}

func TestOSFSWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "meta")
	for _, data := range []string{"first, the longer one", "second"} {
		if err := WriteFileAtomic(Default, dir, name, []byte(data)); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(Default, name)
		if err != nil || string(got) != data {
			t.Fatalf("ReadFile %q %v, want %q", got, err, data)
		}
	}
	if _, err := Default.Stat(name + ".tmp"); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}
