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

func TestMetricsMove(t *testing.T) {
	m := New()
	m.SetServerStats(func() server.Stats { return server.Stats{ConnsActive: 3, BytesIn: 100, SendfileBytes: 7} })
	m.SetBrokerSource(func() int { return 12 }, func() bool { return true })

	m.ObserveRequest(0, 2*time.Millisecond)
	m.ObserveRequest(0, 3*time.Millisecond)
	m.ObserveRequest(1, time.Millisecond)
	m.ObserveRequest(-1, time.Millisecond)    // ignored
	m.ObserveRequest(30000, time.Millisecond) // ignored
	tm := m.Topic("orders")
	if m.Topic("orders") != tm {
		t.Fatal("Topic not cached")
	}
	tm.Produced(500, 10)
	tm.Fetched(200)
	m.ObserveSync(time.Millisecond, 4)
	m.ObserveSync(2*time.Millisecond, 1)

	fams := scrape(t, m)
	for _, c := range []struct {
		family, label, val string
		want               float64
	}{
		{RequestsTotal, "api", "Produce", 2},
		{RequestsTotal, "api", "Fetch", 1},
		{RequestDuration, "api", "Produce", 2},
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
	if fams["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}

	m.ForgetTopic("orders")
	if fams := scrape(t, m); fams[TopicBytesIn] != nil {
		t.Errorf("deleted topic still exported: %v", fams[TopicBytesIn])
	}
}

// TestNilMetrics: a nil *Metrics and nil *TopicMetrics record nothing and do not panic.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.ObserveRequest(0, time.Millisecond)
	m.ObserveSync(time.Millisecond, 1)
	m.SetServerStats(nil)
	m.SetBrokerSource(nil, nil)
	m.ForgetTopic("x")
	tm := m.Topic("x")
	tm.Produced(1, 1)
	tm.Fetched(1)
}

// TestHotPathAllocs: counting a request and a produce allocates nothing once resolved.
func TestHotPathAllocs(t *testing.T) {
	m := New()
	tm := m.Topic("t")
	m.ObserveRequest(0, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.ObserveRequest(0, time.Millisecond)
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
			m.ObserveRequest(0, time.Millisecond)
		}
	})
}
