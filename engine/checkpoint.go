package engine

import (
	"bytes"
	"errors"
	"fmt"
	iofs "io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/logd/logd/internal/vfs"
)

// Kafka's checkpoint files are text: a version line ("0"), a count line, then one entry per
// line. The per-directory offset checkpoints (recovery points, log start offsets and, for
// replicated logs, high watermarks) hold "<topic> <partition> <offset>"; the
// per-partition leader-epoch-checkpoint holds "<epoch> <start offset>". They are replaced
// atomically (write temp, fsync, rename, fsync dir).
const (
	recoveryPointFile  = "recovery-point-offset-checkpoint"
	logStartOffsetFile = "log-start-offset-checkpoint"
	highWatermarkFile  = "replication-offset-checkpoint"
	leaderEpochFile    = "leader-epoch-checkpoint"
	cleanShutdownFile  = ".kafka_cleanshutdown"
	checkpointVersion  = 0
	maxCheckpointLines = 10_000_000
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// dirName is the partition's directory name inside a log directory, as Kafka names it.
func (tp TopicPartition) dirName() string { return tp.String() }

// parseDirName splits "<topic>-<partition>" at the last dash.
func parseDirName(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || strconv.Itoa(int(p)) != name[i+1:] {
		return TopicPartition{}, false
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, true
}

// writeOffsetCheckpoint atomically writes a per-directory offsets checkpoint.
func writeOffsetCheckpoint(fs vfs.FS, dir, name string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", checkpointVersion, len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	return vfs.WriteFileAtomic(fs, dir, filepath.Join(dir, name), b.Bytes())
}

// readOffsetCheckpoint reads a per-directory offsets checkpoint; a missing file is empty.
func readOffsetCheckpoint(fs vfs.FS, dir, name string) (map[TopicPartition]int64, error) {
	lines, err := readCheckpointLines(fs, filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s: malformed line %q", name, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || off < 0 {
			return nil, fmt.Errorf("%s: malformed line %q", name, l)
		}
		out[TopicPartition{Topic: f[0], Partition: int32(p)}] = off
	}
	return out, nil
}

// readCheckpointLines validates the version and count lines and returns the entries.
func readCheckpointLines(fs vfs.FS, path string) ([]string, error) {
	data, err := vfs.ReadFile(fs, path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) < 2 || lines[0] != strconv.Itoa(checkpointVersion) {
		return nil, fmt.Errorf("%s: unsupported checkpoint version or empty file", path)
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n > maxCheckpointLines || n != len(lines)-2 {
		return nil, fmt.Errorf("%s: entry count %q does not match %d entries", path, lines[1], len(lines)-2)
	}
	return lines[2:], nil
}
