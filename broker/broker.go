// Package broker answers Kafka requests: one file per API key (00_produce.go, 01_fetch.go, …),
// each registering its version range; the registry feeds ApiVersions. Requests are decoded and
// responses encoded with franz-go's kmsg, generated from Kafka's own schemas — except the Fetch
// response, whose record bytes are file regions sent with sendfile (01_fetch.go).
//
// A Broker is always a cluster member (Config.Cluster, the cluster package's Node): a single
// `logd serve` is a cluster of one, running the same code. Topics, brokers, partition leaders
// and producer id blocks come from the cluster; every partition log is replicated (its high
// watermark set by replication) and served (Produce, Fetch, ListOffsets,
// OffsetForLeaderEpoch) only while this broker leads it through a
// replication.LeaderPartition, which the cluster's metadata listener hands it (Lead, Follow,
// Resign). Consumer groups have a coordinator per __consumer_offsets partition led here
// (groups.go), transactions one per __transaction_state partition (txns.go).
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/internal/runq"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/quota"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/share"
	"github.com/logd/logd/telemetry"
)

// Config configures a Broker.
type Config struct {
	// NodeID is this broker's id (node.id).
	NodeID int32
	// AdvertisedHost and AdvertisedPort are the inter-broker listener's advertised address:
	// what other brokers dial, and what Metadata tells clients when Listeners is empty.
	AdvertisedHost string
	AdvertisedPort int32
	// SASL is the SASL listeners' mechanisms and credentials; nil: no SASL listener.
	SASL *auth.SASL
	// InterBroker is how this broker dials other brokers' inter-broker listener (replica
	// fetchers, transaction markers and verification, the controller RPCs): the TLS and SASL
	// of inter.broker.listener.name, with this broker's own credentials. Zero: PLAINTEXT.
	InterBroker kwire.Security
	// Authorizer decides every request from the cluster's ACLs (authz.go); nil: no
	// authorization, as Kafka without authorizer.class.name.
	Authorizer *acl.Authorizer
	// Listeners are this broker's client listeners with their advertised addresses, the
	// inter-broker one (AdvertisedHost:AdvertisedPort) first. Empty: one listener, PLAINTEXT.
	// Each client is answered with the addresses of the listener it came in on.
	Listeners []metadata.Endpoint
	// DataDir is the first log directory (log.dirs), which also holds the metadata log.
	DataDir string
	// ExtraLogDirs are the other log.dirs entries (JBOD): new partitions go to the directory
	// holding the fewest (engine.LogDirs).
	ExtraLogDirs []string
	// MoveLogBytesPerSecond caps the copying of partitions moving between log directories
	// (AlterReplicaLogDirs; Kafka's replica.alter.log.dirs.io.max.bytes.per.second); 0 is
	// no cap.
	MoveLogBytesPerSecond float64
	// FS is the filesystem; nil means the operating system's.
	FS vfs.FS
	// AutoCreateTopics creates unknown topics named in Metadata requests
	// (auto.create.topics.enable, default true).
	AutoCreateTopics bool
	// NumPartitions is the partition count of auto-created topics (num.partitions, default 1).
	NumPartitions int32
	// LogDefaults are the broker-wide topic config defaults, as configured; dynamic broker
	// configs in the metadata change the ones in force (broker_configs.go).
	LogDefaults engine.LogConfig
	// Settings are every setting of the configuration, for DescribeConfigs on this broker
	// (broker_configs.go); `logd serve` fills them from its key table.
	Settings []Setting
	// Cleaner holds the log.cleaner.* settings; nil means engine.DefaultCleanerConfig.
	Cleaner *engine.CleanerConfig
	// FsyncAcksAll makes acks=all produce requests wait for an fsync of their batches before
	// they are acknowledged (default true). acks=1 follows the topic's flush settings.
	FsyncAcksAll bool
	// ReplicaFsync makes a follower fsync what it replicated before its next fetch tells the
	// leader its new log end, so acks=all waits for every in-sync replica's disk
	// (logd.replica.fsync; replication.FetcherConfig.Fsync states the trade-off). Default false,
	// as Kafka.
	ReplicaFsync bool
	// MaxParkedFetches caps the fetches waiting for data (MaxWaitMs) across the broker; past
	// it a fetch is answered at once with what it found (default 10,000).
	MaxParkedFetches int
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
	// Cluster is the cluster this broker is a member of (required; the cluster package's
	// Node, a cluster of one for a single node): topics, brokers, partition leaders and
	// producer id blocks come from it, and the controller's APIs are served when this node is
	// the active controller.
	Cluster Cluster
	// ReplicaLagTime is replica.lag.time.max.ms for the partitions this broker leads
	// (default 30 s).
	ReplicaLagTime time.Duration
	// ReplicaFetchBackoff is replica.fetch.backoff.ms: a follower's wait before fetching a
	// partition again after its leader refused it for a while (a new leader not ready yet),
	// and the first redial wait (default 100 ms; Kafka's 1 s costs a second per failover).
	ReplicaFetchBackoff time.Duration
	// ReplicaFetchWaitMax is replica.fetch.wait.max.ms: how long a follower's fetch may wait at
	// the leader for data (default 500 ms). An append answers it at once, so it bounds idle
	// round trips, never an acks=all produce's wait.
	ReplicaFetchWaitMax time.Duration
	// Metrics, if set, receives request, per-topic and group-commit metrics, and reads the
	// partition count and the log directory's state at scrape time. nil disables them.
	Metrics *metrics.Metrics
	// TelemetryMaxBytes is telemetry.max.bytes: the largest client telemetry push accepted
	// (default 1 MiB, Kafka's).
	TelemetryMaxBytes int32

	// Consumer groups (groups.go), by Kafka's names.
	// OffsetsTopicPartitions is offsets.topic.num.partitions, used when __consumer_offsets
	// is first created (default 8: a small cluster's nodes share them, and on a single node
	// partitions only spread the append and compaction locks; Kafka's 50 is for spreading
	// coordinators over a large cluster). Each partition's leader coordinates its groups
	// (groups.go).
	OffsetsTopicPartitions int32
	// OffsetsTopicSegmentBytes is offsets.topic.segment.bytes (default 16 MiB).
	OffsetsTopicSegmentBytes int64
	// OffsetsRetention is offsets.retention.minutes (default 7 days).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms (default 10 min).
	OffsetsRetentionCheckInterval time.Duration
	// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms (default 3 s; negative
	// means none).
	GroupInitialRebalanceDelay time.Duration
	// GroupMinSessionTimeout and GroupMaxSessionTimeout are group.min/max.session.timeout.ms
	// (defaults 6 s and 30 min).
	GroupMinSessionTimeout, GroupMaxSessionTimeout time.Duration
	// GroupMaxSize is group.max.size (0: unbounded).
	GroupMaxSize int
	// GroupConsumerSessionTimeout is group.consumer.session.timeout.ms, the session of a
	// KIP-848 consumer-protocol member (default 45 s).
	GroupConsumerSessionTimeout time.Duration
	// GroupConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms (default 5 s).
	GroupConsumerHeartbeatInterval time.Duration
	// GroupStreamsSessionTimeout, GroupStreamsHeartbeatInterval,
	// GroupStreamsInitialRebalanceDelay and GroupStreamsNumStandbyReplicas are Kafka's
	// streams.session.timeout.ms (45 s), streams.heartbeat.interval.ms (5 s),
	// streams.initial.rebalance.delay.ms (3 s; negative: none) and
	// streams.num.standby.replicas (0), for streams groups (KIP-1071); zero takes the default.
	GroupStreamsSessionTimeout, GroupStreamsHeartbeatInterval, GroupStreamsInitialRebalanceDelay time.Duration
	GroupStreamsNumStandbyReplicas                                                               int

	// Transactions (txns.go), by Kafka's names.
	// TransactionTopicPartitions is transaction.state.log.num.partitions, used when
	// __transaction_state is first created (default 50, Kafka's).
	TransactionTopicPartitions int32
	// TransactionTopicSegmentBytes is transaction.state.log.segment.bytes (default 100 MiB).
	TransactionTopicSegmentBytes int64
	// TransactionMaxTimeout is transaction.max.timeout.ms (default 15 min).
	TransactionMaxTimeout time.Duration
	// TransactionPartitionVerification is transaction.partition.verification.enable
	// (default true, as Kafka 4): a partition's first transactional batch of a transaction is
	// appended only once its coordinator confirms the partition is in it (00_produce.go).
	TransactionPartitionVerification bool
	// TransactionVersion is logd.transaction.version, the bootstrap level of the
	// transaction.version feature (ApiVersions, 18_api_versions.go): the finalized level
	// until UpdateFeatures (`kafka-features upgrade/downgrade`) stores one in the metadata log
	// (57_update_features.go), which then holds for the whole cluster. 0 or 1 keep clients on
	// the classic transaction protocol; 2 (KIP-890 part 2) advertises Produce v12-13, EndTxn
	// v5 and TxnOffsetCommit v5, and clients then let the brokers add partitions to their
	// transactions and bump the epoch at every EndTxn. Every node of a cluster must be set
	// alike (default 2, as a cluster formatted by Kafka 4.3).
	TransactionVersion int16

	// Quota is the quota windows (quota.window.num, quota.window.size.seconds) every rate
	// quota is measured over; zero fields take Kafka's defaults.
	Quota quota.Config
	// Share configures share groups (KIP-932, shares.go) by Kafka's names; zero fields take
	// Kafka's defaults (share.DefaultConfig).
	Share share.Config

	// DelegationTokens configures delegation tokens (delegation_tokens.go); without a secret
	// key they are disabled, as in Kafka.
	DelegationTokens DelegationTokenConfig
}

