# logd — one target per habit. `make test` is the default suite CI runs.
GO ?= go
PKGS := ./...

.PHONY: all build test race invariants fuzz-short bench lint dumplog-check compat compat-cluster clean streams-long streams-bench streams-kafka

all: build

build:
	$(GO) build -o bin/logd ./cmd/logd

## test: the whole default suite (unit, crash, scenario tests), with and without invariants.
test:
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 25m $(PKGS)
	$(GO) test -count=1 -tags invariants ./engine/... ./segment/... ./index/...

race:
	$(GO) test -count=1 -race $(PKGS)

## streams-long: the streams library's long scenarios (the payments example under kill -9), beside the default suite's.
streams-long:
	$(GO) test -count=1 -tags streams_long -run 'Kill9' ./streams

## streams-bench: the streams library against Kafka Streams 4.3.1 (filter, 1-minute windowed count) on one logd; STREAMS_BENCH_RECORDS input records.
STREAMS_BENCH_RECORDS ?= 1000000
streams-bench: build
	$(GO) build -o bin/streamsbench ./streams/examples/streamsbench
	nice bin/streamsbench drive -logd bin/logd -records $(STREAMS_BENCH_RECORDS) -out bench/results/$$(date -u +%Y-%m-%d)-streams

## streams-kafka: the streams package's tests against Apache Kafka 4.3.1 (KRaft, started from
## tools/kafka/lib as bench's comparison does); `make compat` runs it. Left out (streams/doc.go):
## the kill -9 scenarios (the library's crash handling) and TestForeignKeyJoin (~5 min on Kafka).
streams-kafka:
	bash scripts/kafka-tools.sh fetch
	$(GO) test -tags compat -count=1 -timeout 15m -skip 'Kill9|TestForeignKeyJoin' ./streams

invariants:
	$(GO) test -count=1 -tags invariants $(PKGS)

## fuzz-short: every fuzz target for a few seconds each.
FUZZTIME ?= 10s
fuzz-short:
	$(GO) test -run=^$$ -fuzz=FuzzValidateBatch -fuzztime=$(FUZZTIME) ./segment
	$(GO) test -run=^$$ -fuzz=FuzzRecover -fuzztime=$(FUZZTIME) ./segment
	$(GO) test -run=^$$ -fuzz=FuzzOpenIndex -fuzztime=$(FUZZTIME) ./index
	$(GO) test -run=^$$ -fuzz=FuzzUnmarshalSnapshot -fuzztime=$(FUZZTIME) ./engine/internal/producer
	$(GO) test -run=^$$ -fuzz=FuzzFrames -fuzztime=$(FUZZTIME) ./net/server
	$(GO) test -run=^$$ -fuzz=FuzzHandle -fuzztime=$(FUZZTIME) ./broker
	$(GO) test -run=^$$ -fuzz=FuzzRequestHeader -fuzztime=$(FUZZTIME) ./broker
	$(GO) test -run=^$$ -fuzz=FuzzDecompress -fuzztime=$(FUZZTIME) ./internal/compress
	$(GO) test -run=^$$ -fuzz=FuzzDecodeEntries -fuzztime=$(FUZZTIME) ./metadata
	$(GO) test -run=^$$ -fuzz=FuzzDecodeCommand -fuzztime=$(FUZZTIME) ./metadata
	$(GO) test -run=^$$ -fuzz=FuzzDecodeBatch -fuzztime=$(FUZZTIME) ./group
	$(GO) test -run=^$$ -fuzz=FuzzDecodeAssignment -fuzztime=$(FUZZTIME) ./connect
	$(GO) test -run=^$$ -fuzz=FuzzJSONConverter -fuzztime=$(FUZZTIME) ./connect
	$(GO) test -run=^$$ -fuzz=FuzzReader -fuzztime=$(FUZZTIME) ./internal/kwire
	$(GO) test -run=^$$ -fuzz=FuzzParse -fuzztime=$(FUZZTIME) ./internal/properties
	$(GO) test -run=^$$ -fuzz=FuzzPlainStep -fuzztime=$(FUZZTIME) ./auth
	$(GO) test -run=^$$ -fuzz=FuzzParseJAAS -fuzztime=$(FUZZTIME) ./auth
	$(GO) test -run=^$$ -fuzz=FuzzScramStep -fuzztime=$(FUZZTIME) ./auth
	$(GO) test -run=^$$ -fuzz=FuzzOAuthInitial -fuzztime=$(FUZZTIME) ./auth

## bench: micro-benchmarks with allocations; compare runs with benchstat.
BENCHTIME ?= 1s
COUNT ?= 6
bench:
	$(GO) test -run=^$$ -bench=. -benchmem -benchtime=$(BENCHTIME) -count=$(COUNT) ./segment ./index ./engine/... ./net/... ./restproxy | tee bench.out

