package streams

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Guarantee is the processing guarantee of an application.
type Guarantee int

const (
	// AtLeastOnce (the default): after a crash, records processed since the last commit
	// are processed again, so outputs and changelog writes may repeat.
	AtLeastOnce Guarantee = iota
	// ExactlyOnceV2 is Kafka's exactly_once_v2: one transactional producer per thread;
	// outputs, changelog writes and input offsets commit or abort together, and every
	// consumer (input, restore) reads read_committed.
	ExactlyOnceV2
)

// Config configures an application.
type Config struct {
	// ApplicationID names the application: its consumer group, the prefix of its internal
	// topics (`<id>-<store>-changelog`, `<id>-<name>-repartition`) and its state directory.
	ApplicationID string
	// Brokers are the seed brokers.
	Brokers []string
	// StateDir holds the stores, under StateDir/<ApplicationID>/<task>/<store>.
	StateDir string
	// Threads is how many stream threads (group members) this instance runs; default 1.
	Threads int
	// InstanceID names this instance. When set, each thread is a static group member
	// (group.instance.id `<app>-<instance>-<thread>`, KIP-345): an instance restarted
	// with the same id takes its tasks back at once, where a new dynamic member would wait
	// for the dead one's session timeout; but a static member does not leave the group on
	// close, so its tasks move only after the session timeout. Exactly once, it also names
	// the transactional ids (`<app>-<instance>-<thread>`), so a restart fences the previous
	// incarnation's producer at once. Default: random, and dynamic membership.
	InstanceID string
	// CommitInterval is how often offsets (and transactions) commit; default 30 s at
	// least once and 100 ms exactly once, as Kafka Streams.
	CommitInterval time.Duration
	// ProcessingGuarantee is AtLeastOnce (default) or ExactlyOnceV2.
	ProcessingGuarantee Guarantee
	// ReplicationFactor of the internal topics; 0 means the broker's default.
	ReplicationFactor int16
	// OnRestore, if set, is called as stores restore from their changelogs.
	OnRestore func(RestoreProgress)
	// Logger receives structured logs; default slog.Default().
	Logger *slog.Logger
	// ClientOpts are added to every franz-go client the application makes (TLS, SASL, …).
	ClientOpts []kgo.Opt
	// StandbyReplicas is how many other members keep a warm copy of each task's
	// stores (Kafka Streams' num.standby.replicas): a standby follows the changelogs,
	// so when its task moves to it (a failover, a rebalance) the restore is short.
	// Default 0.
	StandbyReplicas int
	// Endpoint is where this instance answers interactive queries ("host:port", Kafka
	// Streams' application.server); it is announced to the group so that Locate, on
	// any instance, can say which one holds a key. Optional.
	Endpoint string
	// WindowChangelogAdditionalRetention is added to a windowed store's retention to
	// make its changelog's retention.ms (Kafka Streams'
	// windowstore.changelog.additional.retention.ms), a margin for clock drift between
	// the broker and the event times. Default 24 h.
	WindowChangelogAdditionalRetention time.Duration
}

// App runs a topology: New, then Run until its context ends.
type App struct {
	cfg     Config
	static  bool // cfg.InstanceID was given: static group membership
	topo    *Topology
	sources map[string]*node // real input topic → source node
	inputs  []string         // the topics the threads consume, sorted
	admin   *kgo.Client      // metadata, topic creation, end offsets
	cache   *pebble.Cache
	metrics *Metrics
	log     *slog.Logger
	tasks   atomic.Int32 // the partition count N: the number of tasks, once Run checked the topics

	liveMu sync.RWMutex
	live   map[int32]*task // guarded by liveMu: the tasks open on this instance, for queries
}

