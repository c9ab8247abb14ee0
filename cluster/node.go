package cluster

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/metadata"
)

// Config configures a cluster node.
type Config struct {
	// Broker is the broker's configuration; NodeID, AdvertisedHost/Port and DataDir are the
	// node's. Its Cluster field is set by Start.
	Broker broker.Config
	// ControllerListen is the Raft listener (controller.listener; HOST:PORT). Empty without
	// Voters: the one-voter quorum's Raft transport is in memory (see the package doc).
	ControllerListen string
	// ControllerSecurity secures Raft on the controller listener (TLS, SASL, the principals
	// let in); the zero value is PLAINTEXT.
	ControllerSecurity metadata.RaftSecurity
	// Voters is the metadata quorum (controller.quorum.voters); this node must be one. Empty:
	// a one-voter quorum of this node, bootstrapped on first start (single-node logd).
	Voters []metadata.Voter
	// JoinVia are Kafka listener addresses (HOST:PORT) of brokers of an existing cluster
	// that this node joins (serve's --controller-quorum-bootstrap-servers): with an empty
	// metadata directory it bootstraps no quorum of its own, announces itself to them until
	// the quorum's leader adds it as an observer, then replicates the metadata and serves;
	// AddRaftVoter makes it a voter (quorum_membership.go). Needs ControllerListen and no
	// Voters. Once joined, the Raft log holds its place and restarts need JoinVia no more.
	JoinVia []string
	// SessionTimeout is broker.session.timeout.ms: a broker whose heartbeats stop for this
	// long is fenced (default 1 s). HeartbeatInterval is broker.heartbeat.interval.ms
	// (default 200 ms).
	SessionTimeout, HeartbeatInterval time.Duration
	// RaftTimeout is the quorum's heartbeat and election timeout (default 500 ms).
	RaftTimeout time.Duration
	// DefaultReplicationFactor is default.replication.factor, used for topics created
	// without one (default: 3, or the number of voters if fewer).
	DefaultReplicationFactor int16
	// LeaderRebalanceInterval is how often the controller moves leadership back to
	// preferred replicas (Kafka's leader.imbalance.check.interval.seconds with
	// auto.leader.rebalance.enable); default 30 s, negative disables it.
	LeaderRebalanceInterval time.Duration
	// BootstrapScram are the SCRAM credentials of logd serve --add-scram, added by the
	// controller when they do not exist yet (metadata.AlterScram's IfAbsent).
	BootstrapScram []metadata.ScramUpsertion
}

// metadataDir is the quorum's directory inside the data directory (not a partition name).
const metadataDir = "__cluster_metadata"

// Node is a running cluster node: quorum member, broker, controller when elected.
type Node struct {
	cfg    Config
	log    *slog.Logger
	q      *metadata.Quorum
	b      *broker.Broker
	id     int32
	incarn [16]byte

	view   atomic.Pointer[view]       // the applied state as of the last change
	ctl    atomic.Pointer[activeCtl]  // set while this node is the active controller
	reg    atomic.Pointer[registered] // this broker's registration, once the controller took it
	leadCh chan bool                  // leadership changes, from the quorum's goroutine
	// lifeKick wakes the lifecycle loop before its next tick (this node became the
	// controller: it can register at once).
	lifeKick chan struct{}
	// legacy is the metadata of an older release's data directory, imported by this node's
	// first term as controller (runController); nil once imported, or if there was none.
	legacy atomic.Pointer[metadata.Legacy]
	ready  chan struct{} // closed by the reconcile loop: see Ready
	// reconciled is the LastIndex of the view the metadata listener last brought the broker
	// in line with (written by the reconcile loop only).
	reconciled atomic.Uint64

	mu  sync.Mutex // guards rpc
	rpc *controllerConn

	stop         chan struct{} // closed by Close
	wg           sync.WaitGroup
	closeOnce    sync.Once
	shutdownOnce sync.Once
}

// registered is this broker's accepted registration.
type registered struct{ epoch int64 }

