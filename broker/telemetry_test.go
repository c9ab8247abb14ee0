package broker

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/logd/logd/internal/compress"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/telemetry"
)

// telemetryBroker is a broker with Prometheus metrics served over HTTP, and a client whose own
// KIP-714 telemetry is off (the test sends the telemetry requests itself).
type telemetryBroker struct {
	*testBroker
	t   *testing.T
	web *httptest.Server
	cl  *kgo.Client
}

func startTelemetryBroker(t *testing.T, modify func(*Config)) *telemetryBroker {
	reg := metrics.New()
	tb := startBroker(t, func(c *Config) {
		c.Metrics = reg
		if modify != nil {
			modify(c)
		}
	})
	web := httptest.NewServer(reg.Handler())
	t.Cleanup(web.Close)
	return &telemetryBroker{testBroker: tb, t: t, web: web, cl: tb.client(kgo.DisableClientMetrics(), kgo.ClientID("telemetry-test"))}
}

// scrape reads /metrics over HTTP.
func (tb *telemetryBroker) scrape() string {
	tb.t.Helper()
	resp, err := http.Get(tb.web.URL)
	if err != nil {
		tb.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.t.Fatalf("/metrics: %d %v: %s", resp.StatusCode, err, b)
	}
	return string(b)
}

// alterClientMetrics sends one IncrementalAlterConfigs on a CLIENT_METRICS resource and
// returns its error code. ops alternate name, value; a nil value is DELETE.
func (tb *telemetryBroker) alterClientMetrics(name string, ops ...*string) int16 {
	tb.t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeClientMetrics, name
	for i := 0; i+1 < len(ops); i += 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = *ops[i], ops[i+1]
		if c.Value == nil {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		r.Configs = append(r.Configs, c)
	}
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testCtx(tb.t), tb.cl)
	if err != nil || len(resp.Resources) != 1 {
		tb.t.Fatalf("IncrementalAlterConfigs: %v %+v", err, resp)
	}
	return resp.Resources[0].ErrorCode
}

func strs(kv ...string) []*string {
	out := make([]*string, len(kv))
	for i := range kv {
		out[i] = &kv[i]
	}
	return out
}

// describeClientMetrics returns a subscription's described configs.
func (tb *telemetryBroker) describeClientMetrics(name string) map[string]string {
	tb.t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeClientMetrics, name
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testCtx(tb.t), tb.cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		tb.t.Fatalf("DescribeConfigs: %v %+v", err, resp)
	}
	out := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		if c.Source != kmsg.ConfigSourceClientMetricsConfig || c.Value == nil {
			tb.t.Errorf("config %s: source %v value %v, want CLIENT_METRICS_CONFIG with a value", c.Name, c.Source, c.Value)
			continue
		}
		out[c.Name] = *c.Value
	}
	return out
}

// listClientMetrics lists the subscriptions with ListConfigResources (kafka-client-metrics
// --list's request).
func (tb *telemetryBroker) listClientMetrics() []string {
	tb.t.Helper()
	req := kmsg.NewPtrListConfigResourcesRequest()
	req.ResourceTypes = []int8{int8(kmsg.ConfigResourceTypeClientMetrics)} // v1; v0 lists these only
	resp, err := req.RequestWith(testCtx(tb.t), tb.cl)
	if err != nil || resp.ErrorCode != 0 {
		tb.t.Fatalf("ListConfigResources: %v %+v", err, resp)
	}
	var names []string
	for _, r := range resp.ConfigResources {
		names = append(names, r.Name)
	}
	return names
}

func (tb *telemetryBroker) getSubscriptions(id [16]byte) *kmsg.GetTelemetrySubscriptionsResponse {
	tb.t.Helper()
	req := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
	req.ClientInstanceID = id
	resp, err := req.RequestWith(testCtx(tb.t), tb.cl)
	if err != nil {
		tb.t.Fatalf("GetTelemetrySubscriptions: %v", err)
	}
	return resp
}

