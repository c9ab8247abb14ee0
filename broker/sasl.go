package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// preAuthAPIs are the APIs a connection of a SASL listener may send before it authenticated
// (Kafka's SaslServerAuthenticator): anything else closes the connection.
var preAuthAPIs = [...]kmsg.Key{kmsg.ApiVersions, kmsg.SASLHandshake, kmsg.SASLAuthenticate}

// admitted reports whether the request may run: its connection authenticated, or it is one
// of preAuthAPIs. A request built outside a server (no session) is admitted.
func admitted(c *call) bool {
	s := c.req.Session
	if s == nil || s.Authenticated() {
		return true
	}
	for _, k := range preAuthAPIs {
		if c.req.APIKey == int16(k) {
			return true
		}
	}
	return false
}