lint:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)

## dumplog-check: Kafka's own kafka-dump-log reads segments and indexes logd wrote.
dumplog-check:
	bash scripts/kafka-tools.sh fetch
	LOGD_KAFKA_CLASSPATH="$$(bash scripts/kafka-tools.sh classpath)" $(GO) test -count=1 -run TestKafkaDumpLog -v ./engine

## compat: the real broker binary driven by real clients (franz-go, sarama, kafka-go, kcat,
## confluent-kafka-python, kafka-python, kafkajs, the Java client); installs them first.
## The scenario × client matrix is printed at the end and kept in compat/.results.txt.
compat:
	bash scripts/compat-deps.sh
	$(GO) test -tags compat -count=1 -v -timeout 40m ./compat
	$(MAKE) streams-kafka

## compat-cluster: the same clients against a three-node logd cluster (replication factor 3).
compat-cluster:
	bash scripts/compat-deps.sh
	bash scripts/compat-cluster.sh

## connect-java-deps: Kafka Connect's worker and Debezium's PostgreSQL connector from Maven
## Central (compat/connect/{,debezium/}target/classpath.txt), resolved again when a pom changes.
.PHONY: connect-java-deps
connect-java-deps:
	for pom in compat/connect/pom.xml compat/connect/debezium/pom.xml; do \
		[ -s $$(dirname $$pom)/target/classpath.txt ] && [ ! $$pom -nt $$(dirname $$pom)/target/classpath.txt ] || \
		mvn -q -B -f $$pom dependency:build-classpath -Dmdep.outputFile=target/classpath.txt -Dmdep.includeScope=runtime || exit 1; \
	done

## connect-bench: change events per second and p50/p99 latency from PostgreSQL insert to sink
## row (through logd and logd's JDBC sink), logd's connector against Debezium on Kafka Connect,
## in one run; CPU-seconds per 100k events. Results in bench/results/<date>-connect/.
.PHONY: connect-bench
connect-bench: connect-java-deps
	CONNECT_BENCH_OUT=$(CURDIR)/bench/results/$$(date -u +%Y-%m-%d)-connect \
		$(GO) test -tags 'compat connectbench' -count=1 -v -timeout 40m -run TestConnectBench ./connect/postgres

## share-bench: share groups (KIP-932), one partition read by 1, 4 and 16 members fetching and
## acknowledging, logd against Apache Kafka 4.3.1 in one run: records/s, ack latency, broker
## CPU-seconds. SHARE_BENCH_RECORDS records per run. Results in bench/results/<date>-share/.
.PHONY: share-bench
share-bench: build
	SHARE_BENCH_OUT=$(CURDIR)/bench/results/$$(date -u +%Y-%m-%d)-share \
		nice $(GO) test -tags sharebench -count=1 -v -timeout 40m -run TestShareBench ./bench

## compat-connect-eos: exactly-once and at-least-once file sources on distributed workers
## SIGKILLed three times mid-stream (about a minute; not in the default suite).
.PHONY: compat-connect-eos
compat-connect-eos:
	$(GO) test -tags compat -count=1 -v -timeout 10m -run 'TestExactlyOnceSourceKilled|TestAtLeastOnceSourceKilled' ./connect

## compat-postgres: the PostgreSQL connectors against a throwaway PostgreSQL (Debian's
## postgresql package; .ci/run installs it) and a `logd serve` child: change capture → logd →
## JDBC sink into a second database, with a connector kill and a PostgreSQL restart mid-stream,
## and on three `logd connect distributed` workers with the source task's worker SIGKILLed;
## Debezium's own PostgreSQL connector on Kafka Connect's Java worker (Maven Central) beside it.
.PHONY: compat-postgres
compat-postgres: connect-java-deps
	$(GO) test -tags compat -count=1 -v -timeout 10m ./connect/postgres/...

## security-cluster: three `logd serve` children whose only client listener is SASL_SSL and whose
## controller listener is SSL (Raft over mTLS), with an authorizer: replication, a transaction,
## a plaintext and a wrongly certified Raft peer refused, a kill -9 of the active controller
## (re-election, leader failover) over the secured listeners, and a broker with a wrong password
## of its own logging why; then three nodes with OAUTHBEARER between the brokers, each reading
## its token from a file, an expired token shutting one out and a renewed one bringing it back
## (about two minutes).
.PHONY: security-cluster
security-cluster:
	$(GO) test -tags compat -count=1 -v -timeout 10m -run 'TestClusterSASLSSL|TestClusterOAuthBearer' ./cmd/logd

clean:
	rm -rf bin bench.out

