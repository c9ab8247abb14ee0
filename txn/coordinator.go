package txn

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
)

// Config configures a Coordinator. Zero values take the defaults (Kafka's).
type Config struct {
	// Partition is the __transaction_state partition this coordinator serves: every record
	// is appended to it.
	Partition int32
	// CoordinatorEpoch is the leader epoch of that partition; markers carry it.
	CoordinatorEpoch int32
	// MaxTimeout is transaction.max.timeout.ms (default 15 min): a longer
	// transaction.timeout.ms is refused.
	MaxTimeout time.Duration
	// RetryBackoff is the wait before retrying a failed write of a Complete state, or a
	// timeout abort that found a change being written (default 100 ms).
	RetryBackoff time.Duration
	// IDExpiration is transactional.id.expiration.ms (default 7 days): an id without a
	// transaction in progress whose state did not change for this long is removed (a
	// tombstone in __transaction_state), checked every IDExpirationCheck
	// (transaction.remove.expired.transaction.cleanup.interval.ms, default 1 hour).
	IDExpiration, IDExpirationCheck time.Duration
	// Clock drives the transaction timeouts; nil means group.SystemClock.
	Clock group.Clock
	// NewProducerID hands out a new producer id (required). It may block (a producer id
	// block from the controller); no coordinator lock is held while it runs.
	NewProducerID func() (int64, error)
	// SendMarkers sends a transaction's markers to its partitions' leaders (required) and
	// calls done once: nil once every partition has its marker, or the error that made it
	// give up (the broker shutting down, the coordinator closed). It must not block; done may
	// run on any goroutine, the caller's too, and is called with no coordinator lock held.
	SendMarkers func(m Markers, done func(error))
	// Logger receives the coordinator's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Coordinator is the transaction coordinator of one __transaction_state partition: the state
// of every transactional id that maps to it (see doc.go).
type Coordinator struct {
	cfg    Config
	clock  group.Clock
	log    *slog.Logger
	j      group.Journal
	closed atomic.Bool

	mu     sync.Mutex        // guards txns (the map only) and expiry
	txns   map[string]*entry // by transactional id
	expiry group.Timer       // the next expiration check of idle ids
}

// entry is one transactional id.
type entry struct {
	id string

	mu      sync.Mutex
	m       meta        // the durable state; guarded by mu
	pending bool        // a change is being written; guarded by mu
	timer   group.Timer // the timeout of an Ongoing transaction; guarded by mu
}

// New returns the coordinator of cfg.Partition, replaying recs (the partition's live
// records: latest value per key) and resuming what the previous coordinator left: markers
// of PrepareCommit and PrepareAbort transactions are sent again, Ongoing transactions keep
// their timeout (counted from their start).
func New(cfg Config, j group.Journal, recs func(yield func(group.Record) bool)) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 100 * time.Millisecond
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	if cfg.IDExpirationCheck <= 0 {
		cfg.IDExpirationCheck = time.Hour
	}
	if cfg.Clock == nil {
		cfg.Clock = group.SystemClock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, j: j, txns: map[string]*entry{}}
	if recs != nil {
		for r := range recs {
			c.replay(r)
		}
	}
	for _, e := range c.entries() {
		e.mu.Lock()
		m := e.m
		if m.state == Ongoing {
			c.armLocked(e)
		}
		e.mu.Unlock()
		if m.state == PrepareCommit || m.state == PrepareAbort {
			c.sendMarkers(e, m)
		}
	}
	c.mu.Lock()
	c.expiry = c.clock.AfterFunc(cfg.IDExpirationCheck, c.expireIDs)
	c.mu.Unlock()
	return c
}