// New checks cfg and prepares an application; nothing is contacted before Run.
func New(t *Topology, cfg Config) (*App, error) {
	switch {
	case t == nil:
		return nil, errors.New("streams: nil topology")
	case cfg.ApplicationID == "" || strings.ContainsAny(cfg.ApplicationID, "/\\ "):
		return nil, fmt.Errorf("streams: ApplicationID %q: want a non-empty name without slashes or spaces", cfg.ApplicationID)
	case len(cfg.Brokers) == 0:
		return nil, errors.New("streams: no Brokers")
	case cfg.StateDir == "" && len(t.stores) > 0:
		return nil, errors.New("streams: the topology has stores but no StateDir")
	case cfg.Threads < 0:
		return nil, fmt.Errorf("streams: Threads %d", cfg.Threads)
	case cfg.StandbyReplicas < 0:
		return nil, fmt.Errorf("streams: StandbyReplicas %d", cfg.StandbyReplicas)
	case cfg.WindowChangelogAdditionalRetention < 0:
		return nil, fmt.Errorf("streams: WindowChangelogAdditionalRetention %v", cfg.WindowChangelogAdditionalRetention)
	}
	if cfg.Threads == 0 {
		cfg.Threads = 1
	}
	static := cfg.InstanceID != ""
	if !static {
		var b [6]byte
		rand.Read(b[:])
		cfg.InstanceID = hex.EncodeToString(b[:])
	}
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = 30 * time.Second
		if cfg.ProcessingGuarantee == ExactlyOnceV2 {
			cfg.CommitInterval = 100 * time.Millisecond
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &App{cfg: cfg, static: static, topo: t, sources: map[string]*node{}, metrics: &Metrics{}, live: map[int32]*task{}, log: cfg.Logger.With("app", cfg.ApplicationID)}
	for topic, n := range t.sources {
		if suffix, ok := strings.CutPrefix(topic, internalTopicPlaceholder("")); ok {
			topic = a.internalTopic(suffix)
		}
		a.sources[topic] = n
		a.inputs = append(a.inputs, topic)
	}
	sort.Strings(a.inputs)
	return a, nil
}

// Metrics returns the application's counters.
func (a *App) Metrics() *Metrics { return a.metrics }

// changelogTopic is Kafka Streams' name of a store's changelog.
func (a *App) changelogTopic(store string) string {
	return a.cfg.ApplicationID + "-" + store + "-changelog"
}

// internalTopic is Kafka Streams' name of an internal topic other than a changelog:
// `<app>-<name>-repartition`, `<app>-<name>-subscription-registration-topic`, ….
func (a *App) internalTopic(suffix string) string {
	return a.cfg.ApplicationID + "-" + suffix
}

// Run creates the internal topics, starts the threads and processes until ctx ends (then
// commits, closes the stores and leaves the group: a nil error) or a thread fails.
func (a *App) Run(ctx context.Context) error {
	var err error
	a.admin, err = kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(a.cfg.Brokers...)}, a.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	defer a.admin.Close()
	if err := a.prepareTopics(ctx); err != nil {
		return err
	}
	a.cache = pebble.NewCache(32 << 20)
	defer a.cache.Unref()

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i := range a.cfg.Threads {
		th, err := newThread(a, i)
		if err != nil {
			cancel(err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := th.run(runCtx); err != nil {
				a.log.Error("stream thread failed", "thread", i, "err", err)
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(runCtx); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ctx.Err()) {
		return err
	}
	return nil
}

// prepareTopics checks the source and sink topics and creates the internal ones: every
// input must exist with the same partition count N (tasks are partition numbers, so
// sources must be co-partitioned), and changelogs and repartition topics get N partitions.
func (a *App) prepareTopics(ctx context.Context) error {
	adm := kadm.NewClient(a.admin)
	var user []string
	for topic := range a.sources {
		if !a.topo.hasInternalTopic(a, topic) {
			user = append(user, topic)
		}
	}
	user = append(user, a.topo.sinks...)
	sort.Strings(user)
	details, err := adm.ListTopics(ctx, user...)
	if err != nil {
		return fmt.Errorf("streams: describing topics: %w", err)
	}
	n := -1
	var first string
	for _, topic := range user {
		d, ok := details[topic]
		if !ok || d.Err != nil {
			why := "does not exist"
			switch {
			case ok && errors.Is(d.Err, kerr.TopicAuthorizationFailed):
				why = "may not be described by this principal (TOPIC_AUTHORIZATION_FAILED)"
			case ok && !errors.Is(d.Err, kerr.UnknownTopicOrPartition):
				why = d.Err.Error()
			}
			return fmt.Errorf("streams: topic %s %s (sources and sinks are not created by the application)", topic, why)
		}
		if _, isSource := a.sources[topic]; !isSource {
			continue
		}
		switch {
		case n < 0:
			n, first = len(d.Partitions), topic
		case len(d.Partitions) != n:
			return fmt.Errorf("streams: source topics are not co-partitioned: %s has %d partitions, %s has %d (every task reads the same partition number of each source)", first, n, topic, len(d.Partitions))
		}
	}
	if n < 1 {
		return errors.New("streams: the topology reads only internal topics")
	}
	a.tasks.Store(int32(n))
	want := map[string]map[string]*string{}
	for _, suffix := range a.topo.parts {
		want[a.internalTopic(suffix)] = map[string]*string{"cleanup.policy": kadm.StringPtr("delete")}
	}
	extra := a.cfg.WindowChangelogAdditionalRetention
	if extra == 0 {
		extra = 24 * time.Hour
	}
	for name, spec := range a.topo.stores {
		configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
		if spec.kind.windowed() {
			configs["cleanup.policy"] = kadm.StringPtr("compact,delete")
			configs["retention.ms"] = kadm.StringPtr(strconv.FormatInt(spec.retention+extra.Milliseconds(), 10))
		}
		want[a.changelogTopic(name)] = configs
	}
	rf := a.cfg.ReplicationFactor
	if rf == 0 {
		rf = -1
	}
	for topic, configs := range want {
		resp, err := adm.CreateTopic(ctx, int32(n), rf, configs, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return fmt.Errorf("streams: creating internal topic %s: %w", topic, err)
		}
	}
	internal := make([]string, 0, len(want))
	for topic := range want {
		internal = append(internal, topic)
	}
	// Created topics can take a moment to show in metadata; existing ones must match N.
	for deadline := time.Now().Add(30 * time.Second); ; {
		details, err := adm.ListTopics(ctx, internal...)
		if err != nil {
			return fmt.Errorf("streams: describing internal topics: %w", err)
		}
		missing := ""
		for _, topic := range internal {
			d, ok := details[topic]
			if !ok || d.Err != nil || len(d.Partitions) == 0 {
				missing = topic
				continue
			}
			if len(d.Partitions) != n {
				return fmt.Errorf("streams: internal topic %s has %d partitions, the sources %d (delete it, or give the sources %d)", topic, len(d.Partitions), n, len(d.Partitions))
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("streams: internal topic %s does not show in metadata", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hasInternalTopic reports whether topic is one of the topology's repartition or
// FK-join topics.
func (t *Topology) hasInternalTopic(a *App, topic string) bool {
	for _, suffix := range t.parts {
		if a.internalTopic(suffix) == topic {
			return true
		}
	}
	return false
}
