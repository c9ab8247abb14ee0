package main

import (
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/broker"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/quota"
	"github.com/logd/logd/share"
)

// serveSettings is everything `logd serve` is configured with, after merging the embedded
// defaults, the config file, LOGD_* environment variables and flags (lowest to highest).
type serveSettings struct {
	DataDir      string   // the first log.dirs entry, which also holds the metadata log
	ExtraLogDirs []string // the other log.dirs entries
	// MoveLogBytesPerSecond is replica.alter.log.dirs.io.max.bytes.per.second (0: no cap).
	MoveLogBytesPerSecond float64
	// The listener settings, as given; planListeners checks them against each other.
	Listen              string           // listeners
	Advertise           string           // advertised.listeners; "": the listen addresses
	ProtocolMap         string           // listener.security.protocol.map; "": Kafka's default
	InterBrokerListener string           // inter.broker.listener.name; "": PLAINTEXT, else the first
	ControllerNames     string           // controller.listener.names
	TLS                 auth.TLSSettings // ssl.*: every SSL listener's
	SASLMechanisms      string           // sasl.enabled.mechanisms; "": PLAIN
	OAuth               auth.OAuthConfig // sasl.oauthbearer.*
	MaxReauth           time.Duration    // connections.max.reauth.ms; 0: none
	// InterBrokerProtocol is security.inter.broker.protocol: names the inter-broker listener
	// (the one of that name) when inter.broker.listener.name does not.
	InterBrokerProtocol string
	// InterBrokerMechanism is sasl.mechanism.inter.broker.protocol: the SASL mechanism a
	// broker authenticates with to a SASL inter-broker listener ("": PLAIN).
	InterBrokerMechanism string
	// ControllerMechanism is sasl.mechanism.controller.protocol: the SASL mechanism the
	// metadata quorum's voters authenticate to each other with on a SASL controller listener.
	ControllerMechanism string
	// OAuthTokenURL is sasl.oauthbearer.token.endpoint.url: where this broker reads its own
	// OAUTHBEARER token for the inter-broker and controller listeners (file:// only).
	OAuthTokenURL string
	// PerListener are the listener.name.<name>.* settings (listenerKey), by full key.
	PerListener map[string]string
	HTTP        string // "": off
	// HTTPReadOnly is logd.http.read.only: the REST proxy and console change nothing.
	HTTPReadOnly bool
	// HTTPListener is logd.http.listener: the listener the REST proxy and console dial; "":
	// the first SASL one, else the first PLAINTEXT one.
	HTTPListener string
	// HTTPMechanism is logd.http.sasl.mechanism: how a SASL listener gets the HTTP users'
	// credentials; "": the strongest the listener enables.
	HTTPMechanism string
	NodeID        int32

	// Authorization: authorizer.class.name ("" or Kafka's StandardAuthorizer), super.users,
	// allow.everyone.if.no.acl.found.
	Authorizer   string
	SuperUsers   []string
	AllowIfNoACL bool
	// DelegationTokens are the delegation.token.* settings.
	DelegationTokens broker.DelegationTokenConfig

	AutoCreateTopics bool
	NumPartitions    int32
	FsyncAcksAll     bool
	// ReplicaFsync is logd.replica.fsync (broker.Config.ReplicaFsync).
	ReplicaFsync bool
	// TxnVerification is transaction.partition.verification.enable (KIP-890 part 1).
	TxnVerification bool
	// TxnVersion is logd.transaction.version, the transaction.version feature's level until
	// UpdateFeatures finalizes one (broker.Config.TransactionVersion).
	TxnVersion  int16
	LogDefaults engine.LogConfig
	Cleaner     engine.CleanerConfig // log.cleaner.*
	// Share is the share groups' group.share.* settings and logd.share.* group defaults
	// (broker.Config.Share).
	Share share.Config
	// Quota is quota.window.num and quota.window.size.seconds (broker.Config.Quota).
	Quota quota.Config
	// Connections is max.connections, max.connections.per.ip and its .overrides; serve adds
	// the listener.name.<l>.max.connections and the inter-broker listener.
	Connections quota.ConnConfig

	// The metadata quorum: none of them set is a quorum of this node alone.
	ControllerListen         string // "": the voter list's address of this node, or none for one voter
	Voters                   []metadata.Voter
	JoinVia                  []string      // controller.quorum.bootstrap.servers: join an existing quorum through these brokers
	SessionTimeout           time.Duration // broker.session.timeout.ms
	ReplicaLagTime           time.Duration // replica.lag.time.max.ms
	TelemetryMaxBytes        int32         // telemetry.max.bytes (0: the broker's default)
	DefaultReplicationFactor int16         // 0: min(3, voters)
	// AddScram are the credentials of --add-scram (a flag only, as kafka-storage's).
	AddScram []metadata.ScramUpsertion

	// Given are the values the config file, environment and flags set, by key (the last
	// source's), for DescribeConfigs' STATIC_BROKER_CONFIG (brokerSettings).
	Given map[string]string

	// Warnings are what the config file set that logd ignores (a properties file's keys
	// logd has no use for), to log once the logger exists.
	Warnings []string
}

