// Package quota enforces Kafka's quotas (KIP-13, KIP-55, KIP-124, KIP-599, KIP-612): produce
// and fetch byte rates, request time and controller mutation rates per user, client id, or
// (user, client id), with defaults, as Kafka's ClientQuotaManager,
// ClientRequestQuotaManager and ControllerMutationQuotaManager do; and the connection limits
// and per-IP connection rates of Kafka's ConnectionQuotas (connections.go).
//
// # Which quota applies
//
// The quotas come from the cluster metadata (metadata.ClientQuota, set with
// AlterClientQuotas: kafka-configs --entity-type users|clients|ips). For a request of user u
// (the principal's name) and client id c the first quota set among these applies (Kafka's
// DefaultQuotaCallback order), and its entity decides who shares the rate:
//
//  1. user=u, client-id=c          4. user=<default>, client-id=c        7. client-id=c
//  2. user=u, client-id=<default>  5. user=<default>, client-id=<default> 8. client-id=<default>
//  3. user=u                       6. user=<default>
//
// Each key (producer_byte_rate, consumer_byte_rate, request_percentage,
// controller_mutation_rate) is looked up on its own along that order. A quota of a user
// entity (1-6) is measured per user (with the client id too when the entity has one); a
// default user quota gives every user its own rate, not a shared one.
//
// # Windows, rate and throttle time
//
// Every rate quota is measured over quota.window.num windows (Config.Samples, default 11) of
// quota.window.size.seconds each (Config.Window, default 1 s): a sensor measures sum /
// elapsed, where elapsed is the time since the oldest window began, but at least Samples-1
// windows (Kafka's Rate: a new sensor does not see a short burst as a huge rate). A request
// that takes the rate over the quota Q is answered with throttle (rate - Q) / Q × elapsed
// (QuotaUtils.throttleTime), in its throttle_time_ms, and its connection is muted that long
// (server.Response.MuteFor): respond, then throttle (KIP-219). What it used counts either way.
//
// # Byte rates
//
// producer_byte_rate counts a Produce request's bytes, consumer_byte_rate a consumer Fetch
// response's record bytes (a follower's fetch is never throttled).
//
// # Request time (request_percentage)
//
// Kafka charges a client the time its requests hold a request-handler thread and a network
// thread, in percent of one thread per second: request_percentage=50 is half a thread. logd
// has neither pool: gnet event loops frame requests and a shared pool of worker goroutines
// runs the handlers, and a request that waits (a long poll, a group commit, a rebalance, a
// controller round trip) parks without a goroutine (net/server/doc.go). So logd charges a
// request its handler time: the wall time from the broker starting to handle it on a worker
// to its handler returning or parking, the span a worker is busy with it (its wait for its
// connection's turn included; time parked not). It is wall time, not CPU time: a worker
// descheduled by a loaded machine is charged too, as Kafka's thread time is. Framing on the
// event loop and the writer's send are not charged (Kafka's network thread time is). The
// throttle is capped at one window (ClientRequestQuotaManager's maxThrottleTimeMs). Exempt,
// as in Kafka: SASL handshakes and authentication, a follower's Fetch, acks=0 Produce (no
// response), and the brokers' own requests to the controller and WriteTxnMarkers.
//
// # Controller mutations (controller_mutation_rate)
//
// CreateTopics, CreatePartitions and DeleteTopics take one token per partition created or
// deleted from a token bucket per entity (Kafka's TokenBucket): it refills at Q per second up
// to a burst of Q × Samples × Window seconds, and starts full. At the versions that know
// THROTTLING_QUOTA_EXCEEDED (CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+) the
// quota is strict: a topic asked while the bucket is below zero fails with that error and
// the response's throttle_time_ms is the time to refill it to zero, -tokens / Q; a topic
// asked while it is not is done even if it takes the bucket below zero. Older versions are
// permissive: every topic is done, and the response is throttled (and the connection muted)
// by the time to refill to zero. Each broker keeps its own buckets (Kafka's active
// controller keeps them): a client spreading its requests over brokers gets each one's rate.
//
// # Connections (connections.go)
//
// Connections is the broker's: one instance admits the connections of every listener.
// max.connections.per.ip (and its .overrides, host names resolved at start),
// max.connections (the inter-broker listener exempt when there are others, as Kafka's
// protectedListener) and listener.name.<l>.max.connections are counts of open connections;
// connection_creation_rate of an IP entity (or the default IP entity) is a rate of
// connections accepted from that IP. A connection over one of them is closed at accept and
// counted (server.Stats.QuotaRefused, logd_network_connections_quota_refused_total), where
// Kafka's acceptor waits for a slot under max.connections and delays closing a
// rate-throttled one by its throttle time: gnet accepts on its event loop, which must not
// wait.
//
// # Bounds and locks
//
// Sensors idle for a whole window span are dropped once there are more than maxSensors,
// per Manager and per Connections. Lock order: LOCK_ORDER.md (quota).
package quota
