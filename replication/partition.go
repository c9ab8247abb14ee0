package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/logd/logd/engine"
)

// Controller commits ISR changes (the metadata quorum's AlterPartition). It returns the
// partition's new committed state.
type Controller interface {
	AlterPartition(ctx context.Context, tp engine.TopicPartition, change IsrChange) (PartitionState, error)
}

// LeaderPartition is the leader-side driver of one partition: it feeds its Leader with
// appends, follower fetches and the clock, and applies each Ready — the log's high
// watermark, the answers to waiting produce requests, ISR changes sent to the controller.
// Safe for concurrent use.
type LeaderPartition struct {
	tp  engine.TopicPartition
	log *engine.Log
	ctl Controller
	now func() time.Time

	obs Observer // nil: none

	mu      sync.Mutex // guards the fields below; never held across I/O or a callback
	leader  *Leader
	waiters map[uint64]func(error)
	nextID  uint64
	commits commitTimer // appends timed until they commit; only with an Observer
}

// NewLeaderPartition starts leading tp over its log in state st (st.Leader is this broker).
// The log must be replicated (ErrNotReplicated). Like Kafka's makeLeader, it records that the
// new leader epoch starts at the log end offset, so OffsetForLeaderEpoch answers the current
// epoch before anything is appended in it. now is the clock (tests inject one).
func NewLeaderPartition(cfg Config, tp engine.TopicPartition, log *engine.Log, st PartitionState, ctl Controller, now func() time.Time) (*LeaderPartition, error) {
	if !log.Replicated() {
		return nil, fmt.Errorf("%s: %w", tp, ErrNotReplicated)
	}
	if err := log.AssignEpochStartOffset(st.LeaderEpoch, log.LogEndOffset()); err != nil {
		return nil, err
	}
	l, err := NewLeader(cfg, st, log.LogEndOffset(), log.HighWatermark(), now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tp, err)
	}
	p := &LeaderPartition{tp: tp, log: log, ctl: ctl, now: now, obs: cfg.Observer, leader: l, waiters: map[uint64]func(error){}}
	// A leader whose ISR is itself alone has every record it holds committed: its high
	// watermark is its log end now (the checkpoint may lag it after a crash, or be missing
	// for a log of an older release), not at the first append or tick.
	p.apply(l.Appended(log.LogEndOffset(), now()))
	return p, nil
}

// LeaderEpoch is the epoch this driver leads.
func (p *LeaderPartition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader.LeaderEpoch()
}

// ISR is the committed ISR.
func (p *LeaderPartition) ISR() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader.ISR()
}

// Append appends one produce request's batches as the leader, stamped with its epoch, after
// the acks=all check (ErrNotEnoughReplicas, nothing appended). It does not wait: an acks=all
// caller waits for the log's durability and then NotifyReplicated.
func (p *LeaderPartition) Append(data []byte, acks int16) (engine.AppendResult, error) {
	return p.AppendVerified(data, acks, 0)
}

// AppendVerified is Append of a transactional batch whose transaction the coordinator
// confirmed under guard (engine.Log.BeginTxnVerification); 0 for none.
func (p *LeaderPartition) AppendVerified(data []byte, acks int16, guard engine.TxnGuard) (engine.AppendResult, error) {
	return p.append(acks, func(epoch int32) (engine.AppendResult, error) {
		return p.log.Append(data, engine.AppendOptions{LeaderEpoch: epoch, TxnGuard: guard})
	})
}

// AppendCoordinator appends batches a coordinator writes on a transactional producer's
// behalf (engine.AppendOptions.Coordinator) as the leader, with acks=all's check, like
// Append.
func (p *LeaderPartition) AppendCoordinator(data []byte) (engine.AppendResult, error) {
	return p.append(-1, func(epoch int32) (engine.AppendResult, error) {
		return p.log.Append(data, engine.AppendOptions{LeaderEpoch: epoch, Coordinator: true})
	})
}

// AppendTxnMarker appends a transaction marker as the leader (WriteTxnMarkers), with
// acks=all's check: the caller waits for its durability and NotifyReplicated like an
// acks=all produce's. Followers copy the marker like any batch, which updates their
// transaction state.
func (p *LeaderPartition) AppendTxnMarker(m engine.TxnMarker) (engine.AppendResult, error) {
	return p.append(-1, func(epoch int32) (engine.AppendResult, error) {
		return p.log.AppendTxnMarker(m, epoch)
	})
}

// append runs an append of the leader's epoch after the acks check and feeds the leader the
// new log end.
func (p *LeaderPartition) append(acks int16, appendFn func(epoch int32) (engine.AppendResult, error)) (engine.AppendResult, error) {
	p.mu.Lock()
	err := p.leader.CheckAppend(acks)
	epoch := p.leader.LeaderEpoch()
	p.mu.Unlock()
	if err != nil {
		return engine.AppendResult{}, err
	}
	res, err := appendFn(epoch)
	if err != nil {
		return res, err
	}
	now := p.now()
	p.mu.Lock()
	rd := p.leader.Appended(p.log.LogEndOffset(), now)
	var took []time.Duration
	if p.obs != nil && !res.Duplicate {
		p.commits.appended(res.LastOffset+1, now)
		// A follower's fetch may have moved the high watermark past this append already
		// (FollowerFetched feeds the Leader the log's end before this call does).
		took = p.commits.committed(p.leader.HighWatermark(), now, nil)
	}
	p.mu.Unlock()
	p.apply(rd)
	p.observeCommitted(took)
	return res, nil
}

