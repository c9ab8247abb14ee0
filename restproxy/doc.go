// Package restproxy serves Confluent REST Proxy's v3 API over HTTP, so devices and scripts that
// cannot speak the Kafka protocol produce and inspect logd with the requests, JSON shapes and
// error codes of Confluent's REST Proxy (and of Confluent Cloud's Kafka REST API, which shares
// them): clusters, brokers, topics (list, create, delete), partitions, topic configs (list,
// get, set, reset, batch alter), records (produce one record per request, or many in one
// streaming request of concatenated JSON answered by one delivery report per record, in
// order), consumer groups, their consumers, lags and lag summary, ACLs (search by filter,
// create, delete by filter: acls.go), SCRAM users, a partition's offset of a time, resetting an empty group's offsets,
// transactions and share groups (logd extensions: scram.go, reset.go, txns.go) — and the v2
// consumer
// instances under /consumers/ (create, subscribe or assign, read records as binary or JSON with
// timeout and max_bytes, seek, commit, committed offsets, delete; an idle instance is closed
// after 5 minutes, Confluent's consumer.instance.timeout.ms).
//
// The proxy is a Kafka client of the broker it runs beside (franz-go's kgo and kadm against
// the broker's own client listener), so in a cluster it reaches every partition's leader as
// any client would, and everything it does passes the same handlers, limits and logs as a
// client's request. `logd serve --http HOST:PORT` mounts it under /v3/ next to /metrics.
//
// With Config.Mechanism (a SASL listener) the proxy has no identity of its own: it acts as
// its HTTP users (users.go). A request's HTTP Basic credentials become the SASL PLAIN or SCRAM
// credentials of a client of that user's own, authenticated before the request runs (a
// refusal is 401/40101; none given is 401 with a Basic challenge, without it for scripts that
// send X-Requested-With, as the console does), so the broker's ACLs decide (403/40301). The
// clients are cached by user (at most Config.MaxUsers, least recently used idle one evicted,
// closed after Config.UserIdle unused); a v2 consumer instance dials as the user who created
// it and is invisible (404) to anyone else. Config.TLS dials the broker over TLS.
//
// Left out, with the reason: Schema Registry formats (AVRO, JSONSCHEMA, PROTOBUF: logd has no
// schema registry; such records are answered 400), the partition reassignment resources
// (not built yet: `logd` and Kafka's tools reassign), and v2's produce and metadata endpoints (v3 has them). A v2
// instance returns records it polled in order; what it polled beyond max_bytes waits for the
// next read, and it commits what it returned (auto.commit.enable: every 5 s and when it
// closes), never what it only polled.
//
// testdata/curl holds requests of Confluent's documentation as curl scripts; TestCurlScripts
// runs them with the real curl against a live broker and checks the answers' shapes.
//
// Errors are answered as Confluent's v3 mappers do: {"error_code": N, "message": "..."} with
// the HTTP status in N for request problems, and Kafka errors mapped as KafkaExceptionMapper
// maps them (unknown topic → 404/40403, topic exists or a bad replication factor → 400/40002,
// authorization → 403/40301, retriable → 500/50003, other Kafka errors → 500/50002).
package restproxy
