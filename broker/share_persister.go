package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/share"
)

// sharePersister keeps the state of the share partitions led here whose __share_group_state
// partition another broker leads, through that broker's share coordinator APIs (83-87), as
// Kafka's DefaultStatePersister and PersisterStateManager do:
//
//   - Load: ReadShareGroupState with the share partition's leader epoch (which fences an older
//     leader's later writes); until it answers, the share partition is loading (its fetches
//     acquire nothing and are woken when the answer arrives).
//   - Persist: WriteShareGroupState of the whole snapshot (every offset of [start, end) has a
//     batch, so the coordinator's merge yields exactly the snapshot), preceded by
//     InitializeShareGroupState when the coordinator holds no state for it yet. A reset
//     (AlterShareGroupOffsets) is an InitializeShareGroupState with the next state epoch; a
//     tombstone a DeleteShareGroupState.
//   - One request per share partition in flight: a snapshot handed in meanwhile replaces the
//     one waiting (each is the whole state), and every Persist it covers is answered by its
//     write. Writes are thus applied in order, and an acknowledgement is answered only once
//     the state holding it is durable on the state partition's leader.
//   - The state partition's leader is taken from the cluster's metadata (what FindCoordinator
//     key type SHARE answers); NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
//     COORDINATOR_NOT_AVAILABLE, no leader or an unreachable broker are retried after a
//     backoff (100 ms doubling to 5 s), on a timer: nothing parks a goroutine. Any other
//     error fails the waiting Persists (FENCED_LEADER_EPOCH: a newer leader owns the share
//     partition). FENCED_STATE_EPOCH also drops the share partition from the share
//     coordinator (share.Coordinator.Reload): its next use reads the state again, with the
//     new state epoch, and goes on from there.
//
// Requests go out on one goroutine and connection per destination broker (as the
// transaction markers do). A share partition once kept here stays kept here, even if its
// state partition moves to this broker (its requests then go to this broker's own listener),
// so its writes never reorder across the two paths. Lock order: sharePersister.mu, then
// persistNode.mu; neither is held across I/O or a callback.
type sharePersister struct {
	b     *Broker
	mu    sync.Mutex
	parts map[string]*remoteShare // by share.StateKeyString; guarded by mu
	nodes map[int32]*persistNode  // by destination broker; guarded by mu
}

// remoteShare is one share partition kept on another broker. Guarded by sharePersister.mu.
type remoteShare struct {
	key   string
	group string
	tp    share.TopicPartition

	read  readPhase
	found bool           // the read found a state with a start offset
	snap  share.Snapshot // what the read found

	stateEpoch  int32
	initialized bool // the coordinator holds a state for it
	// fenced: a write was refused with FENCED_STATE_EPOCH (the state was initialized anew
	// elsewhere, e.g. AlterShareGroupOffsets through another broker). Writes fail until the
	// share partition is loaded again (load reads the state afresh), as Kafka's
	// SharePartitionManager drops a fenced SharePartition and the next fetch re-reads it.
	fenced bool

	pending *share.Snapshot // the state to write next (nil: none)
	waiting []*persistWait  // the Persists pending answers
	sending bool            // a step is queued, in flight or scheduled for a retry
	attempt int             // retries of the current step
}

// readPhase is where a remoteShare's read stands.
type readPhase uint8

const (
	readNone readPhase = iota
	readRunning
	readDone
)

// persistNode is one destination broker's queue of share partitions with a step to send,
// and of state summaries to ask for (DescribeShareGroupOffsets).
type persistNode struct {
	id        int32
	mu        sync.Mutex
	queue     []*remoteShare // guarded by mu
	summaries []summaryAsk   // guarded by mu
	wake      chan struct{}
}

// summaryAsk is one ReadShareGroupStateSummary to send and the callback its answer (or the
// failure to get one) goes to, on the node's goroutine.
type summaryAsk struct {
	req  *kmsg.ReadShareGroupStateSummaryRequest
	done func(*kmsg.ReadShareGroupStateSummaryResponse, error)
}

