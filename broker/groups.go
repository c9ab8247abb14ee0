package broker

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/replication"
)

// The group coordinators' glue: the internal __consumer_offsets topic and the coordinators'
// lifetime (see "Groups in a cluster" below). The group APIs (08, 09, 11-16, 42, 47) answer
// COORDINATOR_LOAD_IN_PROGRESS (retriable) while an offsets partition is being replayed.

// offsetsTopic is Kafka's internal topic for committed offsets and group metadata.
const offsetsTopic = "__consumer_offsets"

// offsetsTopicConfigs are Kafka's settings of the offsets topic: compacted by the engine's log
// cleaner (each key's last record kept, see group.LogJournal), segments of
// offsets.topic.segment.bytes (small enough that the cleaner, which never touches the active
// segment, frees space soon), and no time or size retention (the coordinator expires offsets
// by offsets.retention.minutes, with tombstones) even if a delete policy is added later.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":  "compact",
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"segment.bytes":   strconv.FormatInt(b.cfg.OffsetsTopicSegmentBytes, 10),
	}
}

// compactOffsetsTopicAtStart runs compactOffsetsTopic every leadsResync from the broker's start
// until the topic is compacted or the broker closes. A topic not known yet is looked for
// again: at the start the broker's metadata view may not hold it yet (a cheap map lookup),
// and once it exists — created compacted, or imported from an older data directory — one
// check settles it.
func (b *Broker) compactOffsetsTopicAtStart() {
	t := time.NewTicker(leadsResync)
	defer t.Stop()
	for !b.compactOffsetsTopic() {
		select {
		case <-b.closing:
			return
		case <-t.C:
		}
	}
}

// compactOffsetsTopic brings an existing __consumer_offsets whose cleanup.policy lacks
// compact — created by a release whose group journal compacted the log itself — to
// cleanup.policy=compact, through the controller like any config change (its other overrides
// kept), so the log cleaner compacts it from now on. It reports whether the topic exists and
// is compacted now.
func (b *Broker) compactOffsetsTopic() bool {
	compacted := func(t metadata.Topic) bool {
		p, err := engine.ParseCleanupPolicy(t.Configs["cleanup.policy"])
		return err == nil && p&engine.CleanupCompact != 0
	}
	if t, ok := b.cluster.Topic(offsetsTopic); !ok || compacted(t) {
		return ok
	}
	b.admin.Lock()
	defer b.admin.Unlock()
	t, ok := b.cluster.Topic(offsetsTopic)
	if !ok || compacted(t) {
		return ok
	}
	next := maps.Clone(t.Configs)
	if next == nil {
		next = map[string]string{}
	}
	next["cleanup.policy"] = "compact"
	if err := b.setTopicConfigsLocked(offsetsTopic, next); err != nil {
		b.log.Warn("cannot set cleanup.policy=compact on "+offsetsTopic+"; retrying", "err", err)
		return false
	}
	b.log.Info(offsetsTopic + " was not compacted (a data directory of an older release): set cleanup.policy=compact")
	return true
}

// groupConfig is the coordinator's configuration over partitions __consumer_offsets
// partitions.
func (b *Broker) groupConfig(partitions int32) group.Config {
	return group.Config{
		Partitions:                    partitions,
		InitialRebalanceDelay:         b.cfg.GroupInitialRebalanceDelay,
		MinSessionTimeout:             b.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             b.cfg.GroupMaxSessionTimeout,
		MaxGroupSize:                  b.cfg.GroupMaxSize,
		OffsetsRetention:              b.cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: b.cfg.OffsetsRetentionCheckInterval,
		ConsumerSessionTimeout:        b.cfg.GroupConsumerSessionTimeout,
		ConsumerHeartbeatInterval:     b.cfg.GroupConsumerHeartbeatInterval,
		StreamsSessionTimeout:         b.cfg.GroupStreamsSessionTimeout,
		StreamsHeartbeatInterval:      b.cfg.GroupStreamsHeartbeatInterval,
		StreamsInitialRebalanceDelay:  b.cfg.GroupStreamsInitialRebalanceDelay,
		StreamsNumStandbyReplicas:     b.cfg.GroupStreamsNumStandbyReplicas,
		Topics:                        b.assignableTopic,
		TopicNames:                    b.assignableTopicNames,
		Logger:                        b.log,
	}
}

// assignableTopic resolves a topic subscribed by a consumer-protocol group member.
func (b *Broker) assignableTopic(name string) (group.TopicInfo, bool) {
	t, ok := b.cluster.Topic(name)
	if !ok || name == offsetsTopic {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{ID: t.ID, Name: t.Name, Partitions: t.Partitions}, true
}

// assignableTopicNames lists the topics a consumer-protocol member's regex may match.
func (b *Broker) assignableTopicNames() []string {
	ts := b.cluster.Topics()
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		if t.Name != offsetsTopic {
			names = append(names, t.Name)
		}
	}
	return names
}

