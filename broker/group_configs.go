package broker

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/share"
)

// Group configs: GROUP config resources (kafka-configs --entity-type groups --entity-name G,
// DescribeConfigs / IncrementalAlterConfigs / AlterConfigs with resource type 32), kept in
// the metadata quorum (metadata.AlterGroupConfigs through the controller, GroupConfigStore)
// and read by the share coordinator (share.Config.GroupConfigs, share.GroupSettings), where
// a group's value takes precedence over the broker-wide one. logd knows Kafka 4.3's share.*
// group configs, validated as Kafka's GroupConfig validates them (the ranges are Kafka's
// defaults of group.share.min/max.*); share.assignment.interval.ms, which logd cannot
// honour, is refused with the reason, and Kafka's consumer.* and streams.* group configs
// are refused as unknown, INVALID_CONFIG.

// GroupConfigStore is a Cluster that keeps group configs in the metadata (cluster.Node).
type GroupConfigStore interface {
	// GroupConfigs returns a group's configs (nil when none).
	GroupConfigs(group string) map[string]string
	// SetGroupConfigs replaces a group's configs through the controller and waits until this
	// node's metadata has them.
	SetGroupConfigs(group string, configs map[string]string) error
}

// groupConfigDef is one config of a GROUP resource.
type groupConfigDef struct {
	name, broker string // the group config, and the broker config it overrides ("" for none)
	typ          kmsg.ConfigType
	doc          string
	value        func(b *Broker) string               // the broker-wide value
	check        func(v string) (ok bool, why string) // Kafka's validation
}

// intBetween is Kafka's INT validation of group config name: atLeast (ConfigDef), then
// [lo, hi] (GroupConfig.validateValues, against the broker's min/max configs).
func intBetween(name string, atLeast, lo, hi int64, loName, hiName string) func(string) (bool, string) {
	return func(v string) (bool, string) {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		switch {
		case err != nil:
			return false, "Invalid value " + v + " for configuration " + name + ": Not a number of type INT"
		case n < atLeast:
			return false, "Invalid value " + v + " for configuration " + name + ": Value must be at least " + strconv.FormatInt(atLeast, 10)
		case n < lo:
			return false, name + " must be greater than or equal to " + loName
		case n > hi:
			return false, name + " must be less than or equal to " + hiName
		}
		return true, ""
	}
}

// groupConfigs are the group configs logd honours, in Kafka's order.
var groupConfigs = []groupConfigDef{
	{name: "share.session.timeout.ms", broker: "group.share.session.timeout.ms", typ: typeInt,
		doc:   "The timeout to detect client failures when using the share group protocol.",
		value: func(b *Broker) string { return strconv.FormatInt(b.cfg.Share.SessionTimeout.Milliseconds(), 10) },
		check: intBetween("share.session.timeout.ms", 1, 45000, 60000, "group.share.min.session.timeout.ms", "group.share.max.session.timeout.ms")},
	{name: "share.heartbeat.interval.ms", broker: "group.share.heartbeat.interval.ms", typ: typeInt,
		doc:   "The heartbeat interval given to the members of a share group.",
		value: func(b *Broker) string { return strconv.FormatInt(b.cfg.Share.HeartbeatInterval.Milliseconds(), 10) },
		check: intBetween("share.heartbeat.interval.ms", 1, 5000, 15000, "group.share.min.heartbeat.interval.ms", "group.share.max.heartbeat.interval.ms")},
	{name: "share.record.lock.duration.ms", broker: "group.share.record.lock.duration.ms", typ: typeInt,
		doc:   "The record acquisition lock duration in milliseconds for share groups.",
		value: func(b *Broker) string { return strconv.FormatInt(b.cfg.Share.RecordLockDuration.Milliseconds(), 10) },
		check: intBetween("share.record.lock.duration.ms", 1000, 15000, 60000, "group.share.min.record.lock.duration.ms", "group.share.max.record.lock.duration.ms")},
	{name: "share.delivery.count.limit", broker: "group.share.delivery.count.limit", typ: typeInt,
		doc:   "The maximum number of delivery attempts for a record delivered to a share group.",
		value: func(b *Broker) string { return strconv.Itoa(b.cfg.Share.DeliveryCountLimit) },
		check: intBetween("share.delivery.count.limit", 2, 2, 10, "group.share.min.delivery.count.limit", "group.share.max.delivery.count.limit")},
	{name: "share.partition.max.record.locks", broker: "group.share.partition.max.record.locks", typ: typeInt,
		doc:   "Share-group record lock limit per share-partition.",
		value: func(b *Broker) string { return strconv.Itoa(b.cfg.Share.MaxRecordLocks) },
		check: intBetween("share.partition.max.record.locks", 100, 100, 4000, "group.share.min.partition.max.record.locks", "group.share.max.partition.max.record.locks")},
	{name: "share.auto.offset.reset", broker: "logd.share.auto.offset.reset", typ: typeString,
		doc:   "The strategy to initialize the share-partition start offset: earliest, latest or by_duration:<ISO-8601 duration> (the first record at most that old).",
		value: func(b *Broker) string { return b.cfg.Share.AutoOffsetReset },
		check: func(v string) (bool, string) {
			if _, err := share.ParseAutoOffsetReset(v); err != nil {
				return false, "Invalid value " + v + " for configuration share.auto.offset.reset: " + err.Error()
			}
			return true, ""
		}},
	{name: "share.isolation.level", broker: "logd.share.isolation.level", typ: typeString,
		doc:   "Controls how to read records written transactionally: read_committed or read_uncommitted.",
		value: func(b *Broker) string { return b.cfg.Share.IsolationLevel },
		check: func(v string) (bool, string) {
			if v == "read_committed" || v == "read_uncommitted" {
				return true, ""
			}
			return false, "Invalid value " + v + " for configuration share.isolation.level: String must be one of: read_committed, read_uncommitted"
		}},
	{name: "share.renew.acknowledge.enable", typ: typeBoolean,
		doc:   "Whether the renew acknowledge type is enabled for the share group.",
		value: func(*Broker) string { return "true" },
		check: func(v string) (bool, string) {
			if t := strings.ToLower(strings.TrimSpace(v)); t == "true" || t == "false" {
				return true, ""
			}
			return false, "Invalid value " + v + " for configuration share.renew.acknowledge.enable: Expected value to be either true or false"
		}},
}

