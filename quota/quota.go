// Package quota enforces Kafka's client quotas (KIP-13, KIP-55): produce and fetch byte
// rates per user, client id, or (user, client id), with defaults, as Kafka's
// ClientQuotaManager does.
//
// # Which quota applies
//
// The quotas come from the cluster metadata (metadata.ClientQuota, set with
// AlterClientQuotas: kafka-configs --entity-type users|clients). For a request of user u
// (the principal's name) and client id c the first quota set among these applies (Kafka's
// DefaultQuotaCallback order), and its entity decides who shares the rate:
//
//  1. user=u, client-id=c          4. user=<default>, client-id=c        7. client-id=c
//  2. user=u, client-id=<default>  5. user=<default>, client-id=<default> 8. client-id=<default>
//  3. user=u                       6. user=<default>
//
// A quota of a user entity (1-6) is measured per user (with the client id too when the
// entity has one); a default user quota gives every user its own rate, not a shared one.
//
// # Rate and throttle time
//
// A sensor keeps Samples windows of Window each (quota.window.num=11,
// quota.window.size.seconds=1) and measures sum / elapsed, where elapsed is the time since
// the oldest window began, but at least Samples-1 windows (Kafka's Rate: a new sensor does
// not see a short burst as a huge rate). A request that takes the rate over the quota Q is
// answered with throttle (rate - Q) / Q × elapsed (QuotaUtils.throttleTime), in its
// throttle_time_ms, and its connection is muted that long (server.Response.MuteFor); the
// bytes count either way, as in Kafka.
//
// Sensors idle for a whole window span are dropped once there are more than maxSensors.
package quota

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logd/logd/metadata"
)

// Kind is what a quota limits.
type Kind uint8

// Kinds.
const (
	Produce Kind = iota // producer_byte_rate: the bytes of Produce requests
	Fetch               // consumer_byte_rate: the bytes of Fetch responses
)

func (k Kind) key() string {
	if k == Produce {
		return metadata.ProducerByteRate
	}
	return metadata.ConsumerByteRate
}

// Config is Kafka's quota window settings.
type Config struct {
	// Samples is quota.window.num (default 11).
	Samples int
	// Window is quota.window.size.seconds (default 1 s).
	Window time.Duration
}

// maxSensors bounds the sensors kept; past it, idle ones are dropped.
const maxSensors = 1 << 16

// entityKey identifies a quota entity: each part absent, named or the default.
type entityKey struct {
	user, client       string
	userSet, clientSet uint8 // 0 absent, 1 named, 2 default
}

const (
	absent uint8 = iota
	named
	dflt
)

// sensorKey identifies a rate: the kind and who shares it.
type sensorKey struct {
	kind         Kind
	user, client string
}

// Manager measures rates and answers throttle times.
type Manager struct {
	cfg Config

	mu      sync.Mutex // serializes Update
	version uint64     // guarded by mu
	quotas  atomic.Pointer[map[entityKey]map[string]float64]
	list    atomic.Pointer[[]metadata.ClientQuota] // as installed, for DescribeClientQuotas

	sensorsMu sync.Mutex // guards sensors; a leaf
	sensors   map[sensorKey]*sensor
}

// New returns a manager without quotas.
func New(cfg Config) *Manager {
	if cfg.Samples < 2 {
		cfg.Samples = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	m := &Manager{cfg: cfg, sensors: map[sensorKey]*sensor{}}
	empty := map[entityKey]map[string]float64{}
	m.quotas.Store(&empty)
	m.list.Store(&[]metadata.ClientQuota{})
	return m
}

// Update installs the quotas of the cluster metadata at version (its Raft index); an older
// version than the last one installed is ignored.
func (m *Manager) Update(version uint64, qs []metadata.ClientQuota) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version < m.version {
		return
	}
	m.version = version
	t := make(map[entityKey]map[string]float64, len(qs))
	for _, q := range qs {
		var k entityKey
		for _, e := range q.Entity {
			set, name := dflt, ""
			if e.Name != nil {
				set, name = named, *e.Name
			}
			switch e.Type {
			case metadata.QuotaUser:
				k.userSet, k.user = set, name
			case metadata.QuotaClientID:
				k.clientSet, k.client = set, name
			default:
				continue // ip quotas limit connections, not bytes
			}
		}
		t[k] = q.Values
	}
	m.quotas.Store(&t)
	m.list.Store(&qs)
}

// Quotas are the quotas installed by the last Update (read-only).
func (m *Manager) Quotas() []metadata.ClientQuota { return *m.list.Load() }