## soak-waits: thousands of parked requests against a `logd serve` child through real sockets:
## 5,000 connections × 2 long-poll fetches (10,000 parked; RLIMIT_NOFILE 20,000 here caps the
## broker at 7,500 connections, two descriptors each) and a 2,000-member group rebalancing,
## with a fresh client's Metadata and a produce → consume round trip measured meanwhile.
## Override with SOAK_ARGS, e.g. SOAK_ARGS='-soak.conns 7000 -soak.per-conn 1'.
.PHONY: soak-waits
SOAK_ARGS ?=
soak-waits:
	$(GO) test -tags soak -count=1 -run 'TestSoak' -v -timeout 20m ./broker -args $(SOAK_ARGS)

## bench-socket: produce, fetch catch-up, latency at a fixed rate, startup/RSS and the load
## generator's own ceiling, through the real socket against a `logd serve` child (bench/),
## -count=5 into bench-socket.out (compare runs with benchstat where installed).
.PHONY: bench-socket
SOCKET_BENCHTIME ?= 2s
bench-socket:
	$(GO) test -run='^$$' -bench=. -benchtime=$(SOCKET_BENCHTIME) -count=5 -timeout=60m ./bench | tee bench-socket.out
	@grep -q '^ok' bench-socket.out

## bench-compare: Apache Kafka 4.x (jars from Maven Central, KRaft on loopback) and logd (fsync
## before acks=all, and with Kafka-like no-fsync durability) side by side: BENCH_WORKLOADS,
## BENCH_RUNS runs each, medians and ratios with their spread in BENCH_OUT/compare.md (+
## compare.json, overlaid SVG plots, every run's report.json/report.md), kafka-producer-perf-test
## as a cross-check. fixed-rate-latency runs at 25% and 50% of the slower broker's max; busy runs
## are flagged and left out of medians (bench/doc.go: the honesty rules).
## Transactions (not in the default list): BENCH_WORKLOADS=transactions,read-committed-catch-up
## (100 records of 1 KiB per transaction: committed txn/s and commit p50/p99/p99.9; a
## read_committed catch-up over a backlog with aborted transactions mixed in).
.PHONY: bench-compare
BENCH_OUT ?= bench-out
BENCH_RUNS ?= 3
BENCH_DURATION ?= 20s
BENCH_WARMUP ?= 10s
BENCH_WORKLOADS ?= max-throughput,iot-100b,fixed-rate-latency,e2e-latency,catch-up
bench-compare: build
	bash scripts/kafka-tools.sh fetch
	bin/logd bench compare --workloads $(BENCH_WORKLOADS) --runs $(BENCH_RUNS) --duration $(BENCH_DURATION) \
		--warmup $(BENCH_WARMUP) --kafka-lib tools/kafka/lib --out $(BENCH_OUT)

## bench-rf: replication factor 3 against 1 on this one machine: a 3-node logd cluster on
## loopback (logd-rf3, topics of replication factor 3, acks=all waits for the ISR) and a single
## logd (logd-fsync), max-throughput and fixed-rate-latency (at BENCH_RF_RATE MB/s, default
## 25% and 50% of the slower one's max-throughput in run 1), BENCH_RUNS runs each; medians, RF3/RF1 ratios
## and broker CPU summed over the nodes in BENCH_RF_OUT/compare.md (+ compare.json, plots,
## every run's report.json/report.md), with the no-stall check: PASS only if no 10 s window of
## logd-rf3 holds a produce request slower than 100 ms.
.PHONY: bench-rf
BENCH_RF_OUT ?= bench-out-rf
BENCH_RF_RATE ?= 0
bench-rf: build
	bin/logd bench compare --brokers logd-rf3,logd-fsync --workloads max-throughput,fixed-rate-latency --perf-test=false \
		--runs $(BENCH_RUNS) --duration $(BENCH_DURATION) --warmup $(BENCH_WARMUP) --rate $(BENCH_RF_RATE) --out $(BENCH_RF_OUT)

## chaos: fault injection against 3-node clusters on network namespaces (kill -9 of a leader
## and of the controller, SIGSTOP of a leader, partitions of a leader and of the controller,
## a rolling restart), each history checked for Jepsen's anomalies; an acks=1 negative
## control; the transactional workload under kill -9 of the transaction coordinator and of an
## output leader, a coordinator cut off (from everyone, from its peers) and a delayed EndTxn
## (TestTxnChaos); then the failover time (chaos/doc.go; needs root for the partitions).
.PHONY: chaos failover-bench
chaos: build
	$(GO) test -tags chaos -count=1 -v -timeout 30m ./chaos

## failover-bench: kill -9 the leader under an acks=all producer 5 times; each failover time
## (kill to first ack of a record sent after it) and the median, target ≤ 2s.
failover-bench: build
	$(GO) test -tags chaos -count=1 -v -timeout 10m -run TestFailoverTime ./chaos