// errCode is the wire code of a coordinator error (nil: none).
func errCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// clientHost is Kafka's member client host: InetAddress.toString, "/" + address.
func clientHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return "/" + host
}

// knownPartition reports whether a topic partition exists (OffsetCommit and OffsetDelete
// refuse others with UNKNOWN_TOPIC_OR_PARTITION, as Kafka does).
func (b *Broker) knownPartition(topic string, p int32) bool {
	t, ok := b.cluster.Topic(topic)
	return ok && p >= 0 && p < t.Partitions
}

// errInternalTopic refuses client writes to and deletion of the offsets topic.
var errInternalTopic = fmt.Errorf("%s is an internal topic: %w", offsetsTopic, kerr.InvalidTopicException)

// # Groups in a cluster
//
// __consumer_offsets is a replicated topic of OffsetsTopicPartitions partitions with the
// cluster's default replication factor, created by the first FindCoordinator for a group. A
// group lives in partition PartitionFor(group), and its coordinator is that partition's
// leader: each broker runs one group.Coordinator per __consumer_offsets partition it leads
// (leadGroups), so coordinators spread over the cluster with the partition leaders. A single
// node, a cluster of one, leads them all. (Data directories of older releases, whose one
// coordinator used every partition with the same PartitionFor, keep their groups.)
//
//   - FindCoordinator on any broker answers the current leader of the key's partition (from
//     the cluster's metadata), COORDINATOR_NOT_AVAILABLE while it has none.
//   - Coordinators follow the leadership (coordinator_leads.go): Lead, Follow and Resign of a
//     __consumer_offsets partition poke b.groups, which closes the coordinator of every lead that
//     ended (parked requests answered NOT_COORDINATOR) and loads one for every new
//     LeaderPartition, replaying that partition's local log (as leader it holds every
//     committed record). Group requests for a group whose partition this broker does not
//     lead get NOT_COORDINATOR; a leader that has not loaded it yet answers
//     COORDINATOR_LOAD_IN_PROGRESS. ListGroups answers the groups of the partitions led here.
//   - Journal writes go through the partition's LeaderPartition (acks=all, stamped with its
//     leader epoch): a commit, a SyncGroup or a group deletion is answered once the high
//     watermark passed its records. A lost leadership is NOT_COORDINATOR, any other failure
//     (timeout after offsetsCommitTimeout, too few in-sync replicas) COORDINATOR_NOT_AVAILABLE,
//     as Kafka's GroupMetadataManager maps them: the client finds the coordinator again and
//     retries.
//
// The in-memory state changes at append time: between an append and its
// commit, OffsetFetch may already show an offset that a failover then loses (its commit was
// never acknowledged). Growing __consumer_offsets moves groups to other partitions, whose
// logs do not hold them (Kafka has the same rule: never change its partition count).

// offsetsCommitTimeout is offsets.commit.timeout.ms: how long a journal write waits for the
// in-sync replicas before the request is answered COORDINATOR_NOT_AVAILABLE.
const offsetsCommitTimeout = 5 * time.Second

// offsetsLeaderWait bounds how long FindCoordinator waits for the coordinator topic
// (__consumer_offsets, __transaction_state) it just created to get leaders.
const offsetsLeaderWait = 5 * time.Second

// leadGroups is the coordinator loaded for one lead of one __consumer_offsets partition.
type leadGroups struct {
	coord   *group.Coordinator
	journal *group.LogJournal
}

// groupCoordinator is the coordinator of group id: that of the group's __consumer_offsets
// partition while this broker leads it.
func (b *Broker) groupCoordinator(id string) (*group.Coordinator, *kerr.Error) {
	lg, e := b.groups.get(b, id)
	if e != nil {
		return nil, e
	}
	return lg.coord, nil
}

// groupCoordinators is every coordinator of this broker (ListGroups), one per
// __consumer_offsets partition it leads. COORDINATOR_LOAD_IN_PROGRESS while a partition it
// leads is not loaded yet.
func (b *Broker) groupCoordinators() ([]*group.Coordinator, *kerr.Error) {
	lgs, e := b.groups.all(b)
	out := make([]*group.Coordinator, len(lgs))
	for i, lg := range lgs {
		out[i] = lg.coord
	}
	return out, e
}

// deleteGroupOffsets drops the committed offsets of a deleted topic from the coordinators
// loaded here (those of the __consumer_offsets partitions this broker leads).
func (b *Broker) deleteGroupOffsets(topic string) {
	for _, c := range b.loadedCoordinators() {
		c.DeleteTopicOffsets(topic)
	}
}

