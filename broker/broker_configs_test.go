package broker

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// wantBrokerConfig checks a BROKER resource's config: its value, source and first synonyms.
func wantBrokerConfig(t *testing.T, cs *clients, resource, name, value string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	r := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, resource, name)
	if r.ErrorCode != 0 {
		t.Fatalf("describe broker %q: %+v", resource, r)
	}
	c := findConfig(t, r, name)
	if c.Value == nil || *c.Value != value || c.Source != source {
		t.Fatalf("broker %q %s: %v (source %v), want %s (%v)", resource, name, c.Value, c.Source, value, source)
	}
	if len(c.ConfigSynonyms) == 0 || c.ConfigSynonyms[0].Source != source {
		t.Fatalf("broker %q %s: synonyms %+v do not start with the value in force", resource, name, c.ConfigSynonyms)
	}
	return c
}

func TestDynamicBrokerConfigs(t *testing.T) {
	static := func(c *Config) {
		c.Settings = []Setting{
			{Name: "log.segment.bytes", Value: "1048576", Set: true, Default: "1073741824", Doc: "roll a new segment at this size", Type: kmsg.ConfigTypeInt},
			{Name: "ssl.key.password", Value: "secret", Set: true, Doc: "the key's password", Type: kmsg.ConfigTypePassword, Sensitive: true},
		}
		c.LogDefaults.SegmentBytes = 1 << 20
	}
	tb := startBroker(t, static)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	adm.CreateTopics(ctx, 1, 1, nil, "dyn")
	produceN(t, cs, "dyn", 0, 1, 10)
	l := tb.b.Engine().Log(engine.TopicPartition{Topic: "dyn", Partition: 0})
	if l == nil {
		t.Fatal("log not open")
	}

	// The configured value, its default under it; documentation; the secret hidden.
	c := wantBrokerConfig(t, cs, "1", "log.segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig)
	if c.ReadOnly || c.Documentation == nil || *c.Documentation == "" || len(c.ConfigSynonyms) != 2 || *c.ConfigSynonyms[1].Value != "1073741824" {
		t.Fatalf("log.segment.bytes: %+v", c)
	}
	pw := findConfig(t, describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, "1"), "ssl.key.password")
	if pw.Value != nil || !pw.IsSensitive || !pw.ReadOnly || pw.ConfigSynonyms[0].Value != nil {
		t.Fatalf("ssl.key.password is shown: %+v", pw)
	}

	// The cluster default applies at once to the open log.
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.segment.bytes", Value: kmsg.StringPtr("4096")},
		{Name: "log.retention.ms", Value: kmsg.StringPtr("3600000")}})
	alterOK(t, "cluster default", rs, err)
	if got := l.Config().SegmentBytes; got != 4096 {
		t.Fatalf("segment.bytes in force after the cluster default: %d", got)
	}
	wantBrokerConfig(t, cs, "", "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	// A topic without an override shows the default in force, from its broker-level synonym.
	rt := findConfig(t, describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeTopic, "dyn", "retention.ms"), "retention.ms")
	if *rt.Value != "3600000" || rt.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || rt.ConfigSynonyms[0].Name != "log.retention.ms" {
		t.Fatalf("topic retention.ms under the cluster default: %+v", rt)
	}
	if def := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, ""); len(def.Configs) != 2 {
		t.Fatalf("cluster default lists %d configs, want the 2 set", len(def.Configs))
	}
	c = wantBrokerConfig(t, cs, "1", "log.segment.bytes", "4096", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	if len(c.ConfigSynonyms) != 3 || c.ConfigSynonyms[1].Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("synonyms: %+v", c.ConfigSynonyms)
	}

	// The broker's own value beats the cluster default; APPEND works on a list.
	rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.segment.bytes", Value: kmsg.StringPtr("8192")},
		{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: kmsg.StringPtr("compact")}}, 1)
	alterOK(t, "broker 1", rs, err)
	wantBrokerConfig(t, cs, "1", "log.segment.bytes", "8192", kmsg.ConfigSourceDynamicBrokerConfig)
	wantBrokerConfig(t, cs, "1", "log.cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicBrokerConfig)
	if cfg := l.Config(); cfg.SegmentBytes != 8192 || cfg.CleanupPolicy != engine.CleanupCompact|engine.CleanupDelete {
		t.Fatalf("in force after broker 1's: %+v", cfg)
	}

	// Refusals: read-only (named), pinned, unknown, out of range; validate-only stores nothing.
	for _, bad := range []struct {
		name, value string
		code        *kerr.Error
	}{
		{"num.partitions", "3", kerr.InvalidRequest},
		{"compression.type", "producer", kerr.InvalidRequest},
		{"no.such.config", "1", kerr.InvalidConfig},
		{"log.segment.bytes", "10", kerr.InvalidConfig},
	} {
		rs, _ := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: bad.name, Value: kmsg.StringPtr(bad.value)}}, 1)
		for _, r := range rs {
			wantCode(t, bad.name, r.Err, bad.code)
			if !strings.Contains(r.ErrMessage, bad.name) {
				t.Fatalf("%s: message %q does not name it", bad.name, r.ErrMessage)
			}
		}
	}
	rs, err = adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.bytes", Value: kmsg.StringPtr("100")}}, 1)
	alterOK(t, "validate only", rs, err)
	wantBrokerConfig(t, cs, "1", "log.retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig)

	// The dynamic configs are in the metadata: they hold after a restart.
	tb.stop()
	tb.start(static)
	cs = newClients(t, tb)
	adm = cs.admin()
	wantBrokerConfig(t, cs, "1", "log.segment.bytes", "8192", kmsg.ConfigSourceDynamicBrokerConfig)
	wantBrokerConfig(t, cs, "1", "log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	eventually(t, "the log reopened with the dynamic configs", func() bool {
		l = tb.b.Engine().Log(engine.TopicPartition{Topic: "dyn", Partition: 0})
		return l != nil && l.Config().SegmentBytes == 8192 && l.Config().RetentionMs.Milliseconds() == 3600000
	})

	// DELETE goes back to the layer below.
	rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.segment.bytes"},
		{Op: kadm.DeleteConfig, Name: "log.cleanup.policy"}}, 1)
	alterOK(t, "delete broker 1's", rs, err)
	wantBrokerConfig(t, cs, "1", "log.segment.bytes", "4096", kmsg.ConfigSourceDynamicDefaultBrokerConfig)
	rs, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "log.segment.bytes"},
		{Op: kadm.DeleteConfig, Name: "log.retention.ms"}})
	alterOK(t, "delete the cluster default", rs, err)
	wantBrokerConfig(t, cs, "1", "log.segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig)
	if got := l.Config().SegmentBytes; got != 1<<20 {
		t.Fatalf("segment.bytes in force after the deletes: %d", got)
	}
}
