package telemetry

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// Labels every exported client series carries.
const (
	LabelInstanceID = "client_instance_id"
	LabelClientID   = "client_id"
)

// Names of the exporter's own metrics.
const (
	SeriesMetric  = "logd_client_telemetry_series"
	DroppedMetric = "logd_client_telemetry_series_dropped_total"
	ClientsMetric = "logd_client_telemetry_clients"
)

// maxAttributes bounds the labels a data point's attributes add.
const maxAttributes = 32

// reservedPrefixes are metric name prefixes of the broker's own collectors: a client's metric
// of the same family would make the scrape fail, so such metrics are dropped.
var reservedPrefixes = []string{"logd_", "go_", "process_", "promhttp_"}

// Exporter holds the metrics clients pushed and serves them as a Prometheus collector: one
// family per OTLP metric name (sanitized: every character outside [a-zA-Z0-9_:] becomes _),
// a gauge for OTLP gauges and non-monotonic sums, a counter for monotonic sums (delta points
// are added up), labelled with the client instance id, the client id and the data point's
// attributes. Histograms and summaries are not exported (Kafka's clients push gauges and sums
// only). Bounded: a client's series go when it has not pushed for staleIntervals push
// intervals (at least minStale), and past MaxSeries new series are dropped (counted in DroppedMetric), as are
// those whose family already has another type. Safe for concurrent use.
type Exporter struct {
	maxSeries int
	now       func() time.Time

	mu       sync.Mutex
	clients  map[[16]byte]*clientSeries
	families map[string]*family // by sanitized name
	series   int
	dropped  uint64
}

// family is one exported metric family: its type and help are fixed by its first series.
type family struct {
	help   string
	typ    prometheus.ValueType
	series int
}

// clientSeries are one client instance's series.
type clientSeries struct {
	instanceID string
	clientID   string
	expires    time.Time
	points     map[string]*point // by family name and label values
}

// point is one exported series.
type point struct {
	family      string
	labelNames  []string
	labelValues []string
	value       float64
}

func newExporter(maxSeries int, now func() time.Time) *Exporter {
	return &Exporter{maxSeries: maxSeries, now: now, clients: map[[16]byte]*clientSeries{}, families: map[string]*family{}}
}

// push decodes a push's uncompressed OTLP MetricsData and records its points for the client,
// whose series stay exported until staleAfter from now.
func (e *Exporter) push(id [16]byte, clientID string, staleAfter time.Duration, raw []byte) error {
	var md metricspb.MetricsData
	if err := proto.Unmarshal(raw, &md); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := e.clients[id]
	if cs == nil {
		cs = &clientSeries{instanceID: InstanceIDString(id), points: map[string]*point{}}
		e.clients[id] = cs
	}
	cs.clientID = strings.ToValidUTF8(clientID, "?")
	cs.expires = e.now().Add(staleAfter)
	for _, rm := range md.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				e.recordLocked(cs, m)
			}
		}
	}
	if len(cs.points) == 0 {
		delete(e.clients, id) // nothing exported: nothing to remember
	}
	return nil
}

// recordLocked records one OTLP metric's data points. REQUIRES: e.mu held.
func (e *Exporter) recordLocked(cs *clientSeries, m *metricspb.Metric) {
	var (
		typ    prometheus.ValueType
		points []*metricspb.NumberDataPoint
		delta  bool
	)
	switch {
	case m.GetGauge() != nil:
		typ, points = prometheus.GaugeValue, m.GetGauge().GetDataPoints()
	case m.GetSum() != nil:
		sum := m.GetSum()
		typ, points = prometheus.GaugeValue, sum.GetDataPoints()
		if sum.GetIsMonotonic() {
			typ = prometheus.CounterValue
		}
		delta = sum.GetAggregationTemporality() == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	default:
		return // histograms, summaries: not exported
	}
	name := sanitize(m.GetName(), true)
	if name == "" || slices.ContainsFunc(reservedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
		e.dropped += uint64(len(points))
		return
	}
	for _, dp := range points {
		var v float64
		switch dp.GetValue().(type) {
		case *metricspb.NumberDataPoint_AsDouble:
			v = dp.GetAsDouble()
		case *metricspb.NumberDataPoint_AsInt:
			v = float64(dp.GetAsInt())
		default:
			continue // no value
		}
		names, values := pointLabels(cs, dp.GetAttributes())
		key := name + "\xff" + strings.Join(values, "\xff")
		p := cs.points[key]
		if p == nil {
			f := e.families[name]
			switch {
			case f != nil && f.typ != typ, e.series >= e.maxSeries:
				e.dropped++
				continue
			case f == nil:
				help := m.GetDescription()
				if help == "" {
					help = "client metric " + m.GetName() + " pushed by KIP-714 client telemetry"
				}
				f = &family{help: strings.ToValidUTF8(help, "?"), typ: typ}
				e.families[name] = f
			}
			f.series++
			e.series++
			p = &point{family: name, labelNames: names, labelValues: values}
			cs.points[key] = p
		}
		if delta {
			p.value += v
		} else {
			p.value = v
		}
	}
}

