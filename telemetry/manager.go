package telemetry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/logd/logd/internal/compress"
)

// Errors of GetTelemetrySubscriptions and PushTelemetry, each one Kafka error code (the broker
// maps them in broker/errors.go).
var (
	// ErrInvalidRequest: a push with a zero or reserved client instance id, a push after a
	// terminating one, a bad subscription config name or interval (INVALID_REQUEST).
	ErrInvalidRequest = errors.New("invalid telemetry request")
	// ErrThrottled: a request before the push interval elapsed (THROTTLING_QUOTA_EXCEEDED).
	ErrThrottled = errors.New("telemetry request before the next push interval")
	// ErrUnknownSubscription: a push naming another subscription id than the client's current
	// one, e.g. after the subscriptions changed (UNKNOWN_SUBSCRIPTION_ID).
	ErrUnknownSubscription = errors.New("unknown client subscription id")
	// ErrUnsupportedCompression: a compression type that is no record batch codec
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompression = errors.New("unsupported telemetry compression type")
	// ErrTooLarge: metrics larger than telemetry.max.bytes (TELEMETRY_TOO_LARGE).
	ErrTooLarge = errors.New("telemetry larger than telemetry.max.bytes")
	// ErrInvalidRecord: metrics that do not decompress or do not decode as OTLP MetricsData
	// (INVALID_RECORD, Kafka's answer when its exporter fails).
	ErrInvalidRecord = errors.New("telemetry metrics are not valid OTLP MetricsData")
)

// Defaults of Config.
const (
	// DefaultMaxBytes is Kafka's telemetry.max.bytes default.
	DefaultMaxBytes = 1 << 20
	// DefaultMaxInstances bounds the client instances remembered (Kafka's cache size).
	DefaultMaxInstances = 16384
	// DefaultMaxSeries bounds the series exported to Prometheus.
	DefaultMaxSeries = 20000
	// instanceExpiry is the least time an idle client instance is remembered (Kafka's cache
	// expiry; more for long push intervals: staleIntervals of them).
	instanceExpiry = time.Minute
	// staleIntervals is how many push intervals a client's series stay exported after its last
	// push (at least minStale), and (at least) its instance is remembered.
	staleIntervals = 3
	// minStale keeps the series of clients pushing slower than asked (franz-go pushes at most
	// once a second, the Java client with up to 1.5 intervals of jitter) from flapping.
	minStale = 5 * time.Second
	// decompressFactor caps decompressed metrics at this many times telemetry.max.bytes.
	decompressFactor = 32
)

// AcceptedCompressions are the compression types a client may push with, in the order of
// preference the client takes the first of (Kafka's: zstd, lz4, gzip, snappy).
var AcceptedCompressions = []int8{compress.Zstd, compress.LZ4, compress.Gzip, compress.Snappy}

// Config configures a Manager.
type Config struct {
	// MaxBytes is telemetry.max.bytes: the largest metrics payload accepted (compressed, as
	// sent). 0 is DefaultMaxBytes.
	MaxBytes int32
	// MaxInstances bounds the client instances remembered; 0 is DefaultMaxInstances.
	MaxInstances int
	// MaxSeries bounds the series exported; 0 is DefaultMaxSeries.
	MaxSeries int
	// Subscriptions returns the stored client-metrics resources' configs by name (the metadata
	// quorum's; read only). Nil: none.
	Subscriptions func() map[string]map[string]string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives subscription errors; nil discards them.
	Logger *slog.Logger
}

// Client is who sent a telemetry request: the connection and the request header's client id.
type Client struct {
	// Conn identifies the connection (comparable; the broker's per-connection session). The
	// software name and version it announced (SetSoftware) and its instance are keyed by it.
	Conn any
	// ClientID is the request header's client id.
	ClientID string
	// Address and Port are the client's source address and port.
	Address string
	Port    string
}

// Subscribed is a GetTelemetrySubscriptions answer.
type Subscribed struct {
	InstanceID     [16]byte
	SubscriptionID int32
	// Metrics are the requested metric name prefixes (empty: none, AllMetrics: all).
	Metrics  []string
	Interval time.Duration
	MaxBytes int32
}

// Push is a PushTelemetry request.
type Push struct {
	InstanceID     [16]byte
	SubscriptionID int32
	Terminating    bool
	Compression    int8
	Metrics        []byte
}

