package broker

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

func TestApplyConfigOps(t *testing.T) {
	set, del, app, sub := kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete,
		kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract
	v := kmsg.StringPtr
	for _, c := range []struct {
		name string
		cur  map[string]string
		ops  []configOp
		want map[string]string
		code *kerr.Error
		msg  string
	}{
		{name: "set", ops: []configOp{{"retention.ms", set, v("5")}}, want: map[string]string{"retention.ms": "5"}},
		{name: "delete", cur: map[string]string{"retention.ms": "5", "segment.ms": "9"}, ops: []configOp{{"retention.ms", del, nil}}, want: map[string]string{"segment.ms": "9"}},
		{name: "append existing item", ops: []configOp{{"cleanup.policy", app, v("delete")}}, want: map[string]string{"cleanup.policy": "delete"}},
		{name: "append compact", ops: []configOp{{"cleanup.policy", app, v("compact")}}, want: map[string]string{"cleanup.policy": "delete,compact"}},
		{name: "bad policy", ops: []configOp{{"cleanup.policy", set, v("shred")}}, code: kerr.InvalidConfig, msg: "cleanup.policy"},
		{name: "bad dirty ratio", ops: []configOp{{"min.cleanable.dirty.ratio", set, v("1.5")}}, code: kerr.InvalidConfig, msg: "min.cleanable.dirty.ratio"},
		{name: "subtract to empty", ops: []configOp{{"cleanup.policy", sub, v("delete")}}, code: kerr.InvalidConfig, msg: "cleanup.policy"},
		{name: "subtract absent item", cur: map[string]string{"cleanup.policy": "delete"}, ops: []configOp{{"cleanup.policy", sub, v("compact")}}, want: map[string]string{"cleanup.policy": "delete"}},
		{name: "append to a number", ops: []configOp{{"retention.ms", app, v("5")}}, code: kerr.InvalidConfig, msg: "not a list"},
		{name: "unknown", ops: []configOp{{"log.retention.ms", set, v("5")}}, code: kerr.InvalidConfig, msg: `"log.retention.ms"`},
		{name: "bad value", ops: []configOp{{"segment.bytes", set, v("-3")}}, code: kerr.InvalidConfig, msg: "segment.bytes"},
		{name: "set null", ops: []configOp{{"segment.bytes", set, nil}}, code: kerr.InvalidRequest},
		{name: "twice", ops: []configOp{{"segment.bytes", set, v("100")}, {"segment.bytes", del, nil}}, code: kerr.InvalidRequest},
		{name: "unknown op", ops: []configOp{{"segment.bytes", 9, v("100")}}, code: kerr.InvalidRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := applyConfigOps(engine.DefaultLogConfig, c.cur, c.ops)
			if c.code != nil {
				if errorCode(err) != c.code.Code || !strings.Contains(err.Error(), c.msg) {
					t.Fatalf("got %v (code %d), want %s containing %q", err, errorCode(err), c.code.Message, c.msg)
				}
				return
			}
			if err != nil || len(got) != len(c.want) {
				t.Fatalf("got %v %v, want %v", got, err, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// describeConfigsRaw asks for one resource's configs with synonyms and documentation.
func describeConfigsRaw(t *testing.T, cs *clients, typ kmsg.ConfigResourceType, name string, names ...string) kmsg.DescribeConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, names
	req.Resources = append(req.Resources, r)
	// Sent to broker 1 itself: kgo would route a BROKER resource to the broker it names.
	kresp, err := cs.client().Broker(1).Request(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 1 {
		t.Fatalf("describe configs: %+v %v", resp, err)
	}
	return resp.Resources[0]
}

func findConfig(t *testing.T, r kmsg.DescribeConfigsResponseResource, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	for _, c := range r.Configs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s not described in %s", name, r.ResourceName)
	return kmsg.DescribeConfigsResponseResourceConfig{}
}

type synonym struct {
	name, value string
	source      kmsg.ConfigSource
}

func checkSynonyms(t *testing.T, c kmsg.DescribeConfigsResponseResourceConfig, want ...synonym) {
	t.Helper()
	var got []synonym
	for _, s := range c.ConfigSynonyms {
		got = append(got, synonym{s.Name, *s.Value, s.Source})
	}
	if len(got) != len(want) {
		t.Fatalf("%s synonyms %v, want %v", c.Name, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s synonyms %v, want %v", c.Name, got, want)
		}
	}
}

func TestDescribeConfigs(t *testing.T) {
	tb := startBroker(t, func(c *Config) {
		c.LogDefaults.SegmentBytes = 1 << 20 // differs from Kafka's default: a static broker config
		c.NumPartitions = 3
	})
	cs := newClients(t, tb)
	adm := cs.admin()
	adm.CreateTopics(testCtx(t), 1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("1000")}, "described")

	r := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeTopic, "described")
	if r.ErrorCode != 0 || len(r.Configs) != len(topicConfigs) {
		t.Fatalf("topic: %+v", r)
	}
	for _, c := range r.Configs {
		if c.ReadOnly || c.IsSensitive || c.Value == nil || c.ConfigType == 0 || c.Documentation == nil {
			t.Fatalf("config %+v", c)
		}
	}
	ret := findConfig(t, r, "retention.ms")
	if *ret.Value != "1000" || ret.Source != kmsg.ConfigSourceDynamicTopicConfig || ret.IsDefault || ret.ConfigType != kmsg.ConfigTypeLong {
		t.Fatalf("retention.ms: %+v", ret)
	}
	checkSynonyms(t, ret,
		synonym{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig},
		synonym{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig})
	seg := findConfig(t, r, "segment.bytes")
	if *seg.Value != "1048576" || seg.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("segment.bytes: %+v", seg)
	}
	checkSynonyms(t, seg,
		synonym{"log.segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig},
		synonym{"log.segment.bytes", "1073741824", kmsg.ConfigSourceDefaultConfig})
	cp := findConfig(t, r, "cleanup.policy")
	if *cp.Value != "delete" || cp.Source != kmsg.ConfigSourceDefaultConfig || cp.ConfigType != kmsg.ConfigTypeList {
		t.Fatalf("cleanup.policy: %+v", cp)
	}

	// A name filter; names logd does not know are left out.
	r = describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeTopic, "described", "segment.ms", "message.downconversion.enable")
	if len(r.Configs) != 1 || r.Configs[0].Name != "segment.ms" || *r.Configs[0].Value != "604800000" {
		t.Fatalf("filtered: %+v", r.Configs)
	}

	// kadm (as kafka-configs does) sees the same.
	rcs, err := adm.DescribeTopicConfigs(testCtx(t), "described", "missing")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		switch rc.Name {
		case "described":
			if rc.Err != nil || len(rc.Configs) != len(topicConfigs) {
				t.Fatalf("kadm: %+v", rc)
			}
		case "missing":
			wantCode(t, "unknown topic", rc.Err, kerr.UnknownTopicOrPartition)
		}
	}

	// The broker resource: this broker's id only.
	b := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, "1")
	if b.ErrorCode != 0 {
		t.Fatalf("broker: %+v", b)
	}
	for _, c := range b.Configs {
		if c.ReadOnly == IsDynamicConfig(c.Name) {
			t.Fatalf("broker config %s: read-only %v, but dynamic %v", c.Name, c.ReadOnly, IsDynamicConfig(c.Name))
		}
	}
	for name, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"num.partitions":            {"3", kmsg.ConfigSourceStaticBrokerConfig},
		"auto.create.topics.enable": {"true", kmsg.ConfigSourceDefaultConfig},
		"log.retention.ms":          {"604800000", kmsg.ConfigSourceDefaultConfig},
		"log.retention.bytes":       {"-1", kmsg.ConfigSourceDefaultConfig},
		"log.segment.bytes":         {"1048576", kmsg.ConfigSourceStaticBrokerConfig},
		"message.max.bytes":         {"1048588", kmsg.ConfigSourceDefaultConfig},
		"node.id":                   {"1", kmsg.ConfigSourceStaticBrokerConfig},
		"log.dirs":                  {tb.dir, kmsg.ConfigSourceStaticBrokerConfig},
	} {
		c := findConfig(t, b, name)
		if *c.Value != want.value || c.Source != want.source {
			t.Fatalf("broker %s: %s (source %v), want %s (%v)", name, *c.Value, c.Source, want.value, want.source)
		}
	}
	if r := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, "2"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("other broker: %+v", r)
	}
	if r := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBroker, ""); r.ErrorCode != 0 || len(r.Configs) != 0 {
		t.Fatalf("cluster default: %+v", r)
	}
	if r := describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeBrokerLogger, "1"); r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("broker logger: %+v", r)
	}
	bcs, err := adm.DescribeBrokerConfigs(testCtx(t), 1)
	if err != nil || len(bcs) != 1 || bcs[0].Err != nil {
		t.Fatalf("kadm broker configs: %+v %v", bcs, err)
	}
}