// expireIDs removes the ids idle for IDExpiration (Kafka's removal of expired transactional
// ids): their state becomes Dead, a tombstone is written, and once it is durable they leave
// the map. A request that still holds a Dead id gets ErrConcurrentTransactions and, retried,
// finds no state (InitProducerId starts the id afresh).
func (c *Coordinator) expireIDs() {
	if c.closed.Load() {
		return
	}
	now := c.clock.Now()
	for _, e := range c.entries() {
		e.mu.Lock()
		m := e.m
		idle := !e.pending && m.epoch != noEpoch && now.Sub(m.updated) >= c.cfg.IDExpiration &&
			(m.state == Empty || m.state == CompleteCommit || m.state == CompleteAbort)
		if idle {
			e.pending = true
		}
		e.mu.Unlock()
		if !idle {
			continue
		}
		d, err := c.j.Append(c.cfg.Partition, []group.Record{{Key: recordKey(e.id)}})
		if err != nil {
			e.mu.Lock()
			e.pending = false
			e.mu.Unlock()
			continue
		}
		d(func(err error) {
			e.mu.Lock()
			e.pending = false
			if err == nil {
				e.m.state = Dead
			}
			e.mu.Unlock()
			if err == nil {
				c.mu.Lock()
				if c.txns[e.id] == e {
					delete(c.txns, e.id)
				}
				c.mu.Unlock()
			}
		})
	}
	c.mu.Lock()
	if !c.closed.Load() {
		c.expiry = c.clock.AfterFunc(c.cfg.IDExpirationCheck, c.expireIDs)
	}
	c.mu.Unlock()
}

// replay loads one record; malformed ones are logged and skipped.
func (c *Coordinator) replay(r group.Record) {
	id, ok, err := parseKey(r.Key)
	if err == nil && ok && r.Value != nil {
		var m meta
		if m, err = parseValue(r.Value); err == nil {
			c.txns[id] = &entry{id: id, m: m}
		}
	}
	if err != nil {
		c.log.Warn("skipping a malformed __transaction_state record", "partition", c.cfg.Partition, "err", err)
	}
}

// Close stops the timers; later requests, and markers still being sent, are refused with
// ErrNotCoordinator. The next coordinator of the partition resumes from its log.
func (c *Coordinator) Close() {
	c.closed.Store(true)
	c.mu.Lock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.mu.Unlock()
	for _, e := range c.entries() {
		e.mu.Lock()
		if e.timer != nil {
			e.timer.Stop()
			e.timer = nil
		}
		e.mu.Unlock()
	}
}

func (c *Coordinator) entries() []*entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*entry, 0, len(c.txns))
	for _, e := range c.txns {
		out = append(out, e)
	}
	return out
}

func (c *Coordinator) lookup(id string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.txns[id]
}

// errClosed is the answer of a closed coordinator.
func errClosed() error {
	return fmt.Errorf("%w: its __transaction_state partition is no longer led here", ErrNotCoordinator)
}

