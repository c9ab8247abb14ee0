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
// options, ParseJAAS), and SCRAM-SHA-256 and SCRAM-SHA-512 (scram.go). An Exchange is one
// authentication in progress on a connection: the broker's SaslHandshake starts it, each
// SaslAuthenticate is one Step. A failed step says only that authentication failed, in
// Kafka's words (Failure: the client's message, and a reason for the broker's log), not
// whether the user or the password was wrong, and the check takes the same time for unknown
// users.
//
// # SCRAM
//
// RFC 5802 and 7677, as Kafka's ScramSaslServer serves them:
//
//	client-first  n,[a=authzid],n=user,r=cnonce[,ext]   gs2 flag "n" only (no channel binding)
//	server-first  r=cnonce+snonce,s=salt,i=iterations     snonce: 24 bytes of crypto/rand
//	client-final  c=base64(gs2 header),r=nonce[,ext],p=proof
//	server-final  v=ServerSignature
//
// The final nonce must end with cnonce+snonce (CVE-2024-56128; "ends with" as Kafka checks,
// since librdkafka sends its cnonce again before it), the channel binding must be the first
// message's gs2 header, an authzid must be the user. Credentials (ScramCredential: salt, StoredKey, ServerKey, iterations in
// [4096, 16384]; never the password) come from a ScramStore, the replicated metadata: the
// broker passes its cluster. An unknown user is answered like a known one (a salt derived
// from the name with a per-process key, 4096 iterations) and fails at the proof.
//
// Delegation tokens (KIP-48): with the tokenauth=true extension the user name is a token id
// and the password the base64 of the token's HMAC; the credential comes from a TokenStore
// (the broker derives it from the token in the metadata), the principal is the token's
// owner, the session ends when the token expires (SessionLifetime), and TokenAuthenticated
// tells the broker the connection may not manage tokens itself. An unknown, expired or
// removed token fails at the proof, like an unknown user.
// ParseAddScram reads kafka-storage format's --add-scram syntax for logd serve --add-scram.
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
// # OAUTHBEARER
//
// RFC 7628 with Kafka's server-side validation (KIP-768's OAuthBearerValidatorCallbackHandler,
// oauth.go). The client's initial response is n,[a=authzid],\x01auth=Bearer <jwt>\x01[k=v\x01...]\x01
// (other keys are extensions, accepted and ignored). The JWT must be a JWS signed by a key of
// the JWKS at sasl.oauthbearer.jwks.endpoint.url (file://, http://, https://; read at start,
// every sasl.oauthbearer.jwks.endpoint.refresh.ms, and again when a token names a key id it
// lacks, at most every 10 s), with an asymmetric algorithm ("none" and HMAC refused), exp
// and iat present, exp, nbf and iat within sasl.oauthbearer.clock.skew.seconds, one of
// sasl.oauthbearer.expected.audience in aud (an aud with none expected is refused, as
// jose4j does), iss equal to sasl.oauthbearer.expected.issuer if set, and a non-empty
// sasl.oauthbearer.sub.claim.name claim: the principal is User:<that claim>. A refused token
// is answered {"status":"invalid_token"} with no error; the client's \x01 after it gets
// SASL_AUTHENTICATION_FAILED with that JSON as the message, then the connection closes.
//
// The library is go-jose v4 (github.com/go-jose/go-jose/v4): one well-kept module with no
// dependencies of its own that verifies JWS and parses JWKS (golang-jwt plus a JWKS helper
// would be two, and the helpers fetch over HTTP only, where Kafka also reads file://).
//
// # Re-authentication
//
// KIP-368: an authentication lasts SessionLifetime, the smaller of connections.max.reauth.ms
// (ListenerSASL.MaxReauth) and the time an OAUTHBEARER token has left; neither set, it lasts.
// The broker tells it to SaslAuthenticate v1+ clients, closes a connection whose time ran out
// at its next request other than SaslHandshake/SaslAuthenticate, and lets such a client
// re-authenticate on its open connection with the same mechanism and the same principal
// (broker/17_sasl_handshake.go, 36_sasl_authenticate.go).
//
// # What comes next
//
// TLS and SASL between brokers; ACLs add an authorizer that reads the request's principal
// (server.Request.Session).
package auth