// DefaultConfig returns the embedded defaults: node 1 on 127.0.0.1:9092, data in ./data.
func DefaultConfig() Config {
	return Config{
		NodeID: 1, AdvertisedHost: "127.0.0.1", AdvertisedPort: 9092, DataDir: "data",
		AutoCreateTopics: true, NumPartitions: 1, LogDefaults: engine.DefaultLogConfig, FsyncAcksAll: true,
		MaxParkedFetches: 10_000, OffsetsTopicPartitions: 8, OffsetsTopicSegmentBytes: 16 << 20,
		TransactionTopicPartitions: 50, TransactionTopicSegmentBytes: 100 << 20, TransactionMaxTimeout: 15 * time.Minute,
		TransactionPartitionVerification: true, TransactionVersion: 2,
		OffsetsRetention: 7 * 24 * time.Hour, OffsetsRetentionCheckInterval: 10 * time.Minute,
		GroupInitialRebalanceDelay: 3 * time.Second, GroupMinSessionTimeout: 6 * time.Second,
		GroupMaxSessionTimeout: 30 * time.Minute, GroupConsumerSessionTimeout: 45 * time.Second,
		GroupConsumerHeartbeatInterval: 5 * time.Second,
	}
}

// Broker serves the Kafka protocol over its log directories.
type Broker struct {
	cfg     Config
	started time.Time // New's time: the FinalizedFeaturesEpoch of ApiVersions
	log     *slog.Logger
	metrics *metrics.Metrics // nil: disabled
	eng     *engine.LogDirs
	cluster Cluster

	mu    sync.RWMutex // guards parts; held only for map operations
	parts map[engine.TopicPartition]*partition
	// openMu serializes opening partitions' logs and dropping a deleted topic's partitions.
	// Lock order: admin, then openMu, then mu.
	openMu sync.Mutex

	parked atomic.Int64 // fetches waiting for data, capped by MaxParkedFetches
	// wakeups runs what must not run where its event came from: a woken parked fetch's
	// re-read and response building (an appender should go back to its produce, a timer
	// goroutine must not build responses), a leadership queue's drain, a group answer given
	// under the group's lock. GOMAXPROCS goroutines at most, started on demand; bounded by
	// MaxParkedFetches plus the server's in-flight requests (each is queued at most once).
	wakeups *runq.Pool[func()]
	// The catalog requests (api.catalog) run off the network workers (deferred.go): topic
	// changes one at a time in arrival order, controller calls catalogWorkers at a time.
	topicChanges, controllerCalls *runq.Pool[func()]
	// groupParked are the JoinGroup/SyncGroup requests parked on the coordinator (deferred.go).
	groupParked parkedSet

	pids producerIDs // InitProducerId's durable id blocks (producerids.go)

	quotas *quota.Manager // the client quotas (quotas.go)

	tokenScram tokenScram         // delegation tokens' SCRAM credentials (delegation_tokens.go)
	telemetry  *telemetry.Manager // KIP-714 client telemetry (client_metrics.go)

	// admin serializes topic creation, deletion, growth and config changes, so a deleted
	// topic's logs are gone before its name can be reused and concurrent config changes
	// reach the open logs in the order they reached the metadata store.
	// Lock order: admin, then mu.
	admin sync.Mutex
	// dynDefaults are the topic defaults in force: LogDefaults with the dynamic broker configs
	// applied (ApplyDynamicConfigs).
	dynDefaults atomic.Pointer[engine.LogConfig]

	// The coordinators of the __consumer_offsets (groups.go) and __transaction_state
	// (txns.go) partitions this broker leads (coordinator_leads.go), and the sender of the
	// transaction markers (txn_markers.go).
	groups  *coordinatorLeads[*leadGroups]
	txns    *coordinatorLeads[*leadTxns]
	markers markerSender
	// verifier asks coordinators on other nodes to verify transactional produces, which
	// wait in their connection's queue meanwhile (txn_verify.go, produce_verify.go).
	verifier txnVerifier
	produces produceOrder
	// shares holds the share groups, sessions and share partitions (shares.go);
	// shareStates the journals of the __share_group_state partitions led here
	// (share_state.go).
	shares      *share.Coordinator
	shareStates *coordinatorLeads[*leadShareState]
	shareWaits  shareStateWaits
	// persister keeps the state of share partitions whose state partition another broker
	// leads (share_persister.go).
	persister sharePersister

	// Follower role: one replication.Fetcher per leader broker address.
	// replMu guards fetchers and serializes Follow, Lead and Close; it is taken after
	// b.partition returns (openMu and mu released).
	replMu   sync.Mutex
	fetchers map[string]*fetcherRun // guarded by replMu

	closing   chan struct{} // closed by Close
	closeOnce sync.Once
}

