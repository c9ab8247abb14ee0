package telemetry

import (
	"fmt"
	"maps"
	"math"
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
// a gauge for OTLP gauges and non-monotonic sums, a counter for monotonic sums, a histogram
// for OTLP histograms (explicit bounds as they come; exponential ones as buckets at their
// base's powers), a summary for OTLP summaries (delta sums and histograms are added up),
// labelled with the client instance id, the client id and the data point's attributes.
// Bounded: a client's series go when it has not pushed for staleIntervals push intervals (at
// least minStale), and past MaxSeries (a histogram counting a series per bucket plus _sum and
// _count, a summary one per quantile plus those two) new series are dropped (counted in
// DroppedMetric), as are those whose family already has another type and histograms of more
// than maxBuckets buckets or malformed ones. Safe for concurrent use.
type Exporter struct {
	maxSeries int
	now       func() time.Time

	mu       sync.Mutex
	clients  map[[16]byte]*clientSeries
	families map[string]*family // by sanitized name
	series   int                // exported series: the sum of the points' weights
	dropped  uint64
}

// kind is an exported family's Prometheus type.
type kind uint8

const (
	kindGauge kind = iota
	kindCounter
	kindHistogram
	kindSummary
)

// family is one exported metric family: its type and help are fixed by its first series.
type family struct {
	help   string
	kind   kind
	points int
}

// clientSeries are one client instance's series.
type clientSeries struct {
	instanceID string
	clientID   string
	expires    time.Time
	points     map[string]*point // by family name and label values
}

// point is one exported series (a histogram's or summary's: the set of its series).
type point struct {
	family      string
	labelNames  []string
	labelValues []string
	sample
	weight int // series exported: sample.weight() when last recorded
}

// sample is one OTLP data point's value: value for gauges and counters; count, sum and
// buckets (cumulative count by upper bound) for histograms; count, sum and quantiles for
// summaries.
type sample struct {
	value     float64
	count     uint64
	sum       float64
	buckets   map[float64]uint64
	quantiles map[float64]float64
}

// weight is the number of Prometheus series the sample exports.
func (s *sample) weight(k kind) int {
	switch k {
	case kindHistogram:
		return len(s.buckets) + 3 // the buckets, +Inf, _sum, _count
	case kindSummary:
		return len(s.quantiles) + 2
	}
	return 1
}

// add adds a delta sample to s: a histogram's only if its bounds are s's, else it starts over.
func (s *sample) add(d sample) {
	if d.buckets != nil && !maps.EqualFunc(s.buckets, d.buckets, func(uint64, uint64) bool { return true }) {
		*s = d
		return
	}
	s.value += d.value
	s.count += d.count
	s.sum += d.sum
	for le, n := range d.buckets {
		s.buckets[le] += n
	}
}

// maxBuckets bounds a histogram's buckets; one with more is dropped. OpenTelemetry's SDKs
// default to 160 buckets per exponential histogram side.
const maxBuckets = 320

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

// attributed is a converted data point with its attributes; ok false: malformed, dropped.
type attributed struct {
	attrs []*commonpb.KeyValue
	s     sample
	ok    bool
}

// samples converts an OTLP metric's data points: its family's kind, whether its points are
// deltas, and the points; ok false: a type not exported (none yet).
func samples(m *metricspb.Metric) (k kind, delta bool, pts []attributed, ok bool) {
	isDelta := func(t metricspb.AggregationTemporality) bool {
		return t == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	}
	switch {
	case m.GetGauge() != nil:
		return kindGauge, false, numberSamples(m.GetGauge().GetDataPoints()), true
	case m.GetSum() != nil:
		sum := m.GetSum()
		k = kindGauge
		if sum.GetIsMonotonic() {
			k = kindCounter
		}
		return k, isDelta(sum.GetAggregationTemporality()), numberSamples(sum.GetDataPoints()), true
	case m.GetHistogram() != nil:
		h := m.GetHistogram()
		for _, dp := range h.GetDataPoints() {
			s, ok := histogramSample(dp)
			pts = append(pts, attributed{dp.GetAttributes(), s, ok})
		}
		return kindHistogram, isDelta(h.GetAggregationTemporality()), pts, true
	case m.GetExponentialHistogram() != nil:
		h := m.GetExponentialHistogram()
		for _, dp := range h.GetDataPoints() {
			s, ok := exponentialSample(dp)
			pts = append(pts, attributed{dp.GetAttributes(), s, ok})
		}
		return kindHistogram, isDelta(h.GetAggregationTemporality()), pts, true
	case m.GetSummary() != nil:
		for _, dp := range m.GetSummary().GetDataPoints() {
			s := sample{count: dp.GetCount(), sum: dp.GetSum(), quantiles: map[float64]float64{}}
			ok := len(dp.GetQuantileValues()) <= maxBuckets
			for _, q := range dp.GetQuantileValues() {
				ok = ok && q.GetQuantile() >= 0 && q.GetQuantile() <= 1
				s.quantiles[q.GetQuantile()] = q.GetValue()
			}
			pts = append(pts, attributed{dp.GetAttributes(), s, ok})
		}
		return kindSummary, false, pts, true
	}
	return 0, false, nil, false
}

// numberSamples converts gauge or sum points; one without a value is dropped.
func numberSamples(dps []*metricspb.NumberDataPoint) []attributed {
	pts := make([]attributed, 0, len(dps))
	for _, dp := range dps {
		a := attributed{attrs: dp.GetAttributes(), ok: true}
		switch dp.GetValue().(type) {
		case *metricspb.NumberDataPoint_AsDouble:
			a.s.value = dp.GetAsDouble()
		case *metricspb.NumberDataPoint_AsInt:
			a.s.value = float64(dp.GetAsInt())
		default:
			a.ok = false
		}
		pts = append(pts, a)
	}
	return pts
}

// histogramSample converts an explicit-bounds histogram point: bucket i counts values up to
// ExplicitBounds[i] (the last one, above every bound, is +Inf: the point's count). No bucket
// counts is a histogram of count and sum only. Malformed (bounds not increasing or not
// finite, counts not one more than bounds or adding up to more than count): ok false.
func histogramSample(dp *metricspb.HistogramDataPoint) (sample, bool) {
	s := sample{count: dp.GetCount(), sum: dp.GetSum(), buckets: map[float64]uint64{}}
	bounds, counts := dp.GetExplicitBounds(), dp.GetBucketCounts()
	if len(counts) == 0 {
		return s, true
	}
	if len(counts) != len(bounds)+1 || len(bounds) > maxBuckets {
		return s, false
	}
	var cum uint64
	for i, le := range bounds {
		if math.IsNaN(le) || math.IsInf(le, 0) || i > 0 && le <= bounds[i-1] {
			return s, false
		}
		cum += counts[i]
		s.buckets[le] = cum
	}
	return s, cum+counts[len(bounds)] <= s.count
}

// exponentialSample converts an exponential histogram point to cumulative buckets: with
// base = 2^(2^-scale), positive bucket i (after its offset) counts values in
// (base^i, base^(i+1)], so its upper bound is base^(i+1); negative bucket i counts
// [-base^(i+1), -base^i), given the bound -base^i; the zero bucket's bound is the zero
// threshold. Malformed (scale outside OTLP's -10..20, more than maxBuckets buckets, a bound
// overflowing, counts adding up to more than count): ok false.
func exponentialSample(dp *metricspb.ExponentialHistogramDataPoint) (sample, bool) {
	s := sample{count: dp.GetCount(), sum: dp.GetSum(), buckets: map[float64]uint64{}}
	scale := dp.GetScale()
	neg, pos := dp.GetNegative(), dp.GetPositive()
	if scale < -10 || scale > 20 || len(neg.GetBucketCounts())+len(pos.GetBucketCounts()) > maxBuckets {
		return s, false
	}
	bound := func(i int64) float64 { return math.Exp2(float64(i) * math.Exp2(-float64(scale))) }
	var cum uint64
	for i := len(neg.GetBucketCounts()) - 1; i >= 0; i-- {
		cum += neg.GetBucketCounts()[i]
		s.buckets[-bound(int64(neg.GetOffset())+int64(i))] = cum
	}
	cum += dp.GetZeroCount()
	zero := dp.GetZeroThreshold()
	if math.IsNaN(zero) || math.IsInf(zero, 0) || zero < 0 {
		return s, false
	}
	s.buckets[zero] = cum
	for i, n := range pos.GetBucketCounts() {
		cum += n
		le := bound(int64(pos.GetOffset()) + int64(i) + 1)
		if le <= zero {
			return s, false // a positive bucket below the zero bucket's threshold
		}
		s.buckets[le] = cum
	}
	for le := range s.buckets {
		if math.IsInf(le, 0) {
			return s, false // a bound overflowed
		}
	}
	// Fewer buckets than counted: a bound underflowed onto another's.
	return s, len(s.buckets) == len(neg.GetBucketCounts())+len(pos.GetBucketCounts())+1 && cum <= s.count
}

// recordLocked records one OTLP metric's data points. REQUIRES: e.mu held.
func (e *Exporter) recordLocked(cs *clientSeries, m *metricspb.Metric) {
	k, delta, pts, ok := samples(m)
	if !ok {
		return
	}
	name := sanitize(m.GetName(), true)
	if name == "" || slices.ContainsFunc(reservedPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
		e.dropped += uint64(len(pts))
		return
	}
	for _, a := range pts {
		if !a.ok {
			e.dropped++
			continue
		}
		names, values := pointLabels(cs, a.attrs)
		key := name + "\xff" + strings.Join(values, "\xff")
		p := cs.points[key]
		if p == nil {
			f := e.families[name]
			switch {
			case f != nil && f.kind != k, e.series+a.s.weight(k) > e.maxSeries:
				e.dropped++
				continue
			case f == nil:
				help := m.GetDescription()
				if help == "" {
					help = "client metric " + m.GetName() + " pushed by KIP-714 client telemetry"
				}
				f = &family{help: strings.ToValidUTF8(help, "?"), kind: k}
				e.families[name] = f
			}
			f.points++
			p = &point{family: name, labelNames: names, labelValues: values}
			cs.points[key] = p
		}
		next := a.s
		if delta && p.weight > 0 {
			next = p.sample
			next.add(a.s)
		}
		w := next.weight(k)
		if p.weight > 0 && w > p.weight && e.series+w-p.weight > e.maxSeries {
			e.dropped++ // new bounds that no longer fit under the cap: the old point stays
			continue
		}
		e.series += w - p.weight
		p.sample, p.weight = next, w
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
			if f.points--; f.points == 0 {
				delete(e.families, p.family)
			}
			e.series -= p.weight
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
			desc := prometheus.NewDesc(p.family, f.help, p.labelNames, nil)
			var (
				m   prometheus.Metric
				err error
			)
			switch f.kind {
			case kindGauge:
				m, err = prometheus.NewConstMetric(desc, prometheus.GaugeValue, p.value, p.labelValues...)
			case kindCounter:
				m, err = prometheus.NewConstMetric(desc, prometheus.CounterValue, p.value, p.labelValues...)
			case kindHistogram:
				m, err = prometheus.NewConstHistogram(desc, p.count, p.sum, p.buckets, p.labelValues...)
			case kindSummary:
				m, err = prometheus.NewConstSummary(desc, p.count, p.sum, p.quantiles, p.labelValues...)
			}
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