// Manager is the broker's side of KIP-714 client telemetry: it assigns client instance ids,
// answers each client the subscription that matches it, checks its pushes (interval,
// subscription id, size, compression) and exports the pushed metrics (Exporter). Safe for
// concurrent use.
type Manager struct {
	cfg    Config
	export *Exporter

	mu sync.Mutex
	// software is what each connection announced in ApiVersions: name, version.
	software map[any][2]string
	// instances are the known clients by instance id; byConn the instance of a connection.
	instances map[[16]byte]*instance
	byConn    map[any][16]byte
	// stored is the subscription configs subs was parsed from; version counts their changes.
	stored    map[string]map[string]string
	subs      []Subscription
	version   uint64
	lastSweep time.Time
}

// instance is one client instance (Kafka's ClientMetricsInstance). REQUIRES: Manager.mu held
// for every access.
type instance struct {
	id       [16]byte
	conn     any               // the connection it was last seen on
	attrs    map[string]string // the match selectors' values
	version  uint64            // Manager.version it was evaluated at
	subID    int32
	metrics  []string
	interval time.Duration
	lastGet  time.Time
	lastPush time.Time
	lastSeen time.Time
	// terminating: the client sent its last push; any later one is refused.
	terminating bool
	// lastErr is the error of its last request: after UNKNOWN_SUBSCRIPTION_ID or
	// UNSUPPORTED_COMPRESSION_TYPE a GetTelemetrySubscriptions is answered at once.
	lastErr error
}

// NewManager returns a Manager exporting to a new Exporter.
func NewManager(cfg Config) *Manager {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxInstances <= 0 {
		cfg.MaxInstances = DefaultMaxInstances
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, export: newExporter(cfg.MaxSeries, cfg.Now),
		software: map[any][2]string{}, instances: map[[16]byte]*instance{}, byConn: map[any][16]byte{}}
}

// Exporter is where the pushed metrics go: a Prometheus collector.
func (m *Manager) Exporter() *Exporter { return m.export }

// SetSoftware records the client software name and version a connection announced in
// ApiVersions (v3+), for the client_software_name and client_software_version selectors.
func (m *Manager) SetSoftware(conn any, name, version string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.software[conn] = [2]string{name, version}
}

// ConnClosed forgets a connection: its announced software and its client instance (a client
// reconnecting starts over, as in Kafka). Its exported series stay until they are stale.
func (m *Manager) ConnClosed(conn any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.software, conn)
	if id, ok := m.byConn[conn]; ok {
		delete(m.byConn, conn)
		delete(m.instances, id)
	}
}