// Start opens the node: its quorum member, its broker, and the loops of its roles.
func Start(cfg Config) (*Node, error) {
	if cfg.Broker.Logger == nil {
		cfg.Broker.Logger = slog.Default()
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 200 * time.Millisecond
	}
	if cfg.RaftTimeout <= 0 {
		cfg.RaftTimeout = 500 * time.Millisecond
	}
	if cfg.LeaderRebalanceInterval == 0 {
		cfg.LeaderRebalanceInterval = 30 * time.Second
	}
	if cfg.DefaultReplicationFactor <= 0 {
		cfg.DefaultReplicationFactor = int16(min(3, max(1, len(cfg.Voters))))
	}
	n := &Node{cfg: cfg, log: cfg.Broker.Logger, id: cfg.Broker.NodeID, leadCh: make(chan bool, 16), lifeKick: make(chan struct{}, 1),
		ready: make(chan struct{}), stop: make(chan struct{})}
	rand.Read(n.incarn[:])
	n.view.Store(newView(metadata.NewClusterState("")))
	fs := cfg.Broker.FS
	if fs == nil {
		fs = vfs.Default
	}
	legacy, hasLegacy, err := metadata.ReadLegacy(fs, cfg.Broker.DataDir)
	if err != nil {
		return nil, err
	}
	if hasLegacy {
		n.legacy.Store(&legacy)
	}
	q, err := metadata.OpenQuorum(metadata.QuorumConfig{
		NodeID: n.id, Listen: cfg.ControllerListen, Security: cfg.ControllerSecurity, Voters: cfg.Voters, Join: len(cfg.JoinVia) > 0, ClusterID: legacy.ClusterID,
		Dir: filepath.Join(cfg.Broker.DataDir, metadataDir), FS: cfg.Broker.FS, Logger: n.log,
		HeartbeatTimeout: cfg.RaftTimeout, ElectionTimeout: cfg.RaftTimeout,
		OnLeaderChange: func(leader bool) { n.leadCh <- leader },
	})
	if err != nil {
		return nil, err
	}
	n.q = q
	bcfg := cfg.Broker
	bcfg.Cluster = n
	b, err := broker.New(bcfg)
	if err != nil {
		q.Close()
		return nil, err
	}
	n.b = b
	kick := make(chan struct{}, 1)
	n.wg.Add(5)
	go n.runController()
	go n.runLifecycle()
	go n.runView(kick)
	go n.runReconcile(kick)
	go n.runDirAssignments()
	if cfg.ControllerListen != "" { // a node that can be an observer (a voter never announces)
		n.wg.Add(1)
		go n.runAnnounce()
	}
	return n, nil
}

// Broker returns the node's broker (its network handler).
func (n *Node) Broker() *broker.Broker { return n.b }

// Ready is closed once this broker is registered and unfenced, the metadata of an older
// release's data directory (if any) is imported, and the broker has taken the roles the
// metadata gives it: a single node then leads every partition and serves every request. In
// a cluster it needs a quorum of the voters.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// ControlledShutdown asks the controller to move this broker's leadership to other
// replicas and waits (at most a few seconds) until it has, then hands the Raft leadership
// to another voter if this node has it (so the quorum does not wait out an election
// timeout); call it while the node still serves, before Close.
func (n *Node) ControlledShutdown() {
	n.shutdownOnce.Do(func() {
		n.controlledShutdown(5 * time.Second)
		if n.q.IsController() {
			n.q.TransferLeadership()
		}
	})
}

// Close shuts the node down: a controlled shutdown unless done already, then the broker and
// the quorum member.
func (n *Node) Close() error {
	var err error
	n.ControlledShutdown()
	n.closeOnce.Do(func() {
		close(n.stop)
		n.b.BeginShutdown()
		n.wg.Wait()
		err = n.b.Close()
		if qerr := n.q.Close(); err == nil {
			err = qerr
		}
		n.mu.Lock()
		if n.rpc != nil {
			n.rpc.close()
		}
		n.mu.Unlock()
	})
	return err
}

// view is an immutable copy of the applied cluster state, indexed for the broker's reads.
type view struct {
	st     *metadata.ClusterState
	topics []metadata.Topic // sorted by name
	byName map[string]int
	byID   map[metadata.TopicID]int
	live   []metadata.BrokerRegistration
}