// partition is an open partition: its log and the fetches parked on it.
type partition struct {
	log     *engine.Log
	topicID metadata.TopicID
	waiters appendWaiters
	// leadership holds the produce requests waiting for this broker to lead it (leadership.go).
	leadership leadershipQueue
	metrics    *metrics.TopicMetrics // nil when metrics are disabled
	// leader is set while this broker leads the partition .
	leader atomic.Pointer[replication.LeaderPartition]
}

// New opens the data directory and returns a broker ready to serve as a member of
// cfg.Cluster.
func New(cfg Config) (*Broker, error) {
	if cfg.Cluster == nil {
		return nil, errors.New("broker: Config.Cluster is required (a single node is a cluster.Node of one)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FS == nil {
		cfg.FS = vfs.Default
	}
	def := DefaultConfig()
	if cfg.MaxParkedFetches <= 0 {
		cfg.MaxParkedFetches = def.MaxParkedFetches
	}
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = def.OffsetsTopicPartitions
	}
	if cfg.OffsetsTopicSegmentBytes <= 0 {
		cfg.OffsetsTopicSegmentBytes = def.OffsetsTopicSegmentBytes
	}
	if cfg.TransactionTopicPartitions <= 0 {
		cfg.TransactionTopicPartitions = def.TransactionTopicPartitions
	}
	if cfg.TransactionTopicSegmentBytes <= 0 {
		cfg.TransactionTopicSegmentBytes = def.TransactionTopicSegmentBytes
	}
	if cfg.TransactionMaxTimeout <= 0 {
		cfg.TransactionMaxTimeout = def.TransactionMaxTimeout
	}
	if cfg.TransactionVersion < 0 || cfg.TransactionVersion > maxTransactionVersion {
		return nil, fmt.Errorf("broker: transaction version %d is not in 0..%d", cfg.TransactionVersion, maxTransactionVersion)
	}
	if err := cfg.LogDefaults.Validate(); err != nil {
		return nil, fmt.Errorf("broker topic defaults: %w", err)
	}
	ecfg := engine.Config{FS: cfg.FS, Logger: cfg.Logger, Cleaner: cfg.Cleaner}
	if cfg.Metrics != nil {
		ecfg.OnSync = cfg.Metrics.ObserveSync
	}
	eng, err := engine.OpenLogDirs(engine.LogDirsConfig{
		Dirs: append([]string{cfg.DataDir}, cfg.ExtraLogDirs...), NodeID: cfg.NodeID, Engine: ecfg,
		MoveBytesPerSecond: cfg.MoveLogBytesPerSecond})
	if err != nil {
		return nil, err
	}
	if cfg.ReplicaLagTime <= 0 {
		cfg.ReplicaLagTime = replication.DefaultConfig.ReplicaLagTime
	}
	if cfg.ReplicaFetchBackoff <= 0 {
		cfg.ReplicaFetchBackoff = 100 * time.Millisecond
	}
	b := &Broker{cfg: cfg, started: time.Now(), log: cfg.Logger, metrics: cfg.Metrics, eng: eng, cluster: cfg.Cluster, parts: map[engine.TopicPartition]*partition{},
		wakeups:      runq.New(max(runtime.GOMAXPROCS(0), 2), runFunc, nil),
		topicChanges: runq.New(1, runFunc, nil), controllerCalls: runq.New(catalogWorkers, runFunc, nil),
		closing: make(chan struct{}), quotas: quota.New(cfg.Quota)}
	b.dynDefaults.Store(&b.cfg.LogDefaults)
	b.groups = newCoordinatorLeads(offsetsTopic, "consumer groups", b.loadPartitionGroups, b.unloadGroups)
	b.txns = newCoordinatorLeads(txnTopic, "transactions", b.loadTxns, b.unloadTxns)
	b.markers.b = b
	b.verifier.b = b
	b.persister.b = b
	b.shares = b.newShareCoordinator()
	b.telemetry = b.newTelemetry()
	b.shareStates = newCoordinatorLeads(shareStateTopic, "share-partition state", b.loadShareState, b.unloadShareState)
	b.shareStates.onLoad = b.shareStatesLoaded
	cfg.Metrics.SetBrokerSource(b.partitionCount, eng.OfflineCount)
	cfg.Metrics.SetGroupLagSource(b.groupLag)
	cfg.Metrics.SetReplicationSource(b.replicationCounts)
	go b.groups.run(b)
	go b.txns.run(b)
	go b.shareStates.run(b)
	go b.compactOffsetsTopicAtStart()
	go b.tickLeaders()
	return b, nil
}

