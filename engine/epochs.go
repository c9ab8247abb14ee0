package engine

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/logd/logd/internal/vfs"
)

// EpochEntry says that leader epoch Epoch's first offset is StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is a partition's leader epoch history (Kafka's LeaderEpochFileCache), kept in the
// partition's leader-epoch-checkpoint file. Entries have strictly increasing epochs and
// non-decreasing start offsets. REQUIRES: the owning Log's mu for every method.
type epochCache struct {
	fs      vfs.FS
	dir     string
	entries []EpochEntry
}

func loadEpochCache(fs vfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fs, dir: dir}
	lines, err := readCheckpointLines(fs, filepath.Join(dir, leaderEpochFile))
	if err != nil {
		return nil, err
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: malformed line %q", leaderEpochFile, l)
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || e < 0 || off < 0 {
			return nil, fmt.Errorf("%s: malformed line %q", leaderEpochFile, l)
		}
		c.entries = append(c.entries, EpochEntry{Epoch: int32(e), StartOffset: off})
	}
	return c, nil
}

func (c *epochCache) latest() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{Epoch: -1, StartOffset: -1}, false
	}
	return c.entries[len(c.entries)-1], true
}

// assign records that epoch starts at offset, if epoch is newer than the latest. It reports
// whether the cache changed (and must be persisted).
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if epoch < 0 {
		return false
	}
	if last, ok := c.latest(); ok && epoch <= last.Epoch {
		return false
	}
	// An epoch that starts where the new one does holds no record: the new one replaces it
	// (Kafka's LeaderEpochFileCache.assign removes such entries too), so a leader that took
	// over before any append leaves no empty epoch behind for followers to compare with.
	c.truncateFromEnd(offset)
	c.entries = append(c.entries, EpochEntry{Epoch: epoch, StartOffset: offset})
	return true
}

// truncateFromEnd drops epochs starting at or after offset (log truncated to offset).
func (c *epochCache) truncateFromEnd(offset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= offset {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart moves the history's start to offset (log start advanced), keeping the
// epoch that covers offset with its start set to offset.
func (c *epochCache) truncateFromStart(offset int64) bool {
	i := 0
	for i+1 < len(c.entries) && c.entries[i+1].StartOffset <= offset {
		i++
	}
	changed := i > 0
	c.entries = c.entries[i:]
	if len(c.entries) > 0 && c.entries[0].StartOffset < offset {
		c.entries[0].StartOffset = offset
		changed = true
	}
	return changed
}

// Undefined epoch and offset of OffsetForLeaderEpoch answers (Kafka's UNDEFINED_EPOCH and
// UNDEFINED_EPOCH_OFFSET).
const (
	UndefinedEpoch  int32 = -1
	UndefinedOffset int64 = -1
)

// EpochEndOffset is an OffsetForLeaderEpoch answer: the largest epoch at or below the one
// asked for, and the offset where it ended (the next epoch's start, or the log end).
type EpochEndOffset struct {
	Epoch     int32
	EndOffset int64
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch from a leader-epoch history (entries with
// increasing epochs) and the log end offset, exactly as Kafka's
// LeaderEpochFileCache.endOffsetFor does:
//   - UndefinedEpoch asked: undefined;
//   - the latest epoch ends at the log end (for a leader, its current epoch, recorded when it
//     was elected: see Log.AssignEpochStartOffset);
//   - an epoch newer than the latest, or any epoch of an empty history: undefined (a leader's
//     latest epoch is its current one, so nobody legitimately asks for a newer one);
//   - an epoch older than the whole history: (requested, first epoch's start), since the older
//     records are gone and a follower must start no later than where the history starts;
//   - otherwise the largest epoch at or below the requested one and the next epoch's start.
func EndOffsetForEpoch(entries []EpochEntry, requested int32, logEnd int64) EpochEndOffset {
	undefined := EpochEndOffset{UndefinedEpoch, UndefinedOffset}
	if requested == UndefinedEpoch || len(entries) == 0 {
		return undefined
	}
	last := entries[len(entries)-1]
	switch {
	case requested == last.Epoch:
		return EpochEndOffset{requested, logEnd}
	case requested > last.Epoch:
		return undefined
	case requested < entries[0].Epoch:
		return EpochEndOffset{requested, entries[0].StartOffset}
	}
	// entries[0].Epoch <= requested < last.Epoch: a floor and a higher entry both exist.
	i := sort.Search(len(entries), func(i int) bool { return entries[i].Epoch > requested })
	return EpochEndOffset{entries[i-1].Epoch, entries[i].StartOffset}
}

// clear empties the history (the log was emptied and restarted at a new offset).
func (c *epochCache) clear() bool {
	changed := len(c.entries) > 0
	c.entries = nil
	return changed
}

func (c *epochCache) persist() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return vfs.WriteFileAtomic(c.fs, c.dir, filepath.Join(c.dir, leaderEpochFile), b.Bytes())
}
