package replication

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Errors of the leader state machine; the broker maps them to Kafka error codes. The ones a
// waiting produce can end with are all retriable: the outcome of the append is unknown to the
// client, or known and merely under-replicated.
var (
	// ErrNotEnoughReplicas refuses an acks=all append before it happens (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("fewer in-sync replicas than min.insync.replicas")
	// ErrNotEnoughReplicasAfterAppend answers an acks=all produce that was committed while the
	// ISR was below min.insync.replicas (NOT_ENOUGH_REPLICAS_AFTER_APPEND).
	ErrNotEnoughReplicasAfterAppend = errors.New("appended, but fewer in-sync replicas than min.insync.replicas")
	// ErrNotLeader ends a wait because this replica stopped leading; the append may or may not
	// survive (NOT_LEADER_OR_FOLLOWER, retriable).
	ErrNotLeader = errors.New("no longer the leader; the outcome of the append is unknown")
	// ErrTimedOut ends a wait whose deadline passed before the ISR had the append; it may still
	// commit later (REQUEST_TIMED_OUT, retriable).
	ErrTimedOut = errors.New("timed out waiting for the in-sync replicas; the outcome of the append is unknown")
	// ErrOffsetOutOfRange refuses a follower fetch beyond the leader's log end.
	ErrOffsetOutOfRange = errors.New("fetch offset beyond the leader's log end offset")
	// ErrUnknownReplica refuses a fetch from a broker that is not a replica of the partition.
	ErrUnknownReplica = errors.New("not a replica of this partition")
	// ErrFencedLeaderEpoch says a partition state belongs to another leader epoch: the leader
	// must resign and the driver rebuild its role from the new state.
	ErrFencedLeaderEpoch = errors.New("partition state has another leader epoch")
	// ErrInvalidState refuses a partition state a leader cannot be built from.
	ErrInvalidState = errors.New("invalid partition state")
)

// PartitionState is a partition's leadership as the controller committed it.
type PartitionState struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Config holds a leader's settings (Kafka's names).
type Config struct {
	// ReplicaLagTime is replica.lag.time.max.ms: an ISR follower not caught up for this long is
	// proposed out of the ISR.
	ReplicaLagTime time.Duration
	// MinInsyncReplicas is min.insync.replicas, enforced for acks=all.
	MinInsyncReplicas int
	// Observer, if set, receives a LeaderPartition's commit times (Observer.Committed); the
	// Leader state machine itself ignores it.
	Observer Observer
}

// DefaultConfig is Kafka's default: 30 s lag, min.insync.replicas 1.
var DefaultConfig = Config{ReplicaLagTime: 30 * time.Second, MinInsyncReplicas: 1}

// IsrChange is an ISR change the leader asks the controller to commit (AlterPartition). The
// controller rejects it unless LeaderEpoch and PartitionEpoch are the partition's current ones.
type IsrChange struct {
	Leader         int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32 // the whole proposed ISR, sorted
}

// Completion answers one waiting acks=all produce: Err nil means committed.
type Completion struct {
	ID  uint64
	Err error
}

// Ready is what the driver must do after an event, outside its locks.
type Ready struct {
	// HighWatermark is the leader's high watermark after the event; HWAdvanced says it moved
	// (set it on the log and wake fetches parked on it).
	HighWatermark int64
	HWAdvanced    bool
	// Completed are produce requests to answer now.
	Completed []Completion
	// Propose, if set, is an ISR change to send to the controller.
	Propose *IsrChange
}

// followerState is what the leader knows about one follower (Kafka's ReplicaState).
type followerState struct {
	id  int32
	leo int64 // -1 until the follower fetches under this leader
	// lastFetch and lastFetchLeaderLEO are the time of the previous fetch and the leader's LEO
	// then; lastCaughtUp is the last time the follower was known to have the leader's LEO.
	lastFetch          time.Time
	lastFetchLeaderLEO int64
	lastCaughtUp       time.Time
	ineligible         bool // fenced or shutting down: never added to the ISR
}

type waiter struct {
	id       uint64
	offset   int64 // answered once the HW reaches it (the append's last offset + 1)
	deadline time.Time
}

