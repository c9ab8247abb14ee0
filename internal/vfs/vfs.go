// Package vfs is the small filesystem interface every storage layer of logd writes through.
//
// Two implementations exist: Default, the operating system's filesystem, and MemFS, an
// in-memory filesystem that can simulate a crash (power loss) for tests. MemFS keeps only what
// was made durable: file bytes written before a File.Sync, and directory entries (creates,
// removes, renames) followed by an FS.SyncDir of their directory.
//
// Mapping: index files are memory-mapped. File.Map returns a byte slice backed by the file
// (mmap for the OS, the file's own buffer for MemFS); bytes written through it become durable
// on File.Sync like ordinary writes. While a file is mapped, only Size, Sync, Unmap, Name and
// Close may be called (the OS implementation gives the descriptor back until Unmap).
package vfs

import (
	"io"
	"os"
)

// File is an open file. Implementations are safe for concurrent ReadAt calls; WriteAt,
// Truncate, Map and Unmap must be serialized by the caller.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Sync makes the file's data durable (fdatasync).
	Sync() error
	// Truncate changes the file's size, zero-filling on growth.
	Truncate(size int64) error
	// Size returns the file's current size.
	Size() (int64, error)
	// Name returns the path the file was opened with.
	Name() string
	// Map maps the first size bytes of the file read-write. The file must be at least size
	// bytes long. At most one mapping exists per File.
	Map(size int) ([]byte, error)
	// Unmap releases the mapping returned by Map; writes through it stay in the file.
	Unmap() error
}

// FdFile is implemented by files backed by an operating-system file descriptor, so the network
// layer can sendfile(2) from them.
type FdFile interface {
	Fd() uintptr
}

// FS is a filesystem.
type FS interface {
	// OpenFile opens name with os.OpenFile flags (O_RDONLY, O_RDWR, O_CREATE, O_EXCL, O_TRUNC).
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// RemoveAll removes a directory tree.
	RemoveAll(name string) error
	// Rename atomically renames a file.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Stat returns a file's size and kind; errors satisfy errors.Is(err, fs.ErrNotExist) when
	// the name does not exist.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the directory's entries (creates, removes, renames) durable.
	SyncDir(dir string) error
}

// Create opens name for reading and writing, creating or truncating it.
func Create(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// Open opens name for reading.
func Open(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDONLY, 0)
}

// WriteFileAtomic replaces name with data durably: write a temporary file, fsync it, rename it
// over name, fsync the directory. A crash leaves either the old or the new contents.
func WriteFileAtomic(fs FS, dir, name string, data []byte) error {
	tmp := name + ".tmp"
	f, err := Create(fs, tmp)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, name); err != nil {
		return err
	}
	return fs.SyncDir(dir)
}

// ReadFile reads a whole file.
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := Open(fs, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !(err == io.EOF && int64(n) == size) {
		return nil, err
	}
	return buf, nil
}