// InitProducerID answers InitProducerId for a transactional id: reply gets the producer id
// and epoch to use, or the error. expectPID and expectEpoch (-1 if not given, KIP-360) are
// the producer's current id and epoch. A new id starts at epoch 0 with a fresh producer id;
// a known one gets its epoch bumped, which fences older producers. An Ongoing transaction is
// aborted first (fenced with a bumped epoch): the answer is ErrConcurrentTransactions and the
// client retries. An exhausted epoch moves the id to a new producer id.
func (c *Coordinator) InitProducerID(id string, timeout time.Duration, expectPID int64, expectEpoch int16, reply func(pid int64, epoch int16, err error)) {
	fail := func(err error) { reply(-1, -1, err) }
	if id == "" {
		fail(fmt.Errorf("%w: the transactional id is empty", ErrInvalidRequest))
		return
	}
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		fail(fmt.Errorf("%w: transaction.timeout.ms %d is not in 1..%d (the broker's transaction.max.timeout.ms)",
			ErrInvalidTimeout, timeout.Milliseconds(), c.cfg.MaxTimeout.Milliseconds()))
		return
	}
	fresh := int64(-1) // a new producer id, once one is needed
	for {
		if c.closed.Load() {
			fail(errClosed())
			return
		}
		e := c.lookup(id)
		if e == nil {
			pid, err := c.cfg.NewProducerID()
			if err != nil {
				fail(err)
				return
			}
			c.mu.Lock()
			if e = c.txns[id]; e == nil {
				e = &entry{id: id, m: meta{pid: pid, epoch: noEpoch, prevPID: -1, nextPID: -1, lastEpoch: noEpoch, state: Empty, timeout: timeout}}
				c.txns[id] = e
			}
			c.mu.Unlock()
		}
		e.mu.Lock()
		m := e.m
		if e.pending {
			e.mu.Unlock()
			fail(fmt.Errorf("%w: transactional id %q is completing a transaction or writing a change; retry", ErrConcurrentTransactions, id))
			return
		}
		if expectPID >= 0 && m.epoch != noEpoch && expectPID != m.pid && !(expectPID == m.prevPID && epochExhausted(expectEpoch)) {
			e.mu.Unlock()
			fail(fmt.Errorf("%w: producer id %d is not the current producer id %d of transactional id %q", ErrProducerFenced, expectPID, m.pid, id))
			return
		}
		switch m.state {
		case Empty, CompleteCommit, CompleteAbort:
		case Ongoing:
			run := c.abortLocked(e, true)
			e.mu.Unlock()
			run()
			fail(fmt.Errorf("%w: aborting the ongoing transaction of producer %d epoch %d first; retry", ErrConcurrentTransactions, m.pid, m.epoch))
			return
		default:
			e.mu.Unlock()
			fail(fmt.Errorf("%w: transaction of producer %d epoch %d is in state %s; retry", ErrConcurrentTransactions, m.pid, m.epoch, m.state))
			return
		}
		next := m
		switch {
		case epochExhausted(m.epoch) && (expectPID < 0 || expectEpoch == m.epoch || expectEpoch == noEpoch):
			if fresh < 0 {
				e.mu.Unlock()
				pid, err := c.cfg.NewProducerID()
				if err != nil {
					fail(err)
					return
				}
				fresh = pid
				continue
			}
			next.prevPID, next.pid, next.epoch, next.lastEpoch = m.pid, fresh, 0, noEpoch
			if expectPID >= 0 {
				next.lastEpoch = m.epoch
			}
		case expectPID < 0:
			next.epoch, next.lastEpoch = m.epoch+1, noEpoch
		case m.epoch == noEpoch || expectEpoch == noEpoch || expectEpoch == m.epoch:
			next.epoch, next.lastEpoch = m.epoch+1, m.epoch
		case expectEpoch == m.lastEpoch && expectEpoch != noEpoch:
			// A retry whose answer was lost: the same answer.
			e.mu.Unlock()
			reply(m.pid, m.epoch, nil)
			return
		default:
			e.mu.Unlock()
			fail(fmt.Errorf("%w: epoch %d is not the current epoch %d of transactional id %q", ErrProducerFenced, expectEpoch, m.epoch, id))
			return
		}
		next.timeout, next.state, next.parts, next.start, next.updated = timeout, Empty, nil, time.Time{}, c.clock.Now()
		e.pending = true
		e.mu.Unlock()
		c.persist(e, next, func(err error) {
			if err != nil {
				fail(err)
				return
			}
			reply(next.pid, next.epoch, nil)
		})
		return
	}
}

// checkProducerLocked refuses a request from another producer id or epoch, or while a change
// is written or a transaction completes. REQUIRES: e.mu held.
func checkProducerLocked(e *entry, pid int64, epoch int16) error {
	m := e.m
	switch {
	case pid != m.pid:
		return fmt.Errorf("%w: producer id %d is not the current producer id %d of transactional id %q", ErrInvalidProducerIDMapping, pid, m.pid, e.id)
	case epoch != m.epoch:
		return fmt.Errorf("%w: epoch %d of producer %d is not its current epoch %d (a newer producer with transactional id %q exists, or the transaction timed out)",
			ErrProducerFenced, epoch, pid, m.epoch, e.id)
	case e.pending || m.state == PrepareCommit || m.state == PrepareAbort || m.state == Dead || m.state == PrepareEpochFence:
		return fmt.Errorf("%w: transactional id %q is completing a transaction or writing a change (state %s); retry", ErrConcurrentTransactions, e.id, m.state)
	}
	return nil
}

// unknownID is the error for a transactional id without state.
func unknownID(id string) error {
	return fmt.Errorf("%w: transactional id %q has no producer id; call InitProducerId first", ErrInvalidProducerIDMapping, id)
}

