package quota

import (
	"math"
	"net/netip"
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
	Produce  Kind = iota // producer_byte_rate: the bytes of Produce requests
	Fetch                // consumer_byte_rate: the bytes of Fetch responses
	Request              // request_percentage: handler time, in percent of one worker
	Mutation             // controller_mutation_rate: partitions created or deleted per second
)

func (k Kind) key() string {
	switch k {
	case Produce:
		return metadata.ProducerByteRate
	case Fetch:
		return metadata.ConsumerByteRate
	case Request:
		return metadata.RequestPercentage
	default:
		return metadata.ControllerMutationRate
	}
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
	ips     atomic.Pointer[ipRates]                // connection_creation_rate per IP

	sensorsMu sync.Mutex // guards sensors; a leaf
	sensors   map[sensorKey]*sensor
}

// New returns a manager without quotas.
func New(cfg Config) *Manager {
	if cfg.Samples < 1 {
		cfg.Samples = 11
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Second
	}
	m := &Manager{cfg: cfg, sensors: map[sensorKey]*sensor{}}
	empty := map[entityKey]map[string]float64{}
	m.quotas.Store(&empty)
	m.list.Store(&[]metadata.ClientQuota{})
	m.ips.Store(&ipRates{})
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
	ips := &ipRates{named: map[netip.Addr]float64{}}
	for _, q := range qs {
		if len(q.Entity) == 1 && q.Entity[0].Type == metadata.QuotaIP {
			ips.add(q.Entity[0].Name, q.Values)
			continue
		}
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
			}
		}
		t[k] = q.Values
	}
	m.quotas.Store(&t)
	m.ips.Store(ips)
	m.list.Store(&qs)
}

// Quotas are the quotas installed by the last Update (read-only).
func (m *Manager) Quotas() []metadata.ClientQuota { return *m.list.Load() }

// Active reports whether any user or client-id quota is set (nothing needs measuring
// otherwise).
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

// Record counts bytes of kind (Produce or Fetch) for user and client id at now and returns
// how long the client must be throttled (0 when within its quota or without one).
func (m *Manager) Record(kind Kind, user, client string, bytes int64, now time.Time) time.Duration {
	return m.record(kind, user, client, float64(bytes), 0, now)
}

// RecordRequest counts spent, the handler time of one request (doc.go), against the
// request_percentage quota of user and client id at now and returns how long the client must
// be throttled: at most one window, as Kafka's ClientRequestQuotaManager bounds it.
func (m *Manager) RecordRequest(user, client string, spent time.Duration, now time.Time) time.Duration {
	return m.record(Request, user, client, float64(spent.Nanoseconds())*percentPerNano, m.cfg.Window, now)
}

// percentPerNano turns nanoseconds of handler time into percent of one worker-second, so a
// rate per second is percent of one worker (Kafka's NanosToPercentagePerSecond).
const percentPerNano = 100.0 / float64(time.Second)

// record adds v to the rate of kind for user and client id and returns the throttle, capped
// at bound when bound > 0.
func (m *Manager) record(kind Kind, user, client string, v float64, bound time.Duration, now time.Time) time.Duration {
	q, sk, ok := m.limit(kind, user, client)
	if !ok {
		return 0
	}
	s := m.sensor(sk, now)
	rate, elapsed := s.record(m.cfg, v, now)
	d := overRate(rate, q, elapsed, m.cfg)
	if bound > 0 {
		d = min(d, bound)
	}
	return d
}

// overRate is how long a rate measured over elapsed must pause to come back to quota q
// (QuotaUtils.throttleTime: (rate - q) / q × elapsed), 0 within it.
func overRate(rate, q float64, elapsed time.Duration, cfg Config) time.Duration {
	if rate <= q {
		return 0
	}
	if q <= 0 {
		return time.Duration(cfg.Samples) * cfg.Window // a zero quota: a full window span
	}
	return time.Duration(math.Round((rate-q)/q*float64(elapsed.Milliseconds()))) * time.Millisecond
}

// Mutate takes n partition mutations (partitions a CreateTopics, CreatePartitions or
// DeleteTopics creates or deletes) from the controller_mutation_rate token bucket of user
// and client id at now, as Kafka's ControllerMutationQuotaManager does. Strict (the request
// versions that know THROTTLING_QUOTA_EXCEEDED): a bucket below zero refuses the mutations
// (ok false) with the time until it is back at zero; one that is not accepts them
// unthrottled, even if they take it below zero. Permissive (older versions): the mutations
// are always accepted, and throttled by the time the bucket needs to refill to zero.
func (m *Manager) Mutate(user, client string, n int, strict bool, now time.Time) (throttle time.Duration, ok bool) {
	q, sk, found := m.limit(Mutation, user, client)
	if !found {
		return 0, true
	}
	return m.sensor(sk, now).take(m.cfg, q, float64(n), strict, now)
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

// sensor is one sampled rate (Kafka's Rate over a SampledStat), or one token bucket (Kafka's
// TokenBucket) for a Mutation sensor.
type sensor struct {
	mu      sync.Mutex
	samples []sample // ring, current at cur
	cur     int
	last    time.Time // the last record

	tokens   float64   // the bucket's credits (Mutation)
	refilled time.Time // when tokens was last refilled; zero: a new, full bucket
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
	if elapsed < time.Millisecond {
		elapsed = time.Millisecond // one window only, at its very start: Kafka's 1 ms floor
	}
	return sum / elapsed.Seconds(), elapsed
}

// take refills the bucket of quota q (burst: samples × window × q, Kafka's TokenBucket) to
// now and takes n from it; see Manager.Mutate for strict. The throttle of a bucket below zero
// is the time to refill it to zero, -tokens / q.
func (s *sensor) take(cfg Config, q, n float64, strict bool, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	burst := float64(cfg.Samples) * cfg.Window.Seconds() * q
	if s.refilled.IsZero() {
		s.tokens = burst
	} else if dt := now.Sub(s.refilled); dt > 0 {
		s.tokens = min(burst, s.tokens+q*dt.Seconds())
	}
	if now.After(s.refilled) {
		s.refilled = now
	}
	s.last = now
	if strict && s.tokens < 0 {
		return s.refillTime(cfg, q), false
	}
	s.tokens = min(burst, s.tokens-n)
	if strict || s.tokens >= 0 {
		return 0, true
	}
	return s.refillTime(cfg, q), true
}

// refillTime is how long the bucket of quota q needs to get back to zero. REQUIRES: s.mu.
func (s *sensor) refillTime(cfg Config, q float64) time.Duration {
	if q <= 0 {
		return time.Duration(cfg.Samples) * cfg.Window // a zero quota never refills
	}
	return time.Duration(math.Round(-s.tokens/q*1000)) * time.Millisecond
}