func alterOK(t *testing.T, what string, rs kadm.AlterConfigsResponses, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("%s: %v: %s", what, r.Err, r.ErrMessage)
		}
	}
}

func topicOverrides(t *testing.T, cs *clients, topic string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range describeConfigsRaw(t, cs, kmsg.ConfigResourceTypeTopic, topic).Configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			out[c.Name] = *c.Value
		}
	}
	return out
}

func TestAlterConfigs(t *testing.T) {
	tb := startBroker(t, nil)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	adm.CreateTopics(ctx, 1, 1, nil, "altered")
	produceN(t, cs, "altered", 0, 1, 100) // the log is open before the change
	tp := engine.TopicPartition{Topic: "altered", Partition: 0}
	l := tb.b.Engine().Log(tp)
	if l == nil || l.Segments() != 1 {
		t.Fatal("log not open")
	}

	// Validate-only changes nothing.
	rs, err := adm.ValidateAlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: kmsg.StringPtr("1024")}}, "altered")
	alterOK(t, "validate only", rs, err)
	if len(topicOverrides(t, cs, "altered")) != 0 || l.Config().SegmentBytes != engine.DefaultLogConfig.SegmentBytes {
		t.Fatal("validate-only altered the topic")
	}

	// A smaller segment.bytes takes effect on the open log at once.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Name: "segment.bytes", Value: kmsg.StringPtr("1024")},
		{Name: "retention.ms", Value: kmsg.StringPtr("3600000")},
	}, "altered")
	alterOK(t, "incremental set", rs, err)
	if c := l.Config(); c.SegmentBytes != 1024 || c.RetentionMs.Milliseconds() != 3600000 {
		t.Fatalf("open log config: %+v", c)
	}
	produceN(t, cs, "altered", 0, 10, 500)
	if n := l.Segments(); n < 4 {
		t.Fatalf("%d segments after producing 5000 bytes with segment.bytes=1024", n)
	}

	// retention.bytes applies at the next retention pass.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kmsg.StringPtr("2048")}}, "altered")
	alterOK(t, "retention.bytes", rs, err)
	if _, err := l.ApplyRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() == 0 || l.Size() > 2048+1024 {
		t.Fatalf("retention did not apply: start %d size %d", l.LogStartOffset(), l.Size())
	}

	// Refusals name the config and change nothing.
	for _, c := range []struct {
		ops  []kadm.AlterConfig
		code *kerr.Error
		msg  string
	}{
		{[]kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1")}, {Name: "bogus.key", Value: kmsg.StringPtr("1")}}, kerr.InvalidConfig, `"bogus.key"`},
		{[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("shred")}}, kerr.InvalidConfig, "cleanup.policy"},
		{[]kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "segment.ms", Value: kmsg.StringPtr("5")}}, kerr.InvalidConfig, "segment.ms"},
		{[]kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("big")}}, kerr.InvalidConfig, "max.message.bytes"},
	} {
		rs, err := adm.AlterTopicConfigs(ctx, c.ops, "altered")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rs.On("altered", nil)
		wantCode(t, c.msg, r.Err, c.code)
		if !strings.Contains(r.ErrMessage, c.msg) {
			t.Fatalf("message %q does not name %s", r.ErrMessage, c.msg)
		}
	}
	want := map[string]string{"segment.bytes": "1024", "retention.ms": "3600000", "retention.bytes": "2048"}
	if got := topicOverrides(t, cs, "altered"); len(got) != len(want) || got["retention.ms"] != "3600000" {
		t.Fatalf("overrides %v, want %v", got, want)
	}

	// DELETE goes back to the default.
	rs, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "retention.bytes"}}, "altered")
	alterOK(t, "delete", rs, err)
	if l.Config().RetentionBytes != -1 {
		t.Fatalf("retention.bytes after DELETE: %d", l.Config().RetentionBytes)
	}

	// The legacy AlterConfigs replaces the whole override set.
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kmsg.StringPtr("60000")}}, "altered")
	alterOK(t, "legacy", rs, err)
	if got := topicOverrides(t, cs, "altered"); len(got) != 1 || got["segment.ms"] != "60000" {
		t.Fatalf("after legacy alter: %v", got)
	}
	if c := l.Config(); c.SegmentBytes != engine.DefaultLogConfig.SegmentBytes || c.SegmentMs.Milliseconds() != 60000 {
		t.Fatalf("open log after legacy alter: %+v", c)
	}
	rs, _ = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kmsg.StringPtr("compact")}}, "altered")
	r, _ := rs.On("altered", nil)
	if r.Err != nil {
		t.Fatalf("legacy compact: %v %s", r.Err, r.ErrMessage)
	}
	if l.Config().CleanupPolicy != engine.CleanupCompact {
		t.Fatalf("cleanup.policy after legacy alter: %v", l.Config().CleanupPolicy)
	}
	rs, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kmsg.StringPtr("60000")}}, "altered")
	alterOK(t, "legacy back", rs, err)

	// Unknown topics; read-only broker configs (broker_configs_test.go has the dynamic ones).
	rs, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kmsg.StringPtr("1")}}, "missing")
	r, _ = rs.On("missing", nil)
	wantCode(t, "unknown topic", r.Err, kerr.UnknownTopicOrPartition)
	rs, _ = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("2")}}, 1)
	for _, r := range rs {
		wantCode(t, "broker config", r.Err, kerr.InvalidRequest)
	}
	rs, _ = adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kmsg.StringPtr("2")}}, 1)
	for _, r := range rs {
		wantCode(t, "legacy broker config", r.Err, kerr.InvalidRequest)
	}

	// Duplicate resources in one request are refused.
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for i := 0; i < 2; i++ {
		res := kmsg.NewIncrementalAlterConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "altered"
		res.Configs = []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "segment.ms", Value: kmsg.StringPtr("5")}}
		req.Resources = append(req.Resources, res)
	}
	resp, err := req.RequestWith(ctx, cs.client())
	if err != nil || resp.Resources[0].ErrorCode != kerr.InvalidRequest.Code || resp.Resources[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("duplicate resources: %+v %v", resp, err)
	}

	// Overrides survive a restart and configure the reopened log.
	cs.restart()
	if got := topicOverrides(t, cs, "altered"); len(got) != 1 || got["segment.ms"] != "60000" {
		t.Fatalf("after restart: %v", got)
	}
	produceN(t, cs, "altered", 0, 1, 10)
	if c := tb.b.Engine().Log(tp).Config(); c.SegmentMs.Milliseconds() != 60000 {
		t.Fatalf("reopened log config: %+v", c)
	}
}
