package broker

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// DescribeDelegationToken: versions 1-3 (v0 removed by Kafka 4.0; v2+ flexible; v3 tells the
// requester). Answered from this node's replicated metadata, as Kafka's brokers answer from
// their token cache: DELEGATION_TOKEN_REQUEST_NOT_ALLOWED on an unauthenticated or
// token-authenticated connection, DELEGATION_TOKEN_AUTH_DISABLED without
// delegation.token.secret.key; an empty owner list describes nothing, a null one every
// token. A token is listed (Kafka's DelegationTokenManager.filterToken) when the owners
// asked for include its owner or a renewer, and the requester is its owner or a renewer, or
// may DESCRIBE the DelegationToken resource of its id, or DESCRIBE_TOKENS on its owner's
// User resource. Each comes with its HMAC, as in Kafka.
func init() {
	register(api{key: int16(kmsg.DescribeDelegationToken), min: 1, max: 3, handle: handleDescribeDelegationToken})
}

func handleDescribeDelegationToken(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeDelegationTokenRequest)
	resp := req.ResponseKind().(*kmsg.DescribeDelegationTokenResponse)
	switch {
	case !tokenRequestsAllowed(c):
		resp.ErrorCode = kerr.DelegationTokenRequestNotAllowed.Code
		return resp, nil
	case b.cfg.DelegationTokens.SecretKey == "":
		resp.ErrorCode = kerr.DelegationTokenAuthDisabled.Code
		return resp, nil
	case req.Owners != nil && len(req.Owners) == 0:
		return resp, nil
	}
	var owners []string
	for _, o := range req.Owners {
		owners = append(owners, o.PrincipalType+":"+o.PrincipalName)
	}
	requester := sessionPrincipal(c)
	tokens := b.cluster.DelegationTokens()
	for _, id := range slices.Sorted(maps.Keys(tokens)) {
		t := tokens[id]
		if !tokenDescribable(b, c, t, owners, requester) {
			continue
		}
		d := kmsg.NewDescribeDelegationTokenResponseTokenDetail()
		d.PrincipalType, d.PrincipalName = splitPrincipal(t.Owner)
		d.TokenRequesterPrincipalType, d.TokenRequesterPrincipalName = splitPrincipal(t.Requester)
		d.IssueTimestamp, d.ExpiryTimestamp, d.MaxTimestamp = t.IssueMs, t.ExpiryMs, t.MaxMs
		d.TokenID, d.HMAC = t.ID, b.tokenHMAC(t.ID)
		for _, r := range t.Renewers {
			rr := kmsg.NewDescribeDelegationTokenResponseTokenDetailRenewer()
			rr.PrincipalType, rr.PrincipalName = splitPrincipal(r)
			d.Renewers = append(d.Renewers, rr)
		}
		resp.TokenDetails = append(resp.TokenDetails, d)
	}
	return resp, nil
}

// tokenDescribable is Kafka's filterToken: owners (nil: any) select the tokens owned or
// renewable by one of them; the requester sees its own and renewable ones, and others' where
// it may DESCRIBE the token or DESCRIBE_TOKENS on the owner (no denial is logged: a filter).
func tokenDescribable(b *Broker, c *call, t *metadata.DelegationToken, owners []string, requester string) bool {
	if owners != nil && !slices.ContainsFunc(owners, t.OwnerOrRenewer) {
		return false
	}
	return t.OwnerOrRenewer(requester) || b.allowed(c, acl.OpDescribe, acl.ResourceDelegationToken, t.ID) ||
		b.allowed(c, acl.OpDescribeTokens, acl.ResourceUser, t.Owner)
}