// Leader is the leader-side replication state of one partition for one leader epoch. It is
// not safe for concurrent use: the driver serializes calls (per partition).
//
// Invariants (checked by tests): leader LEO ≥ HW; HW never decreases; HW ≤ the LEO of every
// maximal-ISR member; a waiter is answered with success only once HW ≥ its offset.
type Leader struct {
	cfg       Config
	id        int32
	epoch     int32
	partEpoch int32
	replicas  []int32
	isr       []int32 // committed, sorted
	pending   *IsrChange
	// epochStart is the leader LEO when this leader epoch began: a follower must reach it to
	// join the ISR.
	epochStart int64
	leo        int64
	hw         int64
	followers  []*followerState // every replica but the leader, sorted by id
	waiters    []waiter         // sorted by offset
	resigned   bool
}

// NewLeader starts leading st (st.Leader is this replica) with the local log's end offset and
// high watermark. Followers in the ISR count as caught up as of now, the others as never.
func NewLeader(cfg Config, st PartitionState, leo, hw int64, now time.Time) (*Leader, error) {
	if !slices.Contains(st.Replicas, st.Leader) || !slices.Contains(st.ISR, st.Leader) {
		return nil, fmt.Errorf("%w: leader %d not in replicas %v and ISR %v", ErrInvalidState, st.Leader, st.Replicas, st.ISR)
	}
	if hw > leo || hw < 0 {
		return nil, fmt.Errorf("%w: high watermark %d, log end %d", ErrInvalidState, hw, leo)
	}
	if cfg.MinInsyncReplicas < 1 {
		cfg.MinInsyncReplicas = 1
	}
	l := &Leader{cfg: cfg, id: st.Leader, epoch: st.LeaderEpoch, partEpoch: st.PartitionEpoch,
		replicas: sortedCopy(st.Replicas), isr: sortedCopy(st.ISR), epochStart: leo, leo: leo, hw: hw}
	for _, r := range l.replicas {
		if r == l.id {
			continue
		}
		f := &followerState{id: r, leo: -1, lastFetchLeaderLEO: -1}
		if slices.Contains(l.isr, r) {
			f.lastCaughtUp = now
		}
		l.followers = append(l.followers, f)
	}
	return l, nil
}

// ID is the leader's broker id.
func (l *Leader) ID() int32 { return l.id }

// LeaderEpoch is the epoch this leader leads.
func (l *Leader) LeaderEpoch() int32 { return l.epoch }

// PartitionEpoch is the partition epoch of the committed state the leader knows.
func (l *Leader) PartitionEpoch() int32 { return l.partEpoch }

// EpochStartOffset is where this leader epoch began in the log.
func (l *Leader) EpochStartOffset() int64 { return l.epochStart }

// HighWatermark is the leader's high watermark.
func (l *Leader) HighWatermark() int64 { return l.hw }

// LogEndOffset is the leader's log end offset as last reported.
func (l *Leader) LogEndOffset() int64 { return l.leo }

// ISR is the committed ISR.
func (l *Leader) ISR() []int32 { return slices.Clone(l.isr) }

// Pending is the ISR change in flight, or nil.
func (l *Leader) Pending() *IsrChange { return l.pending }

// MaximalISR is the committed ISR plus a proposed addition.
func (l *Leader) MaximalISR() []int32 {
	if l.pending != nil && len(l.pending.ISR) > len(l.isr) {
		return slices.Clone(l.pending.ISR)
	}
	return l.ISR()
}

// FollowerLEO is what the leader knows of a follower's log end offset (-1: not fetched yet).
func (l *Leader) FollowerLEO(id int32) int64 {
	if f := l.follower(id); f != nil {
		return f.leo
	}
	return -1
}

// FollowerCaughtUp is the last time a follower was known to have the leader's log end offset
// (the zero time: never under this leader).
func (l *Leader) FollowerCaughtUp(id int32) time.Time {
	if f := l.follower(id); f != nil {
		return f.lastCaughtUp
	}
	return time.Time{}
}

// Waiting is the number of produce requests waiting for the high watermark.
func (l *Leader) Waiting() int { return len(l.waiters) }

// SetIneligible marks brokers that must not join the ISR (fenced or in controlled shutdown);
// every other follower becomes eligible.
func (l *Leader) SetIneligible(ids []int32) {
	for _, f := range l.followers {
		f.ineligible = slices.Contains(ids, f.id)
	}
}

