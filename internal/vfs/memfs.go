package vfs

import (
	"errors"
	"io"
	iofs "io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrCrashed is returned by every operation on a File opened before MemFS.Crash.
var ErrCrashed = errors.New("vfs: file handle from before a simulated crash")

// MemFS is an in-memory filesystem that can simulate power loss. Only data made durable by
// File.Sync, and directory entries made durable by SyncDir of their parent, survive Crash.
// It is safe for concurrent use.
type MemFS struct {
	mu         sync.Mutex // guards everything below and every memNode's fields
	live       map[string]*memNode
	durable    map[string]*memNode // namespace as of the last SyncDir of each directory
	generation int                 // bumped by Crash; handles from older generations are dead
	syncErr    func(name string) error
}

type memNode struct {
	dir    bool
	data   []byte // current contents
	synced []byte // contents as of the last Sync
	mapped bool
}

// NewMemFS returns an empty MemFS whose root directory "/" exists durably.
func NewMemFS() *MemFS {
	root := &memNode{dir: true}
	return &MemFS{
		live:    map[string]*memNode{"/": root},
		durable: map[string]*memNode{"/": root},
	}
}

// SetSyncError makes File.Sync and SyncDir return fn(name) when it is non-nil; nil clears it.
// Tests use it to simulate a failing disk.
func (m *MemFS) SetSyncError(fn func(name string) error) {
	m.mu.Lock()
	m.syncErr = fn
	m.mu.Unlock()
}

// Crash simulates power loss: the namespace reverts to its durable entries and every file to
// its synced bytes. With rng non-nil, a random prefix of each file's unsynced tail survives,
// sometimes as zeros (a torn write), as on a real disk. Open handles become dead.
func (m *MemFS) Crash(rng *rand.Rand) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.generation++
	// An entry survives only if every directory above it does: a durable entry inside a
	// directory whose own entry was never synced is unreachable after the crash.
	for name := range m.durable {
		for p := filepath.Dir(name); name != "/" && p != "/"; p = filepath.Dir(p) {
			if _, ok := m.durable[p]; !ok {
				delete(m.durable, name)
				break
			}
		}
	}
	m.live = make(map[string]*memNode, len(m.durable))
	for name, n := range m.durable {
		m.live[name] = n
	}
	for _, n := range m.live {
		if n.dir {
			continue
		}
		data := append([]byte(nil), n.synced...)
		if rng != nil && len(n.data) > len(n.synced) && rng.Intn(2) == 0 {
			extra := n.data[len(n.synced):]
			keep := rng.Intn(len(extra) + 1)
			tail := append([]byte(nil), extra[:keep]...)
			if rng.Intn(3) == 0 {
				for i := range tail {
					tail[i] = 0
				}
			}
			data = append(data, tail...)
		}
		n.data = data
		n.synced = append([]byte(nil), data...)
		n.mapped = false
	}
}

// CrashClone returns a new MemFS holding what a crash of m would leave (see Crash), and leaves
// m untouched: the process that "crashed" may go on using m and its handles without touching
// what the restarted process sees, as a killed process cannot.
func (m *MemFS) CrashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	c := &MemFS{live: map[string]*memNode{}, durable: map[string]*memNode{}}
	for name, n := range m.durable {
		cp := &memNode{dir: n.dir, synced: append([]byte(nil), n.synced...), data: append([]byte(nil), n.data...)}
		c.durable[name] = cp
	}
	m.mu.Unlock()
	c.Crash(rng)
	return c
}

func clean(name string) string { return filepath.Clean("/" + name) }

func (m *MemFS) parentExistsLocked(name string) bool {
	p, ok := m.live[filepath.Dir(name)]
	return ok && p.dir
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.live[name]
	switch {
	case ok && n.dir:
		return nil, &os.PathError{Op: "open", Path: name, Err: iofs.ErrInvalid}
	case ok && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: iofs.ErrExist}
	case !ok && flag&os.O_CREATE == 0:
		return nil, &os.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
	case !ok:
		if !m.parentExistsLocked(name) {
			return nil, &os.PathError{Op: "open", Path: name, Err: iofs.ErrNotExist}
		}
		n = &memNode{}
		m.live[name] = n
	}
	if flag&os.O_TRUNC != 0 {
		if n.mapped {
			return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("truncate of mapped file")}
		}
		n.data = n.data[:0]
	}
	return &memFile{fs: m, node: n, name: name, gen: m.generation, readOnly: flag&(os.O_RDWR|os.O_WRONLY) == 0}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.live[name]
	if !ok {
		return &os.PathError{Op: "remove", Path: name, Err: iofs.ErrNotExist}
	}
	if n.dir && len(m.childrenLocked(m.live, name)) > 0 {
		return &os.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
	}
	delete(m.live, name)
	return nil
}

// RemoveAll implements FS.
func (m *MemFS) RemoveAll(name string) error {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := range m.live {
		if p == name || strings.HasPrefix(p, name+"/") {
			delete(m.live, p)
		}
	}
	return nil
}

// Rename implements FS.
func (m *MemFS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.live[oldname]
	if !ok {
		return &os.PathError{Op: "rename", Path: oldname, Err: iofs.ErrNotExist}
	}
	if !m.parentExistsLocked(newname) {
		return &os.PathError{Op: "rename", Path: newname, Err: iofs.ErrNotExist}
	}
	if n.dir {
		for p, c := range m.live {
			if strings.HasPrefix(p, oldname+"/") {
				delete(m.live, p)
				m.live[newname+p[len(oldname):]] = c
			}
		}
	}
	delete(m.live, oldname)
	m.live[newname] = n
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for p := dir; ; p = filepath.Dir(p) {
		if n, ok := m.live[p]; ok {
			if !n.dir {
				return &os.PathError{Op: "mkdir", Path: p, Err: iofs.ErrExist}
			}
			break
		}
		m.live[p] = &memNode{dir: true}
	}
	return nil
}