// leaderTickInterval is how often led partitions see the clock: lagging followers leave the
// ISR and timed-out acks=all waits are answered within it.
const leaderTickInterval = 100 * time.Millisecond

// tickLeaders ticks every led partition until the broker closes, then resigns them all, so
// that no acks=all produce waits past shutdown (they get NOT_LEADER_OR_FOLLOWER, retriable).
func (b *Broker) tickLeaders() {
	t := time.NewTicker(leaderTickInterval)
	defer t.Stop()
	for {
		select {
		case <-b.closing:
			for _, part := range b.openPartitions() {
				if lp := part.leader.Swap(nil); lp != nil {
					lp.Resign()
				}
			}
			return
		case <-t.C:
		}
		for _, part := range b.openPartitions() {
			if lp := part.leader.Load(); lp != nil {
				lp.Tick()
			}
		}
	}
}

// openPartitions lists the open partitions.
func (b *Broker) openPartitions() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make([]*partition, 0, len(b.parts))
	for _, p := range b.parts {
		out = append(out, p)
	}
	return out
}

// BeginShutdown answers parked fetches at once and stops background work, so the network
// layer's shutdown does not wait out their MaxWaitMs. Call it before shutting the server down.
func (b *Broker) BeginShutdown() {
	b.closeOnce.Do(func() {
		close(b.closing)
		b.wakeParkedFetches()
		b.groupParked.shutdown()
	})
}

