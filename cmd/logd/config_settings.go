package main

import (
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
)

// keyInfo is what DescribeConfigs shows of a configKey besides its value: the value when
// nothing sets it (logd's default, which is Kafka's unless the doc says otherwise), the Kafka
// config type, the documentation string and whether the value is secret. configKeys is the
// table serve parses with; keyInfos annotates it by name (TestKeyInfoCoversEveryKey keeps the
// two in step and checks every default parses to the embedded defaults).
type keyInfo struct {
	def       string
	typ       kmsg.ConfigType
	doc       string
	sensitive bool
}

var keyInfos = map[string]keyInfo{
	"node.id":                                   {"1", kmsg.ConfigTypeInt, "this node's id in the cluster (broker and metadata-quorum voter)", false},
	"log.dirs":                                  {"data", kmsg.ConfigTypeString, "the directories of the partition logs, comma-separated (several: JBOD, new partitions go to the one with the fewest); the first also holds the metadata log", false},
	"log.dir":                                   {"", kmsg.ConfigTypeString, "Kafka's single-directory form of log.dirs, used when log.dirs is not set", false},
	"security.inter.broker.protocol":            {"", kmsg.ConfigTypeString, "the security protocol brokers use with each other when inter.broker.listener.name is not set", false},
	"sasl.mechanism.inter.broker.protocol":      {"", kmsg.ConfigTypeString, "the SASL mechanism brokers authenticate to each other with (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER; default PLAIN)", false},
	"sasl.mechanism.controller.protocol":        {"", kmsg.ConfigTypeString, "the SASL mechanism the metadata quorum's voters authenticate to each other with on a SASL controller listener (PLAIN or OAUTHBEARER; default PLAIN)", false},
	"logd.http.listener":                        {"", kmsg.ConfigTypeString, "the listener the REST proxy and console reach the broker through (default: the first SASL listener, else the first PLAINTEXT one)", false},
	"logd.http.sasl.mechanism":                  {"", kmsg.ConfigTypeString, "the SASL mechanism the REST proxy passes its HTTP users' credentials on with (default: the strongest the listener enables)", false},
	"listeners":                                 {"127.0.0.1:9092", kmsg.ConfigTypeString, "the addresses to listen on: NAME://host:port, comma-separated", false},
	"advertised.listeners":                      {"", kmsg.ConfigTypeString, "the addresses clients are told to connect to, per listener (default: the listeners)", false},
	"listener.security.protocol.map":            {"", kmsg.ConfigTypeString, "the security protocol of each listener name (default: Kafka's PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL names)", false},
	"inter.broker.listener.name":                {"", kmsg.ConfigTypeString, "the listener brokers replicate over (default PLAINTEXT, else the first)", false},
	"controller.listener.names":                 {"", kmsg.ConfigTypeString, "the listener names of the metadata quorum's controller listener", false},
	"logd.http":                                 {"", kmsg.ConfigTypeString, "HOST:PORT of the HTTP server (Prometheus /metrics, health, REST proxy, console); empty: off", false},
	"logd.http.read.only":                       {"false", kmsg.ConfigTypeBoolean, "the REST proxy and console change nothing", false},
	"controller.quorum.voters":                  {"", kmsg.ConfigTypeList, "the metadata quorum's voters: id@host:port, comma-separated; empty: this node alone", false},
	"controller.quorum.bootstrap.servers":       {"", kmsg.ConfigTypeList, "Kafka listener addresses (host:port) of brokers of an existing cluster this node joins as an observer of its metadata quorum (then AddRaftVoter makes it a voter)", false},
	"logd.controller.listen":                    {"", kmsg.ConfigTypeString, "HOST:PORT of the metadata quorum's Raft transport (default: this node's address in the voter list)", false},
	"broker.session.timeout.ms":                 {"", kmsg.ConfigTypeInt, "a broker that has not heartbeated to the controller for this long is fenced (default 9000)", false},
	"replica.lag.time.max.ms":                   {"", kmsg.ConfigTypeLong, "a follower that has not caught up for this long leaves the ISR (default 30000)", false},
	"telemetry.max.bytes":                       {"", kmsg.ConfigTypeInt, "the largest client telemetry push (KIP-714 PushTelemetry) accepted (default 1048576)", false},
	"default.replication.factor":                {"", kmsg.ConfigTypeInt, "replication factor of topics created without one (default min(3, voters))", false},
	"logd.fsync.acks.all":                       {"true", kmsg.ConfigTypeBoolean, "acks=all produce requests wait for an fsync of their batches", false},
	"logd.replica.fsync":                        {"false", kmsg.ConfigTypeBoolean, "a follower fsyncs what it replicated before its next fetch acknowledges it, so acks=all waits for every in-sync replica's disk", false},
	"transaction.partition.verification.enable": {"true", kmsg.ConfigTypeBoolean, "a transaction's first batch on a partition is appended only once its coordinator confirms the partition is in it", false},
	"logd.transaction.version":                  {"2", kmsg.ConfigTypeShort, "bootstrap level of the transaction.version feature until UpdateFeatures finalizes one", false},
	"group.share.session.timeout.ms":            {"45000", kmsg.ConfigTypeInt, "a share group member without a heartbeat for this long is removed", false},
	"group.share.heartbeat.interval.ms":         {"5000", kmsg.ConfigTypeInt, "the heartbeat interval share group members are told", false},
	"group.share.record.lock.duration.ms":       {"30000", kmsg.ConfigTypeInt, "how long a share consumer holds a delivered record before it is redelivered", false},
	"group.share.delivery.count.limit":          {"5", kmsg.ConfigTypeInt, "deliveries of a record before it is archived as poison", false},
	"group.share.partition.max.record.locks":    {"2000", kmsg.ConfigTypeInt, "records of one share partition delivered and not acknowledged at most", false},
	"group.share.max.size":                      {"200", kmsg.ConfigTypeInt, "members of one share group at most", false},
	"group.share.max.share.sessions":            {"2000", kmsg.ConfigTypeInt, "share sessions a broker keeps at most", false},
	"logd.share.auto.offset.reset":              {"latest", kmsg.ConfigTypeString, "where a share group starts on a partition: latest or earliest", false},
	"logd.share.isolation.level":                {"read_uncommitted", kmsg.ConfigTypeString, "read_uncommitted or read_committed, for every share group", false},
	"authorizer.class.name":                     {"", kmsg.ConfigTypeString, "the authorizer: Kafka's StandardAuthorizer (ACLs in the metadata quorum) or empty for none", false},
	"super.users":                               {"", kmsg.ConfigTypeList, "principals allowed everything: User:name;User:other", false},
	"allow.everyone.if.no.acl.found":            {"false", kmsg.ConfigTypeBoolean, "a resource without ACLs is open to every principal", false},
	"quota.window.num":                          {"11", kmsg.ConfigTypeInt, "the number of windows every rate quota (byte rates, request_percentage, controller_mutation_rate, connection_creation_rate) is measured over", false},
	"quota.window.size.seconds":                 {"1", kmsg.ConfigTypeInt, "the length of one quota window in seconds", false},
	"max.connections":                           {"2147483647", kmsg.ConfigTypeInt, "open connections of the broker over all its listeners; beyond it new ones are closed at accept (the inter-broker listener is exempt when there are others)", false},
	"max.connections.per.ip":                    {"2147483647", kmsg.ConfigTypeInt, "open connections from one IP address; beyond it new ones are closed at accept", false},
	"max.connections.per.ip.overrides":          {"", kmsg.ConfigTypeString, "per host or IP limits instead of max.connections.per.ip: host:count, comma-separated", false},
	"auto.create.topics.enable":                 {"true", kmsg.ConfigTypeBoolean, "create unknown topics named in Metadata requests", false},
	"num.partitions":                            {"1", kmsg.ConfigTypeInt, "partition count of topics created without one", false},
	"log.retention.hours":                       {"168", kmsg.ConfigTypeInt, "default retention.ms in hours (log.retention.ms wins)", false},
	"log.retention.ms":                          {"604800000", kmsg.ConfigTypeLong, "default retention.ms: delete segments older than this; -1 keeps them", false},
	"log.retention.bytes":                       {"-1", kmsg.ConfigTypeLong, "default retention.bytes: delete oldest segments beyond this size; -1 for no limit", false},
	"log.segment.bytes":                         {"1073741824", kmsg.ConfigTypeInt, "default segment.bytes: roll a new segment at this size", false},
	"log.roll.hours":                            {"168", kmsg.ConfigTypeInt, "default segment.ms in hours (log.roll.ms wins)", false},
	"log.roll.ms":                               {"604800000", kmsg.ConfigTypeLong, "default segment.ms: roll a new segment after this long", false},
	"message.max.bytes":                         {"1048588", kmsg.ConfigTypeInt, "default max.message.bytes: largest record batch accepted", false},
	"log.index.interval.bytes":                  {"4096", kmsg.ConfigTypeInt, "default index.interval.bytes: log bytes between offset index entries", false},
	"log.flush.interval.messages":               {"9223372036854775807", kmsg.ConfigTypeLong, "default flush.messages: fsync after this many messages", false},
	"log.flush.interval.ms":                     {"9223372036854775807", kmsg.ConfigTypeLong, "default flush.ms: fsync data older than this", false},
	"log.cleanup.policy":                        {"delete", kmsg.ConfigTypeList, "default cleanup.policy: delete, compact or compact,delete", false},
	"log.cleaner.min.cleanable.ratio":           {"0.5", kmsg.ConfigTypeDouble, "default min.cleanable.dirty.ratio: compact once this share of the log is dirty", false},
	"log.cleaner.min.compaction.lag.ms":         {"0", kmsg.ConfigTypeLong, "default min.compaction.lag.ms: never compact records younger than this", false},
	"log.cleaner.max.compaction.lag.ms":         {"9223372036854775807", kmsg.ConfigTypeLong, "default max.compaction.lag.ms: compact records older than this whatever the dirty ratio", false},
	"log.cleaner.delete.retention.ms":           {"86400000", kmsg.ConfigTypeLong, "default delete.retention.ms: keep tombstones this long", false},
	"log.cleaner.enable":                        {"true", kmsg.ConfigTypeBoolean, "run the log cleaner (compaction)", false},
	"log.cleaner.threads":                       {"1", kmsg.ConfigTypeInt, "log cleaner threads", false},
	"log.cleaner.dedupe.buffer.size":            {"134217728", kmsg.ConfigTypeLong, "memory of the cleaner's key map across its threads", false},
	"log.cleaner.backoff.ms":                    {"15000", kmsg.ConfigTypeLong, "the cleaner's sleep when no log needs cleaning", false},
	"log.cleaner.io.max.bytes.per.second":       {"3.3554432e+07", kmsg.ConfigTypeDouble, "the cleaner's read plus write rate limit (logd's default 32 MiB/s; Kafka's is unlimited)", false},
	"ssl.keystore.type":                         {"", kmsg.ConfigTypeString, "the keystore's format: PKCS12, JKS or PEM", false},
	"ssl.keystore.location":                     {"", kmsg.ConfigTypeString, "the SSL listeners' keystore file (reloaded when it changes)", false},
	"ssl.keystore.certificate.chain":            {"", kmsg.ConfigTypePassword, "the certificate chain, PEM, in place of a keystore file", true},
	"ssl.keystore.key":                          {"", kmsg.ConfigTypePassword, "the private key, PEM, in place of a keystore file", true},
	"ssl.key.password":                          {"", kmsg.ConfigTypePassword, "the password of the private key (or keystore)", true},
	"ssl.truststore.type":                       {"", kmsg.ConfigTypeString, "the truststore's format: PKCS12, JKS or PEM", false},
	"ssl.truststore.location":                   {"", kmsg.ConfigTypeString, "the truststore file of client certificates' issuers", false},
	"ssl.truststore.certificates":               {"", kmsg.ConfigTypePassword, "trusted certificates, PEM, in place of a truststore file", true},
	"ssl.client.auth":                           {"", kmsg.ConfigTypeString, "client certificates: required, requested or none (default none)", false},
	"ssl.enabled.protocols":                     {"", kmsg.ConfigTypeList, "TLS versions accepted (default TLSv1.2,TLSv1.3)", false},
	"ssl.cipher.suites":                         {"", kmsg.ConfigTypeList, "cipher suites accepted (default Go's)", false},
	"ssl.principal.mapping.rules":               {"", kmsg.ConfigTypeString, "rules mapping a client certificate's subject to a principal (default DEFAULT)", false},
	"sasl.enabled.mechanisms":                   {"", kmsg.ConfigTypeList, "SASL mechanisms of the SASL listeners (default PLAIN)", false},
	"connections.max.reauth.ms":                 {"0", kmsg.ConfigTypeLong, "SASL sessions must re-authenticate within this (KIP-368); 0: never", false},
	"sasl.oauthbearer.jwks.endpoint.url":        {"", kmsg.ConfigTypeString, "where OAUTHBEARER token signing keys are fetched: file://, http:// or https://", false},
	"sasl.oauthbearer.token.endpoint.url":       {"", kmsg.ConfigTypeString, "the file (file://) this broker reads its own OAUTHBEARER token from, at each inter-broker login", false},
	"sasl.oauthbearer.jwks.endpoint.refresh.ms": {"", kmsg.ConfigTypeLong, "how often the signing keys are fetched again (default 3600000)", false},
	"sasl.oauthbearer.expected.audience":        {"", kmsg.ConfigTypeList, "audiences a token must name one of; empty: not checked", false},
	"sasl.oauthbearer.expected.issuer":          {"", kmsg.ConfigTypeString, "the issuer a token must name; empty: not checked", false},
	"sasl.oauthbearer.sub.claim.name":           {"", kmsg.ConfigTypeString, "the claim naming the principal (default sub)", false},
	"sasl.oauthbearer.clock.skew.seconds":       {"30", kmsg.ConfigTypeInt, "clock skew allowed when checking a token's times", false},
	"delegation.token.secret.key":               {"", kmsg.ConfigTypePassword, "the HMAC key of delegation tokens, the same on every node; empty: delegation tokens are disabled", true},
	"delegation.token.max.lifetime.ms":          {"", kmsg.ConfigTypeLong, "no delegation token lives longer, renewed or not (default 604800000)", false},
	"delegation.token.expiry.time.ms":           {"", kmsg.ConfigTypeLong, "a delegation token expires this long after its creation or last renewal (default 86400000)", false},
	"delegation.token.expiry.check.interval.ms": {"", kmsg.ConfigTypeLong, "how often the controller removes expired delegation tokens (default 3600000)", false},

	// AlterReplicaLogDirs (engine/move.go).
	"replica.alter.log.dirs.io.max.bytes.per.second": {"9223372036854775807", kmsg.ConfigTypeLong, "the copy rate of partitions moving between log directories (AlterReplicaLogDirs)", false},
}

// brokerSettings are the settings DescribeConfigs on this broker lists: every configKey with
// the value the configuration gave it (given), and the listener.name.* settings given.
// Values of JAAS configs are hidden, as Kafka hides them.
func brokerSettings(given map[string]string) []broker.Setting {
	out := make([]broker.Setting, 0, len(configKeys)+len(given))
	for _, k := range configKeys {
		info := keyInfos[k.name]
		v, set := given[k.name]
		out = append(out, broker.Setting{Name: k.name, Value: v, Set: set, Default: info.def, Doc: info.doc, Type: info.typ,
			Sensitive: info.sensitive})
	}
	for _, name := range slices.Sorted(maps.Keys(given)) {
		if keyIndex[name] == nil && listenerKey.MatchString(name) {
			out = append(out, broker.Setting{Name: name, Value: given[name], Set: true, Doc: "a per-listener setting (listener.name.<listener>.<setting>)",
				Sensitive: strings.HasSuffix(name, "jaas.config")})
		}
	}
	return out
}
