package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
)

// AlterReplicaLogDirs: versions 1-2 (Kafka 4 advertises 1-2). Moves partitions of this broker
// to another of its log directories (engine.LogDirs.MoveLog): the answer comes when the move
// has started; the data is copied while the partition keeps serving, and DescribeLogDirs shows
// the future replica meanwhile. As Kafka: CLUSTER ALTER is required (else every partition
// answers CLUSTER_AUTHORIZATION_FAILED); a path that is not one of log.dirs (compared as
// absolute paths) is LOG_DIR_NOT_FOUND; an offline destination or source KAFKA_STORAGE_ERROR;
// a partition of a known topic without a replica here REPLICA_NOT_AVAILABLE, of an unknown
// topic UNKNOWN_TOPIC_OR_PARTITION (either way its destination is remembered for when it is
// created: kafka-reassign-partitions sends the request before the new replica exists and
// retries until it does).
func init() {
	register(api{key: int16(kmsg.AlterReplicaLogDirs), min: 1, max: 2, handle: handleAlterReplicaLogDirs})
}

func handleAlterReplicaLogDirs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterReplicaLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.AlterReplicaLogDirsResponse)
	allowed := b.authorizeCluster(c, acl.OpAlter)
	// Kafka keys the request by partition (a later directory for the same partition wins) and
	// groups the answer by topic.
	var order []engine.TopicPartition
	dest := map[engine.TopicPartition]string{}
	for _, d := range req.Dirs {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				tp := engine.TopicPartition{Topic: t.Topic, Partition: p}
				if _, seen := dest[tp]; !seen {
					order = append(order, tp)
				}
				dest[tp] = d.Dir
			}
		}
	}
	topicIdx := map[string]int{}
	for _, tp := range order {
		code := kerr.ClusterAuthorizationFailed.Code
		if allowed {
			code = b.alterReplicaLogDir(tp, dest[tp])
		}
		i, ok := topicIdx[tp.Topic]
		if !ok {
			i = len(resp.Topics)
			topicIdx[tp.Topic] = i
			rt := kmsg.NewAlterReplicaLogDirsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterReplicaLogDirsResponseTopicPartition()
		rp.Partition, rp.ErrorCode = tp.Partition, code
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

// alterReplicaLogDir starts one partition's move and returns its error code.
func (b *Broker) alterReplicaLogDir(tp engine.TopicPartition, path string) int16 {
	if ld := b.eng.DirByPath(path); ld == nil {
		return kerr.LogDirNotFound.Code
	} else if ld.Engine.Offline() != nil {
		return kerr.KafkaStorageError.Code
	}
	if _, err := b.partition(tp.Topic, tp.Partition); err != nil {
		if errors.Is(err, engine.ErrLogDirOffline) {
			return kerr.KafkaStorageError.Code
		}
		// Not a replica here (yet): remember where it goes when it is created.
		b.eng.MoveLog(tp, path)
		if errors.Is(err, errNotHosted) {
			return kerr.ReplicaNotAvailable.Code
		}
		return errorCode(err)
	}
	err := b.eng.MoveLog(tp, path)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, engine.ErrUnknownPartition):
		return kerr.ReplicaNotAvailable.Code
	default:
		b.log.Warn("AlterReplicaLogDirs: cannot move the partition", "partition", tp.String(), "dir", path, "err", err)
		return errorCode(err)
	}
}
