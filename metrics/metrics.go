// Package metrics is logd's Prometheus instrumentation: one registry holding the broker's
// metrics under names familiar from Kafka's JMX metrics (BytesInPerSec → logd_topic_bytes_in_total,
// RequestsPerSec/TotalTimeMs → logd_requests_total/logd_request_duration_seconds,
// LogFlushRateAndTimeMs → logd_log_flush_duration_seconds, …).
//
// The hot path is cheap: per-API children are resolved once per API key into an array (no
// label lookup per request) and per-topic counters are resolved once per topic (TopicMetrics,
// cached in a sync.Map; callers keep the pointer). Counters kept elsewhere — the network
// server's Stats, the engine's offline state, the partition count — are read at scrape time by
// collectors, never copied, so nothing is counted twice.
//
// Each request's time is split the way Kafka's RequestMetrics split it, per API:
//
//	stage                                    histogram                          Kafka
//	frame complete → handler starts          logd_request_queue_seconds         RequestQueueTimeMs
//	handler starts → response ready          logd_request_duration_seconds      TotalTimeMs less queue and send
//	  of which the handler's own work        logd_request_local_seconds         LocalTimeMs
//	  of which waiting, Produce: fsync       logd_produce_fsync_wait_seconds    RemoteTimeMs
//	  of which waiting, Fetch: long poll     logd_fetch_wait_seconds            RemoteTimeMs (purgatory)
//	  of which waiting, Produce: replication logd_produce_replication_wait_seconds RemoteTimeMs (acks=all ISR)
//	  of which waking, Fetch: append → ready logd_fetch_wake_seconds           (none)
//	response ready → writer takes it         logd_response_queue_seconds        ResponseQueueTimeMs
//	writer takes it → written                logd_response_send_seconds         ResponseSendTimeMs
//
// Local time for Produce is its turn wait (appends follow the connection's request order),
// validation and append. The two wait histograms have no api label and count only requests
// that waited: an acks=all (or flush-policy) produce waiting for the group commit covering its
// batches, a fetch parked for MinBytes. Before replication exists these are all of Kafka's
// RemoteTimeMs.
//
// Replication (replication.go) adds, per broker: logd_replication_commit_seconds (a leader's
// append → the high watermark passing it), logd_replica_fetch_seconds and
// logd_replica_fetch_empty_seconds (a follower's fetch round trips that brought batches, and
// those that came back empty when the leader's long poll expired) and
// logd_replica_fetch_bytes_total.
//
// Consumer group lag (logd_group_lag{group,topic,partition}) is read at scrape time from a
// GroupLagSource the broker sets, so this package does not depend on the group coordinator.
//
// A nil *Metrics is valid and records nothing.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/net/server"
)

// Namespace prefixes every logd metric.
const Namespace = "logd"

// Metric names, for tests and dashboards.
const (
	RequestsTotal     = "logd_requests_total"
	RequestDuration   = "logd_request_duration_seconds"
	RequestQueue      = "logd_request_queue_seconds"
	RequestLocal      = "logd_request_local_seconds"
	ResponseQueue     = "logd_response_queue_seconds"
	ResponseSend      = "logd_response_send_seconds"
	ProduceFsyncWait  = "logd_produce_fsync_wait_seconds"
	FetchWait         = "logd_fetch_wait_seconds"
	QuotaThrottle     = "logd_quota_throttle_seconds"
	TopicBytesIn      = "logd_topic_bytes_in_total"
	TopicBytesOut     = "logd_topic_bytes_out_total"
	TopicMessagesIn   = "logd_topic_messages_in_total"
	LogFlushDuration  = "logd_log_flush_duration_seconds"
	LogFlushRounds    = "logd_log_flush_rounds_total"
	LogFlushFiles     = "logd_log_flush_files_total"
	Partitions        = "logd_partitions"
	LogDirOffline     = "logd_log_dir_offline"
	LeaderPartitions  = "logd_leader_partitions"
	UnderReplicated   = "logd_under_replicated_partitions"
	NetConnections    = "logd_network_connections"
	NetConnsAccepted  = "logd_network_connections_accepted_total"
	NetConnsRefused   = "logd_network_connections_refused_total"
	NetQuotaRefused   = "logd_network_connections_quota_refused_total"
	NetRequests       = "logd_network_requests_total"
	NetResponses      = "logd_network_responses_total"
	NetBytesIn        = "logd_network_bytes_in_total"
	NetBytesOut       = "logd_network_bytes_out_total"
	NetSendfileBytes  = "logd_network_sendfile_bytes_total"
	NetCopiedBytes    = "logd_network_copied_bytes_total"
	NetBufferedBytes  = "logd_network_buffered_bytes"
	NetInFlight       = "logd_network_requests_in_flight"
	NetDeferred       = "logd_network_requests_deferred"
	NetProtocolCloses = "logd_network_protocol_closes_total"
	NetBudgetCloses   = "logd_network_budget_closes_total"
	NetPauses         = "logd_network_read_pauses_total"
	NetWriteWaits     = "logd_network_write_waits_total"
	GroupLag          = "logd_group_lag"
)