// loadPartitionGroups replays __consumer_offsets partition p and starts its coordinator,
// writing through lp. REQUIRES: b.groups.mu held.
func (b *Broker) loadPartitionGroups(p, partitions int32, lp *replication.LeaderPartition) (*leadGroups, error) {
	start := time.Now()
	part, err := b.partition(offsetsTopic, p)
	if err != nil {
		return nil, err
	}
	logs := make([]*engine.Log, partitions) // only p's: the journal holds no other partition
	logs[p] = part.log
	j, rp, err := group.OpenLogJournal(logs, group.JournalConfig{Append: replicatedAppend(lp, part.log, acksAll(lp)),
		AppendTxn: replicatedAppend(lp, part.log, lp.AppendCoordinator)})
	if err != nil {
		return nil, err
	}
	coord := group.New(b.groupConfig(partitions), j, b.restoringShareGroups(rp.Records))
	b.log.Info("loaded consumer groups as leader", "partition", offsetsTopic+"-"+strconv.Itoa(int(p)), "leader_epoch", lp.LeaderEpoch(),
		"groups", len(coord.List()), "took", time.Since(start).Round(time.Millisecond).String())
	return &leadGroups{coord: coord, journal: j}, nil
}

// unloadGroups closes a coordinator: parked and later requests get NOT_COORDINATOR.
func (b *Broker) unloadGroups(lg *leadGroups) {
	lg.coord.CloseWith(kerr.NotCoordinator)
	lg.journal.Close()
}

// replicatedAppend is a journal's AppendFunc: an acks=all append through lp with appendFn
// (acksAll(lp), or lp.AppendCoordinator for transactional offset commits), durable
// once the batch is synced here and the high watermark passed it.
func replicatedAppend(lp *replication.LeaderPartition, l *engine.Log, appendFn func(batch []byte) (engine.AppendResult, error)) group.AppendFunc {
	return func(_ int32, batch []byte) (group.Durable, error) {
		res, err := appendFn(batch)
		if err != nil {
			return nil, err
		}
		return func(done func(error)) {
			l.NotifyDurable(res.SyncSeq, func(err error) {
				if err != nil {
					done(err)
					return
				}
				lp.NotifyReplicated(res.LastOffset, offsetsCommitTimeout, done)
			})
		}, nil
	}
}

// acksAll appends a batch through lp as an acks=all produce would.
func acksAll(lp *replication.LeaderPartition) func(batch []byte) (engine.AppendResult, error) {
	return func(batch []byte) (engine.AppendResult, error) { return lp.Append(batch, -1) }
}

// parkCommit parks an offset commit (OffsetCommit, TxnOffsetCommit) until its journal write
// wait is durable, then answers answer(); if the write failed, every offset not refused
// already (errs[i] nil) gets journalError's code.
func (b *Broker) parkCommit(c *call, wait group.Durable, api, groupID string, errs []*kerr.Error, answer func() kmsg.Response) error {
	return b.parkDurable(c, wait, func(err error) kmsg.Response {
		if err != nil {
			e := journalError(err)
			b.log.Warn(api+": written but not durable (or not replicated)", "group", groupID, "answer", e.Message, "err", err)
			for i := range errs {
				if errs[i] == nil {
					errs[i] = e
				}
			}
		}
		return answer()
	})
}

// journalError is the answer to a request whose journal write failed: Kafka's mapping of
// append errors for the group coordinator (a lost leadership sends the client to find the
// coordinator again; anything else is retried).
func journalError(err error) *kerr.Error {
	if errors.Is(err, replication.ErrNotLeader) {
		return kerr.NotCoordinator
	}
	return kerr.CoordinatorNotAvailable
}

// coordinatorNode answers FindCoordinator: the leader of key's partition of the coordinator
// topic (__consumer_offsets for a group, __transaction_state for a transactional id),
// creating the topic first, with partitions partitions and configs, if needed.
func (b *Broker) coordinatorNode(topic string, partitions int32, configs map[string]string, key string) (node int32, host string, port int32, code int16, msg *string) {
	unavailable := func() (int32, string, int32, int16, *string) {
		return -1, "", -1, kerr.CoordinatorNotAvailable.Code, nil
	}
	t, ok := b.cluster.Topic(topic)
	if !ok {
		// Created here, or concurrently through another broker (TOPIC_ALREADY_EXISTS before
		// this node's view has it): wait a little for the topic and the key's leader.
		_, err := b.createTopic(topic, partitions, configs)
		if err != nil && !errors.Is(err, metadata.ErrTopicExists) {
			b.log.Warn("cannot create "+topic, "err", err)
			return unavailable()
		}
		deadline := time.Now().Add(offsetsLeaderWait)
		for {
			if t, ok = b.cluster.Topic(topic); ok {
				if pa, ok := b.cluster.Partition(topic, group.PartitionFor(key, t.Partitions)); ok && pa.Leader >= 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				return unavailable()
			}
			select {
			case <-b.closing:
				return unavailable()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	pa, ok := b.cluster.Partition(topic, group.PartitionFor(key, t.Partitions))
	if !ok || pa.Leader < 0 {
		return unavailable()
	}
	for _, br := range b.cluster.Brokers() {
		if br.ID == pa.Leader {
			return br.ID, br.Host, br.Port, 0, nil
		}
	}
	return unavailable()
}
