package engine

import (
	"errors"
	"io"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// The swap protocol (Kafka's replaceSegments), for a cleaned segment at base B replacing the
// group of segments G (B is G's first base):
//
//  1. B.{log,index,timeindex}.cleaned written and synced (no lock held).
//  2. Under Log.mu, after checking G is still in the log unchanged:
//     B.*.cleaned renamed to B.*.swap, directory synced  — the commit point;
//  3. every segment of G renamed to <base>.*.deleted, B.*.swap renamed to B.*, directory synced;
//  4. the segment list swapped (copy-on-write); G's handles dropped: their .deleted files go
//     when the last reader releases them.
//
// A crash before the commit point leaves .cleaned files (removed on open: the old segments
// stand); after it, recoverSwaps finishes the swap: it removes the segments a .swap log covers
// (those based from B to the end of its last batch, B's at least) and renames it into place.
// A segment of G past the end of the cleaned copy — every batch of it dropped by the clean —
// may then stay: it holds only records the clean drops, as if this clean had not reached it
// yet (the next clean does), and its offsets follow the copy's. .deleted files are always garbage, since they only exist once
// their replacement is committed. Index files of a recovered swap are rebuilt from the log.

// swapIn replaces the group with the cleaned segment written at group[0].base (size bytes),
// unless the group changed since the clean began (sizes are the sizes it had then).
func (l *Log) swapIn(group []*segHandle, sizes []int64, size int64, droppedMarkers []int64) error {
	base := group[0].base
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	segs := l.segments()
	at := -1
	for i, h := range segs {
		if h == group[0] {
			at = i
			break
		}
	}
	if at < 0 || at+len(group) >= len(segs) {
		return errCleanAborted
	}
	for i, h := range group {
		if segs[at+i] != h || h.size() != sizes[i] {
			return errCleanAborted // truncated, deleted or reopened as active meanwhile
		}
	}
	if err := segment.RenameFiles(l.fs, l.dir, base, cleanedSuffix, swapSuffix); err != nil {
		return l.failLocked(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(err)
	}
	for _, h := range group {
		h.renamedTo(deletedSuffix)
		if err := segment.RenameFiles(l.fs, l.dir, h.base, "", deletedSuffix); err != nil {
			return l.failLocked(err)
		}
	}
	if err := segment.RenameFiles(l.fs, l.dir, base, swapSuffix, ""); err != nil {
		return l.failLocked(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return l.failLocked(err)
	}
	nh := newSegHandle(l.fs, l.gc.Load(), l.log, l.dir, base, l.cfg.segmentConfig(), nil)
	nh.sizeHint.Store(size)
	repl := make([]*segHandle, 0, len(segs)-len(group)+1)
	repl = append(repl, segs[:at]...)
	repl = append(repl, nh)
	repl = append(repl, segs[at+len(group):]...)
	l.setSegments(repl)
	for _, h := range group {
		h.drop()
	}
	l.dropAbortedLocked(droppedMarkers)
	return nil
}

// recoverSwaps finishes or rolls back cleaner swaps a crash interrupted, before a partition's
// segments are listed (see the protocol above). names is the directory listing.
func recoverSwaps(fs vfs.FS, dir string, names []string) error {
	var swaps []int64
	changed := false
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, cleanedSuffix), strings.HasSuffix(n, deletedSuffix):
			if err := fs.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
			changed = true
		case strings.HasSuffix(n, segment.LogSuffix+swapSuffix):
			if b, ok := parseOffsetName(strings.TrimSuffix(n, swapSuffix), segment.LogSuffix); ok {
				swaps = append(swaps, b)
			}
		}
	}
	sort.Slice(swaps, func(i, j int) bool { return swaps[i] < swaps[j] })
	for _, b := range swaps {
		next, err := swapEnd(fs, filepath.Join(dir, segment.FileName(b, segment.LogSuffix)+swapSuffix), b)
		if err != nil {
			return err
		}
		for _, n := range names {
			if o, ok := parseOffsetName(n, segment.LogSuffix); ok && o >= b && o < next {
				if err := segment.RemoveFiles(fs, dir, o); err != nil {
					return err
				}
			}
		}
		// The swap's indexes may be missing or half renamed: they are rebuilt from the log
		// when the segment is opened.
		for _, suffix := range []string{segment.IndexSuffix, segment.TimeIndexSuffix} {
			if err := fs.Remove(filepath.Join(dir, segment.FileName(b, suffix)+swapSuffix)); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
		}
		// The swap's .txnindex was synced before the rename to .swap: it is the group's.
		txnName := filepath.Join(dir, segment.FileName(b, segment.TxnIndexSuffix))
		if err := fs.Rename(txnName+swapSuffix, txnName); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
		logName := filepath.Join(dir, segment.FileName(b, segment.LogSuffix))
		if err := fs.Rename(logName+swapSuffix, logName); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		return fs.SyncDir(dir)
	}
	return nil
}

// swapEnd returns the end of the offsets a committed .swap log covers: after its last batch
// (it was synced before it was renamed to .swap, so its batches are whole; a bad one ends the
// scan), and past its base at least, since an empty copy still replaces the segment at its
// base.
func swapEnd(fs vfs.FS, name string, base int64) (int64, error) {
	f, err := fs.OpenFile(name, 0, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return 0, err
	}
	next := base
	var hb [segment.HeaderSize]byte
	for pos := int64(0); pos+segment.HeaderSize <= size; {
		if _, err := f.ReadAt(hb[:], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		h, err := segment.ParseHeader(hb[:])
		if err != nil || pos+int64(h.Size()) > size {
			break
		}
		next = h.NextOffset()
		pos += int64(h.Size())
	}
	return max(next, base+1), nil
}
