package metadata

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/logd/logd/internal/vfs"
)

// LogStore is the Raft log and stable store of the metadata quorum: hashicorp/raft's
// LogStore, MonotonicLogStore and StableStore over two files in one directory, through vfs.FS.
//
// Why our own and not raft-boltdb or raft-wal: the metadata log is small by construction
// (commands are rare — heartbeats are not logged — and snapshots truncate it), so the whole
// live log fits in memory and one append-only file suffices; no B-tree, no mmap'd database
// file that never shrinks, no extra dependency tree (raft-boltdb/v2's current release does
// not even build against raft v1.8's go-metrics). Going through vfs.FS means the crash tests
// run on the same crashable in-memory filesystem as the engine's, where only synced bytes
// survive.
//
// Format of raft-log: records, each
//
//	u32 length | u32 CRC-32C of payload | payload
//	payload:  0x01 u32 count {u64 index, u64 term, u8 type, i64 appended-at ns,
//	                          u32 n, data[n], u32 m, extensions[m]}…      (StoreLogs)
//	          0x02 u64 min, u64 max                                         (DeleteRange)
//
// Durability: StoreLogs and DeleteRange return only after an fdatasync of the file (Raft's
// safety needs an entry durable before it is acknowledged to the leader or counted for a
// commit); a batch is one record, so a crash keeps a batch whole or not at all. Open replays
// the records, cuts the file at the first torn or corrupt one, and keeps the live entries in
// memory. When deleted entries make up most of the file it is rewritten: a temporary file
// with the live entries, fsync, rename, fsync of the directory.
//
// raft-stable (current term, vote) is a small JSON file replaced atomically on every Set
// (write temporary file, fsync, rename, fsync directory): a vote must survive a crash.
//
// Locks: writeMu serializes writers (StoreLogs, DeleteRange, Set, Close) and is held across
// their write and fsync; mu guards the in-memory index and is never held across I/O, so
// GetLog (Raft's replication to followers) does not wait for an fsync. A field "guarded by
// both" is changed with both held and may be read with either. Lock order: writeMu, then mu.
type LogStore struct {
	fs  vfs.FS
	dir string

	writeMu  sync.Mutex
	f        vfs.File // raft-log, append-only; guarded by writeMu
	size     int64    // bytes in raft-log; guarded by writeMu
	failed   error    // a failed write or sync: every later write is refused; guarded by writeMu
	rewrites int      // file rewrites done (tests); guarded by writeMu

	mu      sync.Mutex
	first   uint64            // index of entries[0]; guarded by both
	entries []*raft.Log       // contiguous indexes; guarded by both
	live    int64             // encoded bytes of entries; guarded by both
	stable  map[string][]byte // guarded by both
	closed  bool              // guarded by both
}

const (
	logFileName    = "raft-log"
	stableFileName = "raft-stable"
	recHeader      = 8
	maxRecord      = 256 << 20 // refuse to replay a record claiming more (garbage)
	kindEntries    = 1
	kindDelete     = 2
	// rewriteMinDead is the dead space below which the log file is never rewritten.
	rewriteMinDead = 4 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrLogStoreFailed is returned after a write or sync of the Raft log failed: the node must
// stop (the kernel may have dropped the data; retrying could acknowledge lost entries).
var ErrLogStoreFailed = errors.New("raft log store failed")

// OpenLogStore opens (creating) the Raft log and stable store in dir.
func OpenLogStore(fs vfs.FS, dir string) (*LogStore, error) {
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil { // dir's own entry
		return nil, err
	}
	s := &LogStore{fs: fs, dir: dir, stable: map[string][]byte{}}
	data, err := vfs.ReadFile(fs, filepath.Join(dir, stableFileName))
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &s.stable); err != nil {
			return nil, fmt.Errorf("%s: %w", stableFileName, err)
		}
	case !errors.Is(err, iofs.ErrNotExist):
		return nil, err
	}
	name := filepath.Join(dir, logFileName)
	f, err := fs.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	s.f = f
	if err := s.replay(); err != nil {
		f.Close()
		return nil, err
	}
	if err := fs.SyncDir(dir); err != nil { // the file's creation
		f.Close()
		return nil, err
	}
	return s, nil
}

