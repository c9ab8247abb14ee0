package metadata

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Proposer replicates commands and reads the applied state; *Quorum implements it.
type Proposer interface {
	Propose(cmd any, timeout time.Duration) (any, error)
	// Broker returns a copy of a broker's registration.
	Broker(id int32) (BrokerRegistration, bool)
	// Unfenced returns the unfenced brokers, sorted by id.
	Unfenced() []BrokerRegistration
}

// ProposeTimeout bounds one replicated command of the controller.
const ProposeTimeout = 5 * time.Second

// Controller is the active controller's broker lifecycle (KRaft's broker heartbeat handling):
// registration, heartbeats, fencing brokers whose session ran out, unfencing brokers that
// caught up with the metadata, and controlled shutdown. Liveness lives in memory
// (Heartbeats); every decision goes through the Raft log. Build a new Controller when this
// node becomes the Raft leader. Safe for concurrent use; it reads no clock.
type Controller struct {
	q Proposer

	mu sync.Mutex // guards hb; never held across a proposal
	hb *Heartbeats
}

// NewController starts controlling through q with a broker session timeout
// (broker.session.timeout.ms); every registered broker's session starts now.
func NewController(q Proposer, session time.Duration, now time.Time) *Controller {
	return &Controller{q: q, hb: NewHeartbeats(session, now)}
}

// HeartbeatResult is the answer to a broker heartbeat (KRaft's BrokerHeartbeatResponse).
type HeartbeatResult struct {
	// Fenced: the broker must not lead or serve as an ISR member yet.
	Fenced bool
	// ShouldShutdown: a controlled shutdown moved all of the broker's leadership away; it may
	// stop now.
	ShouldShutdown bool
}

// Register registers a broker. A previous incarnation that still holds the id unfenced is
// fenced first if its session has run out; a broker restarted faster than that waits
// (ErrDuplicateBroker until then), as Kafka's ClusterControlManager refuses it with
// DUPLICATE_BROKER_REGISTRATION while the old session is valid. One that stopped with a
// controlled shutdown was fenced by it (Heartbeat) and registers at once.
func (c *Controller) Register(r RegisterBroker, now time.Time) (*BrokerRegistration, error) {
	if old, ok := c.q.Broker(r.ID); ok && old.Incarnation != r.Incarnation && !old.Fenced {
		c.mu.Lock()
		expired := len(c.hb.Expired([]int32{r.ID}, now)) > 0
		c.mu.Unlock()
		if expired {
			if _, err := c.q.Propose(&FenceBroker{ID: r.ID, Epoch: old.Epoch}, ProposeTimeout); err != nil && !errors.Is(err, ErrStaleBrokerEpoch) {
				return nil, err
			}
		}
	}
	res, err := c.q.Propose(&r, ProposeTimeout)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.hb.Beat(r.ID, now)
	c.mu.Unlock()
	return res.(*BrokerRegistration), nil
}

// Heartbeat handles broker id's heartbeat. caughtUp says the broker has applied the metadata
// log up to the controller's high watermark: a fenced broker that has is unfenced.
// wantShutdown starts (or continues) a controlled shutdown. offlineDirs are the broker's
// failed log directories (OfflineLogDirs): those it still has online are recorded offline
// (DirectoriesOffline), which moves the leadership of their partitions away.
func (c *Controller) Heartbeat(id int32, epoch int64, caughtUp, wantShutdown bool, offlineDirs []TopicID, now time.Time) (HeartbeatResult, error) {
	b, ok := c.q.Broker(id)
	switch {
	case !ok:
		return HeartbeatResult{}, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	case b.Epoch != epoch:
		return HeartbeatResult{}, fmt.Errorf("%w: broker %d epoch %d, registered %d", ErrStaleBrokerEpoch, id, epoch, b.Epoch)
	}
	c.mu.Lock()
	c.hb.Beat(id, now)
	c.mu.Unlock()
	if slices.ContainsFunc(offlineDirs, func(d TopicID) bool { return slices.Contains(b.LogDirs, d) }) {
		if _, err := c.q.Propose(&DirectoriesOffline{BrokerID: id, BrokerEpoch: epoch, Dirs: offlineDirs}, ProposeTimeout); err != nil {
			return HeartbeatResult{Fenced: b.Fenced}, err
		}
	}
	if wantShutdown {
		if !b.ShuttingDown {
			if _, err := c.q.Propose(&ControlledShutdown{ID: id, Epoch: epoch}, ProposeTimeout); err != nil {
				return HeartbeatResult{Fenced: b.Fenced}, err
			}
		}
		// Its leadership has moved (ControlledShutdown): fenced now, as Kafka's SHUTDOWN_NOW
		// fences it, so its next incarnation registers at once instead of waiting out this
		// one's session (ErrDuplicateBroker).
		if !b.Fenced {
			if _, err := c.q.Propose(&FenceBroker{ID: id, Epoch: epoch}, ProposeTimeout); err != nil {
				return HeartbeatResult{}, err
			}
		}
		return HeartbeatResult{Fenced: true, ShouldShutdown: true}, nil
	}
	if b.Fenced && caughtUp && !b.ShuttingDown {
		if _, err := c.q.Propose(&UnfenceBroker{ID: id, Epoch: epoch}, ProposeTimeout); err != nil {
			return HeartbeatResult{Fenced: true}, err
		}
		return HeartbeatResult{}, nil
	}
	return HeartbeatResult{Fenced: b.Fenced}, nil
}

// FenceExpired fences every unfenced broker whose session has run out and returns their ids.
// The controller calls it periodically (a fraction of the session timeout).
func (c *Controller) FenceExpired(now time.Time) ([]int32, error) {
	unfenced := c.q.Unfenced()
	ids := make([]int32, len(unfenced))
	epochs := make(map[int32]int64, len(unfenced))
	for i, b := range unfenced {
		ids[i], epochs[b.ID] = b.ID, b.Epoch
	}
	c.mu.Lock()
	expired := c.hb.Expired(ids, now)
	c.mu.Unlock()
	var fenced []int32
	for _, id := range expired {
		_, err := c.q.Propose(&FenceBroker{ID: id, Epoch: epochs[id]}, ProposeTimeout)
		switch {
		case err == nil:
			fenced = append(fenced, id)
		case errors.Is(err, ErrStaleBrokerEpoch):
			// Re-registered meanwhile: its new session is alive.
		default:
			return fenced, err
		}
	}
	return fenced, nil
}
