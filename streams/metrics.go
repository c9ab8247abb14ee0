package streams

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are an application's counters, safe to read at any time.
type Metrics struct {
	RecordsProcessed   atomic.Int64 // input records run through the topology
	LateRecordsDropped atomic.Int64 // records that fell in no open window (later than grace)
	RestoredRecords    atomic.Int64 // changelog records applied while restoring stores
	Commits            atomic.Int64 // successful commits (offsets, or transactions)
	Aborts             atomic.Int64 // aborted transactions (ExactlyOnceV2)
}

// metricsNamespace prefixes the Prometheus names of Metrics, beside the broker's "logd_".
const metricsNamespace = "logd_streams"

// Collectors returns the counters as Prometheus counters labelled application=app
// (logd_streams_records_processed_total, …), to register in the application's registry.
func (m *Metrics) Collectors(app string) []prometheus.Collector {
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: name, Help: help,
			ConstLabels: prometheus.Labels{"application": app},
		}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("records_processed_total", "Input records run through the topology.", &m.RecordsProcessed),
		counter("late_records_dropped_total", "Records later than their windows' grace, dropped.", &m.LateRecordsDropped),
		counter("restored_records_total", "Changelog records applied while restoring stores.", &m.RestoredRecords),
		counter("commits_total", "Successful commits (offsets, or transactions).", &m.Commits),
		counter("aborts_total", "Aborted transactions (exactly once).", &m.Aborts),
	}
}