// replay reads every valid record and cuts the file after the last one.
func (s *LogStore) replay() error {
	size, err := s.f.Size()
	if err != nil {
		return err
	}
	var hdr [recHeader]byte
	pos := int64(0)
	for pos+recHeader <= size {
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		if n == 0 || n > maxRecord || pos+recHeader+n > size {
			break
		}
		payload := make([]byte, n)
		if _, err := s.f.ReadAt(payload, pos+recHeader); err != nil {
			return err
		}
		if crc32.Checksum(payload, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
			break
		}
		if err := s.applyRecord(payload); err != nil {
			return fmt.Errorf("%s at byte %d: %w", logFileName, pos, err)
		}
		pos += recHeader + n
	}
	if pos < size {
		// A torn or corrupt tail: whatever it held was never acknowledged.
		if err := s.f.Truncate(pos); err != nil {
			return err
		}
		if err := s.f.Sync(); err != nil {
			return err
		}
	}
	s.size = pos
	return nil
}

func (s *LogStore) applyRecord(p []byte) error {
	switch p[0] {
	case kindEntries:
		logs, err := decodeEntries(p[1:])
		if err != nil {
			return err
		}
		return s.appendLocked(logs)
	case kindDelete:
		if len(p) != 17 {
			return errors.New("malformed delete record")
		}
		return s.deleteLocked(binary.BigEndian.Uint64(p[1:]), binary.BigEndian.Uint64(p[9:]))
	}
	return fmt.Errorf("unknown record kind %d", p[0])
}

// FirstIndex implements raft.LogStore.
func (s *LogStore) FirstIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return 0, nil
	}
	return s.first, nil
}

// LastIndex implements raft.LogStore.
func (s *LogStore) LastIndex() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 {
		return 0, nil
	}
	return s.first + uint64(len(s.entries)) - 1, nil
}

// GetLog implements raft.LogStore. The returned entry shares its Data with the store; Raft
// does not modify it.
func (s *LogStore) GetLog(index uint64, log *raft.Log) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.entries) == 0 || index < s.first || index >= s.first+uint64(len(s.entries)) {
		return raft.ErrLogNotFound
	}
	*log = *s.entries[index-s.first]
	return nil
}

// StoreLog implements raft.LogStore.
func (s *LogStore) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs implements raft.LogStore: one record, one fdatasync.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	payload := encodeEntries(logs)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	if len(s.entries) > 0 && logs[0].Index != s.first+uint64(len(s.entries)) {
		return fmt.Errorf("raft log: entry %d does not follow %d", logs[0].Index, s.first+uint64(len(s.entries))-1)
	}
	if err := s.writeLocked(payload); err != nil {
		return err
	}
	logs = copyLogs(logs)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendLocked(logs)
}

// DeleteRange implements raft.LogStore: min..max inclusive, a prefix (compaction after a
// snapshot) or a suffix (entries conflicting with a new leader's), synced before returning.
func (s *LogStore) DeleteRange(lo, hi uint64) error {
	var p [17]byte
	p[0] = kindDelete
	binary.BigEndian.PutUint64(p[1:], lo)
	binary.BigEndian.PutUint64(p[9:], hi)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	if len(s.entries) > 0 && lo > s.first && hi < s.first+uint64(len(s.entries))-1 {
		return fmt.Errorf("raft log: cannot delete %d..%d from the middle of %d..%d", lo, hi, s.first, s.first+uint64(len(s.entries))-1)
	}
	if err := s.writeLocked(p[:]); err != nil {
		return err
	}
	s.mu.Lock()
	err := s.deleteLocked(lo, hi)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if dead := s.size - s.live; dead > rewriteMinDead && dead > s.live {
		return s.rewriteLocked()
	}
	return nil
}

// IsMonotonic implements raft.MonotonicLogStore: entries are kept contiguous, so after a
// snapshot install Raft deletes the whole log rather than leaving a gap.
func (s *LogStore) IsMonotonic() bool { return true }