// observeCommitted reports the commit times of appends to the Observer, holding no lock.
func (p *LeaderPartition) observeCommitted(took []time.Duration) {
	for _, d := range took {
		p.obs.Committed(d)
	}
}

// NotifyReplicated reports when the high watermark passes lastOffset (every ISR member has
// it), or a retriable error whose outcome is unknown (ErrNotLeader, ErrTimedOut), or
// ErrNotEnoughReplicasAfterAppend, to fn. fn gets its answer exactly once, on the goroutine whose call moved the high watermark or ended the wait
// (a follower's fetch, Tick at the timeout, Resign), or on the caller's before
// NotifyReplicated returns if the answer is already known. fn runs holding no lock and must
// not block. The returned id identifies the wait to the package.
func (p *LeaderPartition) NotifyReplicated(lastOffset int64, timeout time.Duration, fn func(error)) uint64 {
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.waiters[id] = fn
	now := p.now()
	rd := p.leader.Wait(id, lastOffset+1, now.Add(timeout), now)
	p.mu.Unlock()
	p.apply(rd)
	return id
}

// FollowerFetched tells the leader that replica fetched from offset, so it has everything
// below: the follower's LEO moves, and with it maybe the high watermark and the ISR. The
// broker calls it for each partition of a replica's Fetch, before reading.
//
// The log's end offset is fed to the Leader first: an append wakes parked follower fetches
// as soon as it is in the log, before append reports the new end to the Leader, so a
// follower's next fetch can arrive at an offset the Leader has not heard of yet. Judged
// against the Leader's stale end it would be OFFSET_OUT_OF_RANGE, and the follower would sit
// out a backoff and a truncation round while acks=all waits for it.
func (p *LeaderPartition) FollowerFetched(replica int32, offset int64) error {
	p.mu.Lock()
	now := p.now()
	var appended Ready
	if leo := p.log.LogEndOffset(); leo > p.leader.LogEndOffset() {
		appended = p.leader.Appended(leo, now)
	}
	rd, err := p.leader.FollowerFetch(replica, offset, now)
	p.mu.Unlock()
	p.apply(appended)
	if err != nil {
		return err
	}
	p.apply(rd)
	return nil
}

// Tick advances the clock: lagging followers are proposed out of the ISR, expired produce
// waits answered.
func (p *LeaderPartition) Tick() {
	p.mu.Lock()
	rd := p.leader.Tick(p.now())
	p.mu.Unlock()
	p.apply(rd)
}

// ApplyState adopts a newer committed state of the same leader epoch (an ISR change, a
// reassignment). ErrFencedLeaderEpoch means this broker must stop leading: call Resign.
func (p *LeaderPartition) ApplyState(st PartitionState) error {
	p.mu.Lock()
	rd, err := p.leader.ApplyState(st, p.now())
	p.mu.Unlock()
	p.apply(rd)
	return err
}

// Resign stops leading: waiting produce requests are answered ErrNotLeader.
func (p *LeaderPartition) Resign() {
	p.mu.Lock()
	rd := p.leader.Resign()
	p.mu.Unlock()
	p.apply(rd)
}

// apply carries out a Ready outside p.mu.
func (p *LeaderPartition) apply(rd Ready) {
	if rd.HWAdvanced {
		p.log.SetHighWatermark(rd.HighWatermark)
		if p.obs != nil {
			p.mu.Lock()
			took := p.commits.committed(rd.HighWatermark, p.now(), nil)
			p.mu.Unlock()
			p.observeCommitted(took)
		}
	}
	if len(rd.Completed) > 0 {
		type answer struct {
			fn  func(error)
			err error
		}
		answers := make([]answer, 0, len(rd.Completed))
		p.mu.Lock()
		for _, c := range rd.Completed {
			if fn, ok := p.waiters[c.ID]; ok {
				answers = append(answers, answer{fn, c.Err})
				delete(p.waiters, c.ID)
			}
		}
		p.mu.Unlock()
		for _, a := range answers { // outside p.mu: no lock across a callback
			a.fn(a.err)
		}
	}
	if rd.Propose != nil {
		go p.propose(*rd.Propose)
	}
}

// propose sends an ISR change to the controller and applies the answer.
func (p *LeaderPartition) propose(change IsrChange) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := p.ctl.AlterPartition(ctx, p.tp, change)
	if err == nil {
		err = p.ApplyState(st)
	}
	if err != nil && !errors.Is(err, ErrFencedLeaderEpoch) {
		p.mu.Lock()
		p.leader.ChangeFailed()
		p.mu.Unlock()
	}
}