// The broker's wait stages beyond Kafka's request metrics (issue 15's latency breakdown).
const (
	// FetchWake is the time from the append (or high watermark move) that woke a parked
	// fetch to its response being ready for the writer: the broker's share of a record's
	// end-to-end latency beyond the append.
	FetchWake = "logd_fetch_wake_seconds"
	// ProduceReplicationWait is the time an acks=all produce waited for the high watermark
	// to pass its batches (every in-sync replica has them), after its own fsync if any.
	ProduceReplicationWait = "logd_produce_replication_wait_seconds"
)

// requestBuckets span 50 µs (an in-memory answer) to 30 s (a long-polling fetch).
var requestBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// stageBuckets span 10 µs (a request picked up at once, a small write) to 10 s.
var stageBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}

// flushBuckets span a page-cache fdatasync to a struggling disk.
var flushBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// numAPIs bounds the API keys with pre-resolved children.
const numAPIs = kmsg.MaxKey + 1

// apiMetrics are one API's resolved children.
type apiMetrics struct {
	requests                                   prometheus.Counter
	latency, queue, local, respQueue, respSend prometheus.Observer
}

// RequestTimes is how one request spent its time in the broker, before its response was
// ready (see the package doc for the split).
type RequestTimes struct {
	Queue   time.Duration // frame complete → handler start
	Handled time.Duration // handler start → response ready
	Waited  time.Duration // part of Handled spent waiting: group commit (Produce), long poll (Fetch)
}

// TopicMetrics are one topic's counters. Resolve them once (Metrics.Topic) and keep the
// pointer; its methods are safe on a nil *TopicMetrics.
type TopicMetrics struct {
	bytesIn, bytesOut, messagesIn prometheus.Counter
}

// Produced counts an appended batch: its bytes and records.
func (t *TopicMetrics) Produced(bytes, records int) {
	if t == nil {
		return
	}
	t.bytesIn.Add(float64(bytes))
	t.messagesIn.Add(float64(records))
}

// Fetched counts record bytes sent to a consumer.
func (t *TopicMetrics) Fetched(bytes int64) {
	if t == nil || bytes <= 0 {
		return
	}
	t.bytesOut.Add(float64(bytes))
}

// Metrics is logd's metric registry.
type Metrics struct {
	reg *prometheus.Registry

	requests                                   *prometheus.CounterVec
	latency, queue, local, respQueue, respSend *prometheus.HistogramVec
	apis                                       [numAPIs]atomic.Pointer[apiMetrics]
	fsyncWait, fetchWait                       prometheus.Histogram
	fetchWake, replicationWait                 prometheus.Histogram
	throttle                                   *prometheus.HistogramVec // by quota type

	bytesIn, bytesOut, messagesIn *prometheus.CounterVec
	topics                        sync.Map // topic name → *TopicMetrics

	flushLatency prometheus.Histogram
	flushRounds  prometheus.Counter
	flushFiles   prometheus.Counter

	replication replicationMetrics // replication.go

	stats      atomic.Pointer[func() server.Stats]
	groupLag   atomic.Pointer[GroupLagSource]
	partitions atomic.Pointer[func() int]
	offline    atomic.Pointer[func() int]
	repl       atomic.Pointer[func() (leaders, underReplicated int)]
}