// CheckAppend is called before an append: acks=all (-1) with fewer committed ISR members than
// min.insync.replicas is refused. Nothing has been written, so the failure is definite.
func (l *Leader) CheckAppend(acks int16) error {
	if l.resigned {
		return ErrNotLeader
	}
	if acks == -1 && len(l.isr) < l.cfg.MinInsyncReplicas {
		return fmt.Errorf("%w: ISR %v, min.insync.replicas %d", ErrNotEnoughReplicas, l.isr, l.cfg.MinInsyncReplicas)
	}
	return nil
}

// Appended reports the leader's new log end offset after an append.
func (l *Leader) Appended(leo int64, now time.Time) Ready {
	if leo > l.leo {
		l.leo = leo
	}
	return l.update(now, nil)
}

// Wait registers acks=all produce id, answered once the high watermark reaches offset (its
// last offset + 1) or at deadline. If the high watermark is already there the answer is in
// the returned Ready.
func (l *Leader) Wait(id uint64, offset int64, deadline time.Time, now time.Time) Ready {
	if l.resigned {
		return Ready{HighWatermark: l.hw, Completed: []Completion{{ID: id, Err: ErrNotLeader}}}
	}
	i := sort.Search(len(l.waiters), func(i int) bool { return l.waiters[i].offset > offset })
	l.waiters = slices.Insert(l.waiters, i, waiter{id: id, offset: offset, deadline: deadline})
	return l.update(now, nil)
}

// FollowerFetch records a fetch from follower id at fetchOffset (the follower's log end
// offset): the follower has everything below it. It may advance the high watermark and
// propose adding the follower to the ISR.
func (l *Leader) FollowerFetch(id int32, fetchOffset int64, now time.Time) (Ready, error) {
	f := l.follower(id)
	if f == nil {
		return Ready{HighWatermark: l.hw}, fmt.Errorf("%w: broker %d", ErrUnknownReplica, id)
	}
	if fetchOffset > l.leo || fetchOffset < 0 {
		return Ready{HighWatermark: l.hw}, fmt.Errorf("%w: %d > %d", ErrOffsetOutOfRange, fetchOffset, l.leo)
	}
	switch {
	case fetchOffset >= l.leo:
		f.lastCaughtUp = later(f.lastCaughtUp, now)
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetchLeaderLEO >= 0:
		f.lastCaughtUp = later(f.lastCaughtUp, f.lastFetch)
	}
	f.leo, f.lastFetch, f.lastFetchLeaderLEO = fetchOffset, now, l.leo
	var propose *IsrChange
	if l.pending == nil && !l.resigned && !slices.Contains(l.isr, id) && !f.ineligible && f.leo >= l.hw && f.leo >= l.epochStart {
		propose = l.proposeLocked(insertSorted(l.isr, id))
	}
	return l.update(now, propose), nil
}

// Tick advances the clock: ISR followers that fell behind for longer than the lag time are
// proposed out, expired waits are answered, and a change dropped by ChangeFailed is retried.
func (l *Leader) Tick(now time.Time) Ready {
	var propose *IsrChange
	if l.pending == nil && !l.resigned {
		var out []int32
		for _, id := range l.isr {
			if f := l.follower(id); f != nil && !l.caughtUp(f, now) {
				out = append(out, id)
			}
		}
		if len(out) > 0 {
			isr := slices.DeleteFunc(slices.Clone(l.isr), func(id int32) bool { return slices.Contains(out, id) })
			propose = l.proposeLocked(isr)
		} else {
			// An expansion that failed is proposed again here rather than waiting for the
			// follower's next fetch, which may be long-polling.
			for _, f := range l.followers {
				if !slices.Contains(l.isr, f.id) && !f.ineligible && f.leo >= l.hw && f.leo >= l.epochStart {
					propose = l.proposeLocked(insertSorted(l.isr, f.id))
					break
				}
			}
		}
	}
	r := l.update(now, propose)
	kept := l.waiters[:0]
	for _, w := range l.waiters {
		if !now.Before(w.deadline) {
			r.Completed = append(r.Completed, Completion{ID: w.id, Err: ErrTimedOut})
			continue
		}
		kept = append(kept, w)
	}
	l.waiters = kept
	return r
}

