package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslHandshake: version 1 (SaslAuthenticate frames the tokens that follow; v0's raw,
// unframed tokens are not served). On a SASL listener it starts the connection's exchange of
// the mechanism asked for, which SaslAuthenticate continues; an unknown mechanism is
// UNSUPPORTED_SASL_MECHANISM with the enabled ones, then the connection closes. Elsewhere, or
// again after authenticating, ILLEGAL_SASL_STATE.
func init() {
	register(api{key: int16(kmsg.SASLHandshake), min: 1, max: 1, handle: handleSaslHandshake})
}

func handleSaslHandshake(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	enabled := b.cfg.SASL.Enabled(c.req.Listener)
	resp.SupportedMechanisms = enabled
	sess := c.req.Session
	if len(enabled) == 0 || sess == nil || sess.Authenticated() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = true
		return resp, nil
	}
	x, err := b.cfg.SASL.Start(c.req.Listener, req.Mechanism)
	if err != nil {
		b.log.Info("SASL handshake refused", "listener", c.req.Listener, "remote", c.req.RemoteAddr, "err", err)
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.closeAfter = true
		return resp, nil
	}
	sess.SwapExchange(x)
	return resp, nil
}
