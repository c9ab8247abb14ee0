package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// ExpireDelegationToken: versions 1-2 (v0 removed by Kafka 4.0; v2 flexible). A connection
// that is unauthenticated or token-authenticated is DELEGATION_TOKEN_REQUEST_NOT_ALLOWED.
// The active controller decides (delegation_tokens.go), in Kafka's order:
// DELEGATION_TOKEN_AUTH_DISABLED without delegation.token.secret.key, DELEGATION_TOKEN_NOT_FOUND
// for an HMAC of no token, DELEGATION_TOKEN_OWNER_MISMATCH for a principal neither owner nor
// renewer; a negative expiry period removes the token at once (answered with now); else an
// expired token is DELEGATION_TOKEN_EXPIRED and a live one expires at min(its max
// timestamp, now + the period). A removed token no longer authenticates anywhere; a
// connection that authenticated with it before lasts until the expiry the token had then
// (KIP-368's session lifetime), as in Kafka.
func init() {
	register(api{key: int16(kmsg.ExpireDelegationToken), min: 1, max: 2, handle: handleExpireDelegationToken, catalog: catalogController})
}

func handleExpireDelegationToken(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ExpireDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.ExpireDelegationTokenResponse)
	resp.ExpiryTimestamp = -1
	requester, here := tokenRequestFront(b, c, req, &req.UnknownTags, resp, &resp.ErrorCode, nil)
	if !here {
		return resp, nil
	}
	resp.ErrorCode, resp.ExpiryTimestamp = b.changeToken(req.HMAC, "expire", func(id string, nowMs int64) any {
		return &metadata.ExpireDelegationToken{ID: id, Principal: requester, NowMs: nowMs, PeriodMs: req.ExpiryPeriodMillis}
	})
	return resp, nil
}
