package broker

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
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
// A share partition is never used before its state has been read: the first
// ShareGroupHeartbeat (or any use) queues the topic's creation without waiting for it; until
// the state partition is created, elected and loaded here, a share fetch of the partition
// acquires nothing and parks (the load wakes it: shareStatesLoaded) and a reset of its
// offsets gets COORDINATOR_LOAD_IN_PROGRESS, so no state is changed that could not be
// persisted.
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

// shareStateWaits is what waits for __share_group_state: its creation, queued once at a
// time, and the share partitions whose fetches found their state partition loading.
type shareStateWaits struct {
	creating atomic.Bool // a creation of the topic is queued or running
	mu       sync.Mutex
	parked   map[share.TopicPartition]struct{} // guarded by mu
}

// ensureShareStateTopic queues the creation of __share_group_state if it does not exist yet
// and returns at once: nothing waits for it (a share partition's state is
// COORDINATOR_LOAD_IN_PROGRESS until its partition is led and loaded here).
func (b *Broker) ensureShareStateTopic() {
	if _, ok := b.cluster.Topic(shareStateTopic); ok || !b.shareWaits.creating.CompareAndSwap(false, true) {
		return
	}
	b.controllerCalls.Submit(func() {
		defer b.shareWaits.creating.Store(false)
		if _, ok := b.cluster.Topic(shareStateTopic); ok || isClosed(b.closing) {
			return
		}
		if _, err := b.createTopic(shareStateTopic, shareStatePartitions, shareStateTopicConfigs); err != nil && !errors.Is(err, metadata.ErrTopicExists) {
			b.log.Warn("cannot create "+shareStateTopic, "err", err)
		}
	})
}

// shareStateOf is the loaded journal holding a share partition's state (key:
// share.StateKeyString), or why there is none: COORDINATOR_LOAD_IN_PROGRESS while its
// __share_group_state partition is being created, elected (no leader, as after a restart) or
// loaded here; NOT_COORDINATOR when another broker leads it.
func (b *Broker) shareStateOf(key string) (*leadShareState, *kerr.Error) {
	t, ok := b.cluster.Topic(shareStateTopic)
	if !ok {
		b.ensureShareStateTopic()
		return nil, kerr.CoordinatorLoadInProgress
	}
	ls, lerr := b.shareStates.get(b, key)
	if lerr == kerr.NotCoordinator {
		if pa, ok := b.cluster.Partition(shareStateTopic, group.PartitionFor(key, t.Partitions)); !ok || pa.Leader < 0 {
			return nil, kerr.CoordinatorLoadInProgress
		}
	}
	return ls, lerr
}

// shareStateReady is shareStateOf's error for a state that can be neither read nor written
// yet (COORDINATOR_LOAD_IN_PROGRESS), else nil: loaded here, or led elsewhere (see above).
func (b *Broker) shareStateReady(gid string, tp share.TopicPartition) *kerr.Error {
	if _, lerr := b.shareStateOf(share.StateKeyString(gid, tp)); lerr == kerr.CoordinatorLoadInProgress {
		return lerr
	}
	return nil
}

// shareStatesLoaded is b.shareStates' onLoad: it wakes the fetches of every share partition
// that found its state loading (they look again; those whose state is still loading park
// again and register anew).
func (b *Broker) shareStatesLoaded([]int32) {
	b.shareWaits.mu.Lock()
	parked := b.shareWaits.parked
	b.shareWaits.parked = nil
	b.shareWaits.mu.Unlock()
	for tp := range parked {
		b.shareRecordsAvailable(tp.TopicID, tp.Partition)
	}
}

// persistShareState is share.Config.Persist: it appends s to its journal, if this broker
// leads its partition. It runs under the share coordinator's lock: an append, no wait.
func (b *Broker) persistShareState(s share.Snapshot) group.Durable {
	key := share.StateKeyString(s.Group, s.Partition)
	ls, lerr := b.shareStateOf(key)
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
// from its journal's replay. While the state is loading, tp is noted so that
// shareStatesLoaded wakes its fetches: noted first, then looked up again, so a load published
// in between is seen by one or the other.
func (b *Broker) loadShareSnapshot(gid string, tp share.TopicPartition) (share.Snapshot, bool, error) {
	key := share.StateKeyString(gid, tp)
	ls, lerr := b.shareStateOf(key)
	if lerr == kerr.CoordinatorLoadInProgress {
		b.shareWaits.mu.Lock()
		if b.shareWaits.parked == nil {
			b.shareWaits.parked = map[share.TopicPartition]struct{}{}
		}
		b.shareWaits.parked[tp] = struct{}{}
		b.shareWaits.mu.Unlock()
		ls, lerr = b.shareStateOf(key)
	}
	switch {
	case lerr == kerr.CoordinatorLoadInProgress:
		return share.Snapshot{}, false, errShareStateLoading
	case lerr != nil:
		return share.Snapshot{}, false, nil // led elsewhere (see above)
	}
	key = string(share.StateKey(gid, tp))
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