func defaultServeSettings() serveSettings {
	d := broker.DefaultConfig()
	return serveSettings{
		DataDir: "data", Listen: "127.0.0.1:9092", NodeID: 1,
		AutoCreateTopics: d.AutoCreateTopics, NumPartitions: d.NumPartitions,
		FsyncAcksAll: d.FsyncAcksAll, TxnVerification: d.TransactionPartitionVerification, TxnVersion: d.TransactionVersion,
		LogDefaults: d.LogDefaults, Cleaner: engine.DefaultCleanerConfig, Share: share.DefaultConfig(),
		Quota: quota.Config{Samples: 11, Window: time.Second}, Connections: quota.ConnConfig{MaxPerIP: math.MaxInt32, Max: math.MaxInt32},
		OAuth: auth.OAuthConfig{ClockSkew: 30 * time.Second}, // Kafka's sasl.oauthbearer.clock.skew.seconds
	}
}

// configKey is one setting `logd serve` accepts, by its Kafka property name where Kafka
// has one, and logd.* otherwise.
type configKey struct {
	name  string
	flag  string // the serve flag that sets it, if any
	apply func(s *serveSettings, v string) error
}

// setLogDirs applies log.dirs (or log.dir): the first directory also holds the metadata log.
func setLogDirs(s *serveSettings, v string) error {
	dirs := splitComma(v)
	if len(dirs) == 0 {
		return fmt.Errorf("%q names no directory", v)
	}
	s.DataDir, s.ExtraLogDirs = dirs[0], nil
	if len(dirs) > 1 {
		s.ExtraLogDirs = dirs[1:]
	}
	return nil
}