// Close shuts the storage down cleanly (clean-shutdown marker written).
func (b *Broker) Close() error {
	b.BeginShutdown()
	b.groups.close()
	b.txns.close()
	b.shares.Close()
	b.shareStates.close()
	b.stopFetchers()
	return b.eng.Close()
}

// Engine returns the broker's storage: its log directories.
func (b *Broker) Engine() *engine.LogDirs { return b.eng }

// partition returns an open partition, opening its log on first use.
func (b *Broker) partition(topic string, p int32) (*partition, error) {
	tp := engine.TopicPartition{Topic: topic, Partition: p}
	b.mu.RLock()
	part := b.parts[tp]
	b.mu.RUnlock()
	if part != nil {
		return part, nil
	}
	// Opening (possibly recovering) a log is slow: it happens under openMu only, so lookups of
	// open partitions never wait behind it.
	b.openMu.Lock()
	defer b.openMu.Unlock()
	b.mu.RLock()
	part = b.parts[tp]
	b.mu.RUnlock()
	if part != nil {
		return part, nil
	}
	// The topic is looked up under openMu: a topic deletion removes the metadata before it
	// drops the open partitions under openMu, so no log of a deleted topic is opened after.
	t, ok := b.cluster.Topic(topic)
	if !ok || p < 0 || p >= t.Partitions {
		return nil, fmt.Errorf("%s: %w", tp, errUnknownTopicOrPartition)
	}
	pa, ok := b.cluster.Partition(topic, p)
	if !ok || !slices.Contains(pa.Replicas, b.cfg.NodeID) {
		return nil, fmt.Errorf("%s: %w", tp, errNotHosted)
	}
	cfg, err := logConfig(b.logDefaults(), t.Configs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", tp, errInvalidConfig, err)
	}
	l, err := b.eng.OpenLogWith(tp, cfg, engine.OpenOptions{Create: true, Replicated: true})
	if err != nil {
		return nil, err
	}
	part = &partition{log: l, topicID: t.ID, metrics: b.metrics.Topic(topic)}
	l.SetAppendListener(part.waiters.wake)
	b.mu.Lock()
	b.parts[tp] = part
	b.mu.Unlock()
	return part, nil
}

// Lead makes this broker the leader of topic-partition p in state st (st.Leader is this
// broker's NodeID): it stops following it (no fetcher touches its log once Lead proceeds) and
// replaces any previous leadership of it, which resigns. ctl commits the ISR
// changes the leader proposes. The cluster's metadata listener calls it for every partition
// the controller makes this broker lead, in leader-epoch order.
func (b *Broker) Lead(topic string, p int32, cfg replication.Config, st replication.PartitionState, ctl replication.Controller) (*replication.LeaderPartition, error) {
	if st.Leader != b.cfg.NodeID {
		return nil, fmt.Errorf("%s-%d: leader %d is not this broker (%d): %w", topic, p, st.Leader, b.cfg.NodeID, replication.ErrInvalidState)
	}
	part, err := b.partition(topic, p)
	if err != nil {
		return nil, err
	}
	b.replMu.Lock()
	defer b.replMu.Unlock()
	select {
	case <-b.closing:
		return nil, engine.ErrClosed
	default:
	}
	b.stopFollowingLocked(engine.TopicPartition{Topic: topic, Partition: p})
	lp, err := replication.NewLeaderPartition(cfg, engine.TopicPartition{Topic: topic, Partition: p}, part.log, st, ctl, time.Now)
	if err != nil {
		return nil, err
	}
	if old := part.leader.Swap(lp); old != nil {
		old.Resign()
	}
	b.leadershipChanged(topic)
	return lp, nil
}