// Set implements raft.StableStore.
func (s *LogStore) Set(key, val []byte) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.usableLocked(); err != nil {
		return err
	}
	next := make(map[string][]byte, len(s.stable)+1)
	for k, v := range s.stable {
		next[k] = v
	}
	next[string(key)] = append([]byte(nil), val...)
	data, err := json.Marshal(next)
	if err == nil {
		err = vfs.WriteFileAtomic(s.fs, s.dir, filepath.Join(s.dir, stableFileName), data)
	}
	if err != nil {
		s.failed = fmt.Errorf("%w: %v", ErrLogStoreFailed, err)
		return s.failed
	}
	s.mu.Lock()
	s.stable = next
	s.mu.Unlock()
	return nil
}

// Get implements raft.StableStore: an empty value for a missing key.
func (s *LogStore) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.stable[string(key)]...), nil
}

// SetUint64 implements raft.StableStore.
func (s *LogStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 implements raft.StableStore: 0 for a missing key.
func (s *LogStore) GetUint64(key []byte) (uint64, error) {
	v, _ := s.Get(key)
	if len(v) != 8 {
		return 0, nil
	}
	return binary.BigEndian.Uint64(v), nil
}

// Close closes the log file.
func (s *LogStore) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.f.Close()
}

// REQUIRES: s.writeMu held.
func (s *LogStore) usableLocked() error {
	if s.closed {
		return errors.New("raft log store closed")
	}
	return s.failed
}

// writeLocked appends one record and syncs it. A failure poisons the store.
// REQUIRES: s.writeMu held.
func (s *LogStore) writeLocked(payload []byte) error {
	rec := make([]byte, recHeader, recHeader+len(payload))
	binary.BigEndian.PutUint32(rec, uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(payload, crcTable))
	rec = append(rec, payload...)
	if _, err := s.f.WriteAt(rec, s.size); err != nil {
		s.failed = fmt.Errorf("%w: %v", ErrLogStoreFailed, err)
		return s.failed
	}
	if err := s.f.Sync(); err != nil {
		s.failed = fmt.Errorf("%w: %v", ErrLogStoreFailed, err)
		return s.failed
	}
	s.size += int64(len(rec))
	return nil
}

// appendLocked adds entries in memory. REQUIRES: s.writeMu and s.mu held (or s unshared).
func (s *LogStore) appendLocked(logs []*raft.Log) error {
	for _, l := range logs {
		if len(s.entries) == 0 {
			s.first = l.Index
		} else if l.Index != s.first+uint64(len(s.entries)) {
			return fmt.Errorf("entry %d does not follow %d", l.Index, s.first+uint64(len(s.entries))-1)
		}
		s.entries = append(s.entries, l)
		s.live += entrySize(l)
	}
	return nil
}

// deleteLocked removes indexes lo..hi (a prefix, a suffix or all) in memory.
// REQUIRES: s.writeMu and s.mu held (or s unshared).
func (s *LogStore) deleteLocked(lo, hi uint64) error {
	if len(s.entries) == 0 || hi < lo {
		return nil
	}
	last := s.first + uint64(len(s.entries)) - 1
	lo, hi = max(lo, s.first), min(hi, last)
	if lo > hi {
		return nil
	}
	if lo > s.first && hi < last {
		return fmt.Errorf("delete %d..%d from the middle of %d..%d", lo, hi, s.first, last)
	}
	for _, l := range s.entries[lo-s.first : hi-s.first+1] {
		s.live -= entrySize(l)
	}
	switch {
	case lo == s.first && hi == last:
		s.entries = nil
	case lo == s.first:
		s.entries = append([]*raft.Log(nil), s.entries[hi-s.first+1:]...)
		s.first = hi + 1
	default:
		s.entries = s.entries[:lo-s.first]
	}
	return nil
}

