package broker

import (
	"errors"
	"strconv"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/replication"
)

// What a cluster member's metadata listener (the cluster package) calls as the cluster state
// changes, besides Lead, Follow and Resign.

// Leading returns the driver of a partition this broker leads, or nil.
func (b *Broker) Leading(topic string, p int32) *replication.LeaderPartition {
	b.mu.RLock()
	part := b.parts[engine.TopicPartition{Topic: topic, Partition: p}]
	b.mu.RUnlock()
	if part == nil {
		return nil
	}
	return part.leader.Load()
}

// Following reports whether this broker fetches a partition from the leader at leaderAddr
// (a fetcher drops a partition its leader refuses, until Follow is called again).
func (b *Broker) Following(topic string, p int32, leaderAddr string) bool {
	b.replMu.Lock()
	defer b.replMu.Unlock()
	fr := b.fetchers[leaderAddr]
	return fr != nil && fr.fe.Follows(engine.TopicPartition{Topic: topic, Partition: p})
}

// StopReplica stops leading and following a partition (it has no leader, or this broker is
// no longer one of its replicas); its log stays.
func (b *Broker) StopReplica(topic string, p int32) {
	b.Resign(topic, p)
	b.replMu.Lock()
	defer b.replMu.Unlock()
	b.stopFollowingLocked(engine.TopicPartition{Topic: topic, Partition: p})
}

// RemoveReplica stops a partition the cluster moved off this broker and deletes its log.
func (b *Broker) RemoveReplica(topic string, p int32) {
	b.StopReplica(topic, p)
	tp := engine.TopicPartition{Topic: topic, Partition: p}
	b.openMu.Lock()
	b.mu.Lock()
	delete(b.parts, tp)
	b.mu.Unlock()
	b.openMu.Unlock()
	if err := b.eng.DeleteLog(tp); err != nil && !errors.Is(err, engine.ErrUnknownPartition) {
		b.log.Error("partition moved away, but could not remove its log", "partition", tp.String(), "err", err)
	}
}

// RemoveTopic forgets a topic the cluster deleted: it stops its replicas and removes the logs
// of its first partitions partitions.
func (b *Broker) RemoveTopic(topic string, partitions int32) {
	for p := int32(0); p < partitions; p++ {
		b.StopReplica(topic, p)
	}
	b.dropPartitions(topic, partitions)
	b.metrics.ForgetTopic(topic)
	b.deleteGroupOffsets(topic)
	for p := int32(0); p < partitions; p++ {
		tp := engine.TopicPartition{Topic: topic, Partition: p}
		if err := b.eng.DeleteLog(tp); err != nil && !errors.Is(err, engine.ErrUnknownPartition) {
			b.log.Error("topic deleted, but could not remove a partition's log", "partition", tp.String(), "err", err)
		}
	}
	b.log.Info("removed deleted topic", "topic", topic, "partitions", partitions)
}

// RefreshTopicConfig applies a topic's current config overrides (from the catalog) to its
// open logs.
func (b *Broker) RefreshTopicConfig(topic string) error {
	t, ok := b.cluster.Topic(topic)
	if !ok {
		return errNoTopic(topic)
	}
	cfg, err := logConfig(b.logDefaults(), t.Configs)
	if err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for p := int32(0); p < t.Partitions; p++ {
		if part := b.parts[engine.TopicPartition{Topic: topic, Partition: p}]; part != nil {
			if err := part.log.SetConfig(cfg); err != nil {
				return err
			}
		}
	}
	return nil
}

// ReplicationConfig is the leader settings of a topic's partitions: the broker's
// replica.lag.time.max.ms and the topic's min.insync.replicas.
func (b *Broker) ReplicationConfig(topic string) replication.Config {
	cfg := replication.Config{ReplicaLagTime: b.cfg.ReplicaLagTime, MinInsyncReplicas: 1}
	cfg.Observer = b.replicationObserver()
	if t, ok := b.cluster.Topic(topic); ok {
		if n, err := strconv.Atoi(t.Configs["min.insync.replicas"]); err == nil && n > 0 {
			cfg.MinInsyncReplicas = n
		}
	}
	return cfg
}

// replicationCounts counts the partitions this broker leads and those of them whose ISR is
// smaller than their replica set (the logd_leader_partitions and
// logd_under_replicated_partitions gauges).
func (b *Broker) replicationCounts() (leaders, underReplicated int) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for tp, part := range b.parts {
		lp := part.leader.Load()
		if lp == nil {
			continue
		}
		leaders++
		if pa, ok := b.cluster.Partition(tp.Topic, tp.Partition); ok && len(lp.ISR()) < len(pa.Replicas) {
			underReplicated++
		}
	}
	return leaders, underReplicated
}

// replicationObserver is where replication reports its measurements: the broker's metrics,
// or nil when they are disabled (a nil *metrics.Metrics in the interface would still be
// called).
func (b *Broker) replicationObserver() replication.Observer {
	if b.metrics == nil {
		return nil
	}
	return b.metrics
}