// readSummary sends req to broker id, the leader of the state partitions it asks about, and
// calls done with the answer, on that broker's persister goroutine (nothing waits for it
// meanwhile). done must not block.
func (p *sharePersister) readSummary(id int32, req *kmsg.ReadShareGroupStateSummaryRequest, done func(*kmsg.ReadShareGroupStateSummaryResponse, error)) {
	p.mu.Lock()
	if isClosed(p.b.closing) {
		p.mu.Unlock()
		done(nil, errPersistShutdown)
		return
	}
	n := p.nodeLocked(id)
	n.mu.Lock()
	n.summaries = append(n.summaries, summaryAsk{req: req, done: done})
	n.mu.Unlock()
	p.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// ask sends one summary request over conn (dialed if nil) and answers it; it returns the
// connection to use next (nil after an I/O error).
func (p *sharePersister) ask(id int32, conn *kwire.Conn, a summaryAsk) *kwire.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), persistReqTimeout)
	defer cancel()
	var err error
	if conn == nil {
		if conn, err = p.b.dialBroker(ctx, id, "logd-share-persister-"); err != nil {
			a.done(nil, err)
			return nil
		}
	}
	resp, err := conn.Request(ctx, a.req)
	if err != nil {
		conn.Close()
		a.done(nil, err)
		return nil
	}
	a.done(resp.(*kmsg.ReadShareGroupStateSummaryResponse), nil)
	return conn
}

const (
	persistBackoff    = 100 * time.Millisecond
	persistMaxBackoff = 5 * time.Second
	persistReqTimeout = 30 * time.Second
)

var errPersistShutdown = errors.New("share-partition state not written: the broker is shutting down")

// persistWait is one Persist's durability, answered once.
type persistWait struct {
	mu   sync.Mutex
	done bool
	err  error
	cb   func(error)
}

// durable is w as a group.Durable.
func (w *persistWait) durable(done func(error)) {
	w.mu.Lock()
	if !w.done {
		w.cb = done
		w.mu.Unlock()
		return
	}
	err := w.err
	w.mu.Unlock()
	done(err)
}

func (w *persistWait) finish(err error) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done, w.err = true, err
	cb := w.cb
	w.mu.Unlock()
	if cb != nil {
		cb(err)
	}
}

// keeps reports whether share partition key is kept through the persister.
func (p *sharePersister) keeps(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.parts[key] != nil
}

// partLocked returns key's remoteShare, creating it. REQUIRES: p.mu held.
func (p *sharePersister) partLocked(gid string, tp share.TopicPartition) *remoteShare {
	key := share.StateKeyString(gid, tp)
	rs := p.parts[key]
	if rs == nil {
		if p.parts == nil {
			p.parts = map[string]*remoteShare{}
		}
		rs = &remoteShare{key: key, group: gid, tp: tp}
		p.parts[key] = rs
	}
	return rs
}

// load is share.Config.Load for a share partition kept on another broker: its state once
// read, else errShareStateLoading (the read is started; its answer wakes the fetches).
func (p *sharePersister) load(gid string, tp share.TopicPartition) (share.Snapshot, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rs := p.partLocked(gid, tp)
	if rs.fenced { // read the state afresh: the one this broker had is stale
		rs.fenced, rs.read, rs.found, rs.snap = false, readNone, false, share.Snapshot{}
	}
	switch rs.read {
	case readDone:
		return rs.snap, rs.found, nil
	case readNone:
		rs.read = readRunning
		p.kickLocked(rs)
	}
	return share.Snapshot{}, false, errShareStateLoading
}

// write is share.Config.Persist for a share partition kept on another broker.
func (p *sharePersister) write(s share.Snapshot) group.Durable {
	w := &persistWait{}
	p.mu.Lock()
	rs := p.partLocked(s.Group, s.Partition)
	if rs.fenced {
		p.mu.Unlock()
		err := fencedWriteError(rs.key)
		return func(done func(error)) { done(err) }
	}
	if rs.pending != nil && rs.pending.Reset && !s.Reset && !s.Tombstone {
		// A reset not sent yet stays a reset: the write after it carries the whole state.
		s.Reset = true
	}
	rs.pending = &s
	rs.waiting = append(rs.waiting, w)
	p.kickLocked(rs)
	p.mu.Unlock()
	return w.durable
}

