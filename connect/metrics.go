package connect

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsNamespace prefixes the worker's Prometheus names, beside the broker's "logd_".
const metricsNamespace = "logd_connect"

// Metrics are a worker's Prometheus metrics per connector and task (Kafka Connect's
// source-task-metrics, sink-task-metrics and task-error-metrics under Prometheus names):
//
//	logd_connect_task_records_polled_total{connector,task}     source-record-poll-total / sink-record-read-total
//	logd_connect_task_records_written_total{connector,task}    source-record-write-total / sink-record-send-total
//	logd_connect_task_records_filtered_total{connector,task}   records a transform dropped
//	logd_connect_task_records_skipped_total{connector,task}    source records skipped by errors.tolerance=all
//	logd_connect_task_errors_total{connector,task}             total-record-errors (tolerated)
//	logd_connect_task_dead_letter_records_total{connector,task} deadletterqueue-produce-requests
//	logd_connect_task_offset_commits_total{connector,task}     offset-commit-completion-total
//	logd_connect_task_failures_total{connector,task}           task failures (status FAILED)
//	logd_connect_task_sink_lag_records{connector,task}         records behind the high watermark after the last poll
//	logd_connect_connector_failures_total{connector}           connector failures
type Metrics struct {
	reg                                                                 *prometheus.Registry
	polled, written, filtered, skipped, errors, dead, commits, failures *prometheus.CounterVec
	lag                                                                 *prometheus.GaugeVec
	connFailures                                                        *prometheus.CounterVec

	mu    sync.Mutex
	tasks map[TaskID]*taskMetrics // guarded by mu
}

// taskMetrics are one task's children of the vectors, resolved once.
type taskMetrics struct {
	polled, written, filtered, skipped, errors, deadLettered, committed, failures prometheus.Counter
	lag                                                                           prometheus.Gauge
}

// NewMetrics registers the worker's metrics in reg (a new registry if nil).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	labels := []string{"connector", "task"}
	counter := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: "task", Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	m := &Metrics{
		reg:      reg,
		polled:   counter("records_polled_total", "Records a source task polled or a sink task consumed."),
		written:  counter("records_written_total", "Records a source task produced (acknowledged) or a sink task was given."),
		filtered: counter("records_filtered_total", "Records a transform dropped."),
		skipped:  counter("records_skipped_total", "Source records skipped after a tolerated error."),
		errors:   counter("errors_total", "Record errors tolerated under errors.tolerance=all."),
		dead:     counter("dead_letter_records_total", "Records written to the dead letter queue."),
		commits:  counter("offset_commits_total", "Offset commits completed."),
		failures: counter("failures_total", "Times the task failed."),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: metricsNamespace, Subsystem: "task", Name: "sink_lag_records",
			Help: "Records a sink task was behind the high watermark after its last poll."}, labels),
		connFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metricsNamespace, Subsystem: "connector",
			Name: "failures_total", Help: "Times the connector failed."}, []string{"connector"}),
		tasks: make(map[TaskID]*taskMetrics),
	}
	reg.MustRegister(m.lag, m.connFailures)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) task(id TaskID) *taskMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tasks[id]; ok {
		return t
	}
	l := prometheus.Labels{"connector": id.Connector, "task": strconv.Itoa(id.Task)}
	t := &taskMetrics{
		polled: m.polled.With(l), written: m.written.With(l), filtered: m.filtered.With(l), skipped: m.skipped.With(l),
		errors: m.errors.With(l), deadLettered: m.dead.With(l), committed: m.commits.With(l), failures: m.failures.With(l),
		lag: m.lag.With(l),
	}
	m.tasks[id] = t
	return t
}

func (m *Metrics) taskFailed(id TaskID) { m.task(id).failures.Inc() }

func (m *Metrics) connectorFailed(name string) {
	m.connFailures.WithLabelValues(name).Inc()
}

// forget drops a deleted connector's series.
func (m *Metrics) forget(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.tasks {
		if id.Connector == name {
			delete(m.tasks, id)
		}
	}
	for _, v := range []*prometheus.CounterVec{m.polled, m.written, m.filtered, m.skipped, m.errors, m.dead, m.commits, m.failures} {
		v.DeletePartialMatch(prometheus.Labels{"connector": name})
	}
	m.lag.DeletePartialMatch(prometheus.Labels{"connector": name})
	m.connFailures.DeletePartialMatch(prometheus.Labels{"connector": name})
}
