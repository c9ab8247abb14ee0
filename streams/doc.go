// Package streams is a stream-processing library for Kafka-compatible clusters (logd,
// Apache Kafka, …), in the manner of Kafka Streams: a typed topology of operators over
// topics, run as tasks spread over the threads of every instance sharing an
// application id, with local state backed by changelog topics, windows on event time,
// and exactly-once processing by one option. It is a client library: it speaks to the
// cluster only through franz-go (kgo, kadm) and needs nothing of the broker beyond the
// Kafka protocol.
//
//	b := streams.NewBuilder()
//	lines := streams.From(b, "lines", streams.String(), streams.String())
//	words := streams.FlatMap(lines, splitWords) // func(k, line string) []KeyValue[string, string]
//	counts := streams.GroupByKey(words, streams.Grouped[string, string]{Name: "words",
//		Keys: streams.String(), Values: streams.String()}).Count("counts")
//	counts.ToStream().To("word-counts", streams.String(), streams.Int64())
//	topo, err := b.Build()
//	app, err := streams.New(topo, streams.Config{ApplicationID: "wordcount",
//		Brokers: []string{"127.0.0.1:9092"}, StateDir: "/var/lib/wordcount"})
//	err = app.Run(ctx) // until ctx ends
//
// # The DSL's shape
//
// Go methods cannot take type parameters of their own, so an operator that keeps the
// key and value types is a method (Filter, Peek, Foreach, Branch, Merge, To, Count,
// Reduce, WindowedBy, ToStream) and one that changes a type is a package function
// taking its input first (Map, MapValues, FlatMap, GroupBy, GroupByKey, Aggregate,
// AggregateWindowed, AggregateSessions, AggregateSliding, the joins,
// SuppressUntilWindowClose). Every user
// function gets the key and the value. Serdes are given where records become bytes:
// From, TableFrom, To, Grouped (repartition topic and store keys), and the aggregate
// serde of Aggregate. A mistake while building (a nil function, a store name used
// twice) is kept by the Builder and returned by Build.
//
// # Internal topics (Kafka Streams' names, so operators recognize them)
//
//	<app>-<grouping>-repartition   GroupBy, or GroupByKey after a key change (Map, FlatMap)
//	<app>-<store>-changelog        every store; cleanup.policy=compact, windowed compact,delete
//	                               with retention.ms (see Windows)
//	<app>-<join>-subscription-registration-topic   foreign-key joins (see Joins)
//	<app>-<join>-subscription-response-topic
//
// Run creates them with the sources' partition count N. Every source topic must exist
// with N partitions (a clear error otherwise): a task is a partition number, and task p
// reads partition p of every input, so what is joined or aggregated together must be
// co-partitioned. Sinks must exist too; the library never creates user topics.
//
// # Execution
//
// Each thread is one kgo client: one member of the consumer group named by the
// application id, consuming every input. The group's assignor (protocol
// "logd-streams-task") hands out whole tasks — partition p of every input to one member —
// cooperatively (KIP-429) and stickily, so adding an instance moves only the tasks it
// takes, and a task moving is revoked by its old owner (which commits and closes its
// stores) before its new owner opens and restores them. A task processes its records
// one at a time in offset order per partition. Polls end when a commit is due;
// rebalances wait while a thread processes (kgo.BlockRebalanceOnPoll) and, exactly
// once, while its transaction is open.
//
// # State: pebble, and why
//
// Each store of each task is a pebble database under StateDir/<app>/<task>/<store>.
// pebble (cockroachdb/pebble v1, pure Go, no cgo) over bbolt: an LSM tree writes each
// update once to its WAL and memtable, where bbolt's copy-on-write B+tree rewrites a
// page path per transaction — aggregations update the same keys over and over, which
// suits the LSM; pebble's indexed batches read their own uncommitted writes, which is
// exactly the uncommitted-state buffer below; windowed stores need ordered range scans
// by window start, which both give but pebble does without a write transaction; and the
// cost, a larger binary (a few MB) and background compactions, is acceptable for a
// library linked into services. Local durability is not needed for correctness (the
// changelog is the truth), so applies do not fsync.
//
// Store writes go to a per-store indexed batch (reads see them) and to the changelog
// partition of the task. A commit first makes the writes durable in Kafka, then applies
// the batch locally together with the checkpoint (the changelog offset after the last
// write; exactly once, after the COMMIT marker that follows it) in one atomic pebble
// batch. If a commit fails or a transaction aborts, the
// batch is dropped: the local database never holds a write the changelog might lose,
// so the store is "transactional" and an abort needs no rebuild. On task open, the store
// restores from its checkpoint (a current one: nothing to do) or, if the state
// directory is gone, from the changelog's start, to its end offset (exactly once: the
// last stable offset, read_committed). A task opens in the thread's loop once the
// group's offsets for its partitions were fetched with RequireStable, whether records
// follow or not (a task whose previous owner consumed everything is queried here all the
// same): a transaction its previous owner left open has ended by then, so the last
// stable offset covers it if it committed. Progress goes to Config.OnRestore and the log;
// Metrics.RestoredRecords counts the records.
//
// Windowed stores keep windows under start ‖ key locally (so closing windows is one
// range scan from the oldest). Sliding-window, session and join-buffer stores are read
// by key (a record looks up its key's neighbouring windows), so they keep len(key) ‖
// key ‖ times locally plus an index entry per window under its start (sliding, join
// buffers) or end (session) for closing them in time order. Local times are 8 bytes
// with the sign bit flipped, so negative ones sort before positive ones. The changelogs
// hold Kafka's formats, so Kafka Streams' tools read them: window stores' keys are
// Kafka's WindowKeySchema, key ‖ timestamp ‖ seqnum (8 and 4 bytes, big endian; the
// window start, or a join buffer's record timestamp), seqnum 0 except in the join
// buffers, which retain duplicates as Kafka's do: each record takes the next seqnum
// (persisted beside the checkpoint), so two records of one key and timestamp are two
// entries; session stores' keys are Kafka's session key schema key ‖ end ‖ start.
// Restore rebuilds the local layouts and indexes from them. Changelogs written before
// this format (8-byte window keys without a seqnum) cannot be restored: delete the
// application's changelog topics and state directories when upgrading. Each store's
// stream time (the largest timestamp processed) is kept beside the checkpoint and, on a
// restore from scratch, recomputed as the largest changelog timestamp: every store write
// carries the timestamp of the record that caused it.
//
// # Windows
//
// Tumbling and hopping windows on event time with a grace period: a record is added to
// every window [start, start+size) holding its timestamp that is still open (end +
// grace > stream time); one for no open window is late, dropped and counted in
// Metrics.LateRecordsDropped. Windows close — are emitted once with their final value
// under SuppressUntilWindowClose — when stream time reaches end + grace, and expire when
// it reaches start + retention: size + grace by default, more with WithRetention
// (Kafka's Materialized.withRetention), so that queries can read closed windows. An
// expired window is left out of QueryWindows at once and dropped from the store at its
// next commit, all expired windows in one range deletion (the part of a store sorted
// by start that has expired, as Kafka's segmented stores drop whole segments), without
// tombstones: the changelog's retention.ms (the store's retention plus
// Config.WindowChangelogAdditionalRetention, 24 h by default, Kafka's
// windowstore.changelog.additional.retention.ms) removes them there, and a restore
// drops what it brings back expired. Every windowed store's changelog has a
// retention.ms: sessions gap + grace, sliding windows 2·difference + grace, join
// buffers before + after + grace (Kafka's defaults).
//
// Session windows (WindowedBySession, AggregateSessions) merge a key's records no more
// than the inactivity gap apart into sessions [first, last]; a record bridging two
// sessions merges them (their aggregates combined by the merger, the old sessions
// deleted). A session closes when stream time passes end + gap + grace. Sliding windows
// (WindowedBySliding, AggregateSliding) are Kafka's: [start, start+difference], both
// ends inclusive, one per distinct set of records, computed by Kafka's algorithm
// (KStreamSlidingWindowAggregate) so that out-of-order records within grace give the
// windows in-order ones would; a window closes when stream time passes its end +
// grace, and stays in the store grace + 2·difference after its start, as in Kafka,
// because new windows copy the aggregates of older ones.
//
// # Joins
//
// JoinTable and LeftJoinTable look each stream record up in a table. JoinTables,
// LeftJoinTables and OuterJoinTables join two tables by key into a table kept in a
// store of its own, recomputed on a change of either side; a key leaving the result
// reaches Table.To as a tombstone (ToStream leaves deletions out: a typed stream has
// no null values). JoinStreams,
// LeftJoinStreams and OuterJoinStreams join two streams within JoinWindows (before,
// after, grace) as Kafka's KStream–KStream joins do: each side buffers its records in a
// window store (`<name>-this-join-store`, `<name>-other-join-store`: keyed layout, one
// entry per record under its seqnum, kept before + after + grace) and looks up the
// other's; a pair is emitted by whichever record comes second, timestamped with the
// later. Left and outer joins keep a record that found no partner in a shared store
// (`<name>-left-shared-join-store` or `-outer-shared-join-store`) and emit it alone
// only when stream time passes its window plus grace, and not at all if a partner
// comes first — Kafka 3.1+'s behaviour, without its wall-clock throttle of that check.
// Both sides share the task's join stream time.
//
// JoinForeignKey and LeftJoinForeignKey join a table's rows to another table's rows by
// a foreign key extracted from each row (KIP-213), as Kafka does: a change of a row is
// registered, keyed by its foreign key, in the registration topic (so it reaches the
// other table's partition of that key), with a 128-bit hash of the row and the row's
// partition; there the subscription store `<join>-subscription-store` (key len(fk) ‖ fk
// ‖ primary key) keeps it and answers, through the response topic, to the row's
// partition, with the other table's value — and again on every change of that value.
// The row's partition drops an answer whose hash is not its current row's (stale:
// Metrics.StaleForeignKeyResponses) and otherwise updates the result. A changed foreign
// key unsubscribes the old one (Kafka's instructions DELETE_KEY_NO_PROPAGATE,
// DELETE_KEY_AND_PROPAGATE, PROPAGATE_NULL_IF_NO_FK_VAL_AVAILABLE,
// PROPAGATE_ONLY_IF_FK_VAL_AVAILABLE); the previous foreign key of each row is kept in
// `<join>-subscription-fk-store`, since a table here forwards new values only. The
// internal topics' values are this package's own format (fkjoin.go), not Kafka's
// SubscriptionWrapper, and the hash is FNV-1a rather than Murmur3: a Kafka Streams
// application cannot read or share them (making them Kafka's is not built yet).
//
// # Processor API and punctuation
//
// Process runs a stream through a Processor per task (Init when the task opens,
// Process per record, Close when it closes). Its ProcessorContext forwards records
// (Forward, ForwardAt), tells the record's topic, partition and offset (Metadata), the
// task and its stream time, and schedules punctuations: StreamTime ones run after a
// record takes the task's stream time past their next multiple of the interval (the
// first at the task's first record), WallClockTime ones from the thread's loop, whose
// poll wakes for them; a jump over several intervals runs once, Cancel stops one.
// Exactly once, punctuations run inside the thread's transaction. Key-value stores for
// processors (AddKeyValueStore: Get, Put, Delete, Range) are stores like the DSL's,
// changelogged and restored. A task's stream time starts afresh when it opens (Kafka
// keeps it in the committed offset's metadata); StreamTime punctuations wait for the
// task's first record since it opened.
//
// # Standby replicas
//
// With Config.StandbyReplicas = R, the assignor also gives each task to R other members
// as a standby, in the assignment's user data: stickily — each member announces the
// standby tasks it holds in its subscription, and a task's standby stays on a member
// that has its state (its standby so far, or its previous active owner) while that
// member holds fewer than ⌈N·R / members⌉ standbys — then to the least loaded. A thread's standby
// goroutine opens those tasks' stores in the usual directories, restores them, then
// follows their changelog partitions with a consumer of its own (read_committed
// exactly once), applying each fetch with its checkpoint. When a task becomes active
// on a member that kept it as a standby, the standby closes it first and the active
// task restores only from the standby's checkpoint; when it leaves, the standby takes
// it up again. Metrics.StandbyRecords counts the records applied.
//
// # Interactive queries
//
// QueryKey, QueryRange and QueryWindows read the stores of the tasks open on this
// instance as of their last commit (pebble reads beside the thread's writes; the
// uncommitted batch is not visible). A key's task is its partition under Kafka's
// default partitioner, as for its records; a key whose task is elsewhere gets
// ErrNotLocal. Locate says where a key's task runs: each member announces its
// Config.Endpoint in its subscription's user data, and Locate reads the group's
// members and assignments with DescribeGroups, so any instance (or any Kafka client)
// can route a query. QueryServer serves them over HTTP as JSON (key, range and window
// queries; ServeKeyValueStore, ServeWindowStore register a store with its serdes and
// a key parser): each instance listens on its Endpoint, answers for its own tasks'
// keys, forwards a query for another key to the instance Locate names, and gathers a
// range from every member's endpoint.
//
// # Processing guarantees
//
// AtLeastOnce (default): a commit flushes the producer, commits the input offsets and
// applies the stores; after a crash, what was processed since the last commit is
// processed again and its outputs repeat.
//
// ExactlyOnceV2 (Kafka's exactly_once_v2, KIP-447): one transactional producer per
// thread (transactional id `<app>-<instance>-<thread>`) through kgo's
// GroupTransactSession; outputs, repartition and changelog writes and the input offsets
// (TxnOffsetCommit with the group's generation) commit in one transaction every
// CommitInterval (100 ms by default); consumers read read_committed. A rebalance or a
// failed commit aborts the transaction: kgo rewinds the thread's partitions to the
// committed offsets and the tasks drop their uncommitted store writes, so the records
// are processed again against the state as of the last commit. A zombie thread is
// fenced by its producer epoch (same instance id) and by the group generation on its
// offset commit (any instance id).
//
// # Metrics
//
// Metrics counts records processed, late records dropped, records restored, commits and
// aborts, keeps the input lag (end offset minus the next offset to fetch, summed over
// the partitions consumed here, as of each one's last fetch) and a histogram of the time
// a record takes through the topology; Metrics.Collectors exports them to a Prometheus
// registry as logd_streams_*_total, logd_streams_records_lag and
// logd_streams_process_latency_seconds, labelled application="…".
//
// # Tests against Apache Kafka
//
// The package's tests talk to whatever broker they are given: `logd serve` by default,
// $STREAMS_BROKERS if set, and with the compat build tag an Apache Kafka 4.3.1 broker
// (KRaft) started from tools/kafka/lib by bench.StartKafka. `make streams-kafka` (run by
// `make compat`) runs them so, without the kill -9 scenarios (the library's crash
// handling, not the broker's) and TestForeignKeyJoin (300 synchronous produces: about
// five minutes against Kafka on two loaded cores; it passes there, run it by hand with
// -run). Test records carry timestamps near now: Kafka deletes changelog records older
// than the topic's retention.ms, even in the active segment.
//
// # Not yet
//
// Purging consumed repartition records is a later increment. A restore runs in the
// thread's loop when a task opens, so the thread's other tasks wait for it (Kafka Streams restores beside processing).
package streams