// kickLocked queues rs's next step unless one is queued or in flight. REQUIRES: p.mu held.
func (p *sharePersister) kickLocked(rs *remoteShare) {
	if rs.sending || (rs.read != readRunning && rs.pending == nil) {
		return
	}
	if isClosed(p.b.closing) {
		p.failLocked(rs, errPersistShutdown)
		return
	}
	leader, ok := p.stateLeader(rs.key)
	if !ok {
		p.retryLocked(rs, "its "+shareStateTopic+" partition has no leader")
		return
	}
	rs.sending = true
	n := p.nodeLocked(leader)
	n.mu.Lock()
	n.queue = append(n.queue, rs)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// stateLeader is the broker leading key's __share_group_state partition.
func (p *sharePersister) stateLeader(key string) (int32, bool) {
	t, ok := p.b.cluster.Topic(shareStateTopic)
	if !ok {
		p.b.ensureShareStateTopic()
		return 0, false
	}
	pa, ok := p.b.cluster.Partition(shareStateTopic, group.PartitionFor(key, t.Partitions))
	return pa.Leader, ok && pa.Leader >= 0
}

// retryLocked runs rs's step again after its backoff. REQUIRES: p.mu held.
func (p *sharePersister) retryLocked(rs *remoteShare, why string) {
	rs.attempt++
	if rs.attempt == 3 || rs.attempt%50 == 0 {
		p.b.log.Warn("cannot reach the share-partition state yet; retrying", "key", rs.key, "attempts", rs.attempt, "reason", why)
	}
	d := min(persistBackoff<<min(rs.attempt-1, 6), persistMaxBackoff)
	rs.sending = true // the step is scheduled: nothing else queues it meanwhile
	time.AfterFunc(d, func() {
		p.mu.Lock()
		rs.sending = false
		p.kickLocked(rs)
		p.mu.Unlock()
	})
}

// failLocked fails every Persist waiting on rs and drops its pending state (a later
// Persist writes the whole state again). REQUIRES: p.mu held.
func (p *sharePersister) failLocked(rs *remoteShare, err error) {
	for _, w := range rs.waiting {
		go w.finish(err) // never under p.mu: finish runs the caller's callback
	}
	rs.waiting, rs.pending = nil, nil
}

// nodeLocked is broker id's queue, started on first use. REQUIRES: p.mu held.
func (p *sharePersister) nodeLocked(id int32) *persistNode {
	if n := p.nodes[id]; n != nil {
		return n
	}
	if p.nodes == nil {
		p.nodes = map[int32]*persistNode{}
	}
	n := &persistNode{id: id, wake: make(chan struct{}, 1)}
	p.nodes[id] = n
	go p.run(n)
	return n
}

// run sends n's queue, one step at a time, until the broker closes.
func (p *sharePersister) run(n *persistNode) {
	var conn *kwire.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-p.b.closing:
			p.mu.Lock()
			n.mu.Lock()
			for _, rs := range n.queue {
				rs.sending = false
				p.failLocked(rs, errPersistShutdown)
			}
			asks := n.summaries
			n.queue, n.summaries = nil, nil
			n.mu.Unlock()
			p.mu.Unlock()
			for _, a := range asks {
				a.done(nil, errPersistShutdown)
			}
			return
		case <-n.wake:
		}
		for {
			n.mu.Lock()
			if len(n.queue) == 0 && len(n.summaries) == 0 {
				n.mu.Unlock()
				break
			}
			if len(n.summaries) > 0 { // first: rare reads, never starved by a stream of writes
				a := n.summaries[0]
				n.summaries = n.summaries[1:]
				n.mu.Unlock()
				conn = p.ask(n.id, conn, a)
				continue
			}
			rs := n.queue[0]
			n.queue = n.queue[1:]
			n.mu.Unlock()
			conn = p.step(n.id, conn, rs)
		}
	}
}

