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
// the built-in ones live in sub-packages (connect/postgres: change capture and the JDBC sink).
package connect
