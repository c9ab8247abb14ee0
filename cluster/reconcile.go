package cluster

import (
	"errors"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/replication"
)

// resyncInterval is how often the metadata listener checks its roles even without a change:
// a follower whose leader refused a fetch (it had not taken the leadership yet) is restarted,
// a failed Lead retried.
const resyncInterval = 500 * time.Millisecond

// role is what this broker last made of one partition it hosts.
type role struct {
	topicID        metadata.TopicID
	leader         int32
	leaderEpoch    int32
	partitionEpoch int32
	leaderAddr     string
}

// sameLeader reports whether r and o name the same leader of the same topic in the same
// leader epoch at the same address: they differ at most in the partition epoch.
func (r role) sameLeader(o role) bool {
	r.partitionEpoch = o.partitionEpoch
	return r == o
}

// hostedTopic is a topic with partitions on this broker, as last seen.
type hostedTopic struct {
	id         metadata.TopicID
	partitions int32
	configs    map[string]string
}

// runView installs every change of the applied state as the view at once (the broker's
// catalog reads see a new topic as soon as this node applied it) and kicks the reconcile loop.
func (n *Node) runView(kick chan<- struct{}) {
	defer n.wg.Done()
	for {
		_, changed := n.refreshView()
		select {
		case kick <- struct{}{}:
		default: // a reconcile pass is due anyway
		}
		select {
		case <-n.stop:
			return
		case <-changed:
		}
	}
}

// runReconcile is the metadata listener: after every change of the view (and every
// resyncInterval) it brings the broker's roles in line with it. Role changes can be slow
// (opening logs), so it runs apart from runView.
func (n *Node) runReconcile(kick <-chan struct{}) {
	defer n.wg.Done()
	roles := map[engine.TopicPartition]role{}
	topics := map[string]hostedTopic{}
	t := time.NewTicker(resyncInterval)
	defer t.Stop()
	swept := false
	for {
		select {
		case <-n.stop:
			return
		case <-kick:
		case <-t.C:
		}
		v := n.view.Load()
		n.b.ApplyDynamicConfigs() // the topic defaults first: reconcile may open logs
		n.reconcile(v, roles, topics)
		n.reconciled.Store(v.st.LastIndex)
		if !swept && n.registeredIn(v) {
			n.sweepStrays(v)
			swept = true
		}
		if swept && n.legacy.Load() == nil && !isClosed(n.ready) {
			close(n.ready)
		}
	}
}

// sweepStrays removes the logs of partitions this broker no longer hosts: moved away or
// deleted while it was down. It runs once, when the view holds this incarnation's
// registration unfenced — the broker had caught up with the metadata log then, so a
// partition missing from the view is really gone (not merely not replayed yet).
func (n *Node) sweepStrays(v *view) {
	for _, tp := range n.b.Engine().Partitions() {
		t, ok := v.st.Topics[tp.Topic]
		if ok && int(tp.Partition) < len(t.Partitions) && slices.Contains(t.Partitions[tp.Partition].Replicas, n.id) {
			continue
		}
		n.log.Info("removing the log of a partition this broker no longer hosts (moved or deleted while it was down)", "partition", tp.String())
		n.b.RemoveReplica(tp.Topic, tp.Partition)
	}
}

