// Package kwire is logd's one Kafka wire client: the follower fetcher, the controller RPCs,
// the benchmark suite and the load generator all speak to brokers through it. Requests and
// responses are franz-go's kmsg types; this package only frames them, matches responses to
// requests by correlation id and bounds what it reads.
//
//	request:  size int32 | api key int16 | api version int16 | correlation id int32 |
//	          client id (int16 length + bytes) | [tagged fields, flexible versions] | body
//	response: size int32 | correlation id int32 | [tagged fields: flexible versions except
//	          ApiVersions, whose response header stays v0] | body
//
// Two ways to use a Conn:
//
//   - Request: one round trip, bounded by its context. Any failure (I/O, a cancelled
//     context, a malformed or unmatched response) breaks the Conn for good: Err says why,
//     and the caller dials again. The response owns its bytes.
//   - Send / SendFrame and Receive: pipelining. Requests go out with consecutive correlation
//     ids; Kafka answers them in order, so each Receive checks the next id. One goroutine may
//     send while another receives. A response from Receive aliases the Conn's read buffer
//     and is valid until the next Receive: a fetch response of megabytes is never copied
//     after the kernel wrote it. A request the broker does not answer (Produce with acks=0)
//     must not be followed by Receive on the same Conn.
//
// Invariants: every frame size read from the wire is checked against MaxResponseBytes before
// a buffer is sized for it, and every length inside a header against the bytes that remain; a
// peer that closes mid-frame yields io.ErrUnexpectedEOF wrapped in ErrClosed, a clean close
// between frames io.EOF wrapped in ErrClosed.
//
// Options.Security secures a Conn as the listener dialed requires (SSL, SASL_PLAINTEXT,
// SASL_SSL): Dial runs the TLS handshake (crypto/tls) and then the SASL exchange with one of
// franz-go's mechanisms (SaslHandshake v1, SaslAuthenticate v1), and hands back the Conn
// only once it is authenticated; a refusal is an error naming the mechanism and carrying
// the broker's message. Brokers dial each other this way on inter.broker.listener.name.
//
// Reader and SkipTags are the framing halves a Kafka-speaking test server (loadgen.Sink)
// needs too.
package kwire
