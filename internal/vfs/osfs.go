package vfs

import (
	"errors"
	"os"
	"sort"

	mmap "github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Default is the operating system's filesystem.
var Default FS = osFS{}

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: f}, nil
}

func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) RemoveAll(name string) error                 { return os.RemoveAll(name) }
func (osFS) Rename(oldname, newname string) error        { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Stat(name string) (os.FileInfo, error)       { return os.Stat(name) }

func (osFS) ReadDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

type osFile struct {
	*os.File
	mapping mmap.MMap
}

func (f *osFile) Sync() error {
	if f.mapping != nil {
		if err := f.mapping.Flush(); err != nil {
			return err
		}
	}
	return unix.Fdatasync(int(f.File.Fd()))
}

func (f *osFile) Size() (int64, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f *osFile) Map(size int) ([]byte, error) {
	if f.mapping != nil {
		return nil, errors.New("vfs: file already mapped")
	}
	if size == 0 {
		return nil, errors.New("vfs: cannot map zero bytes")
	}
	m, err := mmap.MapRegion(f.File, size, mmap.RDWR, 0, 0)
	if err != nil {
		return nil, err
	}
	f.mapping = m
	return m, nil
}

func (f *osFile) Unmap() error {
	if f.mapping == nil {
		return nil
	}
	err := f.mapping.Unmap()
	f.mapping = nil
	return err
}

func (f *osFile) Close() error {
	uerr := f.Unmap()
	if err := f.File.Close(); err != nil {
		return err
	}
	return uerr
}
