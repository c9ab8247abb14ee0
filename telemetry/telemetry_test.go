package telemetry

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/logd/logd/internal/compress"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

// metric builds one OTLP metric: a gauge, or a sum (monotonic, delta when asked).
func metric(name string, sum, monotonic, delta bool, value float64, attrs ...string) *metricspb.Metric {
	dp := &metricspb.NumberDataPoint{Value: &metricspb.NumberDataPoint_AsDouble{AsDouble: value}}
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes = append(dp.Attributes, &commonpb.KeyValue{Key: attrs[i], Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: attrs[i+1]}}})
	}
	m := &metricspb.Metric{Name: name}
	if !sum {
		m.Data = &metricspb.Metric_Gauge{Gauge: &metricspb.Gauge{DataPoints: []*metricspb.NumberDataPoint{dp}}}
		return m
	}
	temp := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
	if delta {
		temp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	}
	m.Data = &metricspb.Metric_Sum{Sum: &metricspb.Sum{DataPoints: []*metricspb.NumberDataPoint{dp}, IsMonotonic: monotonic, AggregationTemporality: temp}}
	return m
}

func payload(t testing.TB, ms ...*metricspb.Metric) []byte {
	t.Helper()
	b, err := proto.Marshal(&metricspb.MetricsData{ResourceMetrics: []*metricspb.ResourceMetrics{{ScopeMetrics: []*metricspb.ScopeMetrics{{Metrics: ms}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exposition(t *testing.T, e *Exporter, names ...string) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	var sb strings.Builder
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, n := range names {
			if mf.GetName() == n {
				for _, m := range mf.GetMetric() {
					var labels []string
					for _, l := range m.GetLabel() {
						labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
					}
					v := m.GetGauge().GetValue()
					if mf.GetType() == dto.MetricType_COUNTER {
						v = m.GetCounter().GetValue()
					}
					fmt.Fprintf(&sb, "%s %s{%s} %g\n", mf.GetType(), n, strings.Join(labels, ","), v)
				}
			}
		}
	}
	return sb.String()
}

func TestParseSubscription(t *testing.T) {
	s, err := ParseSubscription("s", map[string]string{ConfigMetrics: "a., b.", ConfigInterval: "1500", ConfigMatch: "client_id=x.*, client_software_name=kgo"})
	if err != nil || len(s.Metrics) != 2 || s.Interval != 1500*time.Millisecond || len(s.match) != 2 {
		t.Fatalf("%+v %v", s, err)
	}
	if !s.matches(map[string]string{MatchClientID: "xyz", MatchClientSoftwareName: "kgo"}) {
		t.Error("xyz/kgo does not match")
	}
	if s.matches(map[string]string{MatchClientID: "axyz", MatchClientSoftwareName: "kgo"}) {
		t.Error("the pattern must match the whole client id")
	}
	if s.matches(map[string]string{MatchClientID: "xyz"}) {
		t.Error("a client without a software name matched a software selector")
	}
	if s, err := ParseSubscription("d", nil); err != nil || s.Interval != DefaultInterval || len(s.Metrics) != 0 || !s.matches(nil) {
		t.Fatalf("defaults: %+v %v", s, err)
	}
	for _, c := range []struct {
		configs map[string]string
		want    error
	}{
		{map[string]string{ConfigInterval: "99"}, ErrInvalidRequest},
		{map[string]string{ConfigInterval: "3600001"}, ErrInvalidRequest},
		{map[string]string{ConfigInterval: "x"}, ErrInvalidConfig},
		{map[string]string{"other": "x"}, ErrInvalidRequest},
		{map[string]string{ConfigMatch: "client_id"}, ErrInvalidConfig},
		{map[string]string{ConfigMatch: "client_id=a=b"}, ErrInvalidConfig},
		{map[string]string{ConfigMatch: "nope=a"}, ErrInvalidConfig},
		{map[string]string{ConfigMatch: "client_id=(?<=x)"}, ErrInvalidConfig},
	} {
		if _, err := ParseSubscription("s", c.configs); !errors.Is(err, c.want) {
			t.Errorf("%v: %v, want %v", c.configs, err, c.want)
		}
	}
	if _, err := ParseSubscription("", nil); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("empty name: %v", err)
	}
}

func TestSubscriptionUnionAndID(t *testing.T) {
	stored := map[string]map[string]string{
		"a": {ConfigMetrics: "x.", ConfigInterval: "2000"},
		"b": {ConfigMetrics: "y.,x.", ConfigInterval: "1000", ConfigMatch: "client_id=c1"},
		"c": {ConfigMetrics: "z.", ConfigMatch: "client_id=other"},
	}
	clk := newClock()
	m := NewManager(Config{Subscriptions: func() map[string]map[string]string { return stored }, Now: clk.Now})
	r, err := m.GetSubscriptions(Client{Conn: 1, ClientID: "c1"}, [16]byte{})
	if err != nil || strings.Join(r.Metrics, ",") != "x.,y." || r.Interval != time.Second {
		t.Fatalf("%+v %v", r, err)
	}
	if r.SubscriptionID != subscriptionID([]string{"x.", "y."}, time.Second, r.InstanceID) {
		t.Error("subscription id is not the formula's")
	}
	if subscriptionID([]string{"x."}, time.Second, r.InstanceID) == r.SubscriptionID ||
		subscriptionID([]string{"x.", "y."}, 2*time.Second, r.InstanceID) == r.SubscriptionID {
		t.Error("subscription id does not change with the metrics or the interval")
	}
	stored = map[string]map[string]string{"all": {ConfigMetrics: "x.,*"}}
	r2, err := m.GetSubscriptions(Client{Conn: 1, ClientID: "c1"}, r.InstanceID)
	if err != nil || strings.Join(r2.Metrics, ",") != "*" || r2.Interval != DefaultInterval || r2.SubscriptionID == r.SubscriptionID {
		t.Fatalf("after the change: %+v %v", r2, err)
	}
}

func TestPushInterval(t *testing.T) {
	stored := map[string]map[string]string{"s": {ConfigMetrics: "*", ConfigInterval: "1000"}}
	clk := newClock()
	m := NewManager(Config{Subscriptions: func() map[string]map[string]string { return stored }, Now: clk.Now})
	c := Client{Conn: "conn", ClientID: "c"}
	r, err := m.GetSubscriptions(c, [16]byte{})
	if err != nil {
		t.Fatal(err)
	}
	push := func() error { return m.Push(c, Push{InstanceID: r.InstanceID, SubscriptionID: r.SubscriptionID}) }
	if err := push(); err != nil {
		t.Fatalf("first push: %v", err)
	}
	clk.add(999 * time.Millisecond)
	if err := push(); !errors.Is(err, ErrThrottled) {
		t.Fatalf("push after 999 ms: %v, want throttled", err)
	}
	clk.add(time.Millisecond)
	if err := push(); err != nil {
		t.Fatalf("push after 1 s: %v", err)
	}
	if _, err := m.GetSubscriptions(c, r.InstanceID); !errors.Is(err, ErrThrottled) {
		t.Fatalf("get right after a push: %v, want throttled", err)
	}
	m.ConnClosed("conn")
	if _, err := m.GetSubscriptions(c, r.InstanceID); err != nil {
		t.Fatalf("get after the connection closed (a new instance): %v", err)
	}
}

func TestExporter(t *testing.T) {
	clk := newClock()
	e := newExporter(3, clk.Now)
	id := [16]byte{1}
	err := e.push(id, "cl", 10*time.Second, payload(t,
		metric("org.apache.kafka.producer.record.send.total", true, true, false, 5, "topic", "t1", "client_id", "cl"),
		metric("org.apache.kafka.producer.io.wait.ratio", false, false, false, 0.5, "client.id", "other"),
		metric("delta.total", true, true, true, 2),
		metric("logd_requests_total", true, true, false, 1),
	))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.push(id, "cl", 10*time.Second, payload(t, metric("delta.total", true, true, true, 3))); err != nil {
		t.Fatal(err)
	}
	got := exposition(t, e, "org_apache_kafka_producer_record_send_total", "org_apache_kafka_producer_io_wait_ratio", "delta_total", "logd_requests_total")
	for _, want := range []string{
		`COUNTER org_apache_kafka_producer_record_send_total{client_id="cl",client_instance_id="AQAAAAAAAAAAAAAAAAAAAA",topic="t1"} 5`,
		`GAUGE org_apache_kafka_producer_io_wait_ratio{attr_client_id="other",client_id="cl",client_instance_id="AQAAAAAAAAAAAAAAAAAAAA"} 0.5`,
		`COUNTER delta_total{client_id="cl",client_instance_id="AQAAAAAAAAAAAAAAAAAAAA"} 5`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("exported:\n%s\nlacks %s", got, want)
		}
	}
	if strings.Contains(got, "logd_requests_total") {
		t.Error("a client metric named like the broker's own was exported")
	}
	// The cap: 3 series held; a fourth is dropped, as is a gauge named like a counter.
	if err := e.push([16]byte{2}, "c2", 10*time.Second, payload(t, metric("new.one", false, false, false, 1), metric("delta.total", false, false, false, 1))); err != nil {
		t.Fatal(err)
	}
	if n := value(t, e, DroppedMetric); n != 3 { // logd_requests_total, new.one, the clashing gauge
		t.Errorf("dropped %v, want 3", n)
	}
	// Stale: the series go 10 s after the last push.
	clk.add(11 * time.Second)
	if n := value(t, e, SeriesMetric); n != 0 {
		t.Errorf("%v series left after they went stale", n)
	}
	if err := e.push(id, "cl", time.Second, payload(t, metric("new.one", false, false, false, 1))); err != nil {
		t.Fatalf("a push after the sweep: %v", err)
	}
	if n := value(t, e, SeriesMetric); n != 1 {
		t.Errorf("%v series, want 1: the sweep must free room under the cap", n)
	}
	if err := e.push(id, "cl", time.Second, []byte{0x0a, 0x05, 1}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("truncated protobuf: %v, want ErrInvalidRecord", err)
	}
}

// value gathers the exporter's metric named name (a family of one series).
func value(t *testing.T, e *Exporter, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{"a.b-c": "a_b_c", "9lives": "_9lives", "ok:name": "ok:name", "é": "_"} {
		if got := sanitize(in, true); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitize("a:b", false); got != "a_b" {
		t.Errorf("label a:b = %q", got)
	}
}

// FuzzPush: any push, whatever its bytes and compression type, is answered with an error or
// accepted, never a panic, and leaves the exporter gatherable.
func FuzzPush(f *testing.F) {
	f.Add(int8(0), payload(f, metric("m.total", true, true, false, 1, "k", "v")))
	gz, _ := compress.Compress(compress.Gzip, payload(f, metric("g", false, false, false, 2)))
	f.Add(int8(compress.Gzip), gz)
	f.Add(int8(compress.Zstd), []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0})
	f.Add(int8(7), []byte{1})
	f.Fuzz(func(t *testing.T, codec int8, metrics []byte) {
		clk := newClock()
		m := NewManager(Config{MaxBytes: 1 << 16, MaxSeries: 50, Now: clk.Now,
			Subscriptions: func() map[string]map[string]string { return map[string]map[string]string{"s": {ConfigMetrics: "*"}} }})
		r, err := m.GetSubscriptions(Client{Conn: 1}, [16]byte{})
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Push(Client{Conn: 1}, Push{InstanceID: r.InstanceID, SubscriptionID: r.SubscriptionID, Compression: codec, Metrics: metrics})
		reg := prometheus.NewRegistry()
		reg.MustRegister(m.Exporter())
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather after a push: %v", err)
		}
	})
}

// histogram is an OTLP histogram metric of one point.
func histogram(name string, delta bool, count uint64, sum float64, bounds []float64, counts []uint64) *metricspb.Metric {
	temp := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
	if delta {
		temp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	}
	return &metricspb.Metric{Name: name, Data: &metricspb.Metric_Histogram{Histogram: &metricspb.Histogram{AggregationTemporality: temp,
		DataPoints: []*metricspb.HistogramDataPoint{{Count: count, Sum: &sum, ExplicitBounds: bounds, BucketCounts: counts}}}}}
}

// gathered is the exporter's family named name.
func gathered(t *testing.T, e *Exporter, name string) *dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// buckets renders a histogram's buckets as "le:count" and its count and sum.
func buckets(h *dto.Histogram) string {
	var parts []string
	for _, b := range h.GetBucket() {
		parts = append(parts, fmt.Sprintf("%g:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	return fmt.Sprintf("count=%d sum=%g [%s]", h.GetSampleCount(), h.GetSampleSum(), strings.Join(parts, " "))
}

func TestExporterHistograms(t *testing.T) {
	clk := newClock()
	e := newExporter(21, clk.Now)
	id := [16]byte{1}
	push := func(ms ...*metricspb.Metric) {
		t.Helper()
		if err := e.push(id, "cl", 10*time.Second, payload(t, ms...)); err != nil {
			t.Fatal(err)
		}
	}
	hist := func(name string) string {
		t.Helper()
		mf := gathered(t, e, name)
		if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.GetMetric()) != 1 {
			t.Fatalf("%s: %v, want one histogram", name, mf)
		}
		return buckets(mf.GetMetric()[0].GetHistogram())
	}

	// Cumulative: the last push is the value; OTLP's per-bucket counts become cumulative ones.
	push(histogram("request.latency", false, 6, 9.5, []float64{1, 5}, []uint64{2, 3, 1}))
	if got, want := hist("request_latency"), "count=6 sum=9.5 [1:2 5:5]"; got != want {
		t.Fatalf("histogram %s, want %s", got, want)
	}
	push(histogram("request.latency", false, 8, 20, []float64{1, 5}, []uint64{2, 4, 2}))
	if got, want := hist("request_latency"), "count=8 sum=20 [1:2 5:6]"; got != want {
		t.Fatalf("histogram after a cumulative push %s, want %s", got, want)
	}
	// Delta: added up while the bounds stay, started over when they change.
	push(histogram("batch.size", true, 3, 30, []float64{10}, []uint64{1, 2}))
	push(histogram("batch.size", true, 2, 4, []float64{10}, []uint64{2, 0}))
	if got, want := hist("batch_size"), "count=5 sum=34 [10:3]"; got != want {
		t.Fatalf("delta histogram %s, want %s", got, want)
	}
	push(histogram("batch.size", true, 1, 50, []float64{10, 100}, []uint64{0, 1, 0}))
	if got, want := hist("batch_size"), "count=1 sum=50 [10:0 100:1]"; got != want {
		t.Fatalf("delta histogram with new bounds %s, want %s", got, want)
	}

	// Exponential, scale 0 (base 2): -3 in (-4,-2], 0 in the zero bucket, 3 in (2,4], 5 in (4,8].
	sum := 5.0
	push(&metricspb.Metric{Name: "exp", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
		AggregationTemporality: metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE,
		DataPoints: []*metricspb.ExponentialHistogramDataPoint{{Count: 4, Sum: &sum, Scale: 0, ZeroCount: 1,
			Negative: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 1, BucketCounts: []uint64{1}},
			Positive: &metricspb.ExponentialHistogramDataPoint_Buckets{Offset: 1, BucketCounts: []uint64{1, 1}}}}}}})
	if got, want := hist("exp"), "count=4 sum=5 [-2:1 0:2 4:3 8:4]"; got != want {
		t.Fatalf("exponential histogram %s, want %s", got, want)
	}

	// A summary's quantiles.
	push(&metricspb.Metric{Name: "lat.summary", Data: &metricspb.Metric_Summary{Summary: &metricspb.Summary{DataPoints: []*metricspb.SummaryDataPoint{{
		Count: 10, Sum: 12, QuantileValues: []*metricspb.SummaryDataPoint_ValueAtQuantile{{Quantile: 0.5, Value: 1}, {Quantile: 0.99, Value: 4}}}}}}})
	mf := gathered(t, e, "lat_summary")
	if mf == nil || mf.GetType() != dto.MetricType_SUMMARY || mf.GetMetric()[0].GetSummary().GetSampleCount() != 10 ||
		len(mf.GetMetric()[0].GetSummary().GetQuantile()) != 2 || mf.GetMetric()[0].GetSummary().GetQuantile()[1].GetValue() != 4 {
		t.Fatalf("summary: %v", mf)
	}

	// Series: a bucket each, +Inf, _sum and _count for the histograms, a quantile each and
	// _sum and _count for the summary: request_latency 2+3, batch_size 2+3, exp 4+3,
	// lat_summary 2+2 = 21, the cap.
	if n := value(t, e, SeriesMetric); n != 21 {
		t.Fatalf("%v series, want 21", n)
	}
	// A histogram that would not fit under the cap is dropped.
	push(histogram("too.big", false, 0, 0, nil, nil))
	if mf := gathered(t, e, "too_big"); mf != nil || value(t, e, DroppedMetric) != 1 {
		t.Errorf("a histogram over the cap: exported %v, dropped %v", mf, value(t, e, DroppedMetric))
	}
	// Malformed points are dropped: counts not one more than the bounds, bounds not
	// increasing, buckets adding up to more than the count, a scale out of range.
	e2 := newExporter(1000, clk.Now)
	sum = 1
	if err := e2.push(id, "cl", time.Second, payload(t, histogram("bad.a", false, 3, 1, []float64{1, 2}, []uint64{1, 1}),
		histogram("bad.b", false, 3, 1, []float64{2, 1}, []uint64{1, 1, 1}),
		histogram("bad.c", false, 1, 1, []float64{1}, []uint64{1, 1}),
		&metricspb.Metric{Name: "bad.d", Data: &metricspb.Metric_ExponentialHistogram{ExponentialHistogram: &metricspb.ExponentialHistogram{
			DataPoints: []*metricspb.ExponentialHistogramDataPoint{{Count: 1, Sum: &sum, Scale: 21, ZeroCount: 1}}}}},
		histogram("good", false, 1, 1, []float64{1}, []uint64{1, 0}))); err != nil {
		t.Fatal(err)
	}
	if n := value(t, e2, DroppedMetric); n != 4 || gathered(t, e2, "good") == nil {
		t.Errorf("dropped %v, want the 4 malformed ones and not the good one", n)
	}
	// Stale: every series goes 10 s after the last push, freeing the cap.
	clk.add(11 * time.Second)
	if n := value(t, e, SeriesMetric); n != 0 {
		t.Errorf("%v series left after they went stale", n)
	}
}
