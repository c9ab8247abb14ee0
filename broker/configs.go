package broker

import (
	"fmt"
	"maps"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
)

// topicConfig is one topic-level config logd honours, with Kafka's name, type and default.
type topicConfig struct {
	name   string
	broker string // the broker config that supplies the default (Kafka's synonym)
	typ    kmsg.ConfigType
	doc    string
	def    func(d *engine.LogConfig) string          // the broker default, rendered
	apply  func(c *engine.LogConfig, v string) error // parse v into c
	// pinned: logd honours only one broker-wide value (the topic may override it), so the
	// broker-level name is read-only (not a dynamic broker config).
	pinned bool
}

const (
	typeBoolean = kmsg.ConfigTypeBoolean
	typeString  = kmsg.ConfigTypeString
	typeInt     = kmsg.ConfigTypeInt
	typeLong    = kmsg.ConfigTypeLong
	typeList    = kmsg.ConfigTypeList
)

func parseLong(v string, min int64) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", v)
	}
	if n < min {
		return 0, fmt.Errorf("%d is below the minimum %d", n, min)
	}
	return n, nil
}

func parseInt(v string, min int64) (int64, error) {
	n, err := parseLong(v, min)
	if err == nil && n > math.MaxInt32 {
		return 0, fmt.Errorf("%d is above the maximum %d", n, math.MaxInt32)
	}
	return n, err
}