// AddPartitions adds partitions to the producer's transaction, starting one if none is
// ongoing (its timeout starts then); reply gets nil once the change is durable. v2: the
// client speaks transaction version 2 (partitions added implicitly by a partition leader,
// AddPartitionsToTxn v4+ without VerifyOnly, or by TxnOffsetCommit v5); the transaction
// keeps the version of its last AddPartitions, as Kafka's prepareAddPartitions.
func (c *Coordinator) AddPartitions(id string, pid int64, epoch int16, parts []engine.TopicPartition, v2 bool, reply func(error)) {
	e, err := c.entryFor(id)
	if err != nil {
		reply(err)
		return
	}
	e.mu.Lock()
	if err := checkProducerLocked(e, pid, epoch); err != nil {
		e.mu.Unlock()
		reply(err)
		return
	}
	if e.m.state == Ongoing && e.m.contains(parts) {
		e.mu.Unlock()
		reply(nil)
		return
	}
	next := e.m.with(parts)
	next.clientVersion = 0
	if v2 {
		next.clientVersion = Version2
	}
	if next.state != Ongoing {
		next.state, next.start = Ongoing, c.clock.Now()
	}
	next.updated = c.clock.Now()
	e.pending = true
	e.mu.Unlock()
	c.persist(e, next, reply)
}

// entryFor is the entry of an id that must exist.
func (c *Coordinator) entryFor(id string) (*entry, error) {
	if c.closed.Load() {
		return nil, errClosed()
	}
	if id == "" {
		return nil, fmt.Errorf("%w: the transactional id is empty", ErrInvalidRequest)
	}
	e := c.lookup(id)
	if e == nil {
		return nil, unknownID(id)
	}
	return e, nil
}

