package broker

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// # Broker configs
//
// DescribeConfigs on a BROKER resource lists every setting `logd serve` reads (Config.Settings,
// built from serve's own key table) with its value, Kafka's default, its source and
// documentation, plus the few values only the broker knows (brokerConfigs: broker.id, the
// effective default.replication.factor, …) and the broker-level defaults of the topic
// configs. Sensitive settings (passwords, private keys, JAAS configs) show no value.
//
// The broker-level defaults of the topic configs Kafka lets change at run time (log.retention.ms,
// log.segment.bytes, log.cleanup.policy, message.max.bytes, the log.cleaner.* topic defaults,
// …: dynamicBrokerConfig) are dynamic: IncrementalAlterConfigs (and AlterConfigs) on a broker id
// (DYNAMIC_BROKER_CONFIG) or the cluster default "" (DYNAMIC_DEFAULT_BROKER_CONFIG) stores them
// in the metadata log (metadata.AlterBrokerConfigs through the controller, DynamicConfigStore),
// and every broker's metadata listener applies them (ApplyDynamicConfigs) to its topic defaults
// and its open logs, without a restart, and again after one. Precedence, Kafka's: the broker's
// own value, then the cluster default, then the static configuration, then the default. Every
// other setting is read-only: altering it is INVALID_REQUEST naming it.

// Setting is one setting of the broker's configuration as DescribeConfigs shows it.
type Setting struct {
	// Name is the setting's name: Kafka's where Kafka has the setting, logd.* otherwise.
	Name string
	// Value is the configured value; meaningful only when Set.
	Value string
	// Set reports that the configuration (file, environment or flag) gave a value
	// (STATIC_BROKER_CONFIG); else the value is Default (DEFAULT_CONFIG).
	Set bool
	// Default is the value when nothing sets it.
	Default string
	// Doc is the documentation string (DescribeConfigs' include_documentation).
	Doc string
	// Type is the Kafka config type (STRING when zero).
	Type kmsg.ConfigType
	// Sensitive hides the value from DescribeConfigs, as Kafka hides passwords.
	Sensitive bool
}

// DynamicConfigStore is a Cluster that keeps dynamic broker configs in the metadata
// (cluster.Node).
type DynamicConfigStore interface {
	// DynamicConfigs returns the dynamic configs of a resource: a broker id, or "" for the
	// cluster default (nil when none).
	DynamicConfigs(resource string) map[string]string
	// SetDynamicConfigs replaces a resource's dynamic configs through the controller and
	// waits until this node's metadata has them.
	SetDynamicConfigs(resource string, configs map[string]string) error
}

// topicConfigsByBroker indexes topicConfigs by their broker-level name.
var topicConfigsByBroker = func() map[string]*topicConfig {
	m := make(map[string]*topicConfig, len(topicConfigs))
	for i := range topicConfigs {
		m[topicConfigs[i].broker] = &topicConfigs[i]
	}
	return m
}()

// dynamicBrokerConfig returns the topic config whose broker-level default name can change at
// run time, or nil: those logd honours a broker-wide value of (not the ones pinned to one value).
func dynamicBrokerConfig(name string) *topicConfig {
	if tc := topicConfigsByBroker[name]; tc != nil && !tc.pinned {
		return tc
	}
	return nil
}

// IsDynamicConfig reports whether IncrementalAlterConfigs can change the broker setting name
// at run time.
func IsDynamicConfig(name string) bool { return dynamicBrokerConfig(name) != nil }

// logDefaults are the topic config defaults in force: the static ones with the dynamic broker
// configs applied.
func (b *Broker) logDefaults() engine.LogConfig { return *b.dynDefaults.Load() }

// dynamicConfigs returns a resource's dynamic broker configs (none without a store).
func (b *Broker) dynamicConfigs(resource string) map[string]string {
	if s, ok := b.cluster.(DynamicConfigStore); ok {
		return s.DynamicConfigs(resource)
	}
	return nil
}

// withDynamic applies dynamic broker configs (the cluster default, then this broker's) on top
// of static topic defaults.
func withDynamic(static engine.LogConfig, layers ...map[string]string) (engine.LogConfig, error) {
	c := static
	for _, layer := range layers {
		if err := applyConfigs(&c, layer, dynamicBrokerConfig, "cannot update dynamically:"); err != nil {
			return static, err
		}
	}
	if err := c.Validate(); err != nil {
		return static, err
	}
	return c, nil
}