// pointLabels are a series' label names and values: the client's, then the data point's
// attributes (sanitized names; one repeating a client label's value, as the Java client's
// client_id tag does, is left out; one clashing with a name before it is prefixed with attr_,
// a second clash dropped), in attribute order, at most maxAttributes of them.
func pointLabels(cs *clientSeries, attrs []*commonpb.KeyValue) (names, values []string) {
	names = []string{LabelInstanceID, LabelClientID}
	values = []string{cs.instanceID, cs.clientID}
	for _, kv := range attrs {
		if len(names)-2 >= maxAttributes {
			break
		}
		n := sanitize(kv.GetKey(), false)
		if n == "" || strings.HasPrefix(n, "__") {
			n = "attr" + n
		}
		v := strings.ToValidUTF8(anyValueString(kv.GetValue()), "?")
		if i := slices.Index(names, n); i >= 0 && i < 2 && values[i] == v {
			continue
		}
		if slices.Contains(names, n) {
			n = "attr_" + n
		}
		if slices.Contains(names, n) {
			continue
		}
		names = append(names, n)
		values = append(values, v)
	}
	return names, values
}

// anyValueString renders an OTLP attribute value.
func anyValueString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	case *commonpb.AnyValue_BytesValue:
		return fmt.Sprintf("%x", x.BytesValue)
	}
	return ""
}

// sanitize makes an OTLP name a Prometheus metric name (colons allowed) or label name: every
// other character becomes _, and a leading digit gets a _ before it.
func sanitize(s string, metric bool) string {
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || (r >= '0' && r <= '9') || (metric && r == ':')
		if i == 0 && r >= '0' && r <= '9' {
			b.WriteByte('_')
		}
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// sweepLocked forgets the series of clients that stopped pushing. REQUIRES: e.mu held.
func (e *Exporter) sweepLocked(now time.Time) {
	for id, cs := range e.clients {
		if now.Before(cs.expires) {
			continue
		}
		for _, p := range cs.points {
			f := e.families[p.family]
			if f.series--; f.series == 0 {
				delete(e.families, p.family)
			}
			e.series--
		}
		delete(e.clients, id)
	}
}

// Describe implements prometheus.Collector: nothing, an unchecked collector (its families
// come and go with the clients).
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector: every live client series and the exporter's own
// counts. Stale clients' series are dropped first.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	e.sweepLocked(e.now())
	out := make([]prometheus.Metric, 0, e.series+3)
	for _, cs := range e.clients {
		for _, p := range cs.points {
			f := e.families[p.family]
			m, err := prometheus.NewConstMetric(prometheus.NewDesc(p.family, f.help, p.labelNames, nil), f.typ, p.value, p.labelValues...)
			if err == nil {
				out = append(out, m)
			}
		}
	}
	series, clients, dropped := e.series, len(e.clients), e.dropped
	e.mu.Unlock()
	out = append(out,
		prometheus.MustNewConstMetric(prometheus.NewDesc(SeriesMetric, "client telemetry series exported", nil, nil), prometheus.GaugeValue, float64(series)),
		prometheus.MustNewConstMetric(prometheus.NewDesc(ClientsMetric, "client instances whose pushed metrics are exported", nil, nil), prometheus.GaugeValue, float64(clients)),
		prometheus.MustNewConstMetric(prometheus.NewDesc(DroppedMetric, "client telemetry points dropped: over the series cap, a type clash or a reserved name", nil, nil), prometheus.CounterValue, float64(dropped)))
	for _, m := range out {
		ch <- m
	}
}
