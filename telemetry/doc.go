// Package telemetry is the broker's side of KIP-714 client telemetry: Kafka clients (the Java
// client by default, enable.metrics.push=true) ask the broker which of their metrics to push
// (GetTelemetrySubscriptions, API 71) and push them as OTLP MetricsData (PushTelemetry, API
// 72); logd exports what they push on its Prometheus /metrics.
//
// # Subscriptions
//
// A subscription is a CLIENT_METRICS config resource (type 16), kept in the metadata quorum
// (metadata.AlterClientMetrics) and managed with kafka-client-metrics or
// IncrementalAlterConfigs. Its configs, as Kafka's ClientMetricsConfigs:
//
//	metrics      list of metric name prefixes ("*": every metric; empty: none)
//	interval.ms  push interval, 100 ms to 1 hour (default 5 minutes)
//	match        list of selector=regex, all must match the whole attribute:
//	             client_instance_id, client_id, client_software_name,
//	             client_software_version, client_source_address, client_source_port
//
// A client gets the union of the metrics of every subscription matching it, at the shortest
// of their intervals; none matching is no metrics and the default interval. Its subscription
// id is a CRC-32C of those metrics and the interval XORed with its instance id's hash (Kafka's
// formula over sorted metrics), so it changes exactly when the client's subscription does.
// Regular expressions are Go's RE2: a Java pattern with back references or look-arounds is
// INVALID_CONFIG.
//
// # Client instances (Manager)
//
//	GetTelemetrySubscriptions(id)      zero id → a new random one; THROTTLING_QUOTA_EXCEEDED
//	                                   within the push interval of the last request, unless
//	                                   the last push was UNKNOWN_SUBSCRIPTION_ID or
//	                                   UNSUPPORTED_COMPRESSION_TYPE, or the subscriptions changed
//	PushTelemetry(id, sub, term, c, m) zero/reserved id → INVALID_REQUEST; after a terminating
//	                                   push → INVALID_REQUEST; within the interval of the last
//	                                   push (the first after a Get and a terminating one
//	                                   excepted) → THROTTLING_QUOTA_EXCEEDED; another
//	                                   subscription id → UNKNOWN_SUBSCRIPTION_ID; compression
//	                                   type outside 0-4 → UNSUPPORTED_COMPRESSION_TYPE; more
//	                                   than telemetry.max.bytes → TELEMETRY_TOO_LARGE; metrics
//	                                   that do not decompress (capped at 32 × telemetry.max.bytes)
//	                                   or decode → INVALID_RECORD
//
// A change of the stored subscriptions re-evaluates every instance at its next request (its
// timestamps start over, as Kafka's new ClientMetricsInstance). Instances are keyed by id and
// forgotten when their connection closes, when idle for max(1 minute, 3 push intervals), or —
// the least recently seen first — when MaxInstances are remembered. The client software name
// and version come from the connection's ApiVersions (SetSoftware).
//
// The answer's DeltaTemporality is false, unlike Kafka's: Prometheus counters are cumulative,
// so clients are asked for cumulative sums (delta sums are added up all the same).
//
// # Export (Exporter)
//
// A prometheus.Collector: each OTLP metric becomes a family named from the metric name
// (org.apache.kafka.producer.record.send.total → org_apache_kafka_producer_record_send_total),
// labelled client_instance_id, client_id and the point's attributes:
//
//	gauge, non-monotonic sum  gauge
//	monotonic sum             counter (delta points added up)
//	histogram                 histogram: OTLP's per-bucket counts made cumulative, le = the
//	                          explicit bounds (delta points added up while the bounds stay)
//	exponential histogram     histogram with le = the powers of its base 2^(2^-scale)
//	                          bounding its buckets, negative ones first, then the zero
//	                          bucket's threshold (Prometheus' text format has no native
//	                          histograms)
//	summary                   summary (its quantiles)
//
// Kafka's own clients push gauges and sums only; the rest is for other KIP-714 clients. A
// client's series go 3 push intervals (at least 5 s) after its last push; at most MaxSeries
// are exported, a histogram counting one per bucket plus +Inf, _sum and _count and a summary
// one per quantile plus _sum and _count (the rest counted in
// logd_client_telemetry_series_dropped_total, with malformed histograms and those of more
// than 320 buckets). Names starting with logd_, go_, process_ or
// promhttp_ are dropped, so a client cannot collide with the broker's own families.
//
// # Locks
//
// Manager.mu (instances, subscriptions, software) and Exporter.mu (series) are leaves, never
// held together: a push is checked under Manager.mu, decompressed and decoded under neither,
// recorded under Exporter.mu. Collect builds its metrics under Exporter.mu and sends them after
// releasing it.
package telemetry