// ApplyDynamicConfigs makes the dynamic broker configs in the metadata (the cluster default and
// this broker's) the topic defaults in force and applies them to every open log. The cluster's
// metadata listener calls it whenever they change, and once at start.
func (b *Broker) ApplyDynamicConfigs() {
	c, err := withDynamic(b.cfg.LogDefaults, b.dynamicConfigs(""), b.dynamicConfigs(strconv.Itoa(int(b.cfg.NodeID))))
	if err != nil { // checked when stored; a config this build no longer knows
		b.log.Warn("ignoring dynamic broker configs", "err", err)
	}
	if *b.dynDefaults.Load() == c {
		return
	}
	b.dynDefaults.Store(&c)
	b.mu.RLock()
	topics := map[string]bool{}
	for tp := range b.parts {
		topics[tp.Topic] = true
	}
	b.mu.RUnlock()
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		if err := b.RefreshTopicConfig(t); err != nil {
			b.log.Warn("could not apply the new topic defaults", "topic", t, "err", err)
		}
	}
	b.log.Info("applied dynamic broker configs")
}

// dynamicLayer is one layer of dynamic broker configs and the source it is shown with.
type dynamicLayer struct {
	configs map[string]string
	source  kmsg.ConfigSource
}

// dynamicLayers are this broker's dynamic config layers, least specific first: the cluster
// default, then its own.
func (b *Broker) dynamicLayers() []dynamicLayer {
	return []dynamicLayer{
		{b.dynamicConfigs(""), kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{b.dynamicConfigs(strconv.Itoa(int(b.cfg.NodeID))), kmsg.ConfigSourceDynamicBrokerConfig},
	}
}

// brokerLevelSynonyms are the broker-level values of a topic config, the one in force first:
// this broker's dynamic value, the cluster default's, the static one (from the parsed
// defaults: log.retention.hours may have set log.retention.ms), Kafka's default.
func (b *Broker) brokerLevelSynonyms(tc *topicConfig, dyn []dynamicLayer) []configSynonym {
	static := b.cfg.LogDefaults
	syn := brokerSynonyms(tc.broker, tc.def(&static), tc.def(&engine.DefaultLogConfig))
	for _, l := range dyn {
		if v, ok := l.configs[tc.broker]; ok {
			syn = append([]configSynonym{{name: tc.broker, value: v, source: l.source}}, syn...)
		}
	}
	return syn
}

// checkBrokerAlterResource checks that a BROKER resource to alter is the cluster default ""
// or a broker id.
func checkBrokerAlterResource(name string) error {
	if name == "" {
		return nil
	}
	if id, err := strconv.ParseInt(name, 10, 32); err != nil || id < 0 {
		return refuse(kerr.InvalidRequest, "broker resource %q is not a broker id", name)
	}
	return nil
}

// alterBrokerConfigsLocked replaces a BROKER resource's dynamic configs with what next computes
// from the current ones, after checking every name is dynamic and the values apply.
// REQUIRES: b.admin held.
func (b *Broker) alterBrokerConfigsLocked(name string, validateOnly bool, next func(cur map[string]string) (map[string]string, error)) error {
	if err := checkBrokerAlterResource(name); err != nil {
		return err
	}
	store, ok := b.cluster.(DynamicConfigStore)
	if !ok {
		return refuse(kerr.InvalidRequest, "this broker keeps no dynamic configs")
	}
	cur := store.DynamicConfigs(name)
	out, err := next(cur)
	if err != nil {
		return err
	}
	if err := b.checkDynamicConfigs(out); err != nil {
		return err
	}
	if validateOnly || maps.Equal(out, cur) {
		return nil
	}
	if err := store.SetDynamicConfigs(name, out); err != nil {
		return err
	}
	b.log.Info("altered dynamic broker configs", "resource", name, "configs", out)
	return nil
}

// checkDynamicConfigs refuses configs that are read-only (INVALID_REQUEST, Kafka's code for
// configs that cannot change at run time), unknown or out of range (INVALID_CONFIG).
func (b *Broker) checkDynamicConfigs(configs map[string]string) error {
	var static []string
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		if dynamicBrokerConfig(k) != nil {
			continue
		}
		if !b.knownBrokerConfig(k) {
			return refuse(kerr.InvalidConfig, "unknown broker config %q", k)
		}
		static = append(static, k)
	}
	if len(static) > 0 {
		return refuse(kerr.InvalidRequest, "cannot update these configs dynamically: %s (they are read-only: change them in logd's configuration and restart)",
			strings.Join(static, ", "))
	}
	if _, err := withDynamic(b.cfg.LogDefaults, configs); err != nil {
		return refuse(kerr.InvalidConfig, "%v", err)
	}
	return nil
}