// Verify answers AddPartitionsToTxn VerifyOnly (KIP-890 part 1, a partition leader asking
// before it appends transactional data): a request-wide error, or one per partition (nil, or
// ErrNotInTransaction for a partition the ongoing transaction does not hold).
func (c *Coordinator) Verify(id string, pid int64, epoch int16, parts []engine.TopicPartition) ([]error, error) {
	e, err := c.entryFor(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := checkProducerLocked(e, pid, epoch); err != nil {
		return nil, err
	}
	out := make([]error, len(parts))
	for i, tp := range parts {
		if e.m.state != Ongoing || !e.m.contains([]engine.TopicPartition{tp}) {
			out[i] = fmt.Errorf("%w: %s is not in the ongoing transaction of transactional id %q", ErrNotInTransaction, tp, id)
		}
	}
	return out, nil
}

// EndTxn commits or aborts the producer's ongoing transaction: reply gets the producer id and
// epoch the client goes on with, or the error, once PrepareCommit or PrepareAbort is durable;
// the markers are sent next, and the Complete state is written once every partition has its
// marker. v2 is the client's transaction version 2 (EndTxn v5).
//
// Transaction version 1: the epoch stays; a retry of a completed EndTxn succeeds, one still
// completing gets ErrConcurrentTransactions.
//
// Transaction version 2 (KIP-890 part 2, Kafka's TransactionCoordinator.endTransaction and
// TransactionMetadata.prepareAbortOrCommit): the Prepare state bumps the epoch, so the
// markers carry the bumped epoch and the client's next transaction runs at it; at an
// exhausted epoch the id also gets a new producer id, which the Complete state moves to
// (epoch 0) and the answer already gives. So a request of the old epoch can touch no later
// transaction: an EndTxn delayed past the next transaction's start is fenced (KAFKA-17754).
// A retry of the EndTxn that completed (the old epoch, or the old producer id at the last
// epoch after a rotation) answers the same producer id and epoch; an abort with the current
// epoch and no transaction (Empty, Complete) bumps the epoch as an empty transaction. One
// deliberate difference from Kafka: an EndTxn at the current epoch while the previous
// transaction is still in its Prepare state is CONCURRENT_TRANSACTIONS (retry), where Kafka
// answers PRODUCER_FENCED (franz-go's GroupTransactSession aborting right after a commit hit it).
func (c *Coordinator) EndTxn(id string, pid int64, epoch int16, commit, v2 bool, reply func(pid int64, epoch int16, err error)) {
	fail := func(err error) { reply(-1, noEpoch, err) }
	e, err := c.entryFor(id)
	if err != nil {
		fail(err)
		return
	}
	want := map[bool]string{true: "commit", false: "abort"}[commit]
	fresh := int64(-1) // a new producer id, once the epoch is exhausted
	for {
		e.mu.Lock()
		m := e.m
		retryOverflow := m.v2() && m.prevPID >= 0 && pid == m.prevPID && epoch == math.MaxInt16-1 && m.epoch == 0
		retryBump := m.v2() && epoch < math.MaxInt16 && m.epoch == epoch+1
		validEpoch := epoch == m.epoch
		if m.v2() {
			switch m.state {
			case PrepareCommit, PrepareAbort:
				// Kafka accepts only the retry here (the old epoch) and fences the current
				// one. But only the client the Prepare answered holds the current epoch, and
				// its next EndTxn arrives here whenever the markers take longer than its
				// next transaction (an abort right after a commit): fencing it would kill a
				// healthy producer, so it is told to retry (CONCURRENT_TRANSACTIONS below)
				// and is answered once the transaction completed.
				validEpoch = retryBump || validEpoch
			case CompleteCommit, CompleteAbort:
				validEpoch = validEpoch || retryBump || retryOverflow
			}
		}
		var refuse error
		switch {
		case pid != m.pid && !retryOverflow:
			refuse = fmt.Errorf("%w: producer id %d is not the current producer id %d of transactional id %q", ErrInvalidProducerIDMapping, pid, m.pid, id)
		case !validEpoch:
			refuse = fmt.Errorf("%w: epoch %d of producer %d cannot %s: transactional id %q is at epoch %d in state %s (a newer producer exists, the transaction timed out, or this EndTxn is late)",
				ErrProducerFenced, epoch, pid, want, id, m.epoch, m.state)
		case e.pending, m.state == Dead, m.state == PrepareEpochFence:
			refuse = fmt.Errorf("%w: transactional id %q is completing a transaction or writing a change (state %s); retry", ErrConcurrentTransactions, id, m.state)
		}
		if refuse != nil {
			e.mu.Unlock()
			fail(refuse)
			return
		}
		retry := retryBump || retryOverflow
		empty := false // a v2 abort with nothing to abort: the epoch is bumped all the same
		switch m.state {
		case Ongoing:
		case CompleteCommit, CompleteAbort:
			same := (m.state == CompleteCommit) == commit
			switch {
			case same && (retry || !m.v2()):
				e.mu.Unlock()
				reply(m.pid, m.epoch, nil)
				return
			case !commit && !retry && v2:
				empty = true
			default:
				e.mu.Unlock()
				fail(fmt.Errorf("%w: cannot %s: transactional id %q is in state %s at epoch %d", ErrInvalidTxnState, want, id, m.state, m.epoch))
				return
			}
		case PrepareCommit, PrepareAbort: // either outcome, as Kafka answers
			e.mu.Unlock()
			fail(fmt.Errorf("%w: cannot %s yet: transactional id %q is completing its transaction (state %s); retry", ErrConcurrentTransactions, want, id, m.state))
			return
		default: // Empty
			if commit || !v2 {
				e.mu.Unlock()
				fail(fmt.Errorf("%w: cannot %s: transactional id %q is in state %s", ErrInvalidTxnState, want, id, m.state))
				return
			}
			empty = true
		}
		next := m
		next.state, next.updated = PrepareAbort, c.clock.Now()
		if commit {
			next.state = PrepareCommit
		}
		if v2 {
			if epochExhausted(m.epoch) && fresh < 0 {
				e.mu.Unlock()
				if fresh, err = c.cfg.NewProducerID(); err != nil {
					fail(err)
					return
				}
				continue
			}
			next.clientVersion, next.lastEpoch, next.nextPID = Version2, m.epoch, -1
			next.epoch = min(m.epoch, math.MaxInt16-1) + 1
			if epochExhausted(m.epoch) {
				next.nextPID = fresh
			}
			if empty {
				next.parts, next.start = nil, next.updated
			}
		}
		e.pending = true
		e.mu.Unlock()
		c.persistPrepare(e, next, func(err error) {
			switch {
			case err != nil:
				fail(err)
			case next.nextPID >= 0:
				reply(next.nextPID, 0, nil)
			default:
				reply(next.pid, next.epoch, nil)
			}
		})
		return
	}
}

// abortLocked starts aborting e's Ongoing transaction (a timeout, or a new producer fencing
// the old one), bumping the epoch if fence and it can be; run, called without e.mu, writes
// PrepareAbort and sends the markers. One bump for either transaction version (Apache Kafka
// 4.3.1 at transaction version 2 bumps once too): a version 2 producer's EndTxn abort at
// the old epoch is then a retry and learns the bumped epoch. REQUIRES: e.mu held, not
// pending.
func (c *Coordinator) abortLocked(e *entry, fence bool) (run func()) {
	next := e.m
	if fence && next.epoch < math.MaxInt16 {
		next.epoch, next.lastEpoch = next.epoch+1, noEpoch
	}
	next.state, next.updated = PrepareAbort, c.clock.Now()
	e.pending = true
	return func() {
		c.persistPrepare(e, next, func(err error) {
			if err == nil {
				return
			}
			c.log.Warn("cannot abort a transaction; its timeout retries", "transactional_id", e.id, "err", err)
			e.mu.Lock()
			defer e.mu.Unlock()
			if m := e.m; m.state == Ongoing && e.timer == nil && !c.closed.Load() {
				e.timer = c.clock.AfterFunc(c.cfg.RetryBackoff, func() { c.expire(e, m) })
			}
		})
	}
}

// persistPrepare writes a PrepareCommit or PrepareAbort state (e.pending set by the caller);
// once durable, reply(nil) and the markers go out. Requests meanwhile find the Prepare state
// and get ErrConcurrentTransactions until complete writes the Complete state.
func (c *Coordinator) persistPrepare(e *entry, next meta, reply func(error)) {
	c.persist(e, next, func(err error) {
		reply(err)
		if err == nil {
			c.sendMarkers(e, next)
		}
	})
}

// sendMarkers hands m's markers to the sender; complete follows.
func (c *Coordinator) sendMarkers(e *entry, m meta) {
	if len(m.parts) == 0 {
		c.complete(e, m)
		return
	}
	c.cfg.SendMarkers(Markers{TransactionalID: e.id, ProducerID: m.pid, ProducerEpoch: m.epoch, Commit: m.state == PrepareCommit,
		CoordinatorEpoch: c.cfg.CoordinatorEpoch, TxnVersion: int8(m.clientVersion), Partitions: slices.Clone(m.parts)}, func(err error) {
		if err != nil {
			return // closed or shutting down: the next coordinator resumes from the Prepare state
		}
		c.complete(e, m)
	})
}

// complete writes the Complete state of the transaction prepared as m, retrying after a
// failed write until the coordinator closes.
func (c *Coordinator) complete(e *entry, m meta) {
	if c.closed.Load() {
		return
	}
	e.mu.Lock()
	if e.pending || e.m.pid != m.pid || e.m.epoch != m.epoch || e.m.state != m.state {
		e.mu.Unlock()
		return
	}
	next := e.m
	next.state, next.parts, next.updated = CompleteAbort, nil, c.clock.Now()
	if m.state == PrepareCommit {
		next.state = CompleteCommit
	}
	if m.nextPID >= 0 { // a v2 EndTxn at an exhausted epoch: the id moves to its new producer id
		next.prevPID, next.pid, next.epoch, next.nextPID = m.pid, m.nextPID, 0, -1
	}
	e.pending = true
	e.mu.Unlock()
	c.persist(e, next, func(err error) {
		if err == nil || c.closed.Load() {
			return
		}
		c.log.Warn("cannot write a transaction's completion; retrying", "transactional_id", e.id, "err", err)
		c.clock.AfterFunc(c.cfg.RetryBackoff, func() { c.complete(e, m) })
	})
}

// persist writes next as e's state (e.pending set by the caller under e.mu) and, once
// durable, applies it; then is called with the outcome, holding no lock. e.pending is
// cleared either way.
func (c *Coordinator) persist(e *entry, next meta, then func(error)) {
	d, err := c.j.Append(c.cfg.Partition, []group.Record{{Key: recordKey(e.id), Value: recordValue(next)}})
	if err != nil {
		e.mu.Lock()
		e.pending = false
		e.mu.Unlock()
		then(err)
		return
	}
	d(func(err error) {
		e.mu.Lock()
		e.pending = false
		if err == nil {
			c.applyLocked(e, next)
		}
		e.mu.Unlock()
		then(err)
	})
}

// applyLocked makes next e's state and keeps the timeout timer in line: armed while
// Ongoing. REQUIRES: e.mu held.
func (c *Coordinator) applyLocked(e *entry, next meta) {
	was := e.m.state
	e.m = next
	if next.state != Ongoing && e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if next.state == Ongoing && (was != Ongoing || e.timer == nil) {
		c.armLocked(e)
	}
}

// armLocked starts the timeout of e's Ongoing transaction, counted from its start.
// REQUIRES: e.mu held.
func (c *Coordinator) armLocked(e *entry) {
	if c.closed.Load() {
		return
	}
	m := e.m
	d := max(m.start.Add(m.timeout).Sub(c.clock.Now()), 0)
	e.timer = c.clock.AfterFunc(d, func() { c.expire(e, m) })
}

// expire aborts the transaction m if it is still ongoing, bumping the epoch as Kafka does so
// the timed-out producer is fenced.
func (c *Coordinator) expire(e *entry, m meta) {
	if c.closed.Load() {
		return
	}
	e.mu.Lock()
	cur := e.m
	if cur.state != Ongoing || cur.pid != m.pid || cur.epoch != m.epoch || !cur.start.Equal(m.start) {
		e.mu.Unlock()
		return
	}
	if e.pending { // partitions being added: look again shortly
		e.timer = c.clock.AfterFunc(c.cfg.RetryBackoff, func() { c.expire(e, m) })
		e.mu.Unlock()
		return
	}
	e.timer = nil
	c.log.Info("aborting a timed-out transaction", "transactional_id", e.id, "producer_id", cur.pid, "epoch", cur.epoch,
		"timeout_ms", cur.timeout.Milliseconds())
	run := c.abortLocked(e, true)
	e.mu.Unlock()
	run()
}

// Describe returns a transactional id's state.
func (c *Coordinator) Describe(id string) (Info, error) {
	if c.closed.Load() {
		return Info{}, errClosed()
	}
	e := c.lookup(id)
	if e == nil {
		return Info{}, fmt.Errorf("%w: %q", ErrUnknownTransactionalID, id)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m.epoch == noEpoch || e.m.state == Dead { // a failed first write, or expired
		return Info{}, fmt.Errorf("%w: %q", ErrUnknownTransactionalID, id)
	}
	return infoLocked(e), nil
}

// REQUIRES: e.mu held.
func infoLocked(e *entry) Info {
	return Info{TransactionalID: e.id, ProducerID: e.m.pid, ProducerEpoch: e.m.epoch, State: e.m.state,
		Timeout: e.m.timeout, Start: e.m.start, Partitions: slices.Clone(e.m.parts)}
}

// List returns the transactional ids that pass f, sorted by id.
func (c *Coordinator) List(f Filter) []Info {
	if c.closed.Load() {
		return nil
	}
	now := c.clock.Now()
	var out []Info
	for _, e := range c.entries() {
		e.mu.Lock()
		in := infoLocked(e)
		e.mu.Unlock()
		switch {
		case in.ProducerEpoch == noEpoch, in.State == Dead:
		case len(f.States) > 0 && !slices.Contains(f.States, in.State):
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, in.ProducerID):
		case f.MinDuration > 0 && !in.Start.IsZero() && now.Sub(in.Start) <= f.MinDuration:
		default:
			out = append(out, in)
		}
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.TransactionalID < b.TransactionalID {
			return -1
		}
		if a.TransactionalID > b.TransactionalID {
			return 1
		}
		return 0
	})
	return out
}