// ApplyState adopts a partition state the controller committed (the answer to a proposal or a
// metadata update). A state of another leader epoch, or naming another leader, returns
// ErrFencedLeaderEpoch: the driver must Resign and rebuild the partition's role. A state not
// newer than the one known is ignored.
func (l *Leader) ApplyState(st PartitionState, now time.Time) (Ready, error) {
	if st.LeaderEpoch != l.epoch || st.Leader != l.id {
		return Ready{HighWatermark: l.hw}, fmt.Errorf("%w: state has leader %d epoch %d, this leader %d epoch %d", ErrFencedLeaderEpoch, st.Leader, st.LeaderEpoch, l.id, l.epoch)
	}
	if st.PartitionEpoch <= l.partEpoch {
		return Ready{HighWatermark: l.hw}, nil
	}
	if !slices.Contains(st.ISR, l.id) {
		return Ready{HighWatermark: l.hw}, fmt.Errorf("%w: leader %d not in ISR %v", ErrInvalidState, l.id, st.ISR)
	}
	// A follower the controller took out of the ISR (fenced: dead, or paused past its
	// session) stops holding the high watermark back until it fetches again: as in Kafka,
	// only an eligible replica is waited for to join the ISR.
	for _, f := range l.followers {
		if slices.Contains(l.isr, f.id) && !slices.Contains(st.ISR, f.id) {
			f.lastCaughtUp = time.Time{}
		}
	}
	l.partEpoch, l.isr, l.pending = st.PartitionEpoch, sortedCopy(st.ISR), nil
	if !slices.Equal(sortedCopy(st.Replicas), l.replicas) {
		l.replicas = sortedCopy(st.Replicas)
		var fs []*followerState
		for _, r := range l.replicas {
			if r == l.id {
				continue
			}
			f := l.follower(r)
			if f == nil {
				f = &followerState{id: r, leo: -1, lastFetchLeaderLEO: -1}
			}
			fs = append(fs, f)
		}
		l.followers = fs
	}
	return l.update(now, nil), nil
}

// ChangeFailed drops the ISR change in flight (the controller refused it or could not be
// reached); the next Tick or fetch proposes again from the current state.
func (l *Leader) ChangeFailed() { l.pending = nil }

// Resign ends this leadership: every waiting produce is answered NOT_LEADER_OR_FOLLOWER (its
// outcome is unknown) and every later call that could acknowledge fails the same way.
func (l *Leader) Resign() Ready {
	r := Ready{HighWatermark: l.hw}
	for _, w := range l.waiters {
		r.Completed = append(r.Completed, Completion{ID: w.id, Err: ErrNotLeader})
	}
	l.waiters, l.pending, l.resigned = nil, nil, true
	return r
}

func (l *Leader) proposeLocked(isr []int32) *IsrChange {
	l.pending = &IsrChange{Leader: l.id, LeaderEpoch: l.epoch, PartitionEpoch: l.partEpoch, ISR: isr}
	c := *l.pending
	c.ISR = slices.Clone(isr)
	return &c
}

// caughtUp is Kafka's isCaughtUp: at the leader's LEO, or caught up within the lag time.
func (l *Leader) caughtUp(f *followerState, now time.Time) bool {
	return f.leo == l.leo || (!f.lastCaughtUp.IsZero() && now.Sub(f.lastCaughtUp) <= l.cfg.ReplicaLagTime)
}

// update recomputes the high watermark and answers the waiters it passes.
func (l *Leader) update(now time.Time, propose *IsrChange) Ready {
	r := Ready{Propose: propose}
	if !l.resigned {
		maximal := l.MaximalISR()
		hw := l.leo
		for _, f := range l.followers {
			if f.leo < hw && (slices.Contains(maximal, f.id) || (f.leo >= 0 && l.caughtUp(f, now))) {
				hw = f.leo
			}
		}
		if hw > l.hw {
			l.hw, r.HWAdvanced = hw, true
		}
	}
	r.HighWatermark = l.hw
	n := 0
	for n < len(l.waiters) && l.waiters[n].offset <= l.hw {
		var err error
		if len(l.isr) < l.cfg.MinInsyncReplicas {
			err = ErrNotEnoughReplicasAfterAppend
		}
		r.Completed = append(r.Completed, Completion{ID: l.waiters[n].id, Err: err})
		n++
	}
	l.waiters = l.waiters[n:]
	return r
}

func (l *Leader) follower(id int32) *followerState {
	for _, f := range l.followers {
		if f.id == id {
			return f
		}
	}
	return nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func sortedCopy(ids []int32) []int32 {
	c := slices.Clone(ids)
	slices.Sort(c)
	return slices.Compact(c)
}

func insertSorted(ids []int32, id int32) []int32 {
	return sortedCopy(append(slices.Clone(ids), id))
}