// Active reports whether any quota is set (nothing needs measuring otherwise).
func (m *Manager) Active() bool { return len(*m.quotas.Load()) > 0 }

// limit finds the quota of kind for user and client id in Kafka's order, and who shares it.
func (m *Manager) limit(kind Kind, user, client string) (float64, sensorKey, bool) {
	t := *m.quotas.Load()
	key := kind.key()
	for _, c := range [...]struct {
		k            entityKey
		user, client bool // the sensor is per user, per client id
	}{
		{entityKey{user: user, userSet: named, client: client, clientSet: named}, true, true},
		{entityKey{user: user, userSet: named, clientSet: dflt}, true, true},
		{entityKey{user: user, userSet: named}, true, false},
		{entityKey{userSet: dflt, client: client, clientSet: named}, true, true},
		{entityKey{userSet: dflt, clientSet: dflt}, true, true},
		{entityKey{userSet: dflt}, true, false},
		{entityKey{client: client, clientSet: named}, false, true},
		{entityKey{clientSet: dflt}, false, true},
	} {
		if v, ok := t[c.k][key]; ok {
			s := sensorKey{kind: kind}
			if c.user {
				s.user = user
			}
			if c.client {
				s.client = client
			}
			return v, s, true
		}
	}
	return 0, sensorKey{}, false
}

// UserOf is the quota user of a principal: its name ("User:alice" → "alice").
func UserOf(principal string) string {
	if principal == "" {
		return "ANONYMOUS"
	}
	if i := strings.IndexByte(principal, ':'); i >= 0 {
		return principal[i+1:]
	}
	return principal
}

// Record counts bytes of kind for user and client id at now and returns how long the client
// must be throttled (0 when within its quota or without one).
func (m *Manager) Record(kind Kind, user, client string, bytes int64, now time.Time) time.Duration {
	q, sk, ok := m.limit(kind, user, client)
	if !ok {
		return 0
	}
	s := m.sensor(sk, now)
	rate, elapsed := s.record(m.cfg, float64(bytes), now)
	if rate <= q {
		return 0
	}
	if q <= 0 {
		return time.Duration(m.cfg.Samples) * m.cfg.Window // a zero quota: a full window span
	}
	return time.Duration(math.Round((rate-q)/q*float64(elapsed.Milliseconds()))) * time.Millisecond
}

func (m *Manager) sensor(k sensorKey, now time.Time) *sensor {
	m.sensorsMu.Lock()
	defer m.sensorsMu.Unlock()
	s := m.sensors[k]
	if s == nil {
		if len(m.sensors) >= maxSensors {
			span := time.Duration(m.cfg.Samples) * m.cfg.Window
			for key, old := range m.sensors {
				if old.idleSince(now) > span {
					delete(m.sensors, key)
				}
			}
		}
		s = &sensor{}
		m.sensors[k] = s
	}
	return s
}

// sensor is one sampled rate (Kafka's Rate over a SampledStat).
type sensor struct {
	mu      sync.Mutex
	samples []sample // ring, current at cur
	cur     int
	last    time.Time // the last record
}

type sample struct {
	start time.Time
	value float64
}

func (s *sensor) idleSince(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Sub(s.last)
}

// record adds v at now and returns the rate per second and the window it was measured over.
func (s *sensor) record(cfg Config, v float64, now time.Time) (float64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == nil {
		s.samples = make([]sample, cfg.Samples)
		s.samples[0].start = now
	}
	if now.Sub(s.samples[s.cur].start) >= cfg.Window {
		s.cur = (s.cur + 1) % len(s.samples)
		s.samples[s.cur] = sample{start: now}
	}
	s.samples[s.cur].value += v
	s.last = now
	// Drop samples older than the whole span, then measure from the oldest left.
	span := time.Duration(len(s.samples)) * cfg.Window
	var sum float64
	oldest := now
	for i := range s.samples {
		sm := &s.samples[i]
		if sm.start.IsZero() {
			continue
		}
		if now.Sub(sm.start) >= span {
			*sm = sample{}
			continue
		}
		sum += sm.value
		if sm.start.Before(oldest) {
			oldest = sm.start
		}
	}
	elapsed := now.Sub(oldest)
	if full, least := int(elapsed/cfg.Window), len(s.samples)-1; full < least {
		elapsed += time.Duration(least-full) * cfg.Window
	}
	return sum / elapsed.Seconds(), elapsed
}