// reconcile applies view v to the broker. roles and topics are the loop's memory.
func (n *Node) reconcile(v *view, roles map[engine.TopicPartition]role, topics map[string]hostedTopic) {
	for name, h := range topics {
		if t, ok := v.st.Topics[name]; !ok || t.ID != h.id {
			n.b.RemoveTopic(name, h.partitions)
			for tp := range roles {
				if tp.Topic == name {
					delete(roles, tp)
				}
			}
			delete(topics, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(v.st.Topics)) {
		t := v.st.Topics[name]
		hosts := false
		for p, pa := range t.Partitions {
			tp := engine.TopicPartition{Topic: name, Partition: int32(p)}
			if n.reconcilePartition(v, t, tp, pa, roles) {
				hosts = true
			}
		}
		h, seen := topics[name]
		switch {
		case !hosts && seen:
			delete(topics, name)
		case hosts && seen && !maps.Equal(h.configs, t.Configs):
			if err := n.b.RefreshTopicConfig(name); err != nil {
				n.log.Warn("could not apply a topic's new configs", "topic", name)
			}
			fallthrough
		case hosts:
			topics[name] = hostedTopic{id: t.ID, partitions: int32(len(t.Partitions)), configs: t.Configs}
		}
	}
}

// reconcilePartition makes this broker lead, follow or leave one partition as the state says
// and reports whether it hosts a replica of it.
func (n *Node) reconcilePartition(v *view, t *metadata.TopicState, tp engine.TopicPartition, pa *metadata.PartitionAssignment, roles map[engine.TopicPartition]role) bool {
	prev, had := roles[tp]
	if !slices.Contains(pa.Replicas, n.id) {
		if had {
			n.b.RemoveReplica(tp.Topic, tp.Partition)
			delete(roles, tp)
			n.log.Info("partition moved off this broker; its log is removed", "partition", tp.String())
		}
		return false
	}
	now := role{topicID: t.ID, leader: pa.Leader, leaderEpoch: pa.LeaderEpoch, partitionEpoch: pa.PartitionEpoch}
	switch {
	case pa.Leader == n.id && !n.registeredIn(v):
		// The state names a previous incarnation of this broker (it restarted before the
		// controller fenced it): leading that epoch again could reuse offsets its old self
		// handed out. The controller moves the leadership on (a new epoch) first.
		if had {
			n.b.StopReplica(tp.Topic, tp.Partition)
			delete(roles, tp)
		}
		return true
	case pa.Leader == n.id:
		if had && prev.leader == n.id && prev.leaderEpoch == pa.LeaderEpoch {
			if prev.partitionEpoch != pa.PartitionEpoch {
				if lp := n.b.Leading(tp.Topic, tp.Partition); lp != nil {
					if err := lp.ApplyState(partitionState(pa)); errors.Is(err, replication.ErrFencedLeaderEpoch) {
						n.b.Resign(tp.Topic, tp.Partition)
					}
				}
			}
			break
		}
		if _, err := n.b.Lead(tp.Topic, tp.Partition, n.b.ReplicationConfig(tp.Topic), partitionState(pa), n); err != nil {
			n.logRetry(err, "could not take a partition's leadership; retrying", "partition", tp.String(), "leader_epoch", pa.LeaderEpoch)
			delete(roles, tp)
			return true
		}
		n.log.Info("leading partition", "partition", tp.String(), "leader_epoch", pa.LeaderEpoch, "isr", pa.ISR)
	case pa.Leader == metadata.NoLeader:
		if !had || prev.leader != metadata.NoLeader {
			n.b.StopReplica(tp.Topic, tp.Partition)
			if n.registeredIn(v) { // else expected: this broker is (re)joining, its partitions wait for it
				n.log.Warn("partition has no leader: no eligible replica is in its ISR", "partition", tp.String(), "isr", pa.ISR)
			}
		}
	default:
		b, ok := v.st.Brokers[pa.Leader]
		if !ok {
			delete(roles, tp)
			return true
		}
		now.leaderAddr = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
		// A new partition epoch alone (an ISR change, a replica's directory assigned) leaves
		// the follower as it is: following again would discard its fetch in flight, and the
		// leader's acks=all produces would wait out the next long poll.
		if had && prev.sameLeader(now) && n.b.Following(tp.Topic, tp.Partition, now.leaderAddr) {
			break
		}
		if err := n.b.Follow(tp.Topic, tp.Partition, now.leaderAddr, pa.LeaderEpoch); err != nil {
			n.logRetry(err, "could not follow a partition's leader; retrying", "partition", tp.String(), "leader", pa.Leader)
			delete(roles, tp)
			return true
		}
		if !had || prev.leaderEpoch != now.leaderEpoch || prev.leaderAddr != now.leaderAddr {
			n.log.Info("following partition", "partition", tp.String(), "leader", pa.Leader, "leader_epoch", pa.LeaderEpoch)
		}
	}
	roles[tp] = now
	return true
}

// logRetry logs a role change that failed and will be retried; quietly while the broker
// shuts down (its logs are closing).
func (n *Node) logRetry(err error, msg string, args ...any) {
	args = append(args, "err", err)
	if errors.Is(err, engine.ErrClosed) {
		n.log.Debug(msg, args...)
		return
	}
	n.log.Warn(msg, args...)
}

// registeredIn reports whether the view holds this incarnation's registration, unfenced: only
// then may this broker lead.
func (n *Node) registeredIn(v *view) bool {
	r := n.reg.Load()
	b, ok := v.st.Brokers[n.id]
	return r != nil && ok && b.Epoch == r.epoch && !b.Fenced
}

// isClosed reports whether ch is closed (it is only ever closed, never sent on).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