// configKeys is in application order: within one source, log.retention.ms is applied after
// log.retention.hours (and log.roll.ms after log.roll.hours) so the finer one wins, as in Kafka.
var configKeys = append([]configKey{
	{name: "node.id", flag: "node-id", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		s.NodeID = int32(n)
		return err
	}},
	// log.dir is Kafka's single-directory form, used when log.dirs is not set: applied
	// first, so log.dirs wins.
	{name: "log.dir", apply: setLogDirs},
	{name: "log.dirs", flag: "data-dir", apply: setLogDirs},
	{name: "listeners", flag: "listen", apply: func(s *serveSettings, v string) error {
		_, err := parseListeners(v)
		s.Listen = v
		return err
	}},
	{name: "advertised.listeners", flag: "advertise", apply: func(s *serveSettings, v string) error {
		s.Advertise = v
		if v == "" { // flag default: the listen addresses
			return nil
		}
		_, err := parseListeners(v)
		return err
	}},
	{name: "listener.security.protocol.map", apply: func(s *serveSettings, v string) error {
		_, err := parseProtocolMap(v)
		s.ProtocolMap = v
		return err
	}},
	{name: "security.inter.broker.protocol", apply: func(s *serveSettings, v string) error {
		s.InterBrokerProtocol = v
		return nil
	}},
	{name: "sasl.mechanism.inter.broker.protocol", apply: func(s *serveSettings, v string) error {
		s.InterBrokerMechanism = v
		return nil
	}},
	{name: "sasl.mechanism.controller.protocol", apply: func(s *serveSettings, v string) error {
		s.ControllerMechanism = v
		return nil
	}},
	{name: "inter.broker.listener.name", apply: func(s *serveSettings, v string) error {
		s.InterBrokerListener = v
		return nil
	}},
	{name: "controller.listener.names", apply: func(s *serveSettings, v string) error {
		s.ControllerNames = v
		return nil
	}},
	{name: "logd.http", flag: "http", apply: func(s *serveSettings, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			_, port, err := net.SplitHostPort(v)
			if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
				return fmt.Errorf("%q is not HOST:PORT (for example 127.0.0.1:9644)", v)
			}
		}
		s.HTTP = v
		return nil
	}},
	{name: "logd.http.read.only", apply: func(s *serveSettings, v string) (err error) {
		s.HTTPReadOnly, err = parseBool(v)
		return err
	}},
	{name: "logd.http.listener", apply: func(s *serveSettings, v string) error {
		s.HTTPListener = strings.ToUpper(v)
		return nil
	}},
	{name: "logd.http.sasl.mechanism", apply: func(s *serveSettings, v string) error {
		s.HTTPMechanism = strings.ToUpper(v)
		return nil
	}},
	{name: "controller.quorum.voters", flag: "controller-quorum-voters", apply: func(s *serveSettings, v string) (err error) {
		s.Voters, err = metadata.ParseVoters(v)
		if err != nil {
			err = fmt.Errorf("%v (the form is 1@host:9093,2@host:9093,3@host:9093)", err)
		}
		return err
	}},
	{name: "controller.quorum.bootstrap.servers", flag: "controller-quorum-bootstrap-servers", apply: func(s *serveSettings, v string) error {
		s.JoinVia = nil
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a == "" {
				continue
			}
			if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
				return fmt.Errorf("%q is not HOST:PORT (a Kafka listener of a broker of the cluster to join)", a)
			}
			s.JoinVia = append(s.JoinVia, a)
		}
		return nil
	}},
	{name: "logd.controller.listen", flag: "controller-listen", apply: func(s *serveSettings, v string) error {
		v = strings.TrimSpace(v)
		if v != "" {
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				return fmt.Errorf("%q is not HOST:PORT (for example 127.0.0.1:9093)", v)
			}
		}
		s.ControllerListen = v
		return nil
	}},
	{name: "broker.session.timeout.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 100, math.MaxInt32)
		s.SessionTimeout = time.Duration(n) * time.Millisecond
		return err
	}},
	{name: "replica.lag.time.max.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 100, math.MaxInt32)
		s.ReplicaLagTime = time.Duration(n) * time.Millisecond
		return err
	}},
	{name: "telemetry.max.bytes", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.TelemetryMaxBytes = int32(n)
		return err
	}},
	{name: "default.replication.factor", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt16)
		s.DefaultReplicationFactor = int16(n)
		return err
	}},
	{name: "logd.fsync.acks.all", apply: func(s *serveSettings, v string) (err error) {
		s.FsyncAcksAll, err = parseBool(v)
		return err
	}},
	{name: "logd.replica.fsync", apply: func(s *serveSettings, v string) (err error) {
		s.ReplicaFsync, err = parseBool(v)
		return err
	}},
	{name: "transaction.partition.verification.enable", apply: func(s *serveSettings, v string) (err error) {
		s.TxnVerification, err = parseBool(v)
		return err
	}},
	{name: "logd.transaction.version", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, 2)
		s.TxnVersion = int16(n)
		return err
	}},
	{name: "group.share.session.timeout.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.SessionTimeout = time.Duration(n) * time.Millisecond
		return err
	}},
	{name: "group.share.heartbeat.interval.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.HeartbeatInterval = time.Duration(n) * time.Millisecond
		return err
	}},
	{name: "group.share.record.lock.duration.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.RecordLockDuration = time.Duration(n) * time.Millisecond
		return err
	}},
	{name: "group.share.delivery.count.limit", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt16)
		s.Share.DeliveryCountLimit = int(n)
		return err
	}},
	{name: "group.share.partition.max.record.locks", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.MaxRecordLocks = int(n)
		return err
	}},
	{name: "group.share.max.size", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.MaxGroupSize = int(n)
		return err
	}},
	{name: "group.share.max.share.sessions", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Share.MaxSessions = int(n)
		return err
	}},
	// Kafka sets these per group (kafka-configs --entity-type groups); logd has no group
	// configs yet, so they are every share group's.
	{name: "logd.share.auto.offset.reset", apply: func(s *serveSettings, v string) error {
		if _, err := share.ParseAutoOffsetReset(v); err != nil {
			return err
		}
		s.Share.AutoOffsetReset = v
		return nil
	}},
	{name: "logd.share.isolation.level", apply: func(s *serveSettings, v string) error {
		if v != "read_uncommitted" && v != "read_committed" {
			return fmt.Errorf("%q is not read_uncommitted or read_committed", v)
		}
		s.Share.IsolationLevel = v
		return nil
	}},
	{name: "authorizer.class.name", apply: func(s *serveSettings, v string) error {
		if v != "" && v != acl.StandardAuthorizerClass {
			return fmt.Errorf("%q is not an authorizer logd has; use %s (Kafka's StandardAuthorizer, ACLs in the metadata quorum) or leave it empty for none", v, acl.StandardAuthorizerClass)
		}
		s.Authorizer = v
		return nil
	}},
	{name: "super.users", apply: func(s *serveSettings, v string) (err error) {
		s.SuperUsers, err = acl.ParseSuperUsers(v)
		return err
	}},
	{name: "allow.everyone.if.no.acl.found", apply: func(s *serveSettings, v string) (err error) {
		s.AllowIfNoACL, err = parseBool(v)
		return err
	}},
	{name: "quota.window.num", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Quota.Samples = int(n)
		return err
	}},
	{name: "quota.window.size.seconds", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.Quota.Window = time.Duration(n) * time.Second
		return err
	}},
	{name: "max.connections", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		s.Connections.Max = int(n)
		return err
	}},
	{name: "max.connections.per.ip", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		s.Connections.MaxPerIP = int(n)
		return err
	}},
	{name: "max.connections.per.ip.overrides", apply: func(s *serveSettings, v string) (err error) {
		s.Connections.PerIPOverrides, err = parseConnectionOverrides(v)
		return err
	}},
	{name: "auto.create.topics.enable", apply: func(s *serveSettings, v string) (err error) {
		s.AutoCreateTopics, err = parseBool(v)
		return err
	}},
	{name: "num.partitions", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt32)
		s.NumPartitions = int32(n)
		return err
	}},
	{name: "log.retention.hours", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, -1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.RetentionMs = scaleDuration(n, time.Hour)
		}
		return err
	}},
	{name: "log.retention.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, -1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.RetentionMs = scaleDuration(n, time.Millisecond)
		}
		return err
	}},
	{name: "log.retention.bytes", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, -1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.RetentionBytes = n
		}
		return err
	}},
	{name: "log.segment.bytes", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 14, math.MaxInt32)
		if err == nil {
			s.LogDefaults.SegmentBytes = n
		}
		return err
	}},
	{name: "log.roll.hours", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.SegmentMs = scaleDuration(n, time.Hour)
		}
		return err
	}},
	{name: "log.roll.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.SegmentMs = scaleDuration(n, time.Millisecond)
		}
		return err
	}},
	{name: "message.max.bytes", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		if err == nil {
			s.LogDefaults.MaxMessageBytes = int32(n)
		}
		return err
	}},
	{name: "log.index.interval.bytes", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		if err == nil {
			s.LogDefaults.IndexIntervalBytes = int(n)
		}
		return err
	}},
	{name: "log.flush.interval.messages", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		if err == nil {
			s.LogDefaults.FlushMessages = n
		}
		return err
	}},
	{name: "log.flush.interval.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt64)
		if err == nil {
			s.LogDefaults.FlushMs = scaleDuration(n, time.Millisecond)
		}
		return err
	}},
	// Compaction: the topic defaults, then the cleaner threads' settings.
	{name: "log.cleanup.policy", apply: func(s *serveSettings, v string) (err error) {
		s.LogDefaults.CleanupPolicy, err = engine.ParseCleanupPolicy(v)
		return err
	}},
	{name: "log.cleaner.min.cleanable.ratio", apply: func(s *serveSettings, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("%q is not a ratio between 0 and 1", v)
		}
		s.LogDefaults.MinCleanableDirtyRatio = f
		return nil
	}},
	{name: "log.cleaner.min.compaction.lag.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt64)
		s.LogDefaults.MinCompactionLag = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "log.cleaner.max.compaction.lag.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		s.LogDefaults.MaxCompactionLag = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "log.cleaner.delete.retention.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt64)
		s.LogDefaults.DeleteRetention = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "log.cleaner.enable", apply: func(s *serveSettings, v string) (err error) {
		s.Cleaner.Enable, err = parseBool(v)
		return err
	}},
	{name: "log.cleaner.threads", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, 64)
		s.Cleaner.Threads = int(n)
		return err
	}},
	{name: "log.cleaner.dedupe.buffer.size", apply: func(s *serveSettings, v string) (err error) {
		s.Cleaner.DedupeBufferSize, err = parseWhole(v, 1<<10, math.MaxInt64)
		return err
	}},
	{name: "log.cleaner.backoff.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt64)
		s.Cleaner.Backoff = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "replica.alter.log.dirs.io.max.bytes.per.second", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		s.MoveLogBytesPerSecond = float64(n)
		if n == math.MaxInt64 {
			s.MoveLogBytesPerSecond = 0 // Kafka's default: no cap
		}
		return err
	}},
	{name: "log.cleaner.io.max.bytes.per.second", apply: func(s *serveSettings, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("%q is not a non-negative rate", v)
		}
		s.Cleaner.IOMaxBytesPerSecond = f
		return nil
	}},
}, append(append(sslKeys, oauthKeys...), delegationTokenKeys...)...)

