package group

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a Coordinator. Zero values take the defaults (Kafka's where Kafka has one).
type Config struct {
	// Partitions is the number of __consumer_offsets partitions (offsets.topic.num.partitions);
	// a group lives in partition PartitionFor(group). Required.
	Partitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms: how long the first rebalance
	// of an empty group waits for more members (default 3s). Negative means no delay.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout bound a member's session timeout
	// (group.min.session.timeout.ms 6s, group.max.session.timeout.ms 30m).
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// MaxGroupSize is group.max.size (default unbounded).
	MaxGroupSize int
	// OffsetsRetention is offsets.retention.minutes (default 7 days).
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms (default 10m).
	OffsetsRetentionCheckInterval time.Duration
	// MaxMetadataBytes is offset.metadata.max.bytes (default 4096).
	MaxMetadataBytes int
	// ConsumerSessionTimeout is group.consumer.session.timeout.ms, the session of a
	// consumer-protocol member (default 45s).
	ConsumerSessionTimeout time.Duration
	// ConsumerHeartbeatInterval is group.consumer.heartbeat.interval.ms, the heartbeat
	// interval told to consumer-protocol members (default 5s).
	ConsumerHeartbeatInterval time.Duration
	// StreamsSessionTimeout is streams.session.timeout.ms, the session of a streams group
	// member (default 45s).
	StreamsSessionTimeout time.Duration
	// StreamsHeartbeatInterval is streams.heartbeat.interval.ms (default 5s).
	StreamsHeartbeatInterval time.Duration
	// StreamsInitialRebalanceDelay is streams.initial.rebalance.delay.ms: how long the
	// first target assignment of a streams group waits for more members (default 3s;
	// negative means none).
	StreamsInitialRebalanceDelay time.Duration
	// StreamsNumStandbyReplicas is streams.num.standby.replicas (default 0).
	StreamsNumStandbyReplicas int
	// Topics resolves a topic name for the server-side assignors; nil means no topic exists.
	// It is called with a group lock held, so it must not call back into the coordinator.
	Topics func(name string) (TopicInfo, bool)
	// TopicNames lists the topics a subscribed regular expression may match (internal
	// topics excluded); nil means none. Called with a group lock held, like Topics.
	TopicNames func() []string
	// Clock drives every timeout; nil means SystemClock.
	Clock Clock
	// NewMemberID makes a member id for a client; nil means clientID + "-" + a random UUID, as
	// Kafka does. Tests inject a counter.
	NewMemberID func(clientID string) string
	// NewConsumerMemberID makes the member id of a ConsumerGroupHeartbeat v0 member; nil
	// means a random UUID in Kafka's base64 form.
	NewConsumerMemberID func() string
	// Logger receives the coordinator's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.InitialRebalanceDelay == 0 {
		c.InitialRebalanceDelay = 3 * time.Second
	}
	if c.InitialRebalanceDelay < 0 {
		c.InitialRebalanceDelay = 0
	}
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = int(^uint32(0) >> 1)
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.OffsetsRetentionCheckInterval <= 0 {
		c.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if c.ConsumerSessionTimeout <= 0 {
		c.ConsumerSessionTimeout = 45 * time.Second
	}
	if c.ConsumerHeartbeatInterval <= 0 {
		c.ConsumerHeartbeatInterval = 5 * time.Second
	}
	if c.StreamsSessionTimeout <= 0 {
		c.StreamsSessionTimeout = 45 * time.Second
	}
	if c.StreamsHeartbeatInterval <= 0 {
		c.StreamsHeartbeatInterval = 5 * time.Second
	}
	if c.StreamsInitialRebalanceDelay == 0 {
		c.StreamsInitialRebalanceDelay = 3 * time.Second
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.Clock == nil {
		c.Clock = SystemClock
	}
	if c.NewMemberID == nil {
		c.NewMemberID = randomMemberID
	}
	if c.NewConsumerMemberID == nil {
		c.NewConsumerMemberID = randomUUID
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Partitions <= 0 {
		c.Partitions = 1
	}
}

// randomUUID is Kafka's Uuid.randomUuid().toString(): URL-safe base64 without padding.
func randomUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return base64.RawURLEncoding.EncodeToString(u[:])
}

func randomMemberID(clientID string) string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return clientID + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Coordinator is the group coordinator of one node (classic and consumer protocols): the groups, their
// members and committed offsets, persisted through a Journal.
//
// Locks: Coordinator.mu guards the group map only; each group's state is guarded by its own
// group.mu. Order: Coordinator.mu → group.mu → the Journal's locks. Responses to parked
// JoinGroup/SyncGroup calls are delivered by a non-blocking send on a 1-buffered channel while
// group.mu is held; no caller code runs under a coordinator lock.
type Coordinator struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	j     Journal

	mu     sync.RWMutex
	groups map[string]*group // guarded by mu
	expiry Timer             // offsets retention check; guarded by mu
	closed bool              // guarded by mu
	// pos stamps offset records in append order, continuing above every log offset replayed
	// (Record.pos): within a group, records are appended under its lock, so the stamps
	// order them as their log offsets do.
	pos atomic.Int64
	// closeErr answers requests parked or arriving after Close; guarded by mu.
	closeErr *kerr.Error
}

// New returns a coordinator persisting through j, with the state replayed from recs (the
// journal's live records, in log order; see Journal).
func New(cfg Config, j Journal, recs func(yield func(Record) bool)) *Coordinator {
	cfg.setDefaults()
	c := &Coordinator{cfg: cfg, clock: cfg.Clock, log: cfg.Logger, j: j, groups: map[string]*group{}}
	if recs != nil {
		c.replay(recs)
	}
	c.mu.Lock()
	c.expiry = c.clock.AfterFunc(cfg.OffsetsRetentionCheckInterval, c.expireOffsetsTick)
	c.mu.Unlock()
	return c
}

// Close stops the coordinator's timers and answers parked requests with
// COORDINATOR_NOT_AVAILABLE, so clients move on (they find the coordinator again).
func (c *Coordinator) Close() { c.CloseWith(kerr.CoordinatorNotAvailable) }

// CloseWith is Close answering parked and later requests with e (a cluster's coordinator that
// lost the leadership of its __consumer_offsets partition answers NOT_COORDINATOR).
func (c *Coordinator) CloseWith(e *kerr.Error) {
	c.mu.Lock()
	c.closed, c.closeErr = true, e
	if c.expiry != nil {
		c.expiry.Stop()
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		for _, m := range g.order {
			if m.hbTimer != nil {
				m.hbTimer.Stop()
			}
			c.failJoin(g, m, e)
			c.failSync(m, e)
		}
		if g.joinTimer != nil {
			g.joinTimer.Stop()
		}
		for _, t := range g.pending {
			t.Stop()
		}
		if g.cg != nil {
			g.cg.stopTimers()
		}
		if g.sg != nil {
			g.sg.stopTimers()
		}
		g.mu.Unlock()
	}
}

// PartitionFor is the __consumer_offsets partition of a group: Kafka's
// Utils.abs(groupId.hashCode) % partitions, so a group maps where Kafka would put it.
func PartitionFor(group string, partitions int32) int32 {
	var h int32
	for _, r := range group { // Java hashes UTF-16 code units
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % partitions
}

// lookup returns the live group, or nil.
func (c *Coordinator) lookup(id string) *group {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.groups[id]
}

// lockGroup returns the group locked, or nil if it does not exist. A group found Dead
// (removed concurrently) is treated as absent.
func (c *Coordinator) lockGroup(id string) *group {
	g := c.lookup(id)
	if g == nil {
		return nil
	}
	g.mu.Lock()
	if g.state == Dead {
		g.mu.Unlock()
		return nil
	}
	return g
}

// lockOrCreate returns the group locked, creating it Empty if needed.
func (c *Coordinator) lockOrCreate(id string) *group {
	for {
		if g := c.lockGroup(id); g != nil {
			return g
		}
		c.mu.Lock()
		g := c.groups[id]
		if g == nil || g.state == Dead {
			g = c.newGroup(id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != Dead {
			return g
		}
		g.mu.Unlock()
	}
}

func (c *Coordinator) newGroup(id string) *group {
	return &group{
		id: id, part: PartitionFor(id, c.cfg.Partitions), state: Empty, stateTime: c.clock.Now(),
		members: map[string]*member{}, static: map[string]*member{}, pending: map[string]Timer{},
		offsets: map[string]map[int32]Offset{}, offsetPos: map[txnOffset]int64{},
	}
}

// removeIfDead drops a group that became Dead from the map. The caller must not hold g.mu
// (lock order); the group stays Dead, so nobody revives it.
func (c *Coordinator) removeIfDead(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		g.mu.Lock()
		if g.state == Dead {
			delete(c.groups, g.id)
		}
		g.mu.Unlock()
	}
	c.mu.Unlock()
}
