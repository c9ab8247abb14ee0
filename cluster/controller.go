package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/replication"
)

// activeCtl is one term of this node as the active controller. It implements
// broker.ControllerService.
type activeCtl struct {
	n    *Node
	ctl  *metadata.Controller
	done chan struct{} // closed when the term ends

	mu      sync.Mutex      // guards applied
	applied map[int32]int64 // the metadata offset each broker last reported applied
}

// runController follows the quorum's leadership: on election it waits until its state is
// current (Barrier), then serves as the controller and fences brokers whose session runs out
// until it loses the leadership or the node stops.
func (n *Node) runController() {
	defer n.wg.Done()
	var term *activeCtl
	end := func() {
		if term != nil {
			n.ctl.Store(nil)
			close(term.done)
			term = nil
			n.log.Info("no longer the active controller")
		}
	}
	defer end()
	for {
		select {
		case <-n.stop:
			return
		case leader := <-n.leadCh:
			end()
			if !leader {
				continue
			}
			if err := n.q.Barrier(metadata.ProposeTimeout); err != nil {
				n.log.Warn("elected controller, but could not catch up with the metadata log", "err", err)
				continue
			}
			n.bootstrapScram() // before brokers register: the first users exist once a node is ready
			term = &activeCtl{n: n, ctl: metadata.NewController(n.q, n.cfg.SessionTimeout, time.Now()), done: make(chan struct{}), applied: map[int32]int64{}}
			n.ctl.Store(term)
			n.log.Info("active controller", "node_id", n.id, "session_timeout", n.cfg.SessionTimeout.String())
			n.importLegacy()
			select {
			case n.lifeKick <- struct{}{}:
			default:
			}
			go term.fenceExpired(n.cfg.SessionTimeout / 5)
			if n.cfg.LeaderRebalanceInterval > 0 {
				go term.rebalanceLeaders(n.cfg.LeaderRebalanceInterval)
			}
			go term.sweepDelegationTokens(n.cfg.Broker.DelegationTokens.ExpiryCheckInterval)
			if n.cfg.ControllerListen != "" { // a quorum that can have observers
				go term.expireObservers(observerExpiryCheck)
			}
		}
	}
}

// fenceExpired fences brokers whose session ran out, every interval, until the term ends.
func (c *activeCtl) fenceExpired(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		fenced, err := c.ctl.FenceExpired(time.Now())
		if len(fenced) > 0 {
			c.n.log.Warn("fenced brokers whose heartbeats stopped; their partitions get new leaders from the ISR", "brokers", fenced)
		}
		if err != nil && !errors.Is(err, metadata.ErrNotController) {
			c.n.log.Warn("could not fence expired brokers", "err", err)
		}
	}
}

// rebalanceLeaders moves leadership back to preferred replicas (the first of each replica
// list) once they are eligible ISR members again, every interval, until the term ends
// (Kafka's auto.leader.rebalance.enable), so a broker that came back takes its share of the
// leaders again.
func (c *activeCtl) rebalanceLeaders(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		st := c.n.q.State()
		live := map[int32]bool{}
		for _, b := range st.Unfenced() {
			live[b.ID] = !b.ShuttingDown
		}
		for _, name := range slices.Sorted(maps.Keys(st.Topics)) {
			for p, pa := range st.Topics[name].Partitions {
				pref := pa.Replicas[0]
				if pa.Leader == pref || !live[pref] || !slices.Contains(pa.ISR, pref) {
					continue
				}
				err := c.ElectLeaders(metadata.ElectLeaders{Type: metadata.ElectPreferred, Topic: name, Partition: int32(p)})
				if err != nil && !errors.Is(err, metadata.ErrElectionNotNeeded) && !errors.Is(err, metadata.ErrPreferredNotAvailable) {
					c.n.log.Warn("preferred leader election failed", "topic", name, "partition", p, "err", err)
					return
				}
			}
		}
	}
}

func (c *activeCtl) propose(cmd any) (any, error) {
	return c.n.q.Propose(cmd, metadata.ProposeTimeout)
}

// importLegacy imports the metadata of an older release's data directory (metadata.Legacy)
// into the quorum, then retires its files. On failure it stays pending for the next term.
func (n *Node) importLegacy() {
	l := n.legacy.Load()
	if l == nil {
		return
	}
	cmd := &metadata.ImportTopics{Replica: n.id, Topics: l.Topics, NextProducerID: l.NextProducerID}
	if _, err := n.q.Propose(cmd, metadata.ProposeTimeout); err != nil {
		n.log.Error("could not import the topics of this data directory's older metadata file; retrying at the next election", "err", err)
		return
	}
	fs := n.cfg.Broker.FS
	if fs == nil {
		fs = vfs.Default
	}
	if err := metadata.RetireLegacy(fs, n.cfg.Broker.DataDir); err != nil {
		n.log.Warn("imported the older metadata file, but could not rename it (importing it again changes nothing)", "err", err)
	}
	n.legacy.Store(nil)
	n.log.Info("imported the metadata of an older release's data directory", "cluster_id", l.ClusterID, "topics", len(l.Topics),
		"next_producer_id", l.NextProducerID)
}