// sslKeys are Kafka's ssl.* settings and sasl.enabled.mechanisms, kept as given; auth.NewTLS
// and saslConfig check them when a listener needs them.
var sslKeys = func() []configKey {
	fields := []struct {
		name  string
		field func(*auth.TLSSettings) *string
	}{
		{"ssl.keystore.type", func(t *auth.TLSSettings) *string { return &t.KeystoreType }},
		{"ssl.keystore.location", func(t *auth.TLSSettings) *string { return &t.KeystoreLocation }},
		{"ssl.keystore.certificate.chain", func(t *auth.TLSSettings) *string { return &t.KeystoreCertificateChain }},
		{"ssl.keystore.key", func(t *auth.TLSSettings) *string { return &t.KeystoreKey }},
		{"ssl.key.password", func(t *auth.TLSSettings) *string { return &t.KeyPassword }},
		{"ssl.truststore.type", func(t *auth.TLSSettings) *string { return &t.TruststoreType }},
		{"ssl.truststore.location", func(t *auth.TLSSettings) *string { return &t.TruststoreLocation }},
		{"ssl.truststore.certificates", func(t *auth.TLSSettings) *string { return &t.TruststoreCertificates }},
		{"ssl.client.auth", func(t *auth.TLSSettings) *string { return &t.ClientAuth }},
		{"ssl.enabled.protocols", func(t *auth.TLSSettings) *string { return &t.EnabledProtocols }},
		{"ssl.cipher.suites", func(t *auth.TLSSettings) *string { return &t.CipherSuites }},
		{"ssl.principal.mapping.rules", func(t *auth.TLSSettings) *string { return &t.PrincipalMappingRules }},
	}
	keys := make([]configKey, len(fields), len(fields)+1)
	for i, f := range fields {
		keys[i] = configKey{name: f.name, apply: func(s *serveSettings, v string) error {
			*f.field(&s.TLS) = v
			return nil
		}}
	}
	return append(keys, configKey{name: "sasl.enabled.mechanisms", apply: func(s *serveSettings, v string) error {
		s.SASLMechanisms = v
		return nil
	}})
}()

