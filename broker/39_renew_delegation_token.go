package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// RenewDelegationToken: versions 1-2 (v0 removed by Kafka 4.0; v2 flexible). A connection
// that is unauthenticated or token-authenticated is DELEGATION_TOKEN_REQUEST_NOT_ALLOWED.
// The active controller decides (delegation_tokens.go), in Kafka's order:
// DELEGATION_TOKEN_AUTH_DISABLED without delegation.token.secret.key, DELEGATION_TOKEN_NOT_FOUND
// for an HMAC of no token, DELEGATION_TOKEN_EXPIRED, DELEGATION_TOKEN_OWNER_MISMATCH for a
// principal neither owner nor renewer; else the token expires at min(its max timestamp, now +
// min(delegation.token.expiry.time.ms, the request's renew period if > 0)), answered.
func init() {
	register(api{key: int16(kmsg.RenewDelegationToken), min: 1, max: 2, handle: handleRenewDelegationToken, catalog: catalogController})
}

func handleRenewDelegationToken(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.RenewDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.RenewDelegationTokenResponse)
	resp.ExpiryTimestamp = -1
	requester, here := tokenRequestFront(b, c, req, &req.UnknownTags, resp, &resp.ErrorCode, nil)
	if !here {
		return resp, nil
	}
	_, period := b.tokenLimits()
	if req.RenewTimeMillis > 0 {
		period = min(period, req.RenewTimeMillis)
	}
	resp.ErrorCode, resp.ExpiryTimestamp = b.changeToken(req.HMAC, "renew", func(id string, nowMs int64) any {
		return &metadata.RenewDelegationToken{ID: id, Principal: requester, NowMs: nowMs, PeriodMs: period}
	})
	return resp, nil
}
