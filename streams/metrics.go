package streams

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are an application's counters, safe to read at any time.
type Metrics struct {
	RecordsProcessed   atomic.Int64 // input records run through the topology
	LateRecordsDropped atomic.Int64 // records that fell in no open window (later than grace)
	RestoredRecords    atomic.Int64 // changelog records applied while restoring stores
	Commits            atomic.Int64 // successful commits (offsets, or transactions)
	Aborts             atomic.Int64 // aborted transactions (ExactlyOnceV2)
	StandbyRecords     atomic.Int64 // changelog records applied to standby tasks' stores
	// StaleForeignKeyResponses counts foreign-key join answers dropped because the row
	// they were asked for has changed since (their hash is not the current row's).
	StaleForeignKeyResponses atomic.Int64

	latency latencyHistogram // time to run one input record through the topology

	lagMu sync.Mutex
	lag   map[lagKey]int64 // guarded by lagMu: records behind the end, per input partition consumed here
}

// lagKey is an input partition.
type lagKey struct {
	topic     string
	partition int32
}

// Lag returns how many records the instance's input partitions hold beyond what it
// has fetched (the high watermark, or exactly once the last stable offset, minus the
// next offset to fetch), summed over the partitions it consumes, as of the last fetch
// of each.
func (m *Metrics) Lag() int64 {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	var sum int64
	for _, l := range m.lag {
		sum += l
	}
	return sum
}

// setLag records the lag of one input partition.
func (m *Metrics) setLag(topic string, partition int32, lag int64) {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	if m.lag == nil {
		m.lag = map[lagKey]int64{}
	}
	m.lag[lagKey{topic, partition}] = max(0, lag)
}

// forgetLag drops the partitions of task number p: another instance consumes them now.
func (m *Metrics) forgetLag(p int32) {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	for k := range m.lag {
		if k.partition == p {
			delete(m.lag, k)
		}
	}
}

// ProcessLatency returns how many records were timed through the topology and the
// total and largest time they took.
func (m *Metrics) ProcessLatency() (records int64, total, largest time.Duration) {
	return m.latency.count.Load(), time.Duration(m.latency.sumNanos.Load()), time.Duration(m.latency.maxNanos.Load())
}

// latencyBuckets are the upper bounds (s) of the process latency histogram: 10 µs to 1 s.
var latencyBuckets = []float64{1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 1e-1, 5e-1, 1}

// latencyHistogram counts durations into latencyBuckets with atomics, so the stream
// threads never wait on a lock to record one.
type latencyHistogram struct {
	buckets  [12]atomic.Int64 // one per bound, the last for +Inf; not cumulative
	count    atomic.Int64
	sumNanos atomic.Int64
	maxNanos atomic.Int64
}

// observe records one duration.
func (h *latencyHistogram) observe(d time.Duration) {
	s := d.Seconds()
	i := len(latencyBuckets)
	for j, ub := range latencyBuckets {
		if s <= ub {
			i = j
			break
		}
	}
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sumNanos.Add(int64(d))
	for {
		old := h.maxNanos.Load()
		if int64(d) <= old || h.maxNanos.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// histogramCollector exports a latencyHistogram as a Prometheus histogram.
type histogramCollector struct {
	desc *prometheus.Desc
	h    *latencyHistogram
}

func (c histogramCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c histogramCollector) Collect(ch chan<- prometheus.Metric) {
	cum := map[float64]uint64{}
	var n uint64
	for i, ub := range latencyBuckets {
		n += uint64(c.h.buckets[i].Load())
		cum[ub] = n
	}
	count := n + uint64(c.h.buckets[len(latencyBuckets)].Load())
	ch <- prometheus.MustNewConstHistogram(c.desc, count, float64(c.h.sumNanos.Load())/1e9, cum)
}

// metricsNamespace prefixes the Prometheus names of Metrics, beside the broker's "logd_".
const metricsNamespace = "logd_streams"

// Collectors returns the metrics as Prometheus collectors labelled application=app
// (logd_streams_records_processed_total, …), to register in the application's registry.
func (m *Metrics) Collectors(app string) []prometheus.Collector {
	labels := prometheus.Labels{"application": app}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("records_processed_total", "Input records run through the topology.", &m.RecordsProcessed),
		counter("late_records_dropped_total", "Records later than their windows' grace, dropped.", &m.LateRecordsDropped),
		counter("restored_records_total", "Changelog records applied while restoring stores.", &m.RestoredRecords),
		counter("commits_total", "Successful commits (offsets, or transactions).", &m.Commits),
		counter("aborts_total", "Aborted transactions (exactly once).", &m.Aborts),
		counter("standby_records_total", "Changelog records applied to standby tasks' stores.", &m.StandbyRecords),
		counter("stale_foreign_key_responses_total", "Foreign-key join answers dropped as stale (their row changed since).", &m.StaleForeignKeyResponses),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "records_lag", ConstLabels: labels,
			Help: "Records in this instance's input partitions beyond what it fetched, summed (Kafka Streams' records-lag).",
		}, func() float64 { return float64(m.Lag()) }),
		histogramCollector{h: &m.latency, desc: prometheus.NewDesc(
			prometheus.BuildFQName(metricsNamespace, "", "process_latency_seconds"),
			"Time to run one input record through the topology, punctuations it triggers included (Kafka Streams' process-latency).",
			nil, labels)},
	}
}