func (m *MemFS) childrenLocked(ns map[string]*memNode, dir string) []string {
	var names []string
	prefix := dir + "/"
	if dir == "/" {
		prefix = "/"
	}
	for p := range ns {
		if p != dir && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			names = append(names, p[len(prefix):])
		}
	}
	sort.Strings(names)
	return names
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.live[dir]; !ok || !n.dir {
		return nil, &os.PathError{Op: "readdir", Path: dir, Err: iofs.ErrNotExist}
	}
	return m.childrenLocked(m.live, dir), nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	name = clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.live[name]
	if !ok {
		return nil, &os.PathError{Op: "stat", Path: name, Err: iofs.ErrNotExist}
	}
	return memInfo{name: filepath.Base(name), size: int64(len(n.data)), dir: n.dir}, nil
}

// SyncDir implements FS.
func (m *MemFS) SyncDir(dir string) error {
	dir = clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.syncErr != nil {
		if err := m.syncErr(dir); err != nil {
			return err
		}
	}
	if n, ok := m.live[dir]; !ok || !n.dir {
		return &os.PathError{Op: "sync", Path: dir, Err: iofs.ErrNotExist}
	}
	// A directory renamed into dir keeps its entries: they belong to the directory, not to
	// its name, so its durable subtree moves with the rename.
	for _, name := range m.childrenLocked(m.live, dir) {
		p := filepath.Join(dir, name)
		n := m.live[p]
		if !n.dir || m.durable[p] == n {
			continue
		}
		for q, dn := range m.durable {
			if dn != n || q == p {
				continue
			}
			for r, c := range m.durable {
				if strings.HasPrefix(r, q+"/") {
					delete(m.durable, r)
					m.durable[p+r[len(q):]] = c
				}
			}
			delete(m.durable, q)
			break
		}
	}
	for _, name := range m.childrenLocked(m.durable, dir) {
		p := filepath.Join(dir, name)
		if _, ok := m.live[p]; !ok {
			// Removing a durable directory entry removes its durable subtree too.
			for q := range m.durable {
				if q == p || strings.HasPrefix(q, p+"/") {
					delete(m.durable, q)
				}
			}
		}
	}
	for _, name := range m.childrenLocked(m.live, dir) {
		p := filepath.Join(dir, name)
		m.durable[p] = m.live[p]
	}
	return nil
}

type memInfo struct {
	name string
	size int64
	dir  bool
}

func (i memInfo) Name() string { return i.name }
func (i memInfo) Size() int64  { return i.size }
func (i memInfo) Mode() os.FileMode {
	if i.dir {
		return os.ModeDir | 0o755
	}
	return 0o644
}
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.dir }
func (i memInfo) Sys() any           { return nil }

type memFile struct {
	fs       *MemFS
	node     *memNode
	name     string
	gen      int
	readOnly bool
	closed   bool
}

// checkLocked reports why the handle cannot be used. REQUIRES: f.fs.mu held.
func (f *memFile) checkLocked() error {
	if f.closed {
		return os.ErrClosed
	}
	if f.gen != f.fs.generation {
		return ErrCrashed
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return 0, err
	}
	if f.node.mapped {
		return 0, errMapped
	}
	if off < 0 {
		return 0, errors.New("vfs: negative offset")
	}
	if off >= int64(len(f.node.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.node.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return 0, err
	}
	if f.readOnly {
		return 0, os.ErrPermission
	}
	if f.node.mapped {
		return 0, errMapped
	}
	if off < 0 {
		return 0, errors.New("vfs: negative offset")
	}
	end := off + int64(len(p))
	if end > int64(len(f.node.data)) {
		f.node.data = growTo(f.node.data, end)
	}
	copy(f.node.data[off:], p)
	return len(p), nil
}

func growTo(b []byte, size int64) []byte {
	if int64(cap(b)) >= size {
		old := len(b)
		b = b[:size]
		clear(b[old:])
		return b
	}
	nb := make([]byte, size, size+size/4)
	copy(nb, b)
	return nb
}

func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return err
	}
	if f.fs.syncErr != nil {
		if err := f.fs.syncErr(f.name); err != nil {
			return err
		}
	}
	f.node.synced = append(f.node.synced[:0], f.node.data...)
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return err
	}
	if f.node.mapped {
		return errors.New("vfs: truncate of a mapped file")
	}
	if size < int64(len(f.node.data)) {
		f.node.data = f.node.data[:size]
	} else {
		f.node.data = growTo(f.node.data, size)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return 0, err
	}
	return int64(len(f.node.data)), nil
}

func (f *memFile) Name() string { return f.name }

func (f *memFile) Map(size int) ([]byte, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.checkLocked(); err != nil {
		return nil, err
	}
	if f.node.mapped {
		return nil, errors.New("vfs: file already mapped")
	}
	if size <= 0 || size > len(f.node.data) {
		return nil, errors.New("vfs: map size out of range")
	}
	f.node.mapped = true
	return f.node.data[:size:size], nil
}

func (f *memFile) Unmap() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.gen == f.fs.generation {
		f.node.mapped = false
	}
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	f.closed = true
	if f.gen == f.fs.generation {
		f.node.mapped = false
	}
	return nil
}
