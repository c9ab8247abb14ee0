// Package connect is logd's Kafka Connect: a worker that runs source and sink connectors
// against a Kafka cluster (logd or any other), configured with Kafka Connect's property names
// and driven over Kafka Connect's REST API, so existing connector configs and tooling move over
// unchanged. `logd connect standalone` and `logd connect distributed` run it.
//
// The connector contract (this file's siblings connector.go and schema.go) is small on
// purpose: a Connector splits its configuration into task configurations; a SourceTask polls
// records and is told which of them the cluster acknowledged and whose offsets were stored; a
// SinkTask is given records and flushes them before their offsets are committed. Values carry
// an optional Schema the way Kafka Connect's Schema/Struct do, so converters (JSON with and
// without schemas, string, bytes) render what Java Connect would, and Debezium's event
// envelope comes out byte-compatible for its consumers.
//
// Connectors register themselves (Register) under their Java class names and short aliases;
// the built-in ones live in sub-packages (connect/file: FileStreamSource/FileStreamSink;
// connect/postgres: change capture and the JDBC sink; connect/httpsink: Confluent's HTTP sink's
// properties, batches POSTed as JSON arrays with retries and back-off).
//
// # The runtime
//
//	source task: Poll → transforms → key/value converters → kgo (idempotent, acks=all)
//	             acknowledged prefix, every offset.flush.interval.ms and at stop → offset store
//	             → SourceTask.Commit (exactly once: records + offsets in one transaction)
//	sink task:   group connect-<name> → converters → transforms → Put
//	             every offset.flush.interval.ms, before a revocation and at stop → Flush → commit
//	             (the task's context is done once it is being stopped: a task retrying gives up)
//
// A Herder runs connectors and tasks on one worker and serves the REST API (rest.go: Java's
// paths, status codes and bodies; compat/connect_logd_test.go compares them with Java's).
// Standalone mode (StartStandalone) keeps connector configs in memory and source offsets in
// offset.storage.file.filename, in this runtime's own format: a JSON object from the
// offsets-topic key (["<connector>",{partition}]) to the offset, replaced atomically; Java's
// file (a serialized HashMap) is not read. Distributed mode (StartDistributed, distributed.go)
// keeps configs, offsets and statuses in the three compacted topics in Kafka Connect's record
// formats and forms a group of protocol type "connect" with the eager "default" protocol
// (protocol.go); the leader assigns the connectors, then the tasks, round robin over the
// workers; tasks run with the task configurations of the config topic. A running connector's
// RequestTaskReconfiguration makes its worker recompute the task configurations and hand
// them to the leader (Java's internal POST /connectors/{name}/tasks when the leader is another
// worker), which writes them to the config topic.
//
// Exactly-once sources (KIP-618, source_eos.go): on a distributed worker with
// exactly.once.source.support=enabled, each source task has its own transactional producer
// (transactional id <group.id>-<connector>-<task>), initialized before the task starts — which
// fences the task's earlier instances and aborts their open transaction — after which the
// offsets topic is read to its end (read_committed: the offsets log then skips aborted
// records). The task's records and their source offsets are written in one transaction,
// committed at the connector's transaction.boundary (poll: every poll that returned records;
// interval: every transaction.boundary.interval.ms, default offset.flush.interval.ms), and
// SourceTask.Commit runs after the commit. transaction.boundary=connector is refused (no
// connector defines boundaries); exactly.once.support=required needs a connector implementing
// ExactlyOnceSourceConnector (FileStreamSource does). Before a source task starts, the
// leader runs the connector's round of zombie fencing (Java's fenceZombieSourceTasks; a
// worker that is not the leader asks it with Java's internal PUT /connectors/{name}/fence,
// retrying until it succeeds): when task configs were committed after the connector's last
// task count record (config topic, tasks-fencing-<name> {"task-count":n}), the producers of
// the n tasks of the previous generation are fenced — also those of task indices the new
// generation dropped — and a record with the new task count is written; then the task
// starts. PUT /fence from an operator also fences the current generation's producers.
// "preparing" is accepted and runs tasks at least once.
//
// Converters (convert.go, jsonconv.go): JsonConverter byte for byte as Java's (schemas
// enabled or not, logical types, Debezium's names; testdata/jsonconverter.tsv holds Java's
// output), StringConverter, ByteArrayConverter. Transforms (transforms.go): InsertField,
// ReplaceField, ExtractField, ValueToKey, RegexRouter, TimestampRouter, Filter with the
// predicates TopicNameMatches, RecordIsTombstone, HasHeaderKey. Errors (pipeline.go):
// errors.tolerance=all skips records that fail conversion or a transform, logs them with
// errors.log.enable and, for sinks, writes them to errors.deadletterqueue.topic.name with
// Kafka Connect's __connect.errors.* headers.
//
// # Locks
//
// Herder.opMu (serializes connector changes, held while tasks start and stop) → Herder.mu
// (connector state; never held while calling a connector or task). Task goroutines take only
// Herder.mu. sinkRun.mu (a sink task's Put/Flush and uncommitted offsets) → sinkRun.amu
// (its assignment). Distributed.mu guards the config and status snapshots and the
// membership fields and is never held while calling the inner Herder or the network. The
// offset stores' and the topic logs' mutexes are leaves.
package connect
