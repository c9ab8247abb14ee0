package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
)

// preAuthAPIs are the APIs a connection of a SASL listener may send before it authenticated
// (Kafka's SaslServerAuthenticator): anything else closes the connection.
var preAuthAPIs = [...]kmsg.Key{kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate}

// saslState is a SASL connection's state between requests, kept in its server.Session's
// exchange slot: the mechanism, the exchange in progress (nil once authenticated), whether
// the client may re-authenticate (it authenticated with SaslAuthenticate v1+; while an
// exchange is in progress: whether that exchange is a re-authentication), and whether it
// authenticated with a delegation token (which may not create, renew or expire tokens).
type saslState struct {
	mech   string
	x      auth.Exchange
	reauth bool
	token  bool
}

// admitted reports whether the request may run: its connection authenticated and its
// authentication has not run out (KIP-368; Kafka closes such a connection on its next
// request but a re-authentication's), or it is one of preAuthAPIs before authenticating. A
// request built outside a server (no session) is admitted. Refused, why says why, for the
// log line of the closed connection.
func admitted(c *call) (ok bool, why string) {
	s := c.req.Session
	if s == nil {
		return true, ""
	}
	authenticated := s.Authenticated()
	if authenticated && !s.Expired(time.Now()) {
		return true, ""
	}
	for i, k := range preAuthAPIs {
		if c.req.APIKey == int16(k) && (!authenticated || i > 0) {
			return true, ""
		}
	}
	if authenticated {
		return false, "SASL session expired (connections.max.reauth.ms) and the client did not re-authenticate"
	}
	return false, "request before SASL authentication"
}
