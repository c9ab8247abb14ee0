package broker

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/group"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/share"
)

// Durable share-partition state: __share_group_state, Kafka's compacted internal topic of
// share-partition snapshots (share/records.go has the record schemas). A share partition's
// state lives in partition group.PartitionFor("group:topicId:partition"), as in Kafka's
// share coordinator; the broker leading it loads a journal for it (coordinatorLeads, like
// the group and transaction coordinators) that replays the partition's log, last write
// wins. Every change of a share partition's start offset or delivery states is appended as
// a whole ShareSnapshot (no ShareUpdate deltas: compaction keeps exactly the latest
// snapshot); a ShareAcknowledge is answered once its snapshot is durable (acks=all on the
// replicated partition). A share partition first used on this broker starts from its
// snapshot, if any.
//
// Not yet: the share coordinator APIs (83-87) that let a partition leader read and write
// state held by another broker. In a cluster a share partition whose state partition is led
// elsewhere starts fresh (share.auto.offset.reset) and its state is not persisted.

// shareStateTopic is Kafka's internal topic of share-partition state.
const shareStateTopic = "__share_group_state"

// shareStatePartitions is share.coordinator.state.topic.num.partitions (Kafka's default),
// used when the topic is first created.
const shareStatePartitions = 50

// shareStateTopicConfigs are Kafka's settings of the topic: compacted, no retention,
// share.coordinator.state.topic.segment.bytes (100 MiB).
var shareStateTopicConfigs = map[string]string{
	"cleanup.policy": "compact", "retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": strconv.Itoa(100 << 20),
}

// leadShareState is the journal of one __share_group_state partition led here.
type leadShareState struct {
	journal *group.LogJournal
	mu      sync.Mutex
	// replayed is the partition's live records at load (key → value), each taken by the
	// first use of its share partition. Guarded by mu.
	replayed map[string][]byte
}

// loadShareState replays __share_group_state partition p and opens its journal, writing
// through lp. REQUIRES: b.shareStates.mu held.
func (b *Broker) loadShareState(p, partitions int32, lp *replication.LeaderPartition) (*leadShareState, error) {
	j, err := b.openLeadJournal(shareStateTopic, p, partitions, lp)
	if err != nil {
		return nil, err
	}
	ls := &leadShareState{journal: j, replayed: map[string][]byte{}}
	for r := range j.Records {
		ls.replayed[string(r.Key)] = r.Value
	}
	b.log.Info("loaded share-partition state as leader", "partition", shareStateTopic+"-"+strconv.Itoa(int(p)), "states", len(ls.replayed))
	return ls, nil
}

// unloadShareState closes a journal whose lead ended.
func (b *Broker) unloadShareState(ls *leadShareState) { ls.journal.Close() }

// ensureShareStateTopic creates __share_group_state if it does not exist yet (the first
// ShareGroupHeartbeat does), waiting a little for the key's partition to get a leader.
func (b *Broker) ensureShareStateTopic(key string) {
	if _, ok := b.cluster.Topic(shareStateTopic); ok {
		return
	}
	b.coordinatorNode(shareStateTopic, shareStatePartitions, shareStateTopicConfigs, key)
}

// persistShareState is share.Config.Persist: it appends s to its journal, if this broker
// leads its partition. It runs under the share coordinator's lock: an append, no wait.
func (b *Broker) persistShareState(s share.Snapshot) group.Durable {
	key := share.StateKeyString(s.Group, s.Partition)
	ls, lerr := b.shareStates.get(b, key)
	if lerr != nil {
		b.log.Warn("share-partition state not persisted: its "+shareStateTopic+" partition is not loaded here", "group", s.Group, "err", lerr.Message)
		return nil
	}
	t, _ := b.cluster.Topic(shareStateTopic)
	rec := group.Record{Key: share.StateKey(s.Group, s.Partition)}
	if !s.Tombstone {
		rec.Value = share.StateValue(s, time.Now().UnixMilli())
	}
	d, err := ls.journal.Append(group.PartitionFor(key, t.Partitions), []group.Record{rec})
	if err != nil {
		b.log.Warn("share-partition state not persisted", "group", s.Group, "err", err)
		return func(done func(error)) { done(err) }
	}
	return d
}

// errShareStateLoading: the share partition's state is not loaded yet (its
// __share_group_state partition is being replayed); the fetch acquires nothing this time.
var errShareStateLoading = errors.New("share-partition state loading")

// loadShareSnapshot is share.Config.Load: the persisted state of a share partition, taken
// from its journal's replay.
func (b *Broker) loadShareSnapshot(gid string, tp share.TopicPartition) (share.Snapshot, bool, error) {
	ls, lerr := b.shareStates.get(b, share.StateKeyString(gid, tp))
	switch {
	case lerr == kerr.CoordinatorLoadInProgress:
		return share.Snapshot{}, false, errShareStateLoading
	case lerr != nil:
		return share.Snapshot{}, false, nil // no state topic yet, or led elsewhere (see above)
	}
	key := string(share.StateKey(gid, tp))
	ls.mu.Lock()
	v, ok := ls.replayed[key]
	delete(ls.replayed, key)
	ls.mu.Unlock()
	if !ok {
		return share.Snapshot{}, false, nil
	}
	s, ok, err := share.ParseState([]byte(key), v)
	if err != nil {
		b.log.Warn("unreadable share-partition state: starting the share partition afresh", "group", gid, "err", err)
		return share.Snapshot{}, false, nil
	}
	return s, ok, nil
}
