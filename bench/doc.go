// Package bench is logd's benchmark suite: OpenMessaging-Benchmark-style workloads run against
// any Kafka-protocol broker (`logd bench run`), reports and plots, the side-by-side
// comparison with Apache Kafka (`logd bench compare`, `make bench-compare`) and of logd
// replicated three times against logd alone (`make bench-rf`); plus the macro-benchmarks of
// the socket path (socket_test.go). The load itself comes from the lean
// generator in perf/loadgen, over internal/kwire (logd's one Kafka wire client).
//
//	workload.go  Workload (YAML files, the built-ins of `logd bench list`)
//	run.go       Run: topics, warm-up, producers and tailing consumers or a catch-up, a sampler
//	             taking every counter each second (progress, per-second series, 10 s windows,
//	             the broker's /proc CPU and RSS, summed over a cluster's processes), and what
//	             limited the run
//	topic.go     creating a run's topics (replication factor from the workload) and waiting
//	             until every partition's leader serves them
//	txn.go       the transactional workloads (franz-go producers with a transactional id each,
//	             one transaction at a time: produce, flush, EndTxn) and the read_committed
//	             catch-up, which fails if one record of an aborted transaction is delivered
//	report.go    Report: report.json, report.md; plot.go draws the SVG charts (no dependencies)
//	brokers.go   starting Apache Kafka (KRaft, combined node) and `logd serve` children
//	cluster.go   starting a 3-node logd cluster on loopback (logd-rf3): three `logd serve`
//	             children, each a broker and a voter of the controller quorum
//	compare.go   Compare: every workload × broker × run, medians, ratios, the goals, overlays,
//	             and kafka-producer-perf-test against each broker as an independent check
//	replication.go  logd-rf3 against logd-fsync: replication factor 3 against 1, RF3/RF1 ratios
//
// Honesty rules the code keeps:
//
//   - Latency is kept in HDR histograms (microseconds, 3 significant digits, loadgen.Histogram).
//     At a fixed rate a request's latency runs from its intended send time, so a stall is
//     charged to every request it held back (coordinated omission); the send lag is reported
//     beside it.
//   - End-to-end latency is the consumer's receive time minus the send time the producer
//     stamped into the record (nanoseconds in the first 8 value bytes; CreateTime in ms when a
//     batch is compressed), on the same host.
//   - A max-rate run re-runs its generator against an in-process sink (loadgen.Sink): within
//     80% of that ceiling, the report says the generator, not the broker, was the limit; past
//     90% of the machine's CPU, it says the machine was.
//   - A transactional workload's latency is the commit latency: the EndTxn call's round trip
//     alone, from the commit call to its return, for committed transactions; throughput counts
//     committed records only (aborted transactions are neither throughput nor latency); each
//     producer's first transaction (InitProducerId, Kafka creating __transaction_state) runs
//     before warm-up and is not measured.
//   - Broker cost is read from /proc/PID of the broker alone: CPU seconds per GB (produced plus
//     consumed) and peak RSS; CPU used by other processes during a run is reported as noise.
//   - Durability differs by default and the comparison says so: Kafka acknowledges acks=all
//     without fsync; logd fsyncs first (logd-fsync) unless told not to (logd-nofsync).
//   - Replication is measured on one machine: the three nodes of logd-rf3 and the generator
//     share its cores (and disk), so RF=3 against RF=1 is a cost ratio, not a cluster's
//     capacity; the broker's CPU is the sum over the three processes.
//
// # Socket benchmarks
//
// By default each benchmark builds cmd/logd and runs `logd serve` as a child process, so the
// broker's CPU (utime+stime from /proc/PID/stat), resident memory (VmRSS) and startup time are
// the broker's alone, not shared with the generator. -inproc runs the broker inside the test
// binary instead (a single-node cluster.Node + net/server on 127.0.0.1), which is what
// `go test -cpuprofile` needs to profile it:
//
//	make bench-socket                                   # every benchmark, -count=5, bench-socket.out
//	go test -run '^$' -bench 'Produce/1KB-6p-acks1' -inproc -cpuprofile cpu.out ./bench
//	go tool pprof -top bench.test cpu.out
//
// Units: MB is 10^6 bytes of record values (produce) or of record batches (fetch). Every
// benchmark also reports other-CPU-%: the share of the machine's CPUs used during the run by
// processes other than the broker and the benchmark, so a number measured on a busy machine
// says so.
package bench
