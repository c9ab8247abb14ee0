package engine

import (
	"bytes"
	"fmt"
	"path/filepath"
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

// endOffsetFor answers OffsetForLeaderEpoch: the largest epoch <= requested and the offset
// where it ended (the start of the next epoch, or logEnd for the latest). It returns -1, -1
// when requested is older than the history.
func (c *epochCache) endOffsetFor(requested int32, logEnd int64) (int32, int64) {
	if len(c.entries) == 0 || requested < c.entries[0].Epoch {
		return -1, -1
	}
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].Epoch <= requested {
			if i == len(c.entries)-1 {
				return c.entries[i].Epoch, logEnd
			}
			return c.entries[i].Epoch, c.entries[i+1].StartOffset
		}
	}
	return -1, -1
}

func (c *epochCache) persist() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return vfs.WriteFileAtomic(c.fs, c.dir, filepath.Join(c.dir, leaderEpochFile), b.Bytes())
}
