package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
)

// SaslAuthenticate: versions 0-2. Each request is one step of the exchange SaslHandshake
// started; the last one authenticates the connection (server.Session.Authenticate), which
// lifts the pre-authentication frame cap. A failed step is SASL_AUTHENTICATION_FAILED with a
// message that says authentication failed and nothing about which part was wrong; the
// connection closes once the client has read it. No re-authentication: session lifetime 0.
func init() {
	register(api{key: int16(kmsg.SASLAuthenticate), min: 0, max: 2, handle: handleSaslAuthenticate})
}

func handleSaslAuthenticate(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	sess := c.req.Session
	if sess == nil || sess.Authenticated() {
		// A listener without SASL, or a connection already authenticated: Kafka's
		// KafkaApis answer, and the connection stays open.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate on a connection that is not authenticating")
		return resp, nil
	}
	x, _ := sess.SwapExchange(nil).(auth.Exchange)
	if x == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake before it")
		c.closeAfter = true
		return resp, nil
	}
	reply, done, principal, err := x.Step(req.SASLAuthBytes)
	if err != nil {
		b.log.Info("SASL authentication failed", "listener", c.req.Listener, "remote", c.req.RemoteAddr, "reason", auth.FailureReason(err))
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		c.closeAfter = true
		return resp, nil
	}
	resp.SASLAuthBytes = reply
	if done {
		sess.Authenticate(principal)
		return resp, nil
	}
	sess.SwapExchange(x) // the next step continues it
	return resp, nil
}
