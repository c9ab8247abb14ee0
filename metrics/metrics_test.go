package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/logd/logd/net/server"
)

func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, rec.Body.String())
	}
	return fams
}

// value returns the counter, gauge or histogram count of the series with label name=value
// (any series when name is "").
func value(t *testing.T, fams map[string]*dto.MetricFamily, family, name, val string) float64 {
	t.Helper()
	f := fams[family]
	if f == nil {
		t.Fatalf("no family %s", family)
	}
	for _, m := range f.Metric {
		match := name == ""
		for _, l := range m.Label {
			if l.GetName() == name && l.GetValue() == val {
				match = true
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("%s{%s=%q} not found", family, name, val)
	return 0
}

// histSum is the sum of the histogram series of family with api=api.
func histSum(t *testing.T, fams map[string]*dto.MetricFamily, family, api string) float64 {
	t.Helper()
	for _, m := range fams[family].GetMetric() {
		for _, l := range m.Label {
			if l.GetName() == "api" && l.GetValue() == api {
				return m.Histogram.GetSampleSum()
			}
		}
	}
	t.Fatalf("%s{api=%q} not found", family, api)
	return 0
}

func TestMetricsMove(t *testing.T) {
	m := New()
	m.SetServerStats(func() server.Stats { return server.Stats{ConnsActive: 3, BytesIn: 100, SendfileBytes: 7} })
	m.SetBrokerSource(func() int { return 12 }, func() int { return 1 })

	m.ObserveRequest(0, RequestTimes{Queue: time.Microsecond, Handled: 2 * time.Millisecond})
	m.ObserveRequest(0, RequestTimes{Queue: time.Microsecond, Handled: 3 * time.Millisecond, Waited: 2 * time.Millisecond})
	m.ObserveRequest(1, RequestTimes{Handled: 500 * time.Millisecond, Waited: 499 * time.Millisecond})
	m.ObserveRequest(1, RequestTimes{Handled: time.Millisecond})
	m.ObserveRequest(-1, RequestTimes{Handled: time.Millisecond})    // ignored
	m.ObserveRequest(30000, RequestTimes{Handled: time.Millisecond}) // ignored
	m.ObserveResponse(0, time.Microsecond, 20*time.Microsecond)
	m.ObserveResponse(1, 0, 3*time.Millisecond)
	m.ObserveResponse(-1, 0, 0) // ignored
	tm := m.Topic("orders")
	if m.Topic("orders") != tm {
		t.Fatal("Topic not cached")
	}
	tm.Produced(500, 10)
	tm.Fetched(200)
	m.ObserveSync(time.Millisecond, 4)
	m.ObserveSync(2*time.Millisecond, 1)
	m.ObserveFetchWake(40 * time.Microsecond)
	m.ObserveReplicationWait(3 * time.Millisecond)
	m.ObserveReplicationWait(time.Millisecond)

	fams := scrape(t, m)
	for _, c := range []struct {
		family, label, val string
		want               float64
	}{
		{RequestsTotal, "api", "Produce", 2},
		{RequestsTotal, "api", "Fetch", 2},
		{RequestDuration, "api", "Produce", 2},
		{RequestQueue, "api", "Produce", 2},
		{RequestLocal, "api", "Fetch", 2},
		{ResponseQueue, "api", "Produce", 1},
		{ResponseSend, "api", "Fetch", 1},
		{ProduceFsyncWait, "", "", 1},
		{FetchWait, "", "", 1},
		{FetchWake, "", "", 1},
		{ProduceReplicationWait, "", "", 2},
		{TopicBytesIn, "topic", "orders", 500},
		{TopicMessagesIn, "topic", "orders", 10},
		{TopicBytesOut, "topic", "orders", 200},
		{LogFlushDuration, "", "", 2},
		{LogFlushRounds, "", "", 2},
		{LogFlushFiles, "", "", 5},
		{Partitions, "", "", 12},
		{LogDirOffline, "", "", 1},
		{NetConnections, "", "", 3},
		{NetBytesIn, "", "", 100},
		{NetSendfileBytes, "", "", 7},
	} {
		if got := value(t, fams, c.family, c.label, c.val); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.family, c.label, c.val, got, c.want)
		}
	}
	if fams[NetConnections].GetType() != dto.MetricType_GAUGE || fams[NetBytesIn].GetType() != dto.MetricType_COUNTER {
		t.Errorf("network metric types: %v %v", fams[NetConnections].GetType(), fams[NetBytesIn].GetType())
	}
	// local = handled - waited: the fetch that waited 499 ms of 500 ms worked 1 ms.
	if got := histSum(t, fams, RequestLocal, "Fetch"); got < 0.0019 || got > 0.0021 {
		t.Errorf("%s{api=Fetch} sum = %v, want 0.002", RequestLocal, got)
	}
	if got := fams[FetchWait].Metric[0].Histogram.GetSampleSum(); got != 0.499 {
		t.Errorf("%s sum = %v, want 0.499", FetchWait, got)
	}
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	if fams[GroupLag] != nil {
		t.Errorf("group lag exported without a source: %v", fams[GroupLag])
	}
	m.SetGroupLagSource(func(yield func(group, topic string, partition int32, lag int64)) {
		yield("billing", "orders", 0, 5)
		yield("billing", "orders", 2, 0)
		yield("audit", "orders", 0, 42)
	})
	fams = scrape(t, m)
	lags := map[string]float64{}
	for _, s := range fams[GroupLag].GetMetric() {
		var k []string
		for _, l := range s.Label {
			k = append(k, l.GetName()+"="+l.GetValue())
		}
		lags[strings.Join(k, ",")] = s.Gauge.GetValue()
	}
	if len(lags) != 3 || lags["group=billing,partition=0,topic=orders"] != 5 || lags["group=audit,partition=0,topic=orders"] != 42 ||
		fams[GroupLag].GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s: %v", GroupLag, lags)
	}

	m.ForgetTopic("orders")
	if fams := scrape(t, m); fams[TopicBytesIn] != nil {
		t.Errorf("deleted topic still exported: %v", fams[TopicBytesIn])
	}
}

// TestNilMetrics: a nil *Metrics and nil *TopicMetrics record nothing and do not panic.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest(0, RequestTimes{Handled: time.Millisecond})
	m.ObserveResponse(0, time.Millisecond, time.Millisecond)
	m.ObserveSync(time.Millisecond, 1)
	m.SetServerStats(nil)
	m.SetBrokerSource(nil, nil)
	m.SetGroupLagSource(nil)
	m.ForgetTopic("x")
	tm := m.Topic("x")
	tm.Produced(1, 1)
	tm.Fetched(1)
}

// TestHotPathAllocs: counting a request and a produce allocates nothing once resolved.
func TestHotPathAllocs(t *testing.T) {
	m := New()
	tm := m.Topic("t")
	rt := RequestTimes{Queue: time.Microsecond, Handled: time.Millisecond, Waited: time.Microsecond}
	m.ObserveRequest(0, rt)
	m.ObserveRequest(1, rt)
	m.ObserveResponse(0, time.Microsecond, time.Microsecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest(0, rt)
		m.ObserveRequest(1, rt)
		m.ObserveResponse(0, time.Microsecond, time.Microsecond)
		tm.Produced(100, 3)
		tm.Fetched(100)
	}); n != 0 {
		t.Errorf("%v allocations per request", n)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(0, RequestTimes{Queue: time.Microsecond, Handled: time.Millisecond})
		}
	})
}