// oauthKeys are Kafka's sasl.oauthbearer.* settings of a broker that validates OAUTHBEARER
// tokens (OAuthBearerValidatorCallbackHandler's), and connections.max.reauth.ms (KIP-368).
var oauthKeys = []configKey{
	{name: "connections.max.reauth.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt64)
		s.MaxReauth = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "sasl.oauthbearer.jwks.endpoint.url", apply: func(s *serveSettings, v string) error {
		s.OAuth.JWKSURL = v
		return nil
	}},
	{name: "sasl.oauthbearer.token.endpoint.url", apply: func(s *serveSettings, v string) error {
		s.OAuthTokenURL = v
		return nil
	}},
	{name: "sasl.oauthbearer.jwks.endpoint.refresh.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1000, math.MaxInt64)
		s.OAuth.Refresh = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "sasl.oauthbearer.expected.audience", apply: func(s *serveSettings, v string) error {
		s.OAuth.Audience = splitComma(v)
		return nil
	}},
	{name: "sasl.oauthbearer.expected.issuer", apply: func(s *serveSettings, v string) error {
		s.OAuth.Issuer = v
		return nil
	}},
	{name: "sasl.oauthbearer.sub.claim.name", apply: func(s *serveSettings, v string) error {
		s.OAuth.SubClaim = v
		return nil
	}},
	{name: "sasl.oauthbearer.clock.skew.seconds", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 0, math.MaxInt32)
		s.OAuth.ClockSkew = scaleDuration(n, time.Second)
		return err
	}},
}