func msString(d time.Duration) string {
	if d == time.Duration(math.MaxInt64) {
		return strconv.FormatInt(math.MaxInt64, 10)
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

func msDuration(n int64) time.Duration {
	if n >= math.MaxInt64/int64(time.Millisecond) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(n) * time.Millisecond
}

// topicConfigs lists the topic configs logd honours. Anything else is INVALID_CONFIG.
var topicConfigs = []topicConfig{
	{name: "cleanup.policy", broker: "log.cleanup.policy", typ: typeList, doc: "delete (retention), compact (the log cleaner) or compact,delete",
		def: func(d *engine.LogConfig) string { return d.CleanupPolicy.String() },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.CleanupPolicy, err = engine.ParseCleanupPolicy(v)
			return err
		}},
	{name: "min.cleanable.dirty.ratio", broker: "log.cleaner.min.cleanable.ratio", typ: kmsg.ConfigTypeDouble, doc: "compact once this share of the log is dirty",
		def: func(d *engine.LogConfig) string { return strconv.FormatFloat(d.MinCleanableDirtyRatio, 'g', -1, 64) },
		apply: func(c *engine.LogConfig, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				return fmt.Errorf("min.cleanable.dirty.ratio %q must be a number between 0 and 1", v)
			}
			c.MinCleanableDirtyRatio = f
			return nil
		}},
	{name: "min.compaction.lag.ms", broker: "log.cleaner.min.compaction.lag.ms", typ: typeLong, doc: "never compact records younger than this",
		def: func(d *engine.LogConfig) string { return msString(d.MinCompactionLag) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 0)
			c.MinCompactionLag = msDuration(n)
			return err
		}},
	{name: "max.compaction.lag.ms", broker: "log.cleaner.max.compaction.lag.ms", typ: typeLong, doc: "compact records older than this whatever the dirty ratio",
		def: func(d *engine.LogConfig) string { return msString(d.MaxCompactionLag) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 1)
			c.MaxCompactionLag = msDuration(n)
			return err
		}},
	{name: "delete.retention.ms", broker: "log.cleaner.delete.retention.ms", typ: typeLong, doc: "keep tombstones this long after the cleaner first reaches them",
		def: func(d *engine.LogConfig) string { return msString(d.DeleteRetention) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 0)
			c.DeleteRetention = msDuration(n)
			return err
		}},
	{name: "compression.type", broker: "compression.type", pinned: true, typ: typeString, doc: "producer: batches are stored as the producer compressed them",
		def: func(*engine.LogConfig) string { return "producer" },
		apply: func(c *engine.LogConfig, v string) error {
			if v != "producer" {
				return fmt.Errorf("compression.type %q is not supported: logd never recompresses; use producer", v)
			}
			return nil
		}},
	{name: "retention.ms", broker: "log.retention.ms", typ: typeLong, doc: "delete segments older than this; -1 keeps them",
		def: func(d *engine.LogConfig) string { return retentionMsString(d.RetentionMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, -1)
			if n < 0 {
				c.RetentionMs = -1
			} else {
				c.RetentionMs = msDuration(n)
			}
			return err
		}},
	{name: "retention.bytes", broker: "log.retention.bytes", typ: typeLong, doc: "delete oldest segments beyond this size; -1 for no limit",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.RetentionBytes, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.RetentionBytes, err = parseLong(v, -1)
			return err
		}},
	{name: "segment.bytes", broker: "log.segment.bytes", typ: typeInt, doc: "roll a new segment at this size",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.SegmentBytes, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.SegmentBytes, err = parseInt(v, 14)
			return err
		}},
	{name: "segment.ms", broker: "log.roll.ms", typ: typeLong, doc: "roll a new segment after this long",
		def: func(d *engine.LogConfig) string { return msString(d.SegmentMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 1)
			c.SegmentMs = msDuration(n)
			return err
		}},
	{name: "max.message.bytes", broker: "message.max.bytes", typ: typeInt, doc: "largest record batch accepted",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(int(d.MaxMessageBytes)) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 0)
			c.MaxMessageBytes = int32(n)
			return err
		}},
	{name: "message.timestamp.type", broker: "log.message.timestamp.type", pinned: true, typ: typeString, doc: "CreateTime or LogAppendTime",
		def: func(d *engine.LogConfig) string {
			if d.LogAppendTime {
				return "LogAppendTime"
			}
			return "CreateTime"
		},
		apply: func(c *engine.LogConfig, v string) error {
			switch v {
			case "CreateTime":
				c.LogAppendTime = false
			case "LogAppendTime":
				c.LogAppendTime = true
			default:
				return fmt.Errorf("message.timestamp.type %q must be CreateTime or LogAppendTime", v)
			}
			return nil
		}},
	{name: "flush.messages", broker: "log.flush.interval.messages", typ: typeLong, doc: "fsync after this many messages",
		def: func(d *engine.LogConfig) string { return strconv.FormatInt(d.FlushMessages, 10) },
		apply: func(c *engine.LogConfig, v string) (err error) {
			c.FlushMessages, err = parseLong(v, 1)
			return err
		}},
	{name: "flush.ms", broker: "log.flush.interval.ms", typ: typeLong, doc: "fsync data older than this",
		def: func(d *engine.LogConfig) string { return msString(d.FlushMs) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseLong(v, 0)
			c.FlushMs = msDuration(n)
			return err
		}},
	{name: "index.interval.bytes", broker: "log.index.interval.bytes", typ: typeInt, doc: "log bytes between offset index entries",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(d.IndexIntervalBytes) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 0)
			c.IndexIntervalBytes = int(n)
			return err
		}},
	{name: "segment.index.bytes", broker: "log.index.size.max.bytes", typ: typeInt, doc: "preallocated size of a segment's indexes",
		def: func(d *engine.LogConfig) string { return strconv.Itoa(d.MaxIndexBytes) },
		apply: func(c *engine.LogConfig, v string) error {
			n, err := parseInt(v, 4096)
			c.MaxIndexBytes = int(n)
			return err
		}},
	{name: "min.insync.replicas", broker: "min.insync.replicas", pinned: true, typ: typeInt, doc: "replicas that must have an acks=all write",
		def: func(*engine.LogConfig) string { return "1" },
		apply: func(c *engine.LogConfig, v string) error {
			_, err := parseInt(v, 1)
			return err
		}},
	{name: "unclean.leader.election.enable", broker: "unclean.leader.election.enable", pinned: true, typ: typeBoolean,
		doc: "cluster: let a replica outside the ISR lead when no ISR member can (may lose acknowledged records)",
		def: func(*engine.LogConfig) string { return "false" },
		apply: func(c *engine.LogConfig, v string) error {
			if v != "true" && v != "false" {
				return fmt.Errorf("%q is not true or false", v)
			}
			return nil
		}},
}

