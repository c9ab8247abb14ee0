package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// CreateDelegationToken: versions 1-3 (v0 removed by Kafka 4.0, KIP-896; v2+ flexible; v3
// names an owner other than the requester, KIP-373). In Kafka's order: a connection that is
// unauthenticated or token-authenticated is DELEGATION_TOKEN_REQUEST_NOT_ALLOWED; an owner
// other than the requester needs CREATE_TOKENS on that User (else
// DELEGATION_TOKEN_AUTHORIZATION_FAILED); a renewer that is not a User is
// INVALID_PRINCIPAL_TYPE. The active controller then decides (delegation_tokens.go): without
// delegation.token.secret.key DELEGATION_TOKEN_AUTH_DISABLED; else a new token id, max
// timestamp now + min(delegation.token.max.lifetime.ms, the request's max lifetime if > 0),
// expiry min(max, now + delegation.token.expiry.time.ms), stored in the metadata quorum, and
// the token's HMAC in the answer.
func init() {
	register(api{key: int16(kmsg.CreateDelegationToken), min: 1, max: 3, handle: handleCreateDelegationToken, catalog: catalogController})
}

func handleCreateDelegationToken(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreateDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.CreateDelegationTokenResponse)
	requester, here := tokenRequestFront(b, c, req, &req.UnknownTags, resp, &resp.ErrorCode, func(requester string) int16 {
		if owner := tokenOwner(req, requester); owner != requester && !b.authorize(c, acl.OpCreateTokens, acl.ResourceUser, owner) {
			return kerr.DelegationTokenAuthorizationFailed.Code
		}
		for _, r := range req.Renewers {
			if r.PrincipalType != "User" {
				return kerr.InvalidPrincipalType.Code
			}
		}
		return 0
	})
	owner := tokenOwner(req, requester)
	resp.PrincipalType, resp.PrincipalName = splitPrincipal(owner)
	resp.TokenRequesterPrincipalType, resp.TokenRequesterPrincipalName = splitPrincipal(requester)
	if !here {
		return resp, nil
	}
	var renewers []string
	for _, r := range req.Renewers {
		renewers = append(renewers, r.PrincipalType+":"+r.PrincipalName)
	}
	if b.cfg.DelegationTokens.SecretKey == "" {
		resp.ErrorCode = kerr.DelegationTokenAuthDisabled.Code
		return resp, nil
	}
	maxLifetime, expiryTime := b.tokenLimits()
	if req.MaxLifetimeMillis > 0 {
		maxLifetime = min(maxLifetime, req.MaxLifetimeMillis)
	}
	now := time.Now().UnixMilli()
	tok := metadata.DelegationToken{ID: newTokenID(), Owner: owner, Requester: requester, Renewers: renewers,
		IssueMs: now, MaxMs: metadata.SaturatingAdd(now, maxLifetime)}
	tok.ExpiryMs = min(tok.MaxMs, metadata.SaturatingAdd(now, expiryTime))
	if _, err := b.cluster.ProposeDelegationToken(&metadata.CreateDelegationToken{Token: tok}); err != nil {
		resp.ErrorCode = b.tokenChangeCode(err, "create")
		return resp, nil
	}
	resp.IssueTimestamp, resp.ExpiryTimestamp, resp.MaxTimestamp = tok.IssueMs, tok.ExpiryMs, tok.MaxMs
	resp.TokenID, resp.HMAC = tok.ID, b.tokenHMAC(tok.ID)
	return resp, nil
}

// tokenOwner is the owner a create request names (KIP-373: v3 may name another principal),
// else the requester.
func tokenOwner(req *kmsg.CreateDelegationTokenRequest, requester string) string {
	if req.OwnerPrincipalName == nil || *req.OwnerPrincipalName == "" {
		return requester
	}
	typ := "User"
	if req.OwnerPrincipalType != nil && *req.OwnerPrincipalType != "" {
		typ = *req.OwnerPrincipalType
	}
	return typ + ":" + *req.OwnerPrincipalName
}