// envNames are the environment variables that set a key: LOGD_ plus the name upper-cased
// with dots as underscores (LOGD_LOG_DIRS). logd's own logd.* keys also answer to the
// shorter form without the second LOGD (LOGD_HTTP as well as LOGD_LOGD_HTTP).
func envNames(key string) []string {
	up := strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
	names := []string{"LOGD_" + up}
	if rest, ok := strings.CutPrefix(up, "LOGD_"); ok {
		names = append(names, "LOGD_"+rest)
	}
	return names
}

// setting is one value from one source; where names it in errors.
type setting struct {
	value string
	where string
}

// loadServeSettings merges defaults < config file (if path != "") < LOGD_* environment
// variables (read through getenv) < the flags the user set. Errors name their source:
// the file and line, the variable, or the flag; all are usage errors.
func loadServeSettings(path string, getenv func(string) string, flags *pflag.FlagSet) (serveSettings, error) {
	s := defaultServeSettings()
	var layers []map[string]setting
	if path != "" {
		file, warnings, err := readConfigFile(path)
		if err != nil {
			return s, usageError{err}
		}
		s.Warnings = warnings
		layers = append(layers, file)
	}
	env := map[string]setting{}
	for _, k := range configKeys {
		for _, name := range envNames(k.name) {
			if v := getenv(name); v != "" {
				env[k.name] = setting{v, name}
			}
		}
	}
	layers = append(layers, env)
	if flags != nil {
		fl := map[string]setting{}
		for _, k := range configKeys {
			if k.flag != "" && flags.Changed(k.flag) {
				fl[k.name] = setting{flags.Lookup(k.flag).Value.String(), "--" + k.flag}
			}
		}
		layers = append(layers, fl)
	}
	for _, layer := range layers {
		for name, v := range layer {
			if listenerKey.MatchString(name) {
				if s.PerListener == nil {
					s.PerListener = map[string]string{}
				}
				s.PerListener[name] = strings.TrimSpace(v.value)
			}
			if s.Given == nil {
				s.Given = map[string]string{}
			}
			s.Given[name] = strings.TrimSpace(v.value)
		}
		for _, k := range configKeys {
			if v, ok := layer[k.name]; ok {
				if err := k.apply(&s, strings.TrimSpace(v.value)); err != nil {
					if strings.HasPrefix(v.where, "--") || strings.HasPrefix(v.where, "LOGD_") {
						return s, usageError{fmt.Errorf("%s: %v", v.where, err)}
					}
					return s, usageError{fmt.Errorf("%s: %s: %v", v.where, k.name, err)}
				}
			}
		}
	}
	if err := s.LogDefaults.Validate(); err != nil {
		return s, usageError{fmt.Errorf("log defaults: %v", err)}
	}
	plan, err := planListeners(s) // serve plans them again, binding ports
	if err != nil {
		return s, usageError{err}
	}
	if _, err := tlsConfigs(s, plan, nil); err != nil { // serve loads them again, logging reloads
		return s, usageError{err}
	}
	sasl, err := saslConfig(s, plan, nil) // serve builds it again, with its logger
	if err != nil {
		return s, usageError{err}
	}
	sasl.Close()
	return s, nil
}

// readConfigFile reads a config file of Kafka property names: Java properties, YAML or TOML
// (configFormat decides which). Each setting remembers its file and line for error messages.
// Warnings name what a properties file set that logd ignores; YAML and TOML, logd's own
// formats, have no such keys: an unknown key there is an error (a typo, most likely).
func readConfigFile(path string) (map[string]setting, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read config file: %v", err)
	}
	var m map[string]setting
	switch configFormat(path, data) {
	case "properties":
		return readPropertiesConfig(path, data)
	case "toml":
		m, err = readTOMLConfig(path, data)
	default:
		m, err = readYAMLConfig(path, data)
	}
	return m, nil, err
}

