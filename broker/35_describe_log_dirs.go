package broker

import (
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/segment"
)

// DescribeLogDirs: versions 1-5 (Kafka 4 removed v0; v4+ adds each directory's total and
// usable bytes, v5+ the cordoned flag, always false). One entry per log directory (log.dirs):
// an offline one with KAFKA_STORAGE_ERROR and nothing else, as Kafka. A partition's size is
// that of its segment (.log) files, as Kafka counts it; partitions not opened since the start
// are measured on disk rather than opened. A replica's offset lag is Kafka's: how far its log
// end is below the high watermark (0 for a current replica, whose log end never is), and for a
// future replica (AlterReplicaLogDirs) how far it is below the current replica's log end.
func init() {
	register(api{key: int16(kmsg.DescribeLogDirs), min: 1, max: 5, handle: handleDescribeLogDirs})
}

func handleDescribeLogDirs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !b.authorizeCluster(c, acl.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	// want[topic] is nil for every partition of the topic; a nil want means every topic.
	var want map[string]map[int32]bool
	if req.Topics != nil {
		want = make(map[string]map[int32]bool, len(req.Topics))
		for _, t := range req.Topics {
			ps := want[t.Topic]
			if ps == nil {
				ps = map[int32]bool{}
				want[t.Topic] = ps
			}
			for _, p := range t.Partitions {
				ps[p] = true
			}
		}
	}
	tps := b.eng.Partitions() // sorted by topic, then partition
	futures := b.eng.Futures()
	for _, ld := range b.eng.Dirs() {
		resp.Dirs = append(resp.Dirs, b.describeLogDir(ld, tps, futures, want))
	}
	return resp, nil
}

// describeLogDir describes one directory's partitions among tps that want selects: its
// current replicas, and the future replicas moving into it.
func (b *Broker) describeLogDir(ld *engine.LogDir, tps []engine.TopicPartition, futures map[engine.TopicPartition]engine.FutureLog, want map[string]map[int32]bool) kmsg.DescribeLogDirsResponseDir {
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = absPath(ld.Path)
	if err := ld.Engine.Offline(); err != nil {
		dir.ErrorCode = errorCode(engine.ErrLogDirOffline)
		return dir
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir.Dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}
	for _, tp := range tps {
		if want != nil && !want[tp.Topic][tp.Partition] {
			continue
		}
		if b.eng.DirOf(tp) == ld {
			size, ok := b.partitionSize(ld, tp)
			if !ok {
				continue // deleted meanwhile
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = tp.Partition, size
			if l := ld.Engine.Log(tp); l != nil {
				dp.OffsetLag = max(l.HighWatermark()-l.LogEndOffset(), 0)
			}
			addLogDirPartition(&dir, tp.Topic, dp)
		}
		if f, ok := futures[tp]; ok && f.Dir == ld {
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size, dp.OffsetLag, dp.IsFuture = tp.Partition, f.Size, f.Lag, true
			addLogDirPartition(&dir, tp.Topic, dp)
		}
	}
	return dir
}

// addLogDirPartition appends dp to dir under topic (partitions come sorted by topic).
func addLogDirPartition(dir *kmsg.DescribeLogDirsResponseDir, topic string, dp kmsg.DescribeLogDirsResponseDirTopicPartition) {
	if n := len(dir.Topics); n == 0 || dir.Topics[n-1].Topic != topic {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = topic
		dir.Topics = append(dir.Topics, dt)
	}
	dt := &dir.Topics[len(dir.Topics)-1]
	dt.Partitions = append(dt.Partitions, dp)
}

// partitionSize is the size of a partition's segment files in ld: the open log's, else the
// files' on disk. ok is false if the partition's directory is gone.
func (b *Broker) partitionSize(ld *engine.LogDir, tp engine.TopicPartition) (int64, bool) {
	if l := ld.Engine.Log(tp); l != nil {
		return l.Size(), true
	}
	return b.partitionSizeOnDisk(ld, tp)
}

// partitionSizeOnDisk sums the sizes of a partition's segment files in ld.
func (b *Broker) partitionSizeOnDisk(ld *engine.LogDir, tp engine.TopicPartition) (int64, bool) {
	pdir := filepath.Join(ld.Path, tp.String())
	names, err := b.cfg.FS.ReadDir(pdir)
	if err != nil {
		return 0, false
	}
	var n int64
	for _, name := range names {
		if !strings.HasSuffix(name, segment.LogSuffix) {
			continue
		}
		if fi, err := b.cfg.FS.Stat(filepath.Join(pdir, name)); err == nil {
			n += fi.Size()
		}
	}
	return n, true
}
