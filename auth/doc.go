// Package auth is the security of logd's listeners: TLS configuration from Kafka's ssl.*
// settings (PEM keystores and truststores, client authentication, protocol and cipher
// choices, certificate reload) and principals, Kafka's "User:name" identities of a
// connection.
//
// # Principals
//
// Every connection has a principal, carried on each request (server.Request.Principal) so
// the broker's handlers, and the authorizer that will read it, need no other source:
//
//	listener protocol   principal
//	PLAINTEXT           User:ANONYMOUS
//	SSL                 User:<the client certificate's subject, mapped by
//	                    ssl.principal.mapping.rules>, or User:ANONYMOUS without one
//	SASL_PLAINTEXT,     User:<the SASL user>, once SaslAuthenticate succeeded; before
//	SASL_SSL            that, only ApiVersions, SaslHandshake and SaslAuthenticate are
//	                    admitted, in frames of at most 512 KiB (server.Session)
//
// # SASL
//
// SASL (sasl.go) serves PLAIN (RFC 4616) with users from the listener's
// listener.name.<name>.plain.sasl.jaas.config (PlainLoginModule's user_NAME="password"
// options, ParseJAAS). An Exchange is one authentication in progress on a connection: the
// broker's SaslHandshake starts it, each SaslAuthenticate is one Step. A failed step says
// only that authentication failed (not whether the user or the password was wrong), and the
// password check takes the same time for unknown users.
//
// ssl.principal.mapping.rules is Kafka's syntax (SslPrincipalMapper): a comma-separated list
// of DEFAULT (the subject as it is, RFC 2253: "CN=alice,OU=eng,O=corp") and
// RULE:pattern/replacement/[LU] (the first rule whose pattern matches the whole subject
// gives the replacement, $1... its groups, lower- or upper-cased with L or U). A subject no
// rule matches fails the handshake, as in Kafka. One divergence: a pattern that can match
// the empty string is replaced once, where Java's replaceAll also replaces the empty match
// at the end.
//
// # Certificate reload
//
// The keystore and truststore files are checked on a handshake at most once every
// ReloadCheck (5 s): when a file's modification time or size changed, both are read again
// and new handshakes use them; established connections keep theirs. A file that does not
// parse is logged and the previous certificates stay in use. No restart, no signal.
//
// # What comes next
//
// SCRAM-SHA-256/512 (credentials in the metadata quorum) is the next mechanism, a multi-step
// Exchange; ACLs add an authorizer that reads the request's principal
// (server.Request.Session). Neither is here yet.
package auth