// New returns a registry with every logd metric, Go runtime and process metrics.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: RequestsTotal, Help: "Kafka requests answered, by API (Kafka's RequestsPerSec).",
	}, []string{"api"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: RequestDuration, Buckets: requestBuckets,
		Help: "Time from a request's dispatch to its response being ready, by API, including fetch long-poll and produce fsync waits (Kafka's TotalTimeMs without the send).",
	}, []string{"api"})
	m.queue = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: RequestQueue, Buckets: stageBuckets,
		Help: "Time from a request's last byte arriving to its handler starting: waiting behind the connection's in-flight cap or for a worker, by API (Kafka's RequestQueueTimeMs).",
	}, []string{"api"})
	m.local = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: RequestLocal, Buckets: stageBuckets,
		Help: "Handler time without the fsync or long-poll wait: for Produce, ordering, validation and append, by API (Kafka's LocalTimeMs).",
	}, []string{"api"})
	m.respQueue = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: ResponseQueue, Buckets: stageBuckets,
		Help: "Time from a response being ready to the connection's writer taking it: waiting behind earlier responses, which leave in request order, by API (Kafka's ResponseQueueTimeMs).",
	}, []string{"api"})
	m.respSend = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: ResponseSend, Buckets: stageBuckets,
		Help: "Time to write a response to the socket, including waits for a slow client to drain it, by API (Kafka's ResponseSendTimeMs).",
	}, []string{"api"})
	m.fsyncWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: ProduceFsyncWait, Buckets: stageBuckets,
		Help: "Time a produce request waited for the group commit (fsync) covering its batches before it was acknowledged; only requests that waited (acks=all, or a topic's flush.messages).",
	})
	m.fetchWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: FetchWait, Buckets: requestBuckets,
		Help: "Time a fetch request was parked waiting for MinBytes of data (long poll, up to MaxWaitMs); only fetches that parked.",
	})
	m.fetchWake = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: FetchWake, Buckets: stageBuckets,
		Help: "Time from the append or high watermark move that woke a parked fetch to its response being ready to write; only fetches an append woke.",
	})
	m.replicationWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: ProduceReplicationWait, Buckets: stageBuckets,
		Help: "Time an acks=all produce request waited for its partitions' high watermark (every in-sync replica has its batches), after its fsync if any.",
	})
	m.throttle = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: QuotaThrottle, Buckets: requestBuckets,
		Help: "Throttle time of requests over a client quota, by quota type (produce, fetch): Kafka's throttle-time metric of the quota sensors.",
	}, []string{"quota"})
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: TopicBytesIn, Help: "Record batch bytes appended by producers, by topic (Kafka's BytesInPerSec).",
	}, []string{"topic"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: TopicBytesOut, Help: "Record batch bytes sent to consumers, by topic (Kafka's BytesOutPerSec).",
	}, []string{"topic"})
	m.messagesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: TopicMessagesIn, Help: "Records appended by producers, by topic (Kafka's MessagesInPerSec).",
	}, []string{"topic"})
	m.flushLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: LogFlushDuration, Buckets: flushBuckets,
		Help: "Duration of each group-commit round: the fsyncs of every file it covers (Kafka's LogFlushRateAndTimeMs).",
	})
	m.flushRounds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: LogFlushRounds, Help: "Group-commit rounds (each one a batch of fsyncs acknowledging every append it covers).",
	})
	m.flushFiles = prometheus.NewCounter(prometheus.CounterOpts{
		Name: LogFlushFiles, Help: "Files synced by group-commit rounds.",
	})
	m.reg.MustRegister(m.requests, m.latency, m.queue, m.local, m.respQueue, m.respSend, m.fsyncWait, m.fetchWait, m.fetchWake, m.replicationWait, m.throttle, m.bytesIn, m.bytesOut, m.messagesIn,
		m.flushLatency, m.flushRounds, m.flushFiles,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: Partitions, Help: "Partitions of the topics this broker holds.",
		}, func() float64 {
			if f := m.partitions.Load(); f != nil {
				return float64((*f)())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: LogDirOffline, Help: "Log directories offline after a failed write or fsync, or that failed to open (Kafka's OfflineLogDirectoryCount).",
		}, func() float64 {
			if f := m.offline.Load(); f != nil {
				return float64((*f)())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: LeaderPartitions, Help: "Partitions this broker leads (cluster mode; Kafka's LeaderCount).",
		}, func() float64 {
			if f := m.repl.Load(); f != nil {
				n, _ := (*f)()
				return float64(n)
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: UnderReplicated, Help: "Partitions this broker leads whose ISR is smaller than their replica set (Kafka's UnderReplicatedPartitions).",
		}, func() float64 {
			if f := m.repl.Load(); f != nil {
				_, n := (*f)()
				return float64(n)
			}
			return 0
		}),
		&serverCollector{m: m},
		&groupLagCollector{m: m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.replication = newReplicationMetrics(m.reg)
	return m
}

// Registry returns the Prometheus registry, for registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text (or negotiated) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveRequest counts one answered request of an API key and records how it spent its
// time. Unknown keys are not counted (the connection is closed for them).
func (m *Metrics) ObserveRequest(apiKey int16, t RequestTimes) {
	a := m.api(apiKey)
	if a == nil {
		return
	}
	a.requests.Inc()
	a.latency.Observe(t.Handled.Seconds())
	a.queue.Observe(t.Queue.Seconds())
	a.local.Observe((t.Handled - t.Waited).Seconds())
	if t.Waited > 0 {
		switch kmsg.Key(apiKey) {
		case kmsg.Produce:
			m.fsyncWait.Observe(t.Waited.Seconds())
		case kmsg.Fetch:
			m.fetchWait.Observe(t.Waited.Seconds())
		}
	}
}

// ObserveFetchWake records how long a parked fetch took from the append that woke it to its
// response being ready. A nil Metrics records nothing.
func (m *Metrics) ObserveFetchWake(d time.Duration) {
	if m == nil {
		return
	}
	m.fetchWake.Observe(d.Seconds())
}

// ObserveReplicationWait records how long an acks=all produce waited for the high watermark.
// A nil Metrics records nothing.
func (m *Metrics) ObserveReplicationWait(d time.Duration) {
	if m == nil {
		return
	}
	m.replicationWait.Observe(d.Seconds())
}

// ObserveThrottle records the throttle time of a request over its client quota (produce or
// fetch). A nil Metrics records nothing.
func (m *Metrics) ObserveThrottle(produce bool, d time.Duration) {
	if m == nil {
		return
	}
	kind := "fetch"
	if produce {
		kind = "produce"
	}
	m.throttle.WithLabelValues(kind).Observe(d.Seconds())
}

// ObserveResponse records a written response's time queued for and spent in the
// connection's writer (server.Config.ObserveResponse).
func (m *Metrics) ObserveResponse(apiKey int16, queued, send time.Duration) {
	a := m.api(apiKey)
	if a == nil {
		return
	}
	a.respQueue.Observe(queued.Seconds())
	a.respSend.Observe(send.Seconds())
}

// api returns an API key's resolved children, nil for a nil *Metrics or an unknown key.
func (m *Metrics) api(apiKey int16) *apiMetrics {
	if m == nil || apiKey < 0 || int(apiKey) >= numAPIs {
		return nil
	}
	if a := m.apis[apiKey].Load(); a != nil {
		return a
	}
	return m.resolveAPI(apiKey)
}

func (m *Metrics) resolveAPI(apiKey int16) *apiMetrics {
	name := kmsg.NameForKey(apiKey)
	a := &apiMetrics{requests: m.requests.WithLabelValues(name), latency: m.latency.WithLabelValues(name),
		queue: m.queue.WithLabelValues(name), local: m.local.WithLabelValues(name),
		respQueue: m.respQueue.WithLabelValues(name), respSend: m.respSend.WithLabelValues(name)}
	if !m.apis[apiKey].CompareAndSwap(nil, a) {
		return m.apis[apiKey].Load()
	}
	return a
}

// Topic returns a topic's counters, creating them on first use. nil on a nil *Metrics.
func (m *Metrics) Topic(name string) *TopicMetrics {
	if m == nil {
		return nil
	}
	if t, ok := m.topics.Load(name); ok {
		return t.(*TopicMetrics)
	}
	t := &TopicMetrics{
		bytesIn:    m.bytesIn.WithLabelValues(name),
		bytesOut:   m.bytesOut.WithLabelValues(name),
		messagesIn: m.messagesIn.WithLabelValues(name),
	}
	actual, _ := m.topics.LoadOrStore(name, t)
	return actual.(*TopicMetrics)
}

// ForgetTopic drops a deleted topic's series. Counters still held by in-flight requests keep
// working but are no longer exported.
func (m *Metrics) ForgetTopic(name string) {
	if m == nil {
		return
	}
	m.topics.Delete(name)
	m.bytesIn.DeleteLabelValues(name)
	m.bytesOut.DeleteLabelValues(name)
	m.messagesIn.DeleteLabelValues(name)
}

// ObserveSync records one group-commit round (engine.Config.OnSync).
func (m *Metrics) ObserveSync(d time.Duration, files int) {
	if m == nil {
		return
	}
	m.flushLatency.Observe(d.Seconds())
	m.flushRounds.Inc()
	m.flushFiles.Add(float64(files))
}

// SetBrokerSource sets the functions read at scrape time for the partition count and the
// number of offline log directories. The latest call wins.
func (m *Metrics) SetBrokerSource(partitions func() int, offline func() int) {
	if m == nil {
		return
	}
	m.partitions.Store(&partitions)
	m.offline.Store(&offline)
}

// SetReplicationSource sets the function read at scrape time for the partitions this broker
// leads and how many of them are under-replicated. The latest call wins.
func (m *Metrics) SetReplicationSource(f func() (leaders, underReplicated int)) {
	if m == nil {
		return
	}
	m.repl.Store(&f)
}

// SetServerStats sets the network server whose counters are exported (server.Server.Stats).
// The latest call wins; until one, the network metrics are absent.
func (m *Metrics) SetServerStats(stats func() server.Stats) {
	if m == nil {
		return
	}
	m.stats.Store(&stats)
}

// GroupLagSource reports, at scrape time, the consumer lag of every committed partition of
// every group through yield: log end offset (high watermark) minus committed offset. The
// group coordinator's owner provides it, so this package needs no import of it.
type GroupLagSource func(yield func(group, topic string, partition int32, lag int64))

// SetGroupLagSource sets the function read at scrape time for logd_group_lag. The latest call
// wins; until one, the metric is absent.
func (m *Metrics) SetGroupLagSource(f GroupLagSource) {
	if m == nil {
		return
	}
	m.groupLag.Store(&f)
}

var groupLagDesc = prometheus.NewDesc(GroupLag,
	"Consumer group lag: the partition's log end offset (high watermark) minus the group's committed offset, by group, topic and partition (kafka-consumer-groups' LAG).",
	[]string{"group", "topic", "partition"}, nil)

// groupLagCollector exports the group lag source at scrape time.
type groupLagCollector struct{ m *Metrics }

func (c *groupLagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- groupLagDesc }

func (c *groupLagCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.groupLag.Load()
	if f == nil {
		return
	}
	(*f)(func(group, topic string, partition int32, lag int64) {
		ch <- prometheus.MustNewConstMetric(groupLagDesc, prometheus.GaugeValue, float64(lag),
			group, topic, strconv.Itoa(int(partition)))
	})
}

// serverCollector exports server.Stats at scrape time.
type serverCollector struct{ m *Metrics }

type statDesc struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(*server.Stats) int64
}

var serverStats = []statDesc{
	{prometheus.NewDesc(NetConnections, "Open client connections.", nil, nil), prometheus.GaugeValue, func(s *server.Stats) int64 { return s.ConnsActive }},
	{prometheus.NewDesc(NetConnsAccepted, "Connections accepted.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.ConnsAccepted }},
	{prometheus.NewDesc(NetConnsRefused, "Connections closed at accept (connection limit or shutting down).", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.ConnsRefused }},
	{prometheus.NewDesc(NetQuotaRefused, "Connections closed at accept by a connection quota (max.connections, max.connections.per.ip, connection_creation_rate).", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.QuotaRefused }},
	{prometheus.NewDesc(NetRequests, "Request frames handed to the broker.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.Requests }},
	{prometheus.NewDesc(NetResponses, "Responses fully written.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.Responses }},
	{prometheus.NewDesc(NetBytesIn, "Bytes read from client sockets.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.BytesIn }},
	{prometheus.NewDesc(NetBytesOut, "Bytes written to client sockets, size prefixes included.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.BytesOut }},
	{prometheus.NewDesc(NetSendfileBytes, "Record bytes sent by sendfile(2).", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.SendfileBytes }},
	{prometheus.NewDesc(NetCopiedBytes, "Record bytes sent by read and write (no sendfile).", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.CopiedBytes }},
	{prometheus.NewDesc(NetBufferedBytes, "Bytes buffered now for requests and responses.", nil, nil), prometheus.GaugeValue, func(s *server.Stats) int64 { return s.BufferedBytes }},
	{prometheus.NewDesc(NetInFlight, "Requests dispatched whose response is not yet written.", nil, nil), prometheus.GaugeValue, func(s *server.Stats) int64 { return s.InFlight }},
	{prometheus.NewDesc(NetDeferred, "Requests parked (a long poll, a sync, a rebalance) and not yet answered: Kafka's purgatory size.", nil, nil), prometheus.GaugeValue, func(s *server.Stats) int64 { return s.Deferred }},
	{prometheus.NewDesc(NetProtocolCloses, "Connections closed for bad framing or headers.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.ProtocolCloses }},
	{prometheus.NewDesc(NetBudgetCloses, "Connections closed for exceeding the buffered-bytes budget.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.BudgetCloses }},
	{prometheus.NewDesc(NetPauses, "Times a connection stopped reading at its in-flight limit.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.Pauses }},
	{prometheus.NewDesc(NetWriteWaits, "Times a writer waited for a full socket to drain.", nil, nil), prometheus.CounterValue, func(s *server.Stats) int64 { return s.WriteWaits }},
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, s := range serverStats {
		ch <- s.desc
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.m.stats.Load()
	if f == nil {
		return
	}
	st := (*f)()
	for _, s := range serverStats {
		ch <- prometheus.MustNewConstMetric(s.desc, s.typ, float64(s.get(&st)))
	}
}