// GetSubscriptions answers a GetTelemetrySubscriptions: a zero id gets a new client instance
// id; the answer is the union of the subscriptions matching the client, pushed at the shortest
// of their intervals. A request before the push interval elapsed is ErrThrottled, unless the
// subscriptions changed or the client's last push was refused for its subscription id or
// compression.
func (m *Manager) GetSubscriptions(c Client, id [16]byte) (Subscribed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	if id == ([16]byte{}) {
		id = m.newIDLocked()
	}
	in := m.instanceLocked(c, id, now)
	if !in.lastGet.IsZero() || !in.lastPush.IsZero() {
		last := in.lastGet
		if in.lastPush.After(last) {
			last = in.lastPush
		}
		retry := errors.Is(in.lastErr, ErrUnknownSubscription) || errors.Is(in.lastErr, ErrUnsupportedCompression)
		if now.Sub(last) < in.interval && !retry {
			return Subscribed{}, fmt.Errorf("%w: client %s asked again %v after its last request, its push interval is %v",
				ErrThrottled, InstanceIDString(id), now.Sub(last).Round(time.Millisecond), in.interval)
		}
	}
	in.lastGet, in.lastErr = now, nil
	return Subscribed{InstanceID: id, SubscriptionID: in.subID, Metrics: slices.Clone(in.metrics), Interval: in.interval, MaxBytes: m.cfg.MaxBytes}, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// reservedIDs are the instance ids no client may push with (Kafka's Uuid.RESERVED: zero and
// the metadata topic's id).
var reservedIDs = [][16]byte{{}, {15: 1}}

// Push checks a PushTelemetry as Kafka does — a terminated client, the push interval (waived
// for the first push after a GetTelemetrySubscriptions and for a terminating push), the
// subscription id, the compression type, telemetry.max.bytes — then decodes its metrics and
// exports them. The client's terminating flag is recorded whatever the outcome.
func (m *Manager) Push(c Client, p Push) error {
	if slices.Contains(reservedIDs, p.InstanceID) {
		return fmt.Errorf("%w: client instance id %s is reserved", ErrInvalidRequest, InstanceIDString(p.InstanceID))
	}
	m.mu.Lock()
	now := m.cfg.Now()
	in := m.instanceLocked(c, p.InstanceID, now)
	err := m.checkPushLocked(in, p, now)
	in.terminating = in.terminating || p.Terminating
	in.lastErr = err
	clientID := in.attrs[MatchClientID]
	interval := in.interval
	m.mu.Unlock()
	if err != nil || len(p.Metrics) == 0 {
		return err
	}
	// Decoding and exporting run outside m.mu: the exporter has its own lock.
	limit := int(m.cfg.MaxBytes) * decompressFactor
	raw, err := compress.Decompress(int(p.Compression), p.Metrics, limit)
	if err != nil {
		err = fmt.Errorf("%w: decompressing %d bytes (compression type %d, at most %d bytes out): %v", ErrInvalidRecord, len(p.Metrics), p.Compression, limit, err)
	} else {
		err = m.export.push(p.InstanceID, clientID, max(interval*staleIntervals, minStale), raw)
	}
	if err != nil {
		m.mu.Lock()
		in.lastErr = err
		m.mu.Unlock()
	}
	return err
}

// checkPushLocked validates a push in Kafka's order. REQUIRES: m.mu held.
func (m *Manager) checkPushLocked(in *instance, p Push, now time.Time) error {
	id := InstanceIDString(p.InstanceID)
	if in.terminating {
		return fmt.Errorf("%w: client %s already sent its terminating push", ErrInvalidRequest, id)
	}
	accept := in.lastGet.After(in.lastPush) || in.lastPush.IsZero() || now.Sub(in.lastPush) >= in.interval
	if !accept && !p.Terminating {
		return fmt.Errorf("%w: client %s pushed %v after its last push, its push interval is %v",
			ErrThrottled, id, now.Sub(in.lastPush).Round(time.Millisecond), in.interval)
	}
	if accept {
		in.lastPush = now
	}
	if p.SubscriptionID != in.subID {
		return fmt.Errorf("%w: client %s pushed subscription %d, its subscription is %d", ErrUnknownSubscription, id, p.SubscriptionID, in.subID)
	}
	if p.Compression < compress.None || p.Compression > compress.Zstd {
		return fmt.Errorf("%w: client %s pushed compression type %d", ErrUnsupportedCompression, id, p.Compression)
	}
	if len(p.Metrics) > int(m.cfg.MaxBytes) {
		return fmt.Errorf("%w: client %s pushed %d bytes, telemetry.max.bytes is %d", ErrTooLarge, id, len(p.Metrics), m.cfg.MaxBytes)
	}
	return nil
}

// instanceLocked returns the client instance id, created (or re-evaluated after the
// subscriptions changed) from the client's attributes. REQUIRES: m.mu held.
func (m *Manager) instanceLocked(c Client, id [16]byte, now time.Time) *instance {
	m.refreshLocked()
	m.sweepLocked(now)
	in := m.instances[id]
	if in == nil || in.version != m.version {
		attrs := m.attrsLocked(c, id)
		if in != nil {
			attrs = in.attrs // Kafka keeps the instance's metadata when it re-evaluates it
		}
		if in == nil && len(m.instances) >= m.cfg.MaxInstances {
			m.evictLocked()
		}
		in = m.evaluateLocked(id, attrs)
		m.instances[id] = in
	}
	m.byConn[c.Conn] = id
	in.conn, in.lastSeen = c.Conn, now
	return in
}

// attrsLocked are a client's match selector values. REQUIRES: m.mu held.
func (m *Manager) attrsLocked(c Client, id [16]byte) map[string]string {
	attrs := map[string]string{MatchClientInstanceID: InstanceIDString(id), MatchClientID: c.ClientID}
	if c.Address != "" {
		attrs[MatchClientSourceAddress], attrs[MatchClientSourcePort] = c.Address, c.Port
	}
	if sw, ok := m.software[c.Conn]; ok {
		attrs[MatchClientSoftwareName], attrs[MatchClientSoftwareVer] = sw[0], sw[1]
	}
	return attrs
}

// evaluateLocked builds an instance's subscription from the matching subscriptions (Kafka's
// createClientInstance). REQUIRES: m.mu held.
func (m *Manager) evaluateLocked(id [16]byte, attrs map[string]string) *instance {
	in := &instance{id: id, attrs: attrs, version: m.version, interval: DefaultInterval}
	set := map[string]bool{}
	for i := range m.subs {
		s := &m.subs[i]
		if !s.matches(attrs) {
			continue
		}
		for _, name := range s.Metrics {
			set[name] = true
		}
		in.interval = min(in.interval, s.Interval)
	}
	in.metrics = slices.Sorted(maps.Keys(set))
	if set[AllMetrics] {
		in.metrics = []string{AllMetrics}
	}
	in.subID = subscriptionID(in.metrics, in.interval, id)
	return in
}

// subscriptionID identifies a client's subscription as Kafka computes it: a CRC-32C of the
// metrics and the push interval, XORed with the instance id's hash (Java's Uuid.hashCode).
// The metrics are sorted here (Kafka prints a hash set), so the id is stable across brokers
// and restarts: a client pushing to another broker keeps its subscription.
func subscriptionID(metrics []string, interval time.Duration, id [16]byte) int32 {
	text := "[" + strings.Join(metrics, ", ") + "]" + fmt.Sprint(interval.Milliseconds())
	crc := crc32.Checksum([]byte(text), castagnoli)
	h := binary.BigEndian.Uint64(id[:8]) ^ binary.BigEndian.Uint64(id[8:])
	return int32(crc) ^ (int32(h>>32) ^ int32(h))
}

// refreshLocked re-parses the stored subscriptions when they changed; a change re-evaluates
// every instance at its next request. REQUIRES: m.mu held.
func (m *Manager) refreshLocked() {
	var stored map[string]map[string]string
	if m.cfg.Subscriptions != nil {
		stored = m.cfg.Subscriptions()
	}
	if m.version > 0 && maps.EqualFunc(stored, m.stored, func(a, b map[string]string) bool { return maps.Equal(a, b) }) {
		return
	}
	m.stored = stored
	m.version++
	m.subs = m.subs[:0]
	for _, name := range slices.Sorted(maps.Keys(stored)) {
		s, err := ParseSubscription(name, stored[name])
		if err != nil {
			m.cfg.Logger.Warn("ignoring a client metrics subscription", "name", name, "err", err)
			continue
		}
		m.subs = append(m.subs, s)
	}
}

// sweepLocked forgets the instances idle longer than their expiry, at most once a second.
// REQUIRES: m.mu held.
func (m *Manager) sweepLocked(now time.Time) {
	if now.Sub(m.lastSweep) < time.Second {
		return
	}
	m.lastSweep = now
	for id, in := range m.instances {
		if now.Sub(in.lastSeen) > max(instanceExpiry, staleIntervals*in.interval) {
			m.forgetLocked(id)
		}
	}
}

// evictLocked forgets the least recently seen instance, to make room. REQUIRES: m.mu held.
func (m *Manager) evictLocked() {
	var oldest *instance
	for _, in := range m.instances {
		if oldest == nil || in.lastSeen.Before(oldest.lastSeen) {
			oldest = in
		}
	}
	if oldest != nil {
		m.forgetLocked(oldest.id)
	}
}

// forgetLocked removes an instance and its connection's link to it. REQUIRES: m.mu held.
func (m *Manager) forgetLocked(id [16]byte) {
	in := m.instances[id]
	if in == nil {
		return
	}
	delete(m.instances, id)
	if m.byConn[in.conn] == id {
		delete(m.byConn, in.conn)
	}
}

// newIDLocked draws a new client instance id, none in use or reserved. REQUIRES: m.mu held.
func (m *Manager) newIDLocked() [16]byte {
	for {
		var id [16]byte
		rand.Read(id[:])
		if _, used := m.instances[id]; !used && !slices.Contains(reservedIDs, id) {
			return id
		}
	}
}

// InstanceIDString renders a client instance id as Kafka's Uuid.toString does: URL-safe
// base64 without padding (what the client_instance_id selector matches).
func InstanceIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }
