package connect

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/logd/logd/internal/properties"
)

// WorkerConfig is a worker's configuration, read from Kafka Connect's worker.properties
// names. Properties this runtime does not use (plugin.path, ...) are accepted and ignored, as
// Java ignores unknown ones.
type WorkerConfig struct {
	Props map[string]string // every property, for the converters' and clients' prefixes

	Bootstrap      []string      // bootstrap.servers
	KeyConverter   string        // key.converter (class)
	ValueConverter string        // value.converter (class)
	OffsetFile     string        // offset.storage.file.filename (standalone)
	FlushInterval  time.Duration // offset.flush.interval.ms (default 60 s)
	Listener       string        // host:port of the first http listener (listeners, default :8083)
	AdvertisedHost string        // rest.advertised.host.name (default: the listener's host or the hostname)
	AdvertisedPort int           // rest.advertised.port (default: the listener's port)

	// Distributed mode.
	GroupID            string        // group.id
	ConfigTopic        string        // config.storage.topic
	OffsetTopic        string        // offset.storage.topic
	StatusTopic        string        // status.storage.topic
	OffsetPartitions   int32         // offset.storage.partitions (default 25)
	StatusPartitions   int32         // status.storage.partitions (default 5)
	ReplicationFactor  int16         // *.storage.replication.factor (default -1: the broker's default)
	SessionTimeout     time.Duration // session.timeout.ms (default 10 s)
	HeartbeatInterval  time.Duration // heartbeat.interval.ms (default 3 s)
	RebalanceTimeout   time.Duration // rebalance.timeout.ms (default 60 s)
	ScheduledRebalance time.Duration // scheduled.rebalance.max.delay.ms (default 5 min)
	// ExactlyOnceSource is exactly.once.source.support: "disabled" (the default), "preparing"
	// or "enabled" (source tasks write in transactions, KIP-618; distributed mode only).
	ExactlyOnceSource string
}

// exactlyOnceEnabled says whether source tasks run with transactions (KIP-618).
func (c *WorkerConfig) exactlyOnceEnabled() bool { return c.ExactlyOnceSource == "enabled" }

// LoadProperties reads a Java .properties file into a map (the later of two equal keys wins).
func LoadProperties(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	entries, err := properties.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.Key] = e.Value
	}
	return m, nil
}

// ParseWorkerConfig checks a worker's properties; distributed says whether the distributed
// mode's properties are required.
func ParseWorkerConfig(props map[string]string, distributed bool) (*WorkerConfig, error) {
	c := &WorkerConfig{
		Props:              props,
		KeyConverter:       JSONConverterClass,
		ValueConverter:     JSONConverterClass,
		FlushInterval:      time.Minute,
		Listener:           ":8083",
		OffsetPartitions:   25,
		StatusPartitions:   5,
		ReplicationFactor:  -1,
		SessionTimeout:     10 * time.Second,
		HeartbeatInterval:  3 * time.Second,
		RebalanceTimeout:   time.Minute,
		ScheduledRebalance: 5 * time.Minute,
	}
	bs := strings.TrimSpace(props["bootstrap.servers"])
	if bs == "" {
		bs = "localhost:9092" // Java's default
	}
	for _, b := range strings.Split(bs, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Bootstrap = append(c.Bootstrap, b)
		}
	}
	if v := props["key.converter"]; v != "" {
		c.KeyConverter = v
	}
	if v := props["value.converter"]; v != "" {
		c.ValueConverter = v
	}
	for _, class := range []string{c.KeyConverter, c.ValueConverter} {
		if _, err := NewConverter(class, props, "key.converter."); err != nil {
			return nil, err
		}
	}
	c.OffsetFile = props["offset.storage.file.filename"]
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"offset.flush.interval.ms", &c.FlushInterval},
		{"session.timeout.ms", &c.SessionTimeout},
		{"heartbeat.interval.ms", &c.HeartbeatInterval},
		{"rebalance.timeout.ms", &c.RebalanceTimeout},
		{"scheduled.rebalance.max.delay.ms", &c.ScheduledRebalance},
	}
	for _, d := range durations {
		if v, ok := props[d.key]; ok {
			ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || ms < 0 {
				return nil, fmt.Errorf("invalid value %s for configuration %s: expected a non-negative number of milliseconds", v, d.key)
			}
			*d.dst = time.Duration(ms) * time.Millisecond
		}
	}
	if v := props["listeners"]; v != "" {
		first := strings.TrimSpace(strings.Split(v, ",")[0])
		u, err := url.Parse(first)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			return nil, fmt.Errorf("invalid value %s for configuration listeners: expected http://host:port (https is not supported)", v)
		}
		c.Listener = u.Host
	}
	host, port, err := net.SplitHostPort(c.Listener)
	if err != nil {
		return nil, fmt.Errorf("invalid value %s for configuration listeners: %v", c.Listener, err)
	}
	c.AdvertisedHost = props["rest.advertised.host.name"]
	if c.AdvertisedHost == "" {
		c.AdvertisedHost = host
	}
	if c.AdvertisedHost == "" {
		c.AdvertisedHost, _ = os.Hostname()
	}
	c.AdvertisedPort, _ = strconv.Atoi(port)
	if v := props["rest.advertised.port"]; v != "" {
		if c.AdvertisedPort, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("invalid value %s for configuration rest.advertised.port: expected an integer", v)
		}
	}
	if !distributed {
		if c.OffsetFile == "" {
			return nil, fmt.Errorf("missing required configuration \"offset.storage.file.filename\" which has no default value")
		}
		return c, nil
	}
	for _, req := range []struct {
		key string
		dst *string
	}{{"group.id", &c.GroupID}, {"config.storage.topic", &c.ConfigTopic}, {"offset.storage.topic", &c.OffsetTopic}, {"status.storage.topic", &c.StatusTopic}} {
		*req.dst = strings.TrimSpace(props[req.key])
		if *req.dst == "" {
			return nil, fmt.Errorf("missing required configuration %q which has no default value", req.key)
		}
	}
	c.ExactlyOnceSource = "disabled"
	if v, ok := props["exactly.once.source.support"]; ok {
		c.ExactlyOnceSource = strings.ToLower(strings.TrimSpace(v))
		if !slices.Contains([]string{"disabled", "preparing", "enabled"}, c.ExactlyOnceSource) {
			return nil, fmt.Errorf("invalid value %s for configuration exactly.once.source.support: String must be one of (case insensitive): DISABLED, ENABLED, PREPARING", v)
		}
	}
	for _, p := range []struct {
		key string
		dst *int32
	}{{"offset.storage.partitions", &c.OffsetPartitions}, {"status.storage.partitions", &c.StatusPartitions}} {
		if v, ok := props[p.key]; ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
			if err != nil || (n < 1 && n != -1) {
				return nil, fmt.Errorf("invalid value %s for configuration %s: expected a positive number of partitions or -1", v, p.key)
			}
			*p.dst = int32(n)
		}
	}
	return c, nil
}

// WorkerID is the worker's id in statuses: the advertised REST host and port, as Java's.
func (c *WorkerConfig) WorkerID() string {
	return net.JoinHostPort(c.AdvertisedHost, strconv.Itoa(c.AdvertisedPort))
}

// intConfig reads an integer connector property with a default.
func intConfig(config map[string]string, key string, def int) (int, error) {
	v, ok := config[key]
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("invalid value %s for configuration %s: not a number of type INT", v, key)
	}
	return n, nil
}