// stepPlan is what one step sends, taken under p.mu.
type stepPlan struct {
	req   kmsg.Request
	sent  *share.Snapshot // the pending state the step writes or initializes (nil: a read)
	count int             // the Persists it answers once written
	init  bool            // an InitializeShareGroupState
}

// planLocked chooses rs's next request. REQUIRES: p.mu held.
func (p *sharePersister) planLocked(rs *remoteShare) stepPlan {
	leaderEpoch := int32(-1)
	if t, ok := p.b.cluster.TopicByID(metadata.TopicID(rs.tp.TopicID)); ok {
		if pa, ok := p.b.cluster.Partition(t.Name, rs.tp.Partition); ok {
			leaderEpoch = pa.LeaderEpoch
		}
	}
	if rs.read == readRunning {
		req := kmsg.NewPtrReadShareGroupStateRequest()
		req.GroupID = rs.group
		t := kmsg.NewReadShareGroupStateRequestTopic()
		t.TopicID = rs.tp.TopicID
		pt := kmsg.NewReadShareGroupStateRequestTopicPartition()
		pt.Partition, pt.LeaderEpoch = rs.tp.Partition, leaderEpoch
		t.Partitions = append(t.Partitions, pt)
		req.Topics = append(req.Topics, t)
		return stepPlan{req: req}
	}
	s := rs.pending
	switch {
	case s.Tombstone:
		req := kmsg.NewPtrDeleteShareGroupStateRequest()
		req.GroupID = rs.group
		t := kmsg.NewDeleteShareGroupStateRequestTopic()
		t.TopicID = rs.tp.TopicID
		pt := kmsg.NewDeleteShareGroupStateRequestTopicPartition()
		pt.Partition = rs.tp.Partition
		t.Partitions = append(t.Partitions, pt)
		req.Topics = append(req.Topics, t)
		return stepPlan{req: req, sent: s, count: len(rs.waiting)}
	case s.Reset || !rs.initialized:
		epoch := rs.stateEpoch
		if s.Reset && rs.initialized {
			epoch++
		}
		req := kmsg.NewPtrInitializeShareGroupStateRequest()
		req.GroupID = rs.group
		t := kmsg.NewInitializeShareGroupStateRequestTopic()
		t.TopicID = rs.tp.TopicID
		pt := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
		pt.Partition, pt.StateEpoch, pt.StartOffset = rs.tp.Partition, epoch, s.Start
		t.Partitions = append(t.Partitions, pt)
		req.Topics = append(req.Topics, t)
		return stepPlan{req: req, sent: s, count: len(rs.waiting), init: true}
	}
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.GroupID = rs.group
	t := kmsg.NewWriteShareGroupStateRequestTopic()
	t.TopicID = rs.tp.TopicID
	pt := kmsg.NewWriteShareGroupStateRequestTopicPartition()
	pt.Partition, pt.StateEpoch, pt.LeaderEpoch, pt.StartOffset = rs.tp.Partition, rs.stateEpoch, leaderEpoch, s.Start
	for _, sb := range s.Batches {
		b := kmsg.NewWriteShareGroupStateRequestTopicPartitionStateBatch()
		b.FirstOffset, b.LastOffset, b.DeliveryState, b.DeliveryCount = sb.First, sb.Last, share.DeliveryState(sb.State), sb.Deliveries
		pt.StateBatches = append(pt.StateBatches, b)
	}
	t.Partitions = append(t.Partitions, pt)
	req.Topics = append(req.Topics, t)
	return stepPlan{req: req, sent: s, count: len(rs.waiting)}
}

