// Package loadgen is a lean Kafka load generator, built to never be the bottleneck of the
// broker it measures (logd or Apache Kafka), and a sink server that measures its ceiling.
//
// # Produce
//
// Each connection sends pre-encoded requests (up to 8 variants, in turn), encoded once with
// kmsg: a Produce request holding one pre-built record batch v2 (CRC correct, BaseOffset 0)
// for each of its partitions. Records follow a RecordShape: value sizes fixed, uniform or
// exponential; null keys, or uniform/zipf keys placed by murmur2 as Kafka's default
// partitioner places them; optional compression. Only the correlation id changes between
// requests, set in place at frame[8:12] by kwire.Conn.SendFrame — and with Stamp, each batch's CreateTime and the
// send time in nanoseconds in its first value (CRC recomputed) — the buffer is rewritten only
// after the previous write returned, when the kernel holds its own copy.
//
//	frame: size int32 | api_key | api_version | correlation_id | client_id | [tags] | body
//	                                            ^ patched per request
//
// A writer goroutine pipelines up to InFlight requests per connection; a reader goroutine
// takes responses in order (Kafka answers a connection in order), checks the correlation id
// and every partition's error code, and records per-request latency in a Histogram: HDR
// log-linear, microseconds, 3 significant digits, lock-free so every connection of a run
// shares one (a caller snapshots it for per-window reports). The wire is internal/kwire's,
// as for every Kafka client in logd: its Receive decodes frames in place, no copy after the
// kernel's.
//
// Fixed-rate mode gives request i of a connection the intended send time start + i·interval
// and measures its latency from that time, not from when it was actually sent: a stall of the
// broker (or of the generator, or a full in-flight window) is charged to every request it
// held back — the coordinated-omission correction. SendLag records actual minus intended send
// time, so a report can tell generator lateness from broker latency. Pacing uses nanosleep on
// a locked thread with 1 µs timer slack (pace_linux.go says why) for intervals under 10 ms;
// the schedules of a run's connections are staggered over one interval.
//
// # Fetch
//
// RunFetch catches up from offset 0 on every partition with raw Fetch requests (v4-v12,
// sessionless, large MaxBytes), one in flight per partition, pipelined over the partitions a
// connection owns. Record batches are neither decompressed nor parsed: the next offset comes
// from the last complete batch header (baseOffset + lastOffsetDelta + 1).
//
// With Tail, RunFetch is a live consumer instead: one Fetch per connection for all its
// partitions (as a Kafka consumer sends one per broker), long-polling when caught up; E2E then
// records each batch's end-to-end latency, receive time minus the producer's stamp, once per
// record — the producer and consumer must share a clock (one host).
//
// # Sink
//
// Sink answers Produce with a canned response (cached per request shape), Fetch with canned
// batches, and enough ApiVersions and Metadata for the generator. Generator plus sink on the
// bench machine is the ceiling a broker result is compared with (bench.BenchmarkGeneratorCeiling,
// and `logd bench run` after every max-rate workload).
package loadgen