// fetcherRun is a running Fetcher and how to stop it.
type fetcherRun struct {
	fe     *replication.Fetcher
	cancel context.CancelFunc
	done   chan struct{}
}

// Follow makes this broker a follower of topic-partition p, led by the broker at leaderAddr
// in leaderEpoch: it stops leading it (Resign) and fetches it into its log with that
// leader's other partitions, over one connection (replication.Fetcher). The cluster's
// metadata listener calls it in leader-epoch order.
func (b *Broker) Follow(topic string, p int32, leaderAddr string, leaderEpoch int32) error {
	part, err := b.partition(topic, p)
	if err != nil {
		return err
	}
	tp := engine.TopicPartition{Topic: topic, Partition: p}
	if old := part.leader.Swap(nil); old != nil {
		old.Resign()
		b.leadershipChanged(topic)
	}
	b.replMu.Lock()
	defer b.replMu.Unlock()
	select {
	case <-b.closing:
		return engine.ErrClosed
	default:
	}
	for addr, fr := range b.fetchers {
		if addr != leaderAddr {
			fr.fe.Remove(tp)
		}
	}
	fr := b.fetchers[leaderAddr]
	if fr == nil {
		ctx, cancel := context.WithCancel(context.Background())
		fr = &fetcherRun{cancel: cancel, done: make(chan struct{}), fe: replication.NewFetcher(replication.FetcherConfig{
			ReplicaID: b.cfg.NodeID, Addr: leaderAddr, Security: b.cfg.InterBroker, Logger: b.log, Backoff: b.cfg.ReplicaFetchBackoff, MaxWait: b.cfg.ReplicaFetchWaitMax,
			Fsync: b.cfg.ReplicaFsync, Observer: b.replicationObserver(),
			OnRemoved: func(tp engine.TopicPartition, err error) {
				b.log.Warn("stopped following a partition: its leader refused it; waiting for new metadata", "partition", tp.String(), "err", err)
			},
		})}
		if b.fetchers == nil {
			b.fetchers = map[string]*fetcherRun{}
		}
		b.fetchers[leaderAddr] = fr
		go func() {
			defer close(fr.done)
			fr.fe.Run(ctx)
		}()
	}
	return fr.fe.Add(tp, leaderEpoch, part.log)
}

// stopFollowingLocked removes tp from every fetcher; when it returns, no fetcher touches its
// log any more. REQUIRES: b.replMu held.
func (b *Broker) stopFollowingLocked(tp engine.TopicPartition) {
	for _, fr := range b.fetchers {
		fr.fe.Remove(tp)
	}
}

// stopFetchers stops every fetcher and waits for them (before the logs close).
func (b *Broker) stopFetchers() {
	b.replMu.Lock()
	defer b.replMu.Unlock()
	for addr, fr := range b.fetchers {
		fr.cancel()
		<-fr.done
		delete(b.fetchers, addr)
	}
}

// Resign stops leading topic-partition p: waiting acks=all produce requests are answered
// NOT_LEADER_OR_FOLLOWER, later requests for it too.
func (b *Broker) Resign(topic string, p int32) {
	b.mu.RLock()
	part := b.parts[engine.TopicPartition{Topic: topic, Partition: p}]
	b.mu.RUnlock()
	if part == nil {
		return
	}
	if old := part.leader.Swap(nil); old != nil {
		old.Resign()
		b.leadershipChanged(topic)
	}
}

// leaderEpochOf is the epoch this broker leads part in, with the lead's driver; a partition
// not led here is NOT_LEADER_OR_FOLLOWER (code; see replicaLeaderCode for followers).
func (b *Broker) leaderEpochOf(part *partition) (epoch int32, lp *replication.LeaderPartition, code int16) {
	if lp = part.leader.Load(); lp == nil {
		return 0, nil, kerr.NotLeaderForPartition.Code
	}
	return lp.LeaderEpoch(), lp, 0
}

