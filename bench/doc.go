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
//	             until every partition's leader serves them; deleting the ones it created
//	txn.go       the transactional workloads (franz-go producers with a transactional id each,
//	             one transaction at a time: produce, flush, EndTxn) and the read_committed
//	             catch-up, which fails if one record of an aborted transaction is delivered
//	report.go    Report: report.json, report.md; plot.go draws the charts as SVG (no dependencies),
//	             png.go the same charts as PNG (image/png, x/image's bitmap font for text)
//	brokers.go   starting Apache Kafka (KRaft, combined node) and `logd serve` children
//	cluster.go   starting a 3-node logd cluster on loopback (logd-rf3): three `logd serve`
//	             children, each a broker and a voter of the controller quorum
//	compare.go   Compare: every workload × broker × run, medians, ratios with their spread, the
//	             goals, fixed-rate runs at fractions of the measured max, overlays, and
//	             kafka-producer-perf-test against each broker as an independent check
//	busy.go      the busy-machine flag (other processes' CPU, steal, iowait) and the quiet check
//	stages.go    logd's latency breakdown of a produce, from its own Prometheus histograms
//	disksync.go  the disk's synced-write rate and latency (the `dd oflag=dsync` fingerprint)
//	replication.go  logd-rf3 against logd-fsync: replication factor 3 against 1, RF3/RF1 ratios,
//	             and the no-stall check: a report window holding a produce request slower than
//	             StallMs (100 ms) is a stall (Report.Stalls, listed in report.md), and compare.md
//	             says PASS only when no window of logd-rf3 in any run holds one
//	share.go     `make share-bench`: share-group members (KIP-932) fetching and acknowledging one
//	             partition, 1, 4 and 16 of them, logd against Apache Kafka: records/s, the
//	             acknowledgement latency and the broker's CPU time
//	http.go      `logd bench http`: records/s and per-record p50/p99 produced through the REST
//	             proxy of `logd serve --http`, one record per request or streaming requests
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
//     consumed) and peak RSS. The broker is --broker-pid, or else the process listening on the
//     bootstrap port on this machine (proc.go: /proc/net/tcp{,6} socket inodes → /proc/*/fd);
//     the report says which (pid_from), or that none was found and its CPU counts as others'.
//   - Rates are over real time: a partial last window (at least half a window long, or dropped)
//     and the last progress line rate the producers over the time they ran, not the idle tail
//     after they finished, which would read as a collapse.
//   - A run deletes the topics it created (CreateTopics said created, never an existing one)
//     when it ends, unless --keep-topic; it says what it deleted and what it left behind.
//   - A run on a busy machine says so and does not set a median. Other processes' CPU during
//     the measured phase is /proc/stat's busy time minus the broker's (/proc/PID) and the
//     generator's own (getrusage); with the hypervisor's steal it must stay under --busy-cores
//     (0.25 by default) or the run is marked busy (b) and left out of every median and
//     min–max — unless all runs of that row were busy, which the row then says. Iowait is
//     reported beside it, a note only (a fsyncing broker causes its own). Before each run a
//     quiet check probes the machine for a second at a time, waiting up to --quiet-wait for
//     other processes to fall under the same limit, then warns in the report and runs anyway.
//   - A ratio comes with its spread: the medians' ratio, each broker's min–max over the runs
//     the medians use, and the ratio of every run pair — run i of one broker against run i of
//     the other, which ran minutes apart because brokers interleave within each run. One
//     verdict is trustworthy when the run-pair ratios agree with it.
//   - Fixed-rate latency runs at rates both brokers sustain, stated and the same for all:
//     --latency-fractions (25% and 50% by default) of the slower broker's max-throughput,
//     measured in run 1 of the same invocation (max-throughput runs first, and is added when
//     not asked for). These runs form a second phase of each run, on freshly started brokers,
//     so every broker's max is known before any fixed-rate run starts.
//   - The generator's in-flight window cannot hide a backlog. At a fixed rate a producer sends
//     a request every interval (its request's bytes over its share of the rate); with W
//     requests in flight the schedule holds while round trips stay under W × interval, and
//     beyond it every further request leaves late and its lateness is charged to its latency
//     (coordinated omission corrected), so one slow round turns into a backlog that the tail
//     then measures — with the old fixed 8 per producer that began at a ~20 ms round trip.
//     The window is therefore sized from the rate and a latency budget (--latency-budget,
//     100 ms: W = ⌈budget / interval⌉, at most 1024): round trips far beyond any tail worth
//     measuring are absorbed and measured as what they are, a slow response, not as queueing
//     in the generator. The price is memory the generator already holds (requests are
//     pre-encoded and reused) and a broker that sees more requests pipelined per connection
//     (Kafka reads one at a time per connection, the rest wait in the socket — which is
//     latency the client would see too). Past the budget the lag shows: send lag (actual
//     minus intended send time) is reported with the latency, and a run whose send lag p99
//     exceeds --max-send-lag (10 ms), or whose rate was not offered, is marked invalid (i) in
//     its report and in the comparison.
//   - The latency breakdown comes from logd itself: compare starts logd-fsync, logd-nofsync and
//     each node of logd-rf3 with --http (a cluster's histograms are summed over its nodes;
//     `bench run --metrics-url` takes any, comma-separated) and scrapes its Prometheus
//     histograms (queue, append, fsync wait, replication wait, response queue, send, the
//     group-commit round, the consumer's fetch wake: append → woken fetch's response ready,
//     and replication's: a leader's append → commit, the followers' fetch round trips with
//     data and those that came back empty after the long poll) when the measured phase
//     starts and when it ends; the difference
//     of the cumulative buckets is the window's distribution, whose p50/p99 are interpolated
//     within buckets as histogram_quantile does, so they are as coarse as the buckets. A
//     stage the broker does not export is listed as not exported, never estimated.
//   - The disk is measured in the same invocation, before the runs: appends of 4 KiB and
//     128 KiB each followed by fdatasync on the data directory's filesystem (dd oflag=dsync),
//     rate and latency in the machine fingerprint, the physical limit of fsync-before-ack.
//   - Durability differs by default and the comparison says so: Kafka acknowledges acks=all
//     without fsync; logd fsyncs first (logd-fsync) unless told not to (logd-nofsync).
//   - Replication is measured on one machine: the three nodes of logd-rf3 and the generator
//     share its cores (and disk), so RF=3 against RF=1 is a cost ratio, not a cluster's
//     capacity; the broker's CPU is the sum over the three processes.
//
// # Socket benchmarks
//
// By default each benchmark builds cmd/logd and runs `logd serve` as a child process, so the
// broker's CPU (utime+stime from /proc/PID/stat; broker-sys-% is the stime share, the kernel's
// part: syscalls and the loopback TCP work they run), resident memory (VmRSS) and startup time
// are the broker's alone, not shared with the generator. -inproc runs the broker inside the test
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