// rewriteLocked replaces the log file with one holding only the live entries.
// REQUIRES: s.writeMu held (entries only change under it, so reading them needs no mu).
func (s *LogStore) rewriteLocked() error {
	name := filepath.Join(s.dir, logFileName)
	tmp := name + ".tmp"
	fail := func(err error) error {
		s.failed = fmt.Errorf("%w: rewrite: %v", ErrLogStoreFailed, err)
		return s.failed
	}
	f, err := vfs.Create(s.fs, tmp)
	if err != nil {
		return fail(err)
	}
	var size int64
	if len(s.entries) > 0 {
		payload := encodeEntries(s.entries)
		rec := make([]byte, recHeader, recHeader+len(payload))
		binary.BigEndian.PutUint32(rec, uint32(len(payload)))
		binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(payload, crcTable))
		rec = append(rec, payload...)
		if _, err := f.WriteAt(rec, 0); err != nil {
			f.Close()
			return fail(err)
		}
		size = int64(len(rec))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail(err)
	}
	if err := s.fs.Rename(tmp, name); err != nil {
		f.Close()
		return fail(err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		f.Close()
		return fail(err)
	}
	s.f.Close()
	s.f, s.size = f, size
	s.rewrites++
	return nil
}

// entrySize is an entry's encoded size: 33 fixed bytes, then its data and extensions.
func entrySize(l *raft.Log) int64 { return int64(33 + len(l.Data) + len(l.Extensions)) }

func encodeEntries(logs []*raft.Log) []byte {
	n := 5
	for _, l := range logs {
		n += int(entrySize(l))
	}
	b := make([]byte, 0, n)
	b = append(b, kindEntries)
	b = binary.BigEndian.AppendUint32(b, uint32(len(logs)))
	for _, l := range logs {
		b = binary.BigEndian.AppendUint64(b, l.Index)
		b = binary.BigEndian.AppendUint64(b, l.Term)
		b = append(b, byte(l.Type))
		var at int64
		if !l.AppendedAt.IsZero() {
			at = l.AppendedAt.UnixNano()
		}
		b = binary.BigEndian.AppendUint64(b, uint64(at))
		b = binary.BigEndian.AppendUint32(b, uint32(len(l.Data)))
		b = append(b, l.Data...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(l.Extensions)))
		b = append(b, l.Extensions...)
	}
	return b
}

// decodeEntries decodes an entries record (after its kind byte), checking every length
// against what remains.
func decodeEntries(b []byte) ([]*raft.Log, error) {
	bad := errors.New("malformed entries record")
	if len(b) < 4 {
		return nil, bad
	}
	count := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(count) > uint64(len(b))/33 {
		return nil, bad
	}
	logs := make([]*raft.Log, 0, count)
	bytesField := func() ([]byte, bool) {
		if len(b) < 4 {
			return nil, false
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(n) > uint64(len(b)-4) {
			return nil, false
		}
		v := append([]byte(nil), b[4:4+n]...)
		b = b[4+n:]
		return v, true
	}
	for i := uint32(0); i < count; i++ {
		if len(b) < 25 {
			return nil, bad
		}
		l := &raft.Log{Index: binary.BigEndian.Uint64(b), Term: binary.BigEndian.Uint64(b[8:]), Type: raft.LogType(b[16])}
		if at := int64(binary.BigEndian.Uint64(b[17:])); at != 0 {
			l.AppendedAt = time.Unix(0, at)
		}
		b = b[25:]
		var ok bool
		if l.Data, ok = bytesField(); !ok {
			return nil, bad
		}
		if l.Extensions, ok = bytesField(); !ok {
			return nil, bad
		}
		logs = append(logs, l)
	}
	if len(b) != 0 {
		return nil, bad
	}
	return logs, nil
}

// copyLogs copies entries Raft may reuse after StoreLogs returns.
func copyLogs(logs []*raft.Log) []*raft.Log {
	out := make([]*raft.Log, len(logs))
	for i, l := range logs {
		c := *l
		c.Data = append([]byte(nil), l.Data...)
		c.Extensions = append([]byte(nil), l.Extensions...)
		out[i] = &c
	}
	return out
}
