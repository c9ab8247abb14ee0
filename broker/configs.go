package broker

import (
	"fmt"
	"math"
	"net"
	"path/filepath"
	"sort"
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
	{name: "compression.type", broker: "compression.type", typ: typeString, doc: "producer: batches are stored as the producer compressed them",
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
	{name: "message.timestamp.type", broker: "log.message.timestamp.type", typ: typeString, doc: "CreateTime or LogAppendTime",
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
	{name: "min.insync.replicas", broker: "min.insync.replicas", typ: typeInt, doc: "replicas that must have an acks=all write",
		def: func(*engine.LogConfig) string { return "1" },
		apply: func(c *engine.LogConfig, v string) error {
			_, err := parseInt(v, 1)
			return err
		}},
	{name: "unclean.leader.election.enable", broker: "unclean.leader.election.enable", typ: typeBoolean,
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
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		tc := topicConfigIndex[k]
		if tc == nil {
			return c, fmt.Errorf("unknown topic config %q", k)
		}
		if err := tc.apply(&c, overrides[k]); err != nil {
			return c, fmt.Errorf("%s: %w", k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
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
}

type configSynonym struct {
	name   string
	value  string
	source kmsg.ConfigSource
}

// brokerSource is the source of a broker-level value: DEFAULT_CONFIG when it is Kafka's
// default, else STATIC_BROKER_CONFIG (set in logd's configuration; none is dynamic).
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
// where the topic has one (DYNAMIC_TOPIC_CONFIG), else the broker's value. names, if
// non-empty, filters the configs; unknown names are skipped, as Kafka does.
func topicConfigEntries(defaults engine.LogConfig, overrides map[string]string, names []string) []configEntry {
	want := nameFilter(names)
	out := make([]configEntry, 0, len(topicConfigs))
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if want != nil && !want[tc.name] {
			continue
		}
		def := tc.def(&defaults)
		syn := brokerSynonyms(tc.broker, def, tc.def(&engine.DefaultLogConfig))
		e := configEntry{name: tc.name, value: def, source: syn[0].source, typ: tc.typ, doc: tc.doc, synonyms: syn}
		if v, ok := overrides[tc.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceDynamicTopicConfig
			e.synonyms = append([]configSynonym{{name: tc.name, value: v, source: kmsg.ConfigSourceDynamicTopicConfig}}, syn...)
		}
		out = append(out, e)
	}
	return out
}

// brokerConfig is one broker config DescribeConfigs reports. All are read-only: logd takes
// them from its configuration at start (no dynamic broker configs).
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
	{name: "log.dirs", typ: typeString, doc: "the log directory",
		value: func(b *Broker) string { return b.logDir() }},
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

// brokerConfigEntries describes this broker's configs: brokerConfigs, then the broker-level
// defaults of the topic configs.
func (b *Broker) brokerConfigEntries(names []string) []configEntry {
	want := nameFilter(names)
	var out []configEntry
	for _, bc := range brokerConfigs {
		if want != nil && !want[bc.name] {
			continue
		}
		v := bc.value(b)
		syn := brokerSynonyms(bc.name, v, bc.kafkaDefault)
		out = append(out, configEntry{name: bc.name, value: v, source: syn[0].source, readOnly: true, typ: bc.typ, doc: bc.doc, synonyms: syn})
	}
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		if want != nil && !want[tc.broker] {
			continue
		}
		v := tc.def(&b.cfg.LogDefaults)
		syn := brokerSynonyms(tc.broker, v, tc.def(&engine.DefaultLogConfig))
		out = append(out, configEntry{name: tc.broker, value: v, source: syn[0].source, readOnly: true, typ: tc.typ,
			doc: "default " + tc.name + ": " + tc.doc, synonyms: syn})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
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

// logDir is the log directory as an absolute path.
func (b *Broker) logDir() string {
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		return abs
	}
	return b.cfg.DataDir
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
	out := make(map[string]string, len(overrides)+len(ops))
	for k, v := range overrides {
		out[k] = v
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.name] {
			return nil, refuse(kerr.InvalidRequest, "config %q appears twice in the request", op.name)
		}
		seen[op.name] = true
		tc := topicConfigIndex[op.name]
		if tc == nil {
			return nil, refuse(kerr.InvalidConfig, "unknown topic config %q", op.name)
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
			if tc.typ != typeList {
				return nil, refuse(kerr.InvalidConfig, "config %q is not a list: APPEND and SUBTRACT apply to list configs only", op.name)
			}
			cur, ok := out[op.name]
			if !ok {
				cur = tc.def(&defaults)
			}
			items := splitList(cur)
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
	if err := checkTopicConfigs(defaults, out); err != nil {
		return nil, err
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
	if _, err := logConfig(b.cfg.LogDefaults, overrides); err != nil {
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

// errBrokerConfigsStatic refuses changes to broker configs. Kafka answers INVALID_REQUEST for
// broker configs that cannot be updated dynamically; in logd none can.
var errBrokerConfigsStatic = refuse(kerr.InvalidRequest, "broker configs are static in logd: change them in its configuration and restart")

// checkBrokerResource checks that a BROKER config resource names this broker ("" is the
// cluster-wide default, which logd has no dynamic values for).
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