// readYAMLConfig parses YAML. Keys may be flat ("log.retention.ms: 1000") or nested
// ("log: {retention: {ms: 1000}}"); values are scalars.
func readYAMLConfig(path string, data []byte) (map[string]setting, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; ")
		if strings.HasPrefix(msg, "line ") { // "line 3: ...": the same form as our own errors
			return nil, fmt.Errorf("%s %s", path, msg)
		}
		return nil, fmt.Errorf("%s: %s", path, msg)
	}
	out := map[string]setting{}
	if len(doc.Content) == 0 { // empty file
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s line %d: want a mapping of setting names to values", path, root.Line)
	}
	lines := map[string]int{}
	var walk func(prefix string, m *yaml.Node) error
	walk = func(prefix string, m *yaml.Node) error {
		for i := 0; i+1 < len(m.Content); i += 2 {
			kn, vn := m.Content[i], m.Content[i+1]
			if kn.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s line %d: setting names must be plain strings", path, kn.Line)
			}
			name := prefix + kn.Value
			at := fmt.Sprintf("%s line %d", path, kn.Line)
			if vn.Kind == yaml.AliasNode {
				vn = vn.Alias
			}
			switch {
			case vn.Kind == yaml.MappingNode:
				if err := walk(name+".", vn); err != nil {
					return err
				}
				continue
			case !knownKey(name):
				return unknownKey(at, name)
			case vn.Kind != yaml.ScalarNode:
				return fmt.Errorf("%s: %s: want a single value, not a list", at, name)
			case vn.Tag == "!!null":
				return fmt.Errorf("%s: %s: has no value", at, name)
			}
			if first, dup := lines[name]; dup {
				return fmt.Errorf("%s: %s is already set on line %d", at, name, first)
			}
			lines[name] = kn.Line
			out[name] = setting{vn.Value, at}
		}
		return nil
	}
	if err := walk("", root); err != nil {
		return nil, err
	}
	return out, nil
}

// listenerKey matches the per-listener settings logd reads (Kafka's listener.name.<name>.
// prefix; the name lower-cased, as Kafka writes it).
var listenerKey = regexp.MustCompile(`^listener\.name\.([a-z0-9_-]+)\.(sasl\.enabled\.mechanisms|plain\.sasl\.jaas\.config|ssl\.client\.auth|` +
	`(?:scram-sha-256|scram-sha-512|oauthbearer)\.sasl\.jaas\.config|oauthbearer\.sasl\.server\.callback\.handler\.class|` +
	`(?:plain|scram-sha-256|scram-sha-512|oauthbearer)\.connections\.max\.reauth\.ms|max\.connections)$`)

// knownKey reports whether logd reads the setting name.
func knownKey(name string) bool { return keyIndex[name] != nil || listenerKey.MatchString(name) }

var keyIndex = func() map[string]*configKey {
	m := map[string]*configKey{}
	for i := range configKeys {
		m[configKeys[i].name] = &configKeys[i]
	}
	return m
}()

// unknownKey is the error for a setting name logd does not know, with a suggestion when it
// looks like a typo; at names the file and line.
func unknownKey(at, name string) error {
	if s := closestKey(name); s != "" {
		return fmt.Errorf("%s: unknown key %q (did you mean %q?)", at, name, s)
	}
	return fmt.Errorf("%s: unknown key %q", at, name)
}

// closestKey suggests the known key nearest to name, if it is close enough to be a typo.
func closestKey(name string) string {
	names := make([]string, 0, len(configKeys))
	for _, k := range configKeys {
		names = append(names, k.name)
	}
	sort.Strings(names)
	best, bestD := "", 1<<30
	for _, k := range names {
		if d := editDistance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= 3 || (bestD <= len(name)/3) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func parseWhole(v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("%s is too large", v)
		}
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	if n < lo {
		return 0, fmt.Errorf("%d is below the minimum %d", n, lo)
	}
	if n > hi {
		return 0, fmt.Errorf("%d is above the maximum %d", n, hi)
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is not true or false", v)
}

// scaleDuration is n units, saturating at the largest duration; negative means "no limit".
func scaleDuration(n int64, unit time.Duration) time.Duration {
	if n < 0 {
		return -1
	}
	if n > math.MaxInt64/int64(unit) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * unit
}

func splitComma(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parseConnectionOverrides parses max.connections.per.ip.overrides: host:count,... (a host
// name or IP address; the last colon separates the count, so IPv6 addresses work).
func parseConnectionOverrides(v string) (map[string]int, error) {
	out := map[string]int{}
	for _, e := range splitComma(v) {
		i := strings.LastIndexByte(e, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%q is not host:count", e)
		}
		n, err := parseWhole(strings.TrimSpace(e[i+1:]), 0, math.MaxInt32)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", e, err)
		}
		out[strings.TrimSpace(e[:i])] = int(n)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