func retentionMsString(d time.Duration) string {
	if d < 0 {
		return "-1"
	}
	return msString(d)
}

var topicConfigIndex = func() map[string]*topicConfig {
	m := make(map[string]*topicConfig, len(topicConfigs))
	for i := range topicConfigs {
		m[topicConfigs[i].name] = &topicConfigs[i]
	}
	return m
}()

// logConfig builds a partition's engine settings from the broker defaults and the topic's
// overrides, naming the first bad override.
func logConfig(defaults engine.LogConfig, overrides map[string]string) (engine.LogConfig, error) {
	c := defaults
	if err := applyConfigs(&c, overrides, func(k string) *topicConfig { return topicConfigIndex[k] }, "unknown topic config"); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// applyConfigs parses configs into c in name order; lookup finds a config's parser, nil
// refusing it with refusal.
func applyConfigs(c *engine.LogConfig, configs map[string]string, lookup func(string) *topicConfig, refusal string) error {
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		tc := lookup(k)
		if tc == nil {
			return fmt.Errorf("%s %q", refusal, k)
		}
		if err := tc.apply(c, configs[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

// splitList splits a list config ("a,b") into its trimmed, non-empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// checkTopicConfigs validates a topic's whole override set against the broker defaults.
func checkTopicConfigs(defaults engine.LogConfig, overrides map[string]string) error {
	if _, err := logConfig(defaults, overrides); err != nil {
		return refuse(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// configEntry is one described config, before it is shaped into a response type.
type configEntry struct {
	name     string
	value    string
	source   kmsg.ConfigSource
	readOnly bool
	typ      kmsg.ConfigType
	doc      string
	synonyms []configSynonym // most specific first, as Kafka orders them
	// sensitive hides the value (a password or key), as Kafka's PASSWORD configs.
	sensitive bool
}

type configSynonym struct {
	name   string
	value  string
	source kmsg.ConfigSource
}

// brokerSource is the source of a static broker-level value: DEFAULT_CONFIG when it is
// Kafka's default, else STATIC_BROKER_CONFIG (set in logd's configuration).
func brokerSource(value, kafkaDefault string) kmsg.ConfigSource {
	if value == kafkaDefault {
		return kmsg.ConfigSourceDefaultConfig
	}
	return kmsg.ConfigSourceStaticBrokerConfig
}

// brokerSynonyms lists a broker-level value and, when it was set, the Kafka default under it.
func brokerSynonyms(name, value, kafkaDefault string) []configSynonym {
	src := brokerSource(value, kafkaDefault)
	syn := []configSynonym{{name: name, value: value, source: src}}
	if src != kmsg.ConfigSourceDefaultConfig && kafkaDefault != "" {
		syn = append(syn, configSynonym{name: name, value: kafkaDefault, source: kmsg.ConfigSourceDefaultConfig})
	}
	return syn
}

// topicConfigEntries describes a topic's configs: every config logd honours, an override
// where the topic has one (DYNAMIC_TOPIC_CONFIG), else the broker's value in force with its
// synonyms (brokerLevelSynonyms). names, if non-empty, filters the configs; unknown names are
// skipped, as Kafka does.
func (b *Broker) topicConfigEntries(overrides map[string]string, names []string) []configEntry {
	want := nameFilter(names)
	dyn := b.dynamicLayers()
	out := make([]configEntry, 0, len(topicConfigs))
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if want != nil && !want[tc.name] {
			continue
		}
		syn := b.brokerLevelSynonyms(tc, dyn)
		e := configEntry{name: tc.name, value: syn[0].value, source: syn[0].source, typ: tc.typ, doc: tc.doc, synonyms: syn}
		if v, ok := overrides[tc.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceDynamicTopicConfig
			e.synonyms = append([]configSynonym{{name: tc.name, value: v, source: kmsg.ConfigSourceDynamicTopicConfig}}, syn...)
		}
		out = append(out, e)
	}
	return out
}

// brokerConfig is a broker config whose value in force only the broker knows (the address
// it advertises, the replication factor the cluster's size allows): DescribeConfigs shows it
// in place of the configured one. All are read-only.
type brokerConfig struct {
	name         string
	typ          kmsg.ConfigType
	doc          string
	kafkaDefault string // "" when Kafka has none (the value is always set)
	value        func(b *Broker) string
}

var brokerConfigs = []brokerConfig{
	{name: "node.id", typ: typeInt, doc: "this broker's id",
		value: func(b *Broker) string { return strconv.Itoa(int(b.cfg.NodeID)) }},
	{name: "broker.id", typ: typeInt, doc: "this broker's id (same as node.id)",
		value: func(b *Broker) string { return strconv.Itoa(int(b.cfg.NodeID)) }},
	{name: "log.dirs", typ: typeString, doc: "the log directories",
		value: func(b *Broker) string { return b.logDirs() }},
	{name: "advertised.listeners", typ: typeList, doc: "the addresses clients are told to connect to, per listener",
		value: func(b *Broker) string {
			if len(b.cfg.Listeners) == 0 {
				return "PLAINTEXT://" + net.JoinHostPort(b.cfg.AdvertisedHost, strconv.Itoa(int(b.cfg.AdvertisedPort)))
			}
			parts := make([]string, len(b.cfg.Listeners))
			for i, l := range b.cfg.Listeners {
				parts[i] = l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
			}
			return strings.Join(parts, ",")
		}},
	{name: "auto.create.topics.enable", typ: typeBoolean, kafkaDefault: "true", doc: "create unknown topics named in Metadata requests",
		value: func(b *Broker) string { return strconv.FormatBool(b.cfg.AutoCreateTopics) }},
	{name: "num.partitions", typ: typeInt, kafkaDefault: "1", doc: "partition count of topics created without one",
		value: func(b *Broker) string { return strconv.Itoa(int(b.cfg.NumPartitions)) }},
	{name: "default.replication.factor", typ: typeInt, kafkaDefault: "1", doc: "replication factor of topics created without one (at most the live brokers)",
		value: func(b *Broker) string { return strconv.Itoa(int(b.cluster.DefaultReplicationFactor())) }},
}

func nameFilter(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// logDirs lists the log directories as absolute paths, comma-separated as log.dirs.
func (b *Broker) logDirs() string {
	paths := make([]string, 0, 1+len(b.cfg.ExtraLogDirs))
	for _, ld := range b.eng.Dirs() {
		paths = append(paths, absPath(ld.Path))
	}
	return strings.Join(paths, ",")
}

// absPath is path made absolute, or path itself if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// configOp is one IncrementalAlterConfigs operation.
type configOp struct {
	name  string
	op    kmsg.IncrementalAlterConfigOp
	value *string
}

// applyConfigOps applies IncrementalAlterConfigs operations to a copy of a topic's
// overrides and validates the result. APPEND and SUBTRACT work on list configs only, starting
// from the effective value (the override, else the default).
func applyConfigOps(defaults engine.LogConfig, overrides map[string]string, ops []configOp) (map[string]string, error) {
	out, err := applyOps(overrides, ops, func(name string) (kmsg.ConfigType, string, bool) {
		tc := topicConfigIndex[name]
		if tc == nil {
			return 0, "", false
		}
		return tc.typ, tc.def(&defaults), true
	})
	if err != nil {
		return nil, err
	}
	if err := checkTopicConfigs(defaults, out); err != nil {
		return nil, err
	}
	return out, nil
}

// applyOps applies IncrementalAlterConfigs operations to a copy of a resource's configs.
// lookup gives a config's type and value in force when the resource does not set it, and
// whether the config exists (else INVALID_CONFIG).
func applyOps(cur map[string]string, ops []configOp, lookup func(name string) (typ kmsg.ConfigType, def string, ok bool)) (map[string]string, error) {
	out := make(map[string]string, len(cur)+len(ops))
	for k, v := range cur {
		out[k] = v
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.name] {
			return nil, refuse(kerr.InvalidRequest, "config %q appears twice in the request", op.name)
		}
		seen[op.name] = true
		typ, def, ok := lookup(op.name)
		if !ok {
			return nil, refuse(kerr.InvalidConfig, "unknown config %q", op.name)
		}
		if op.op != kmsg.IncrementalAlterConfigOpDelete && op.value == nil {
			return nil, refuse(kerr.InvalidRequest, "config %q: a null value is only allowed with DELETE", op.name)
		}
		switch op.op {
		case kmsg.IncrementalAlterConfigOpSet:
			out[op.name] = *op.value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(out, op.name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if typ != typeList {
				return nil, refuse(kerr.InvalidConfig, "config %q is not a list: APPEND and SUBTRACT apply to list configs only", op.name)
			}
			v, ok := out[op.name]
			if !ok {
				v = def
			}
			items := splitList(v)
			for _, v := range splitList(*op.value) {
				i := indexOf(items, v)
				switch {
				case op.op == kmsg.IncrementalAlterConfigOpAppend && i < 0:
					items = append(items, v)
				case op.op == kmsg.IncrementalAlterConfigOpSubtract && i >= 0:
					items = append(items[:i], items[i+1:]...)
				}
			}
			out[op.name] = strings.Join(items, ",")
		default:
			return nil, refuse(kerr.InvalidRequest, "config %q: unknown operation %d", op.name, op.op)
		}
	}
	return out, nil
}

func indexOf(items []string, v string) int {
	for i, it := range items {
		if it == v {
			return i
		}
	}
	return -1
}

// setTopicConfigsLocked stores a topic's new override set (already validated) and applies it
// to the topic's open logs, so retention and segment settings take effect at once.
// REQUIRES: b.admin held.
func (b *Broker) setTopicConfigsLocked(topic string, overrides map[string]string) error {
	if _, err := logConfig(b.logDefaults(), overrides); err != nil {
		return refuse(kerr.InvalidConfig, "%v", err)
	}
	if err := b.cluster.SetConfigs(topic, overrides); err != nil {
		return err
	}
	if err := b.RefreshTopicConfig(topic); err != nil {
		return err
	}
	b.log.Info("altered topic configs", "topic", topic, "configs", overrides)
	return nil
}

// topicResource checks that a config resource names an existing topic.
func (b *Broker) topicResource(name string) (metadata.Topic, error) {
	if err := metadata.ValidateTopicName(name); err != nil {
		return metadata.Topic{}, err
	}
	t, ok := b.cluster.Topic(name)
	if !ok {
		return t, errNoTopic(name)
	}
	return t, nil
}

// checkBrokerResource checks that a BROKER config resource to describe names this broker or
// the cluster-wide default "".
func (b *Broker) checkBrokerResource(name string) error {
	if name == "" || name == strconv.Itoa(int(b.cfg.NodeID)) {
		return nil
	}
	return refuse(kerr.InvalidRequest, "unexpected broker id %q: this is broker %d", name, b.cfg.NodeID)
}

// kafkaError is a refusal with a Kafka error code and the reason the client is shown.
// errorCode finds the code through Unwrap.
type kafkaError struct {
	code *kerr.Error
	msg  string
}

func (e *kafkaError) Error() string { return e.msg }
func (e *kafkaError) Unwrap() error { return e.code }

func refuse(code *kerr.Error, format string, args ...any) error {
	return &kafkaError{code: code, msg: fmt.Sprintf(format, args...)}
}

// errorMessage is the ErrorMessage of a response for err: nil on success.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	return &msg
}