// RegisterBroker implements broker.ControllerService. A registration of this node's own
// broker by this very process replaces its previous incarnation at once: that was an earlier
// run of this process, stopped (the controller is this process), so there is no session to
// wait out — a restarted single node is back in milliseconds, not a session timeout.
func (c *activeCtl) RegisterBroker(r metadata.RegisterBroker) (*metadata.BrokerRegistration, error) {
	if r.ID == c.n.id && r.Incarnation == metadata.TopicID(c.n.incarn).String() {
		if old, ok := c.n.q.Broker(r.ID); ok && old.Incarnation != r.Incarnation && !old.Fenced {
			if _, err := c.propose(&metadata.FenceBroker{ID: old.ID, Epoch: old.Epoch}); err != nil && !errors.Is(err, metadata.ErrStaleBrokerEpoch) {
				return nil, err
			}
		}
	}
	return c.ctl.Register(r, time.Now())
}

// Heartbeat implements broker.ControllerService. A broker has caught up once it has applied
// its own registration.
func (c *activeCtl) Heartbeat(id int32, epoch int64, metadataOffset int64, wantShutdown bool, offlineDirs []metadata.TopicID) (metadata.HeartbeatResult, error) {
	c.mu.Lock()
	c.applied[id] = max(c.applied[id], metadataOffset)
	c.mu.Unlock()
	return c.ctl.Heartbeat(id, epoch, metadataOffset >= epoch, wantShutdown, offlineDirs, time.Now())
}

// AssignReplicasToDirs implements broker.ControllerService.
func (c *activeCtl) AssignReplicasToDirs(a metadata.AssignReplicasToDirs) ([]error, error) {
	res, err := c.propose(&a)
	if err != nil {
		return nil, err
	}
	errs, ok := res.([]error)
	if !ok || len(errs) != len(a.Assignments) {
		return nil, fmt.Errorf("AssignReplicasToDirs applied with result %T", res)
	}
	return errs, nil
}

// waitApplied waits (at most limit) until every live broker but this one has reported, in
// its heartbeats, applying the metadata log up to index: a topic change is answered once the
// brokers know it, so a client's next request does not meet a broker that has not heard of
// the topic (clients such as kafka-go do not retry UNKNOWN_TOPIC_OR_PARTITION on produce).
func (c *activeCtl) waitApplied(index uint64, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		behind := false
		c.mu.Lock()
		for _, b := range c.n.Brokers() {
			if b.ID != c.n.id && c.applied[b.ID] < int64(index) {
				behind = true
			}
		}
		c.mu.Unlock()
		if !behind {
			return
		}
		select {
		case <-c.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// AlterPartition implements broker.ControllerService.
func (c *activeCtl) AlterPartition(a metadata.AlterPartition) (*metadata.PartitionAssignment, error) {
	res, err := c.propose(&a)
	if err != nil {
		return nil, err
	}
	pa, ok := res.(*metadata.PartitionAssignment)
	if !ok {
		return nil, fmt.Errorf("AlterPartition applied with result %T", res)
	}
	return pa, nil
}

// AllocateProducerIDs implements broker.ControllerService.
func (c *activeCtl) AllocateProducerIDs(brokerID int32, epoch int64) (int64, error) {
	res, err := c.propose(&metadata.AllocateProducerIDs{BrokerID: brokerID, BrokerEpoch: epoch})
	if err != nil {
		return -1, err
	}
	return res.(int64), nil
}

// ElectLeaders implements broker.ControllerService. The view is refreshed before it returns,
// so this node's next read (Metadata, ListPartitionReassignments) shows the change.
func (c *activeCtl) ElectLeaders(e metadata.ElectLeaders) error {
	_, err := c.propose(&e)
	if err == nil {
		c.n.refreshView()
	}
	return err
}

// Reassign implements broker.ControllerService; the view is refreshed as for ElectLeaders.
func (c *activeCtl) Reassign(r metadata.Reassign) error {
	_, err := c.propose(&r)
	if err == nil {
		c.n.refreshView()
	}
	return err
}

// AlterPartition implements replication.Controller: a partition this node leads commits an
// ISR change through the controller.
func (n *Node) AlterPartition(ctx context.Context, tp engine.TopicPartition, change replication.IsrChange) (replication.PartitionState, error) {
	r := n.reg.Load()
	if r == nil {
		return replication.PartitionState{}, errors.New("this broker is not registered with the controller")
	}
	req := metadata.AlterPartition{BrokerID: n.id, BrokerEpoch: r.epoch, Topic: tp.Topic, Partition: tp.Partition,
		LeaderEpoch: change.LeaderEpoch, PartitionEpoch: change.PartitionEpoch, ISR: slices.Clone(change.ISR)}
	var pa *metadata.PartitionAssignment
	err := n.onController(func(c *activeCtl) (err error) {
		pa, err = c.AlterPartition(req)
		return err
	}, func() (err error) {
		pa, err = n.forwardAlterPartition(ctx, req)
		return err
	})
	if errors.Is(err, metadata.ErrFencedLeaderEpoch) || errors.Is(err, metadata.ErrNotLeader) {
		return replication.PartitionState{}, fmt.Errorf("%w: %w", replication.ErrFencedLeaderEpoch, err)
	}
	if err != nil {
		return replication.PartitionState{}, err
	}
	return partitionState(pa), nil
}

// partitionState converts the controller's view of a partition to replication's.
func partitionState(pa *metadata.PartitionAssignment) replication.PartitionState {
	return replication.PartitionState{Leader: pa.Leader, LeaderEpoch: pa.LeaderEpoch, PartitionEpoch: pa.PartitionEpoch,
		Replicas: slices.Clone(pa.Replicas), ISR: slices.Clone(pa.ISR)}
}
