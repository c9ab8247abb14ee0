package broker

import (
	"encoding/base64"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

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
// The broker leading a state partition answers the share coordinator APIs (83-87) for the
// share partitions it holds, from the same live state (leadShareState.states) that the
// share partitions led here read and write. A share partition whose state partition another
// broker leads is read and written through those APIs on that broker (sharePersister,
// share_persister.go).

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

// leadShareState is the journal of one __share_group_state partition led here and the live
// state of each share partition it holds.
type leadShareState struct {
	journal *group.LogJournal
	part    int32 // the partition of __share_group_state
	mu      sync.Mutex
	// states is each share partition's latest snapshot (key: string(share.StateKey)), as
	// replayed at load and set by every append. Guarded by mu.
	states map[string]share.Snapshot
	// reads is, for each share partition led here whose state is held here (same key), the
	// state epoch it was loaded with or last wrote: a stored state with a newer epoch was
	// initialized anew by another writer and fences this broker's writes. Guarded by mu.
	reads map[string]stateRead
}

// stateRead is the state epoch a share partition led here was loaded with (-1: no state was
// stored) and whether a write of it was fenced (it is being dropped and read again).
type stateRead struct {
	epoch  int32
	fenced bool
}

// loadShareState replays __share_group_state partition p and opens its journal, writing
// through lp. REQUIRES: b.shareStates.mu held.
func (b *Broker) loadShareState(p, partitions int32, lp *replication.LeaderPartition) (*leadShareState, error) {
	j, rp, err := b.openLeadJournal(shareStateTopic, p, partitions, lp)
	if err != nil {
		return nil, err
	}
	ls := &leadShareState{journal: j, part: p, states: map[string]share.Snapshot{}, reads: map[string]stateRead{}}
	for r := range rp.Records {
		s, ok, err := share.ParseState(r.Key, r.Value)
		switch {
		case err != nil:
			b.log.Warn("unreadable share-partition state skipped", "partition", shareStateTopic+"-"+strconv.Itoa(int(p)), "err", err)
		case !ok:
		case s.Tombstone:
			delete(ls.states, string(r.Key))
		default:
			ls.states[string(r.Key)] = s
		}
	}
	b.log.Info("loaded share-partition state as leader", "partition", shareStateTopic+"-"+strconv.Itoa(int(p)), "states", len(ls.states))
	return ls, nil
}

// putLocked appends s (a snapshot or a tombstone) to the journal and makes it the share
// partition's live state. REQUIRES: ls.mu held.
func (ls *leadShareState) putLocked(s share.Snapshot) (group.Durable, error) {
	key := share.StateKey(s.Group, s.Partition)
	rec := group.Record{Key: key}
	if !s.Tombstone {
		rec.Value = share.StateValue(s, time.Now().UnixMilli())
	}
	d, err := ls.journal.Append(ls.part, []group.Record{rec})
	if err != nil {
		return nil, err
	}
	if s.Tombstone {
		delete(ls.states, string(key))
	} else {
		ls.states[string(key)] = s
	}
	return d, nil
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

// persistShareState is share.Config.Persist: it appends s to its journal if this broker
// leads its partition, keeping the state and leader epochs the share coordinator APIs set;
// otherwise (led elsewhere, or not loaded yet) the persister writes it through the share
// coordinator APIs of the partition's leader (share_persister.go), as it does for every
// share partition it already keeps. It runs under the share coordinator's lock: an append
// or a queued request, no wait.
//
// A write finding a stored state epoch newer than the one the share partition was loaded
// with (InitializeShareGroupState from another writer, e.g. AlterShareGroupOffsets through
// another broker) is refused with FENCED_STATE_EPOCH and the share partition is dropped and
// read again, as the persister does for a remote state (reloadFencedShare).
func (b *Broker) persistShareState(s share.Snapshot) group.Durable {
	key := share.StateKeyString(s.Group, s.Partition)
	if b.persister.keeps(key) {
		return b.persister.write(s)
	}
	ls, lerr := b.shareStateOf(key)
	if lerr != nil {
		return b.persister.write(s)
	}
	k := string(share.StateKey(s.Group, s.Partition))
	ls.mu.Lock()
	defer ls.mu.Unlock()
	s.StateEpoch, s.LeaderEpoch = 0, -1
	old, ok := ls.states[k]
	if ok {
		s.StateEpoch, s.LeaderEpoch = old.StateEpoch, old.LeaderEpoch
		if s.Reset {
			// A reset of a stored state (AlterShareGroupOffsets) is a new initialization, as
			// the persister's InitializeShareGroupState is: a newer state epoch fences the
			// share partition's writers on other brokers, so none writes its old state over it.
			s.StateEpoch++
		}
	}
	if rd, read := ls.reads[k]; read && ok && !s.Reset && !s.Tombstone && (rd.fenced || old.StateEpoch > rd.epoch) {
		if !rd.fenced { // drop it once; not here: the share coordinator's lock is held
			ls.reads[k] = stateRead{epoch: rd.epoch, fenced: true}
			go b.reloadFencedShare(s.Group, s.Partition, key)
		}
		err := fencedWriteError(key)
		return func(done func(error)) { done(err) }
	}
	ls.reads[k] = stateRead{epoch: s.StateEpoch}
	d, err := ls.putLocked(s)
	if err != nil {
		b.log.Warn("share-partition state not persisted", "group", s.Group, "err", err)
		return func(done func(error)) { done(err) }
	}
	return d
}

// storedShareStart is the persisted start offset of group gid's share partition tp and how
// many of its in-flight records were delivered (acknowledged or archived), when its state
// partition is loaded here: a share partition not used here since a restart.
func (b *Broker) storedShareStart(gid string, tp share.TopicPartition) (start, completed int64, ok bool) {
	ls, lerr := b.shareStateOf(share.StateKeyString(gid, tp))
	if lerr != nil {
		return 0, 0, false
	}
	ls.mu.Lock()
	s, ok := ls.states[string(share.StateKey(gid, tp))]
	ls.mu.Unlock()
	if !ok || s.Start < 0 {
		return 0, 0, false
	}
	for _, sb := range s.Batches {
		if sb.State != share.StateAvailable {
			completed += sb.Last - sb.First + 1
		}
	}
	return s.Start, completed, true
}

// errShareStateLoading: the share partition's state is not loaded yet (its
// __share_group_state partition is being replayed); the fetch acquires nothing this time.
var errShareStateLoading = errors.New("share-partition state loading")

// loadShareSnapshot is share.Config.Load: the persisted state of a share partition, taken
// from its journal's replay, or read from the broker leading its state partition (the
// persister's ReadShareGroupState, whose answer wakes the partition's fetches). While the
// state is loading here, tp is noted so that shareStatesLoaded wakes its fetches: noted
// first, then looked up again, so a load published in between is seen by one or the other.
func (b *Broker) loadShareSnapshot(gid string, tp share.TopicPartition) (share.Snapshot, bool, error) {
	key := share.StateKeyString(gid, tp)
	if b.persister.keeps(key) {
		return b.persister.load(gid, tp)
	}
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
		return b.persister.load(gid, tp) // led elsewhere
	}
	k := string(share.StateKey(gid, tp))
	ls.mu.Lock()
	s, ok := ls.states[k]
	rd := stateRead{epoch: -1}
	if ok {
		rd.epoch = s.StateEpoch
	}
	ls.reads[k] = rd // the epoch its writes are checked against
	ls.mu.Unlock()
	if !ok || s.Start < 0 { // none, or initialized without a start offset
		return share.Snapshot{}, false, nil
	}
	return s, true, nil
}

// The share coordinator APIs (83-87): a share-partition leader reads and writes the state of
// its share partitions through the broker leading their __share_group_state partitions (key
// "group:topicId:partition", FindCoordinator key type SHARE), as Kafka's
// ShareCoordinatorService and ShareCoordinatorShard answer them. Every write is a whole
// snapshot (WriteShareGroupState's batches are merged into the live state first), answered
// once durable.

// validShareKey reports whether key is a share coordinator key, "group:topicId:partition"
// (Kafka's SharePartitionKey: three parts, a topic id and a partition number).
func validShareKey(key string) bool {
	parts := strings.Split(key, ":")
	if len(parts) != 3 || parts[0] == "" {
		return false
	}
	id, err := base64.RawURLEncoding.DecodeString(parts[1])
	_, perr := strconv.ParseInt(parts[2], 10, 32)
	return err == nil && len(id) == 16 && perr == nil
}

// stateLead is the loaded state partition holding group gid's share partition (topicID, p),
// or the error Kafka's share coordinator answers for it: INVALID_REQUEST for an empty group,
// no topic id or a negative partition; NOT_COORDINATOR when this broker does not lead its
// state partition, COORDINATOR_LOAD_IN_PROGRESS while it is loading;
// UNKNOWN_TOPIC_OR_PARTITION for a share partition that does not exist.
func (b *Broker) stateLead(gid string, topicID [16]byte, p int32) (*leadShareState, *kerr.Error, string) {
	switch {
	case gid == "":
		return nil, kerr.InvalidRequest, "the group id cannot be empty"
	case topicID == [16]byte{}:
		return nil, kerr.InvalidRequest, "the topic id cannot be null"
	case p < 0:
		return nil, kerr.InvalidRequest, "the partition id cannot be a negative number"
	}
	ls, lerr := b.shareStates.get(b, share.StateKeyString(gid, share.TopicPartition{TopicID: topicID, Partition: p}))
	if lerr != nil {
		return nil, lerr, lerr.Message
	}
	if t, ok := b.cluster.TopicByID(metadata.TopicID(topicID)); !ok || p >= t.Partitions {
		return nil, kerr.UnknownTopicOrPartition, "the share partition's topic or partition does not exist"
	}
	return ls, nil, ""
}

// stateWrites is the journal appends of one share coordinator request, each with the error
// code to set if it fails.
type stateWrites struct {
	waits []group.Durable
	codes []*int16
}

// add notes a write (nil: none); code is the answer's error code, set if the write fails.
func (w *stateWrites) add(d group.Durable, code *int16) {
	if d != nil {
		w.waits = append(w.waits, d)
		w.codes = append(w.codes, code)
	}
}

// answer answers resp once every write is durable.
func (w *stateWrites) answer(b *Broker, c *call, resp kmsg.Response) (kmsg.Response, error) {
	if len(w.waits) == 0 {
		return resp, nil
	}
	c.park()
	var mu sync.Mutex
	left := len(w.waits) // guarded by mu
	for i, wait := range w.waits {
		code := w.codes[i]
		wait(func(err error) {
			mu.Lock()
			if err != nil {
				*code = shareWriteError(err).Code
			}
			left--
			last := left == 0
			mu.Unlock()
			if last {
				b.finishKmsg(c, resp)
			}
		})
	}
	return nil, errDeferred
}

// stateOp is one partition of a share coordinator request: given its state partition
// (ls.mu held) and the live state (ok false: none), it returns the state to write (nil:
// none) or an error with its message.
type stateOp func(old share.Snapshot, ok bool) (put *share.Snapshot, kerrCode *kerr.Error, msg string)

// applyState runs op on group gid's share partition (topicID, p), appending what it writes,
// and sets the partition's answer (CLUSTER_AUTHORIZATION_FAILED unless allowed: the share
// coordinator APIs are broker to broker, CLUSTER_ACTION); the write is noted in w.
func (b *Broker) applyState(allowed bool, gid string, topicID [16]byte, p int32, w *stateWrites, code *int16, msg **string, op stateOp) {
	fail := func(e *kerr.Error, m string) {
		*code = e.Code
		if m != "" {
			*msg = &m
		}
	}
	if !allowed {
		fail(kerr.ClusterAuthorizationFailed, "")
		return
	}
	ls, lerr, m := b.stateLead(gid, topicID, p)
	if lerr != nil {
		fail(lerr, m)
		return
	}
	tp := share.TopicPartition{TopicID: topicID, Partition: p}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	old, ok := ls.states[string(share.StateKey(gid, tp))]
	put, lerr, m := op(old, ok)
	if lerr != nil {
		fail(lerr, m)
		return
	}
	if put == nil {
		return
	}
	put.Group, put.Partition = gid, tp
	d, err := ls.putLocked(*put)
	if err != nil {
		fail(journalError(err), "the share-partition state could not be written: "+err.Error())
		return
	}
	w.add(d, code)
}

// mergeStateBatches merges a write's batches into the live ones (a written offset takes the
// written state; later batches of the write win) and drops what lies below start.
func mergeStateBatches(old, upd []share.StateBatch, start int64) []share.StateBatch {
	out := append([]share.StateBatch(nil), old...)
	for _, u := range upd {
		var next []share.StateBatch
		for _, o := range out {
			if o.Last < u.First || o.First > u.Last {
				next = append(next, o)
				continue
			}
			if o.First < u.First {
				lo := o
				lo.Last = u.First - 1
				next = append(next, lo)
			}
			if o.Last > u.Last {
				hi := o
				hi.First = u.Last + 1
				next = append(next, hi)
			}
		}
		out = append(next, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].First < out[j].First })
	kept := out[:0]
	for _, sb := range out {
		if sb.Last < start {
			continue
		}
		sb.First = max(sb.First, start)
		kept = append(kept, sb)
	}
	return kept
}