// knownBrokerConfig reports whether DescribeConfigs lists the broker config name.
func (b *Broker) knownBrokerConfig(name string) bool {
	if topicConfigsByBroker[name] != nil {
		return true
	}
	for _, s := range b.cfg.Settings {
		if s.Name == name {
			return true
		}
	}
	for _, bc := range brokerConfigs {
		if bc.name == name {
			return true
		}
	}
	return false
}

// brokerConfigOps applies IncrementalAlterConfigs operations to a BROKER resource's dynamic
// configs. APPEND and SUBTRACT work on list configs, from the value in force.
func (b *Broker) brokerConfigOps(cur map[string]string, ops []configOp) (map[string]string, error) {
	return applyOps(cur, ops, func(name string) (kmsg.ConfigType, string, bool) {
		tc := topicConfigsByBroker[name]
		if tc == nil {
			return typeString, "", b.knownBrokerConfig(name)
		}
		d := b.logDefaults()
		return tc.typ, tc.def(&d), true
	})
}

// describeBrokerConfigs describes a BROKER resource: this broker's id lists every setting; the
// cluster default "" lists the dynamic defaults set.
func (b *Broker) describeBrokerConfigs(name string, names []string) ([]configEntry, error) {
	if err := b.checkBrokerResource(name); err != nil {
		return nil, err
	}
	want := nameFilter(names)
	def := b.dynamicConfigs("")
	if name == "" {
		var out []configEntry
		for _, k := range slices.Sorted(maps.Keys(def)) {
			if want != nil && !want[k] {
				continue
			}
			e := configEntry{name: k, value: def[k], source: kmsg.ConfigSourceDynamicDefaultBrokerConfig, typ: typeString}
			if tc := topicConfigsByBroker[k]; tc != nil {
				e.typ, e.doc = tc.typ, "default "+tc.name+": "+tc.doc
			}
			e.synonyms = []configSynonym{{name: k, value: e.value, source: e.source}}
			out = append(out, e)
		}
		return out, nil
	}
	entries := map[string]configEntry{}
	for _, s := range b.cfg.Settings {
		typ := s.Type
		if typ == 0 {
			typ = typeString
		}
		e := configEntry{name: s.Name, typ: typ, doc: s.Doc, sensitive: s.Sensitive, readOnly: true}
		e.synonyms = []configSynonym{{name: s.Name, value: s.Default, source: kmsg.ConfigSourceDefaultConfig}}
		if s.Set {
			e.synonyms = append([]configSynonym{{name: s.Name, value: s.Value, source: kmsg.ConfigSourceStaticBrokerConfig}}, e.synonyms...)
		}
		entries[s.Name] = e
	}
	for _, bc := range brokerConfigs { // values only the broker knows
		v := bc.value(b)
		e, ok := entries[bc.name]
		if !ok {
			e = configEntry{name: bc.name, typ: bc.typ, doc: bc.doc, readOnly: true, synonyms: brokerSynonyms(bc.name, v, bc.kafkaDefault)}
		}
		e.synonyms[0].value = v
		entries[bc.name] = e
	}
	dyn := b.dynamicLayers()
	for i := range topicConfigs {
		tc := &topicConfigs[i]
		e, ok := entries[tc.broker]
		if !ok {
			e = configEntry{name: tc.broker, doc: "default " + tc.name + ": " + tc.doc}
		}
		e.typ, e.readOnly = tc.typ, tc.pinned
		e.synonyms = b.brokerLevelSynonyms(tc, dyn)
		entries[tc.broker] = e
	}
	out := make([]configEntry, 0, len(entries))
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		if want != nil && !want[k] {
			continue
		}
		e := entries[k]
		e.value, e.source = e.synonyms[0].value, e.synonyms[0].source
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