func newView(st *metadata.ClusterState) *view {
	v := &view{st: st, byName: map[string]int{}, byID: map[metadata.TopicID]int{}, live: st.Unfenced()}
	for _, t := range st.Topics {
		v.topics = append(v.topics, metadata.Topic{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions)), Configs: t.Configs})
	}
	sort.Slice(v.topics, func(i, j int) bool { return v.topics[i].Name < v.topics[j].Name })
	for i, t := range v.topics {
		v.byName[t.Name], v.byID[t.ID] = i, i
	}
	return v
}

// refreshView installs the quorum's current state as the view unless a newer one is in.
func (n *Node) refreshView() (*view, <-chan struct{}) {
	st, ch := n.q.Watch()
	nv := newView(st)
	for {
		old := n.view.Load()
		if old.st.LastIndex > st.LastIndex {
			return old, ch
		}
		if n.view.CompareAndSwap(old, nv) {
			n.b.SetACLs(st.LastIndex, st.ACLs)
			n.b.SetClientQuotas(st.LastIndex, st.Quotas)
			return nv, ch
		}
	}
}

// waitView waits (bounded) until the view satisfies ok: after a change this node proposed or
// sent to the controller, so the broker's next read sees it.
func (n *Node) waitView(ok func(*view) bool) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		v, ch := n.refreshView()
		if ok(v) || time.Now().After(deadline) {
			return
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		case <-n.stop:
			return
		}
	}
}

// broker.Cluster: reads from the view.

// ClusterID implements broker.Cluster.
func (n *Node) ClusterID() string { return n.view.Load().st.ClusterID }

// Topics implements broker.Cluster.
func (n *Node) Topics() []metadata.Topic { return slices.Clone(n.view.Load().topics) }

// Topic implements broker.Cluster.
func (n *Node) Topic(name string) (metadata.Topic, bool) {
	v := n.view.Load()
	i, ok := v.byName[name]
	if !ok {
		return metadata.Topic{}, false
	}
	return v.topics[i], true
}

// TopicByID implements broker.Cluster.
func (n *Node) TopicByID(id metadata.TopicID) (metadata.Topic, bool) {
	v := n.view.Load()
	i, ok := v.byID[id]
	if !ok {
		return metadata.Topic{}, false
	}
	return v.topics[i], true
}

// Brokers implements broker.Cluster.
func (n *Node) Brokers() []metadata.BrokerRegistration { return n.view.Load().live }

// ControllerID implements broker.Cluster.
func (n *Node) ControllerID() int32 { return n.q.Controller() }

// Partition implements broker.Cluster.
func (n *Node) Partition(topic string, p int32) (metadata.PartitionAssignment, bool) {
	t, ok := n.view.Load().st.Topics[topic]
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return metadata.PartitionAssignment{}, false
	}
	return *t.Partitions[p], true
}

// ProducerIDIssued implements broker.Cluster.
func (n *Node) ProducerIDIssued(id int64) bool {
	return id >= 0 && id < n.view.Load().st.NextProducerID
}

// ActiveController implements broker.Cluster.
func (n *Node) ActiveController() (broker.ControllerService, error) {
	if c := n.ctl.Load(); c != nil && n.q.IsController() {
		return c, nil
	}
	return nil, fmt.Errorf("%w: node %d (the controller is %d)", metadata.ErrNotController, n.id, n.q.Controller())
}

// broker.Cluster changes: proposed here when this node is the controller, else sent to it.

// onController runs a change on this node's controller term (local) when it is the active
// controller, else sends it to the controller (remote, which retries while the controller
// moves); if the controller moves to this node meanwhile, the change runs here.
func (n *Node) onController(local func(*activeCtl) error, remote func() error) error {
	for {
		if c, err := n.ActiveController(); err == nil {
			return local(c.(*activeCtl))
		}
		if err := remote(); !errors.Is(err, errControllerHere) {
			return err
		}
	}
}