// unsupportedGroupConfigs are Kafka group configs logd knows but cannot honour, with why:
// they are refused with that reason rather than accepted without effect.
var unsupportedGroupConfigs = map[string]string{
	"share.assignment.interval.ms": "logd assigns a share group's partitions at every heartbeat that changes the group (as group.share.assignment.interval.ms=0 would); a minimum interval between assignments is not supported",
}

// checkGroupConfigsTogether is Kafka's check across a group's values (GroupConfig.validateValues):
// the session timeout must exceed the heartbeat interval, the group's value or else the
// broker's.
func (b *Broker) checkGroupConfigsTogether(set map[string]string) error {
	val := func(name string) int64 {
		v, ok := set[name]
		if !ok {
			v = groupConfigNamed(name).value(b)
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n
	}
	if val("share.session.timeout.ms") <= val("share.heartbeat.interval.ms") {
		return refuse(kerr.InvalidConfig, "share.session.timeout.ms must be greater than share.heartbeat.interval.ms")
	}
	return nil
}

// groupConfigNamed returns the group config called name, or nil.
func groupConfigNamed(name string) *groupConfigDef {
	for i := range groupConfigs {
		if groupConfigs[i].name == name {
			return &groupConfigs[i]
		}
	}
	return nil
}

// groupConfigsOf returns group g's configs (none without a store): share.Config.GroupConfigs.
func (b *Broker) groupConfigsOf(g string) map[string]string {
	if s, ok := b.cluster.(GroupConfigStore); ok {
		return s.GroupConfigs(g)
	}
	return nil
}

// describeGroupConfigs describes a GROUP resource: every group config, the group's value
// (GROUP_CONFIG) or else the broker's (DEFAULT_CONFIG), with the broker config as synonym.
func (b *Broker) describeGroupConfigs(g string, names []string) ([]configEntry, error) {
	if g == "" {
		return nil, refuse(kerr.InvalidRequest, "the group config resource needs a group id")
	}
	want := nameFilter(names)
	set := b.groupConfigsOf(g)
	var out []configEntry
	for _, gc := range groupConfigs {
		if want != nil && !want[gc.name] {
			continue
		}
		def := gc.value(b)
		e := configEntry{name: gc.name, value: def, source: kmsg.ConfigSourceDefaultConfig, typ: gc.typ, doc: gc.doc}
		if v, ok := set[gc.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceGroupConfig
			e.synonyms = append(e.synonyms, configSynonym{name: gc.name, value: v, source: kmsg.ConfigSourceGroupConfig})
		}
		if gc.broker != "" {
			e.synonyms = append(e.synonyms, configSynonym{name: gc.broker, value: def, source: kmsg.ConfigSourceDefaultConfig})
		}
		out = append(out, e)
	}
	return out, nil
}

// groupConfigOps applies IncrementalAlterConfigs operations to a group's configs (an
// unknown name is refused by alterGroupConfigsLocked, with Kafka's message).
func groupConfigOps(cur map[string]string, ops []configOp) (map[string]string, error) {
	return applyOps(cur, ops, func(name string) (kmsg.ConfigType, string, bool) {
		if gc := groupConfigNamed(name); gc != nil {
			return gc.typ, "", true
		}
		return typeString, "", true
	})
}

// alterGroupConfigsLocked replaces group g's configs with next(current ones) after checking
// them (INVALID_CONFIG with Kafka's message for an unknown name or a bad value).
// REQUIRES: b.admin held.
func (b *Broker) alterGroupConfigsLocked(g string, validateOnly bool, next func(cur map[string]string) (map[string]string, error)) error {
	if g == "" {
		return refuse(kerr.InvalidRequest, "the group config resource needs a group id")
	}
	store, ok := b.cluster.(GroupConfigStore)
	if !ok {
		return refuse(kerr.InvalidRequest, "this broker keeps no group configs")
	}
	cur := store.GroupConfigs(g)
	out, err := next(cur)
	if err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(out)) {
		gc := groupConfigNamed(k)
		if why, ok := unsupportedGroupConfigs[k]; ok {
			return refuse(kerr.InvalidConfig, "Group config %s is not supported by logd: %s", k, why)
		}
		if gc == nil {
			return refuse(kerr.InvalidConfig, "Unknown group config name: %s", k)
		}
		if ok, why := gc.check(out[k]); !ok {
			return refuse(kerr.InvalidConfig, "%s", why)
		}
	}
	if err := b.checkGroupConfigsTogether(out); err != nil {
		return err
	}
	if validateOnly || maps.Equal(out, cur) {
		return nil
	}
	if err := store.SetGroupConfigs(g, out); err != nil {
		return err
	}
	b.log.Info("altered group configs", "group", g, "configs", out)
	return nil
}
