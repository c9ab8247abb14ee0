package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: versions 0-1. Version 1 only is served (SaslAuthenticate frames the tokens
// that follow); on a SASL listener v0, whose tokens follow raw and unframed (clients before
// Kafka 1.0), is answered UNSUPPORTED_VERSION and the connection closes. It is advertised from 0 all the
// same, as Kafka does: librdkafka enables SASL only when the range includes 0 (its feature
// table), then uses v1 with SaslAuthenticate. On a SASL listener it starts the connection's exchange of
// the mechanism asked for, which SaslAuthenticate continues; an unknown mechanism is
// UNSUPPORTED_SASL_MECHANISM with the enabled ones, then the connection closes.
//
// On an authenticated connection it begins a re-authentication (KIP-368) if the client
// authenticated with SaslAuthenticate v1 or later (which tells it the session's lifetime),
// with the same mechanism as before (another is UNSUPPORTED_SASL_MECHANISM, and the
// connection closes, as in Kafka). Elsewhere, or for a client that cannot re-authenticate,
// ILLEGAL_SASL_STATE (the connection stays open, as in Kafka).
func init() {
	register(api{key: int16(kmsg.SASLHandshake), min: 0, max: 1, handle: handleSaslHandshake})
}

func handleSaslHandshake(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	enabled := b.cfg.SASL.Enabled(c.req.Listener)
	resp.SupportedMechanisms = enabled
	sess := c.req.Session
	if len(enabled) == 0 || sess == nil {
		// Kafka's KafkaApis answer on a listener without SASL, whatever the version: the
		// connection stays open.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	var prev *saslState
	if sess.Authenticated() {
		prev, _ = sess.SwapExchange(nil).(*saslState)
		if prev == nil || !prev.reauth || prev.x != nil || c.version() == 0 {
			sess.SwapExchange(prev)
			resp.ErrorCode = kerr.IllegalSaslState.Code
			return resp, nil
		}
		if req.Mechanism != prev.mech {
			b.log.Info("SASL re-authentication refused: another mechanism", "listener", c.req.Listener, "remote", c.req.RemoteAddr,
				"was", prev.mech, "asked", req.Mechanism)
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			c.closeAfter = true
			return resp, nil
		}
	}
	if c.version() == 0 {
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		c.closeAfter = true
		return resp, nil
	}
	x, err := b.cfg.SASL.Start(c.req.Listener, req.Mechanism, saslCredentials{b})
	if err != nil {
		b.log.Info("SASL handshake refused", "listener", c.req.Listener, "remote", c.req.RemoteAddr, "err", err)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closeAfter = true
		return resp, nil
	}
	sess.SwapExchange(&saslState{mech: req.Mechanism, x: x, reauth: prev != nil})
	return resp, nil
}