// replicaLeaderCode is the code for a follower's request (replica fetch, OffsetForLeaderEpoch)
// refused with code: UNKNOWN_LEADER_EPOCH (the follower retries after a short backoff)
// instead of NOT_LEADER_OR_FOLLOWER when the cluster state already names this broker the
// partition's leader but the metadata listener has not taken the leadership yet — followers of
// a new epoch often ask a few milliseconds before that. Clients keep NOT_LEADER_OR_FOLLOWER,
// which every one of them retries.
func (b *Broker) replicaLeaderCode(part *partition, code int16) int16 {
	if code != kerr.NotLeaderForPartition.Code {
		return code
	}
	tp := part.log.TP()
	if pa, ok := b.cluster.Partition(tp.Topic, tp.Partition); ok && pa.Leader == b.cfg.NodeID {
		return kerr.UnknownLeaderEpoch.Code
	}
	return code
}

// dropPartitions forgets a deleted topic's open partitions.
func (b *Broker) dropPartitions(topic string, n int32) {
	b.openMu.Lock() // waits for an open in progress, which then sees the topic gone
	defer b.openMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := int32(0); p < n; p++ {
		delete(b.parts, engine.TopicPartition{Topic: topic, Partition: p})
	}
}

// createTopic creates a topic with the default replication factor in the catalog and its
// partitions' logs.
func (b *Broker) createTopic(name string, partitions int32, configs map[string]string) (metadata.Topic, error) {
	b.admin.Lock()
	defer b.admin.Unlock()
	return b.createTopicLocked(TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: -1, Configs: configs}, false)
}

// createTopicLocked validates a new topic and, unless validateOnly, creates it (each replica
// creates its partitions' logs when the metadata reaches it). REQUIRES: b.admin held.
func (b *Broker) createTopicLocked(spec TopicSpec, validateOnly bool) (metadata.Topic, error) {
	if spec.Assignment != nil {
		spec.Partitions = int32(len(spec.Assignment))
	}
	if err := b.checkNewTopic(spec.Name, spec.Partitions, spec.Configs); err != nil {
		return metadata.Topic{}, err
	}
	if validateOnly {
		return metadata.Topic{Name: spec.Name, Partitions: spec.Partitions, Configs: spec.Configs}, nil
	}
	t, err := b.cluster.CreateTopic(spec)
	if err != nil {
		return t, err
	}
	b.log.Info("created topic", "topic", spec.Name, "partitions", spec.Partitions, "id", t.ID.String())
	return t, nil
}

// HeaderVersion tells the network layer the request header version of an API version:
// 2 (with tagged fields) for flexible versions, else 1.
func HeaderVersion(apiKey, apiVersion int16) int {
	if apiKey >= 0 && int(apiKey) < len(flexibleFrom) && flexibleFrom[apiKey] >= 0 && apiVersion >= flexibleFrom[apiKey] {
		return 2
	}
	return 1
}

// flexibleFrom[key] is the first flexible version of each API kmsg knows, or -1.
var flexibleFrom = func() []int16 {
	var out []int16
	for key := int16(0); ; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			if key > 100 {
				return out
			}
			out = append(out, -1)
			continue
		}
		first := int16(-1)
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			if r.IsFlexible() {
				first = v
				break
			}
		}
		out = append(out, first)
	}
}()

// partitionCount is the number of partitions of every topic (the logd_partitions gauge).
func (b *Broker) partitionCount() int {
	n := 0
	for _, t := range b.cluster.Topics() {
		n += int(t.Partitions)
	}
	return n
}

// Handle answers one request. It runs on a network worker goroutine; a request that waits is
// parked (deferred.go) and answered later. With
// metrics on it counts the request and times its queueing and handling up to its response
// being ready (the send is the network layer's: server.Config.ObserveResponse).
func (b *Broker) Handle(req *server.Request) *server.Response {
	c := &call{req: req}
	if b.metrics != nil || b.quotas.Active() {
		c.start = time.Now()
	}
	resp := b.handle(c)
	if !c.parked {
		b.observe(c, resp)
	}
	return resp
}

