package broker

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
)

// SaslAuthenticate: versions 0-2. Each request is one step of the exchange SaslHandshake
// started; the last one authenticates the connection (server.Session.Authenticate), which
// lifts the pre-authentication frame cap. A failed step is SASL_AUTHENTICATION_FAILED with
// Kafka's message for the mechanism, which says nothing about which part was wrong; the
// connection closes once the client has read it.
//
// Re-authentication (KIP-368): the authentication lasts auth.SessionLifetime (the smaller of
// connections.max.reauth.ms and an OAUTHBEARER token's remaining life; unlimited with
// neither), told to v1+ clients as session_lifetime_ms; a request other than SASL's after it
// ran out closes the connection (sasl.go). A re-authentication (SaslHandshake on an
// authenticated connection) must end with the same principal, else it fails and the
// connection closes.
func init() {
	register(api{key: int16(kmsg.SASLAuthenticate), min: 0, max: 2, handle: handleSaslAuthenticate})
}

func handleSaslAuthenticate(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	sess := c.req.Session
	if sess == nil {
		// A listener without SASL: Kafka's KafkaApis answer, and the connection stays open.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate on a connection that is not authenticating")
		return resp, nil
	}
	st, _ := sess.SwapExchange(nil).(*saslState)
	if st == nil || st.x == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		if sess.Authenticated() {
			sess.SwapExchange(st) // authenticated, no re-authentication begun: stays open
			resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate on a connection that is not authenticating")
			return resp, nil
		}
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate without a SaslHandshake before it")
		c.closeAfter = true
		return resp, nil
	}
	fail := func(err error) (kmsg.Response, error) {
		b.log.Info("SASL authentication failed", "listener", c.req.Listener, "remote", c.req.RemoteAddr, "mechanism", st.mech,
			"reauthentication", st.reauth, "reason", auth.FailureReason(err))
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		c.closeAfter = true
		return resp, nil
	}
	reply, done, principal, err := st.x.Step(req.SASLAuthBytes)
	if err != nil {
		return fail(err)
	}
	resp.SASLAuthBytes = reply
	if !done {
		sess.SwapExchange(st) // the next step continues it
		return resp, nil
	}
	if st.reauth && principal != sess.Principal() {
		msg := fmt.Sprintf("Cannot change principals during re-authentication from %s: %s", sess.Principal(), principal)
		return fail(&auth.Failure{Message: msg, Reason: msg})
	}
	now := time.Now()
	life := auth.SessionLifetime(st.x, b.cfg.SASL.MaxReauth(c.req.Listener, st.mech), now)
	if life > 0 {
		sess.SetExpiry(now.Add(life))
	} else {
		sess.SetExpiry(time.Time{})
	}
	if c.version() >= 1 {
		resp.SessionLifetimeMillis = life.Milliseconds()
	}
	sess.SwapExchange(&saslState{mech: st.mech, reauth: c.version() >= 1, token: auth.TokenAuthenticated(st.x)})
	sess.Authenticate(principal)
	return resp, nil
}
