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
	return &osFile{File: f, name: name}, nil
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

// osFile is an OS file. A mapped file gives its descriptor back, as Kafka does for its
// indexes: an active segment then holds one descriptor (its .log) instead of three, which is
// what lets 10,000+ partitions open within the usual descriptor limits. The descriptor is
// reopened by Unmap. While mapped, only Size, Sync, Unmap, Name and Close are valid.
type osFile struct {
	*os.File           // nil while mapped
	name     string    // path, to reopen after Unmap
	mapping  mmap.MMap // non-nil while mapped
}

var errMapped = errors.New("vfs: operation on a mapped file")

func (f *osFile) Name() string { return f.name }

func (f *osFile) ReadAt(p []byte, off int64) (int, error) {
	if f.File == nil {
		return 0, errMapped
	}
	return f.File.ReadAt(p, off)
}

func (f *osFile) WriteAt(p []byte, off int64) (int, error) {
	if f.File == nil {
		return 0, errMapped
	}
	return f.File.WriteAt(p, off)
}

func (f *osFile) Truncate(size int64) error {
	if f.File == nil {
		return errMapped
	}
	return f.File.Truncate(size)
}

// Sync flushes the mapping (msync) of a mapped file, or fdatasyncs an unmapped one.
func (f *osFile) Sync() error {
	if f.mapping != nil {
		return f.mapping.Flush()
	}
	return unix.Fdatasync(int(f.File.Fd()))
}

func (f *osFile) Size() (int64, error) {
	var fi os.FileInfo
	var err error
	if f.File == nil {
		fi, err = os.Stat(f.name)
	} else {
		fi, err = f.File.Stat()
	}
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
	if err := f.File.Close(); err != nil {
		m.Unmap()
		return nil, err
	}
	f.File, f.mapping = nil, m
	return m, nil
}

// Unmap releases the mapping and reopens the descriptor.
func (f *osFile) Unmap() error {
	if f.mapping == nil {
		return nil
	}
	err := f.mapping.Unmap()
	f.mapping = nil
	file, oerr := os.OpenFile(f.name, os.O_RDWR, 0)
	if oerr != nil {
		return errors.Join(err, oerr)
	}
	f.File = file
	return err
}

// Close unmaps (without reopening) and closes the file.
func (f *osFile) Close() error {
	if f.mapping != nil {
		err := f.mapping.Unmap()
		f.mapping = nil
		return err
	}
	return f.File.Close()
}