// CreateTopic implements broker.Cluster.
func (n *Node) CreateTopic(spec broker.TopicSpec) (metadata.Topic, error) {
	err := n.onController(func(c *activeCtl) error {
		var id metadata.TopicID
		rand.Read(id[:])
		rf := spec.ReplicationFactor
		if rf <= 0 {
			rf = n.DefaultReplicationFactor()
		}
		cmd := &metadata.CreateTopic{Name: spec.Name, ID: id, Partitions: spec.Partitions, ReplicationFactor: rf,
			Assignment: spec.Assignment, Configs: spec.Configs}
		if spec.Assignment != nil {
			cmd.Partitions, cmd.ReplicationFactor = 0, 0
		}
		if _, err := c.propose(cmd); err != nil {
			return err
		}
		n.waitView(func(v *view) bool { _, ok := v.byName[spec.Name]; return ok })
		c.waitApplied(n.view.Load().st.LastIndex, brokersApplyLimit)
		return nil
	}, func() error { return n.forwardCreateTopic(spec) })
	if err != nil {
		return metadata.Topic{}, err
	}
	n.waitView(func(v *view) bool { _, ok := v.byName[spec.Name]; return ok })
	n.waitReconciled()
	t, ok := n.Topic(spec.Name)
	if !ok {
		return metadata.Topic{}, fmt.Errorf("topic %q created, but its metadata has not reached node %d yet", spec.Name, n.id)
	}
	return t, nil
}

// brokersApplyLimit bounds how long a topic change waits for the brokers to apply it.
const brokersApplyLimit = 2 * time.Second

// waitReconciled waits (at most brokersApplyLimit) until the metadata listener has brought
// this broker in line with the current view, so that a topic change is answered once this
// broker leads, follows or has removed the partitions it changed: on a single node a new
// topic is led (its first produce is not refused) and a deleted one's logs are gone (its name
// can be reused) before the client hears back.
func (n *Node) waitReconciled() {
	index := n.view.Load().st.LastIndex
	deadline := time.Now().Add(brokersApplyLimit)
	for n.reconciled.Load() < index && time.Now().Before(deadline) {
		select {
		case <-n.stop:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// DefaultReplicationFactor implements broker.Cluster: the configured default, capped by the
// live brokers so that a topic can be created while some are down (Kafka would refuse
// instead).
func (n *Node) DefaultReplicationFactor() int16 {
	return int16(max(1, min(int(n.cfg.DefaultReplicationFactor), len(n.Brokers()))))
}

// DeleteTopic implements broker.Cluster.
func (n *Node) DeleteTopic(name string) (metadata.Topic, error) {
	t, ok := n.Topic(name)
	if !ok {
		return metadata.Topic{}, fmt.Errorf("%w: %s", metadata.ErrUnknownTopic, name)
	}
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.DeleteTopic{Name: name})
		return err
	}, func() error { return n.forwardDeleteTopic(name) })
	if err != nil {
		return metadata.Topic{}, err
	}
	n.waitView(func(v *view) bool { i, ok := v.byName[name]; return !ok || v.topics[i].ID != t.ID })
	n.waitReconciled()
	return t, nil
}

// SetPartitions implements broker.Cluster.
func (n *Node) SetPartitions(name string, total int32, assignment [][]int32) error {
	err := n.onController(func(c *activeCtl) error {
		if _, err := c.propose(&metadata.CreatePartitions{Name: name, Total: total, Assignment: assignment}); err != nil {
			return err
		}
		n.waitView(func(v *view) bool { i, ok := v.byName[name]; return ok && v.topics[i].Partitions >= total })
		c.waitApplied(n.view.Load().st.LastIndex, brokersApplyLimit)
		return nil
	}, func() error { return n.forwardCreatePartitions(name, total, assignment) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool { i, ok := v.byName[name]; return ok && v.topics[i].Partitions >= total })
	n.waitReconciled()
	return nil
}

// SetConfigs implements broker.Cluster.
func (n *Node) SetConfigs(name string, configs map[string]string) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.AlterConfigs{Name: name, Configs: configs})
		return err
	}, func() error { return n.forwardAlterConfigs(topicResource, name, configs) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool { i, ok := v.byName[name]; return ok && maps.Equal(v.topics[i].Configs, configs) })
	return nil
}

// AllocateProducerIDs implements broker.Cluster.
func (n *Node) AllocateProducerIDs() (int64, error) {
	r := n.reg.Load()
	if r == nil {
		return -1, errors.New("this broker has not registered with the controller yet")
	}
	var first int64
	err := n.onController(func(c *activeCtl) (err error) {
		first, err = c.AllocateProducerIDs(n.id, r.epoch)
		return err
	}, func() (err error) {
		first, err = n.forwardAllocateProducerIDs(r.epoch)
		return err
	})
	return first, err
}
