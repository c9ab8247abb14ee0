// Package postgres holds logd Connect's PostgreSQL connectors, configured with the property
// names of their best-known Java counterparts so that existing configs move over unchanged:
//
//   - io.debezium.connector.postgresql.PostgresConnector (alias postgres-cdc): change data
//     capture over logical replication with the pgoutput plugin, emitting Debezium's events.
//   - io.debezium.connector.jdbc.JdbcSinkConnector (alias postgres-sink): writes records (flat
//     or Debezium envelopes) into PostgreSQL tables, upserting by key, deleting on tombstones.
//
// # Change capture
//
// Start makes sure the publication exists (publication.autocreate.mode) and the replication
// slot too. A new slot is created with EXPORT_SNAPSHOT; the initial snapshot reads every
// captured table in one REPEATABLE READ transaction that imported that snapshot, so it shows
// the database exactly at the slot's consistent point, where streaming then starts: no change
// is missed or doubled between snapshot and stream. With a slot that already exists a fresh
// snapshot is taken and the slot streams from its confirmed position (changes in between may
// come twice — at least once, as Debezium).
//
// Events follow Debezium 3.6's format exactly (TestDebeziumOnKafkaConnect compares them with
// Debezium's own for the same changes): topic <topic.prefix>.<schema>.<table>; key a
// struct of the primary key columns named <topic>.Key (none without a primary key); value the
// <topic>.Envelope struct with before, after, source (io.debezium.connector.postgresql.Source:
// version, connector, name, ts_ms, snapshot, db, sequence, ts_us, ts_ns, schema, table, txId,
// lsn, xmin, origin, origin_lsn), transaction, op (r, c, u, d) and ts_ms/ts_us/ts_ns; the
// snapshot reads the tables in the order of the table.include.list entries that select them
// (then by name), as Debezium does; a delete is followed by a
// tombstone when tombstones.on.delete. A REPLICA IDENTITY DEFAULT delete's before image holds
// the key columns; its other NOT NULL columns get the type's zero, as Debezium's fallback
// values, so the struct stays valid for its schema (FULL gives the whole row). Column types map as Debezium's default modes do
// (types.go): numeric as Decimal/VariableScaleDecimal (or double/string per
// decimal.handling.mode), dates and times as io.debezium.time.* per time.precision.mode,
// timestamptz as ZonedTimestamp (with as many fraction digits as the column's precision, 6
// when unspecified, as Debezium), uuid and json as their io.debezium.data names, one-dimensional
// arrays as arrays.
//
// The source partition is {"server": topic.prefix}; the offset is Debezium's: lsn_commit (the
// end of the last transaction fully received before the record), lsn_proc and lsn (the
// change's WAL position), txId and ts_usec; snapshot records carry snapshot and
// last_snapshot_record. The slot's confirmed_flush_lsn moves only in SourceTask.Commit, to a
// position the acknowledged offset proves complete: the record's lsn_commit, or the end of its
// transaction when it was that transaction's last record. After a crash PostgreSQL resends
// from the confirmed position; the task skips transactions committed before the stored
// lsn_commit and, inside the stored transaction, changes up to lsn_proc — duplicates are
// possible only from the last unconfirmed position, as with Debezium. Heartbeats
// (heartbeat.interval.ms, topic __debezium-heartbeat.<prefix>) carry the last complete
// position (or the server's WAL end when idle) so that a slot whose tables see no changes
// still moves. A lost connection (PostgreSQL restarting) is retried for two minutes before
// the task fails.
//
// Schema changes reach the stream as pgoutput Relation messages: the table's schemas are
// rebuilt from the message (types) and the catalog (NOT NULL, primary key) before its next
// change. Truncates are skipped (Debezium's default skipped.operations=t).
//
// # Sink
//
// The JDBC sink parses connection.url (jdbc:postgresql://host:port/db), maps topics to tables
// with table.name.format (${topic}, dots replaced by underscores as Debezium's default naming
// does), and writes each Put's records (batch.size at a time) in one transaction: INSERT, or
// INSERT ... ON CONFLICT DO UPDATE with insert.mode=upsert (idempotent: replaying records
// after a crash converges to the same rows), DELETE for op d and tombstones with
// delete.enabled. With schema.evolution=basic it creates missing tables and adds missing
// columns from the record's schema.
//
// # Dependencies
//
// github.com/jackc/pgx/v5 is the PostgreSQL driver; github.com/jackc/pglogrepl speaks the
// replication protocol (slot commands, CopyBoth streaming, standby status updates) and
// decodes pgoutput's messages. Both are maintained by pgx's author alongside the driver, and
// the pgoutput format and replication sub-protocol have enough corner cases (keepalives,
// tuple kinds, relation caching) that a well-used decoder beats a second hand-written one.
//
// Tests run a throwaway PostgreSQL (package pgtest) and a real `logd serve`. TestEndToEnd
// drives the tasks with a minimal loop (driver_test.go) through a task kill and a PostgreSQL
// restart; TestDistributedWorkerKilled runs both connectors in the real runtime on three
// `logd connect distributed` workers and SIGKILLs the one running the source task.
package postgres