func (b *Broker) handle(c *call) *server.Response {
	req := c.req
	a := lookupAPI(req.APIKey)
	if req.APIKey == int16(kmsg.ApiVersions) && (a == nil || req.APIVersion > a.max) {
		return b.apiVersionsUnsupported(req)
	}
	if a == nil || req.APIVersion < a.min || req.APIVersion > b.maxVersion(a) {
		b.log.Debug("closing connection: unsupported API version", "api_key", req.APIKey, "version", req.APIVersion, "client", string(req.ClientID))
		return server.CloseConnection
	}
	if ok, why := admitted(c); !ok {
		b.log.Debug("closing connection: "+why, "api_key", req.APIKey, "remote", req.RemoteAddr)
		return server.CloseConnection
	}
	if req.APIKey != int16(kmsg.Produce) && a.catalog == notCatalog {
		// Only appends need the connection's order (00_produce.go); catalog requests are
		// queued in it (queueCatalog) and end their turn on returning.
		req.EndTurn()
	}
	kreq := kmsg.RequestForKey(req.APIKey)
	kreq.SetVersion(req.APIVersion)
	if err := kreq.ReadFrom(req.Body()); err != nil {
		b.log.Debug("closing connection: malformed request", "api_key", req.APIKey, "version", req.APIVersion, "err", err)
		return server.CloseConnection
	}
	c.kreq = kreq
	if a.raw != nil {
		return a.raw(b, c)
	}
	if a.catalog != notCatalog {
		req.WaitTurn()
		b.queueCatalog(a.catalog, a, c)
		return nil
	}
	kresp, err := a.handle(b, c)
	if err == errDeferred {
		return nil
	}
	if err != nil {
		b.log.Debug("closing connection", "api_key", req.APIKey, "version", req.APIVersion, "err", err)
		return server.CloseConnection
	}
	if kresp == nil {
		return nil // acks=0 produce
	}
	b.throttleRequest(c)
	resp := encodeResponse(c, kresp)
	if c.closeAfter {
		resp.CloseAfter()
	}
	return resp
}

// encodeResponse writes the response header and kresp's body, with the call's quota
// throttle (quotas.go) in throttle_time_ms and as the connection's mute.
func encodeResponse(c *call, kresp kmsg.Response) *server.Response {
	req := c.req
	kresp.SetVersion(req.APIVersion)
	st, throttles := kresp.(kmsg.SetThrottleResponse)
	if throttles && c.throttle > 0 {
		st.SetThrottle(throttleMillis(c.throttle))
	}
	resp := server.NewResponse()
	bb := resp.Buffer()
	bb.B = appendResponseHeader(bb.B, req)
	bb.B = kresp.AppendTo(bb.B)
	if c.throttle > 0 {
		resp.MuteFor(c.throttle)
	}
	return resp
}

// appendResponseHeader appends the correlation id and, for flexible versions, the header's
// empty tagged fields. ApiVersions always uses response header v0.
func appendResponseHeader(dst []byte, req *server.Request) []byte {
	c := req.CorrelationID
	dst = append(dst, byte(c>>24), byte(c>>16), byte(c>>8), byte(c))
	if req.APIKey != int16(kmsg.ApiVersions) && HeaderVersion(req.APIKey, req.APIVersion) == 2 {
		dst = append(dst, 0)
	}
	return dst
}

// call is one decoded request.
type call struct {
	req  *server.Request
	kreq kmsg.Request
	// waited is the handler's time spent waiting rather than working (a produce's group
	// commit, a fetch's long poll), for the request time metrics.
	waited time.Duration
	start  time.Time // the handler started (set with metrics or quotas on)
	// A parked request (deferred.go): its answer goes to done; parkedAt is when it parked.
	parked   bool
	parkedAt time.Time
	done     server.Deferred
	// closeAfter closes the connection once the response is written (a failed SASL step).
	closeAfter bool
	// throttle is the client quota's throttle time of the response (quotas.go).
	throttle time.Duration
	// subj is who sent the request, for the authorizer (authz.go); set on first use.
	subj    acl.Subject
	hasSubj bool
}

func (c *call) version() int16 { return c.req.APIVersion }

// api is one registered API: its version range and handler.
type api struct {
	key      int16
	min, max int16
	// handle returns the response to encode, nil for none, or an error to close the
	// connection (a request that makes no sense at all).
	handle func(b *Broker, c *call) (kmsg.Response, error)
	// raw, if set, builds the whole response itself (zero-copy Fetch).
	raw func(b *Broker, c *call) *server.Response
	// catalog handlers wait for the controller and for the metadata to reach this broker
	// (seconds at worst): handle parks the request and runs the handler on the queue named.
	catalog catalogQueue
	// internal APIs are the cluster's own (broker to controller): served, not advertised in
	// ApiVersions, as Kafka serves them on the controller listener only.
	internal bool
	// maxTV2, if set, is the highest version once transaction version 2 is finalized
	// (Config.TransactionVersion); max is the highest before (maxVersion).
	maxTV2 int16
}

var apis []*api

// register adds an API to the registry; each API file calls it from init.
func register(a api) {
	for int(a.key) >= len(apis) {
		apis = append(apis, nil)
	}
	if apis[a.key] != nil {
		panic("broker: API key registered twice: " + strconv.Itoa(int(a.key)))
	}
	apis[a.key] = &a
}

func lookupAPI(key int16) *api {
	if key < 0 || int(key) >= len(apis) {
		return nil
	}
	return apis[key]
}

// errNoTopic is the error for a topic that does not exist.
func errNoTopic(topic string) error {
	return fmt.Errorf("%s: %w", topic, errUnknownTopicOrPartition)
}