// step sends rs's next request to broker id over conn (dialed if nil) and applies the
// answer; it returns the connection to use next (nil after an I/O error).
func (p *sharePersister) step(id int32, conn *kwire.Conn, rs *remoteShare) *kwire.Conn {
	p.mu.Lock()
	if rs.read != readRunning && rs.pending == nil {
		rs.sending = false
		p.mu.Unlock()
		return conn
	}
	pl := p.planLocked(rs)
	p.mu.Unlock()
	var resp kmsg.Response
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), persistReqTimeout)
	if conn == nil {
		conn, err = p.b.dialBroker(ctx, id, "logd-share-persister-")
	}
	if err == nil {
		if resp, err = conn.Request(ctx, pl.req); err != nil {
			conn.Close()
			conn = nil
		}
	}
	cancel()
	code, msg := int16(0), ""
	if err == nil {
		code, msg = statePartitionAnswer(resp)
	}
	var wake, reload bool
	p.mu.Lock()
	rs.sending = false
	switch {
	case err != nil:
		p.retryLocked(rs, err.Error())
	case code == kerr.NotCoordinator.Code, code == kerr.CoordinatorLoadInProgress.Code, code == kerr.CoordinatorNotAvailable.Code:
		p.retryLocked(rs, kerr.ErrorForCode(code).Error())
	default:
		wasFenced := rs.fenced
		wake = p.answerLocked(rs, pl, resp, code, msg)
		reload = rs.fenced && !wasFenced
		if !rs.sending { // answered, not retried
			rs.attempt = 0
			p.kickLocked(rs)
		}
	}
	p.mu.Unlock()
	switch {
	case reload: // not under p.mu: the share coordinator's lock comes first
		p.b.reloadFencedShare(rs.group, rs.tp, rs.key)
	case wake:
		p.b.shareRecordsAvailable(rs.tp.TopicID, rs.tp.Partition)
	}
	return conn
}

// fencedWriteError is the error of a write of share partition key refused because its state
// was initialized anew elsewhere (a newer state epoch).
func fencedWriteError(key string) error {
	return fmt.Errorf("share-partition state of %s not written: %w (it was initialized anew elsewhere; the share partition is being read again)", key, kerr.FencedStateEpoch)
}

// reloadFencedShare drops group gid's share partition tp (key: its state key), whose state
// write was fenced, from the share coordinator and wakes its fetches: the next one reads the
// state again, with its new state epoch, as Kafka's SharePartitionManager drops a fenced
// SharePartition. REQUIRES: no lock held (it takes the share coordinator's).
func (b *Broker) reloadFencedShare(gid string, tp share.TopicPartition, key string) {
	b.log.Warn("share-partition state epoch fenced; reading the state again", "key", key)
	b.shares.Reload(gid, tp)
	b.shareRecordsAvailable(tp.TopicID, tp.Partition)
}

// shareWriteError is the error a share-partition leader answers for a state write that
// failed with err, as Kafka 4.3's SharePartition maps its persister's errors
// (fetchPersisterError): a fenced state or leader epoch is NOT_LEADER_OR_FOLLOWER (the
// share partition is dropped and read again); a coordinator error COORDINATOR_NOT_AVAILABLE;
// GROUP_ID_NOT_FOUND and UNKNOWN_TOPIC_OR_PARTITION as they are; any other error of the
// share coordinator UNKNOWN_SERVER_ERROR. A local journal's error is journalError's.
func shareWriteError(err error) *kerr.Error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return journalError(err)
	}
	switch ke {
	case kerr.FencedStateEpoch, kerr.FencedLeaderEpoch:
		return kerr.NotLeaderForPartition
	case kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress:
		return kerr.CoordinatorNotAvailable
	case kerr.GroupIDNotFound, kerr.UnknownTopicOrPartition:
		return ke
	}
	return kerr.UnknownServerError
}