func (tb *telemetryBroker) push(id [16]byte, sub int32, terminating bool, codec int8, metrics []byte) int16 {
	tb.t.Helper()
	req := kmsg.NewPtrPushTelemetryRequest()
	req.ClientInstanceID, req.SubscriptionID, req.Terminating, req.CompressionType, req.Metrics = id, sub, terminating, codec, metrics
	resp, err := req.RequestWith(testCtx(tb.t), tb.cl)
	if err != nil {
		tb.t.Fatalf("PushTelemetry: %v", err)
	}
	return resp.ErrorCode
}

// otlpSum is OTLP MetricsData holding one monotonic cumulative sum point, compressed with codec.
func otlpSum(t *testing.T, codec int8, name string, value int64, attrs map[string]string) []byte {
	t.Helper()
	dp := &metricspb.NumberDataPoint{Value: &metricspb.NumberDataPoint_AsInt{AsInt: value}, TimeUnixNano: uint64(time.Now().UnixNano())}
	for k, v := range attrs {
		dp.Attributes = append(dp.Attributes, &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}})
	}
	md := &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{ScopeMetrics: []*metricspb.ScopeMetrics{{
		Metrics: []*metricspb.Metric{{Name: name, Description: "records sent", Data: &metricspb.Metric_Sum{Sum: &metricspb.Sum{
			DataPoints: []*metricspb.NumberDataPoint{dp}, IsMonotonic: true,
			AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}}}}}}}}}
	raw, err := proto.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	out, err := compress.Compress(int(codec), raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantErrorCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestTelemetrySubscriptionLifecycle: a client-metrics subscription set, described, listed,
// answered to a matching client, its push exported on /metrics; a second push within the
// interval throttled; a subscription change makes the old subscription id unknown and lets
// the client ask again at once; a terminating push is accepted within the interval and ends
// the client's pushes; deleting every config removes the subscription.
func TestTelemetrySubscriptionLifecycle(t *testing.T) {
	tb := startTelemetryBroker(t, nil)
	var zero [16]byte

	r := tb.getSubscriptions(zero)
	wantErrorCode(t, "GetTelemetrySubscriptions without a subscription", r.ErrorCode, nil)
	if r.ClientInstanceID == zero || len(r.RequestedMetrics) != 0 || r.PushIntervalMillis != 300000 || r.TelemetryMaxBytes != 1<<20 ||
		!slices.Equal(r.AcceptedCompressionTypes, []int8{compress.Zstd, compress.LZ4, compress.Gzip, compress.Snappy}) {
		t.Fatalf("GetTelemetrySubscriptions without a subscription: %+v", r)
	}

	wantErrorCode(t, "alter", tb.alterClientMetrics("prod-metrics", strs(telemetry.ConfigMetrics, "org.apache.kafka.producer.",
		telemetry.ConfigInterval, "60000", telemetry.ConfigMatch, "client_id=telemetry-.*,client_source_address=127\\.0\\.0\\.1")...), nil)
	want := map[string]string{"metrics": "org.apache.kafka.producer.", "interval.ms": "60000", "match": "client_id=telemetry-.*,client_source_address=127\\.0\\.0\\.1"}
	if got := tb.describeClientMetrics("prod-metrics"); !maps.Equal(got, want) {
		t.Fatalf("described %v, want %v", got, want)
	}
	if got := tb.listClientMetrics(); !slices.Equal(got, []string{"prod-metrics"}) {
		t.Fatalf("listed %v, want [prod-metrics]", got)
	}

	r = tb.getSubscriptions(zero)
	wantErrorCode(t, "GetTelemetrySubscriptions", r.ErrorCode, nil)
	id, sub := r.ClientInstanceID, r.SubscriptionID
	if !slices.Equal(r.RequestedMetrics, []string{"org.apache.kafka.producer."}) || r.PushIntervalMillis != 60000 {
		t.Fatalf("subscribed %+v, want the prod-metrics subscription", r)
	}
	wantErrorCode(t, "first push", tb.push(id, sub, false, compress.Zstd, otlpSum(t, compress.Zstd, "org.apache.kafka.producer.record.send.total", 42, map[string]string{"topic": "orders"})), nil)
	series := `org_apache_kafka_producer_record_send_total{client_id="telemetry-test",client_instance_id="` + telemetry.InstanceIDString(id) + `",topic="orders"} `
	if out := tb.scrape(); !strings.Contains(out, series+"42\n") || !strings.Contains(out, "# TYPE org_apache_kafka_producer_record_send_total counter") {
		t.Fatalf("/metrics lacks %s42:\n%s", series, grepLines(out, "org_apache"))
	}

	wantErrorCode(t, "a push within the interval", tb.push(id, sub, false, compress.None, otlpSum(t, compress.None, "org.apache.kafka.producer.record.send.total", 43, nil)), kerr.ThrottlingQuotaExceeded)
	wantErrorCode(t, "a subscription request within the interval", tb.getSubscriptions(id).ErrorCode, kerr.ThrottlingQuotaExceeded)

	wantErrorCode(t, "alter the interval", tb.alterClientMetrics("prod-metrics", strs(telemetry.ConfigInterval, "30000")...), nil)
	wantErrorCode(t, "a push with the old subscription id", tb.push(id, sub, false, compress.None, nil), kerr.UnknownSubscriptionID)
	r = tb.getSubscriptions(id)
	wantErrorCode(t, "GetTelemetrySubscriptions after the change", r.ErrorCode, nil)
	if r.ClientInstanceID != id || r.SubscriptionID == sub || r.PushIntervalMillis != 30000 {
		t.Fatalf("after the change: %+v, want the same instance, another subscription id, 30000 ms", r)
	}
	sub = r.SubscriptionID
	wantErrorCode(t, "push after the change", tb.push(id, sub, false, compress.Gzip, otlpSum(t, compress.Gzip, "org.apache.kafka.producer.record.send.total", 50, map[string]string{"topic": "orders"})), nil)
	wantErrorCode(t, "terminating push within the interval", tb.push(id, sub, true, compress.LZ4, otlpSum(t, compress.LZ4, "org.apache.kafka.producer.record.send.total", 51, map[string]string{"topic": "orders"})), nil)
	if out := tb.scrape(); !strings.Contains(out, series+"51\n") {
		t.Fatalf("/metrics lacks %s51:\n%s", series, grepLines(out, "org_apache"))
	}
	wantErrorCode(t, "a push after the terminating one", tb.push(id, sub, false, compress.None, nil), kerr.InvalidRequest)

	// A client the match does not select gets no metrics.
	other := tb.client(kgo.DisableClientMetrics(), kgo.ClientID("someone-else"))
	req := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
	or, err := req.RequestWith(testCtx(t), other)
	if err != nil || or.ErrorCode != 0 || len(or.RequestedMetrics) != 0 || or.PushIntervalMillis != 300000 {
		t.Fatalf("unmatched client: %v %+v", err, or)
	}

	wantErrorCode(t, "delete", tb.alterClientMetrics("prod-metrics", strs(telemetry.ConfigMetrics)[0], nil,
		strs(telemetry.ConfigInterval)[0], nil, strs(telemetry.ConfigMatch)[0], nil), nil)
	if got := tb.listClientMetrics(); len(got) != 0 {
		t.Fatalf("listed %v after the delete", got)
	}
	if got := tb.describeClientMetrics("prod-metrics"); len(got) != 0 {
		t.Fatalf("described %v after the delete", got)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestTelemetryRefusals: each malformed push gets Kafka's error code (and never closes the
// connection), and bad subscription configs are refused.
func TestTelemetryRefusals(t *testing.T) {
	tb := startTelemetryBroker(t, func(c *Config) { c.TelemetryMaxBytes = 4096 })
	wantErrorCode(t, "alter", tb.alterClientMetrics("all", strs(telemetry.ConfigMetrics, "*", telemetry.ConfigInterval, "60000")...), nil)
	fresh := func() ([16]byte, int32) {
		t.Helper()
		r := tb.getSubscriptions([16]byte{})
		wantErrorCode(t, "GetTelemetrySubscriptions", r.ErrorCode, nil)
		if !slices.Equal(r.RequestedMetrics, []string{"*"}) || r.TelemetryMaxBytes != 4096 {
			t.Fatalf("subscribed %+v, want every metric and 4096 bytes at most", r)
		}
		return r.ClientInstanceID, r.SubscriptionID
	}
	metric := otlpSum(t, compress.None, "m", 1, nil)

	wantErrorCode(t, "zero instance id", tb.push([16]byte{}, 0, false, 0, metric), kerr.InvalidRequest)
	wantErrorCode(t, "reserved instance id", tb.push([16]byte{15: 1}, 0, false, 0, metric), kerr.InvalidRequest)

	id, sub := fresh()
	wantErrorCode(t, "another subscription id", tb.push(id, sub+1, false, 0, metric), kerr.UnknownSubscriptionID)
	id, sub = fresh()
	wantErrorCode(t, "compression type 9", tb.push(id, sub, false, 9, metric), kerr.UnsupportedCompressionType)
	if r := tb.getSubscriptions(id); r.ErrorCode != 0 {
		t.Fatalf("GetTelemetrySubscriptions right after an unsupported compression: %v, want an answer", kerr.ErrorForCode(r.ErrorCode))
	}
	id, sub = fresh()
	wantErrorCode(t, "4097 bytes", tb.push(id, sub, false, 0, bytes.Repeat([]byte{1}, 4097)), kerr.TelemetryTooLarge)
	id, sub = fresh()
	wantErrorCode(t, "not gzip", tb.push(id, sub, false, compress.Gzip, []byte("not gzip at all")), kerr.InvalidRecord)
	id, sub = fresh()
	wantErrorCode(t, "not protobuf", tb.push(id, sub, false, compress.None, []byte{0xff, 0xff, 0xff, 0xff}), kerr.InvalidRecord)
	id, sub = fresh()
	bomb, err := compress.Compress(compress.Zstd, make([]byte, 4096*64)) // more than 32 × telemetry.max.bytes once decompressed
	if err != nil || len(bomb) > 4096 {
		t.Fatalf("zstd bomb: %d bytes, %v", len(bomb), err)
	}
	wantErrorCode(t, "decompression bomb", tb.push(id, sub, false, compress.Zstd, bomb), kerr.InvalidRecord)
	id, sub = fresh()
	wantErrorCode(t, "a good push on the same connection", tb.push(id, sub, false, compress.Snappy, otlpSum(t, compress.Snappy, "m", 1, nil)), nil)

	for _, c := range []struct {
		ops  []*string
		want *kerr.Error
	}{
		{strs(telemetry.ConfigInterval, "50"), kerr.InvalidRequest},
		{strs(telemetry.ConfigInterval, "3600001"), kerr.InvalidRequest},
		{strs(telemetry.ConfigInterval, "soon"), kerr.InvalidConfig},
		{strs("metrics.prefix", "x"), kerr.InvalidRequest},
		{strs(telemetry.ConfigMatch, "client_color=red"), kerr.InvalidConfig},
		{strs(telemetry.ConfigMatch, "client_id="), kerr.InvalidConfig},
		{strs(telemetry.ConfigMatch, "client_id=(unclosed"), kerr.InvalidConfig},
	} {
		wantErrorCode(t, "alter "+*c.ops[0]+"="+*c.ops[1], tb.alterClientMetrics("bad", c.ops...), c.want)
	}
	wantErrorCode(t, "an empty subscription name", tb.alterClientMetrics("", strs(telemetry.ConfigMetrics, "*")...), kerr.InvalidRequest)
	if got := tb.listClientMetrics(); !slices.Equal(got, []string{"all"}) {
		t.Fatalf("listed %v, want only [all]", got)
	}
}

// TestTelemetryFranzGo: franz-go's own KIP-714 telemetry (on by default) against a
// subscription selecting it by client id: its pushed metrics appear on /metrics. (Not by
// software name: franz-go announces it in ApiVersions v5, which logd answers with every API,
// so franz-go does not retry at v4 and logd never learns it.)
func TestTelemetryFranzGo(t *testing.T) {
	tb := startTelemetryBroker(t, nil)
	wantErrorCode(t, "alter", tb.alterClientMetrics("kgo", strs(telemetry.ConfigMetrics, "org.apache.kafka.producer.",
		telemetry.ConfigInterval, "1000", telemetry.ConfigMatch, "client_id=pushing-kgo")...), nil)
	cl := tb.client(kgo.ClientID("pushing-kgo"), kgo.DefaultProduceTopic("telemetry"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	series := regexp.MustCompile(`(?m)^org_apache_kafka_producer_[a-z_]+\{client_id="pushing-kgo",client_instance_id="[A-Za-z0-9_-]{22}"[^}]*\} `)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out string
	for ctx.Err() == nil {
		if out = tb.scrape(); series.MatchString(out) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("franz-go's pushed metrics did not appear on /metrics within 30s:\n%s", grepLines(out, "telemetry"))
}

// TestTelemetryHistogram: an OTLP histogram pushed with PushTelemetry is on /metrics as a
// Prometheus histogram, its per-bucket counts made cumulative.
func TestTelemetryHistogram(t *testing.T) {
	tb := startTelemetryBroker(t, nil)
	wantErrorCode(t, "alter", tb.alterClientMetrics("all", strs(telemetry.ConfigMetrics, "*", telemetry.ConfigInterval, "60000")...), nil)
	r := tb.getSubscriptions([16]byte{})
	wantErrorCode(t, "GetTelemetrySubscriptions", r.ErrorCode, nil)
	sum := 9.5
	md := &metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{ScopeMetrics: []*metricspb.ScopeMetrics{{
		Metrics: []*metricspb.Metric{{Name: "org.apache.kafka.client.request.latency", Description: "request latency",
			Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{
				AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
				DataPoints: []*metricspb.HistogramDataPoint{{Count: 6, Sum: &sum, ExplicitBounds: []float64{1, 5}, BucketCounts: []uint64{2, 3, 1},
					Attributes: []*commonpb.KeyValue{{Key: "node", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: "1"}}}}}}}}}}}}}}}
	raw, err := proto.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	metrics, err := compress.Compress(int(compress.Zstd), raw)
	if err != nil {
		t.Fatal(err)
	}
	wantErrorCode(t, "push", tb.push(r.ClientInstanceID, r.SubscriptionID, false, compress.Zstd, metrics), nil)
	labels := `client_id="telemetry-test",client_instance_id="` + telemetry.InstanceIDString(r.ClientInstanceID) + `",node="1"`
	out := tb.scrape()
	for _, want := range []string{
		"# TYPE org_apache_kafka_client_request_latency histogram\n",
		"org_apache_kafka_client_request_latency_bucket{" + labels + `,le="1"} 2` + "\n",
		"org_apache_kafka_client_request_latency_bucket{" + labels + `,le="5"} 5` + "\n",
		"org_apache_kafka_client_request_latency_bucket{" + labels + `,le="+Inf"} 6` + "\n",
		"org_apache_kafka_client_request_latency_sum{" + labels + "} 9.5\n",
		"org_apache_kafka_client_request_latency_count{" + labels + "} 6\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(out, "org_apache"))
		}
	}
}