// answerLocked applies a step's answer (code: its partition's error), reporting whether a
// read ended (the share partition's fetches must look again). REQUIRES: p.mu held.
func (p *sharePersister) answerLocked(rs *remoteShare, pl stepPlan, resp kmsg.Response, code int16, msg string) bool {
	fail := func() error {
		err := fmt.Errorf("share-partition state of %s not written by its coordinator: %w", rs.key, kerr.ErrorForCode(code))
		if msg != "" {
			err = fmt.Errorf("%w (%s)", err, msg)
		}
		return err
	}
	if rs.read == readRunning {
		if code != 0 && code != kerr.UnknownTopicOrPartition.Code {
			// FENCED_LEADER_EPOCH (this broker's metadata lags) or a transient failure: starting
			// afresh would deliver acknowledged records again, so read again.
			p.retryLocked(rs, kerr.ErrorForCode(code).Error()+" "+msg)
			return false
		}
		rs.read = readDone
		if code != 0 {
			return true // the topic is gone: nothing to read
		}
		rp := resp.(*kmsg.ReadShareGroupStateResponse).Topics[0].Partitions[0]
		rs.stateEpoch = rp.StateEpoch
		rs.initialized = rp.StartOffset >= 0
		if rs.initialized {
			rs.found = true
			rs.snap = share.Snapshot{Group: rs.group, Partition: rs.tp, StateEpoch: rp.StateEpoch, Start: rp.StartOffset}
			for _, sb := range rp.StateBatches {
				st, _ := share.StateOfDelivery(sb.DeliveryState)
				rs.snap.Batches = append(rs.snap.Batches, share.StateBatch{First: sb.FirstOffset, Last: sb.LastOffset, State: st, Deliveries: sb.DeliveryCount})
			}
		}
		return true
	}
	if rs.pending == nil {
		return false
	}
	if code == kerr.FencedStateEpoch.Code {
		p.failLocked(rs, fail())
		rs.fenced = true
		return false
	}
	if pl.init {
		if code != 0 {
			p.failLocked(rs, fail())
			return false
		}
		if pl.sent.Reset && rs.initialized {
			rs.stateEpoch++
		}
		rs.initialized = true
		switch {
		case pl.sent.Reset && len(pl.sent.Batches) == 0:
			p.doneLocked(rs, pl.sent, pl.count, nil) // the reset is the whole state
		case rs.pending == pl.sent:
			rs.pending.Reset = false // initialized: the write of its batches follows
		}
		return false
	}
	var err error
	if code != 0 {
		err = fail()
	}
	if pl.sent.Tombstone && code == 0 {
		rs.initialized, rs.found = false, false
	}
	p.doneLocked(rs, pl.sent, pl.count, err)
	return false
}

// doneLocked answers the first count waiting Persists with err and drops the pending state
// if it is still sent. REQUIRES: p.mu held.
func (p *sharePersister) doneLocked(rs *remoteShare, sent *share.Snapshot, count int, err error) {
	count = min(count, len(rs.waiting))
	done := rs.waiting[:count]
	rs.waiting = append([]*persistWait(nil), rs.waiting[count:]...)
	if rs.pending == sent {
		rs.pending = nil
	}
	go func() { // never under p.mu: finish runs the callers' callbacks
		for _, w := range done {
			w.finish(err)
		}
	}()
}

// statePartitionAnswer is the error code and message of the one partition a share
// coordinator request asked about (UNKNOWN_SERVER_ERROR if the answer lacks it).
func statePartitionAnswer(resp kmsg.Response) (int16, string) {
	switch r := resp.(type) {
	case *kmsg.ReadShareGroupStateResponse:
		if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
			return r.Topics[0].Partitions[0].ErrorCode, deref(r.Topics[0].Partitions[0].ErrorMessage)
		}
	case *kmsg.WriteShareGroupStateResponse:
		if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
			return r.Topics[0].Partitions[0].ErrorCode, deref(r.Topics[0].Partitions[0].ErrorMessage)
		}
	case *kmsg.InitializeShareGroupStateResponse:
		if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
			return r.Topics[0].Partitions[0].ErrorCode, deref(r.Topics[0].Partitions[0].ErrorMessage)
		}
	case *kmsg.DeleteShareGroupStateResponse:
		if len(r.Topics) == 1 && len(r.Topics[0].Partitions) == 1 {
			return r.Topics[0].Partitions[0].ErrorCode, deref(r.Topics[0].Partitions[0].ErrorMessage)
		}
	}
	return kerr.UnknownServerError.Code, "the answer does not hold the partition asked about"
}
