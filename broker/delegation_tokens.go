package broker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/metadata"
)

// Delegation tokens (KIP-48, Kafka's DelegationTokenManager and DelegationTokenControlManager),
// shared by 38_create_delegation_token.go … 41_describe_delegation_token.go and the SASL
// listeners:
//
//   - A token is kept in the metadata quorum (metadata.DelegationToken: id, owner,
//     requester, renewers, issue/expiry/max timestamps), so every node knows it and it
//     survives restarts. Its HMAC is never stored: it is HMAC-SHA512 of the token id keyed
//     by delegation.token.secret.key, which every node holds alike, so every node derives
//     it. Without the key the APIs answer DELEGATION_TOKEN_AUTH_DISABLED.
//   - Create, renew and expire are decided on the active controller (its clock, its
//     delegation.token.* settings), as in Kafka; another node checks what Kafka's broker
//     checks (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED, KIP-373's CREATE_TOKENS on the owner,
//     renewer types) and sends the request on to the controller at its flexible version,
//     naming the requester in the tagged field forwardedPrincipalTag. The controller trusts
//     that field only from a principal allowed CLUSTER_ACTION (the trust Kafka gives an
//     Envelope's principal; without an authorizer every principal is).
//   - Token requests are refused (DELEGATION_TOKEN_REQUEST_NOT_ALLOWED) on a connection that
//     is unauthenticated (PLAINTEXT, SSL without a client certificate: the anonymous
//     principal) or that authenticated with a token itself.
//   - SASL/SCRAM with tokenauth=true (auth.TokenStore, saslCredentials below) authenticates
//     as the token's owner with the token id as user name and base64(HMAC) as password,
//     until the token expires. Each node derives the token's SCRAM credential (a random salt,
//     4096 iterations) once and keeps it while the token exists, as Kafka's token cache does.
//     One difference: Kafka accepts an expired token until the controller's sweep removes
//     it; logd refuses it from its expiry on.

// DelegationTokenConfig is the delegation token settings, by Kafka's names.
type DelegationTokenConfig struct {
	// SecretKey is delegation.token.secret.key, the HMAC key of every token: the same on
	// every node. Empty: delegation tokens are disabled.
	SecretKey string
	// MaxLifetime is delegation.token.max.lifetime.ms: no token lives longer, renewed or not
	// (default 7 days).
	MaxLifetime time.Duration
	// ExpiryTime is delegation.token.expiry.time.ms: a token expires this long after its
	// creation or last renewal (default 1 day).
	ExpiryTime time.Duration
	// ExpiryCheckInterval is delegation.token.expiry.check.interval.ms: how often the active
	// controller removes expired tokens (default 1 hour).
	ExpiryCheckInterval time.Duration
}

// Kafka's defaults of delegation.token.max.lifetime.ms and delegation.token.expiry.time.ms.
const (
	defaultTokenMaxLifetime = 7 * 24 * time.Hour
	defaultTokenExpiryTime  = 24 * time.Hour
)

// forwardedPrincipalTag is the tagged field of a token request sent on to the controller that
// names the requester's principal. Kafka's own tags of these requests are small numbers.
const forwardedPrincipalTag = 0x6c6f6764 // "logd"

// tokenLimits are the controller's maximum lifetime and renewal period, in milliseconds.
func (b *Broker) tokenLimits() (maxLifetime, expiryTime int64) {
	c := b.cfg.DelegationTokens
	maxLifetime, expiryTime = defaultTokenMaxLifetime.Milliseconds(), defaultTokenExpiryTime.Milliseconds()
	if c.MaxLifetime > 0 {
		maxLifetime = c.MaxLifetime.Milliseconds()
	}
	if c.ExpiryTime > 0 {
		expiryTime = c.ExpiryTime.Milliseconds()
	}
	return maxLifetime, expiryTime
}

// tokenHMAC is a token's HMAC: HMAC-SHA512 of its id keyed by delegation.token.secret.key.
func (b *Broker) tokenHMAC(id string) []byte {
	h := hmac.New(sha512.New, []byte(b.cfg.DelegationTokens.SecretKey))
	h.Write([]byte(id))
	return h.Sum(nil)
}

// tokenByHMAC finds the token whose HMAC is mac (renew and expire name tokens by it).
func (b *Broker) tokenByHMAC(mac []byte) (*metadata.DelegationToken, bool) {
	for id, t := range b.cluster.DelegationTokens() {
		if hmac.Equal(b.tokenHMAC(id), mac) {
			return t, true
		}
	}
	return nil, false
}

// newTokenID draws a token id as Kafka's Uuid.randomUuid prints one: 16 random bytes in
// URL-safe base64 without padding, never starting with '-' (command-line tools would take it
// for an option).
func newTokenID() string {
	var id [16]byte
	for {
		rand.Read(id[:])
		if s := base64.RawURLEncoding.EncodeToString(id[:]); s[0] != '-' {
			return s
		}
	}
}

// sessionPrincipal is the connection's principal, "User:ANONYMOUS" when it has none.
func sessionPrincipal(c *call) string {
	if s := c.req.Session; s != nil && s.Principal() != "" {
		return s.Principal()
	}
	return acl.Anonymous
}

// splitPrincipal splits "Type:name" (a name alone is a User's).
func splitPrincipal(p string) (typ, name string) {
	typ, name, ok := strings.Cut(p, ":")
	if !ok {
		return "User", p
	}
	return typ, name
}

// tokenRequester is who asks: the principal a request sent on by another broker names
// (forwarded), trusted from a sender allowed CLUSTER_ACTION, else the connection's.
func (b *Broker) tokenRequester(c *call, tags *kmsg.Tags) (principal string, forwarded bool) {
	var named []byte
	tags.Each(func(k uint32, v []byte) {
		if k == forwardedPrincipalTag {
			named = v
		}
	})
	if len(named) > 0 && b.authorizeCluster(c, acl.OpClusterAction) {
		return string(named), true
	}
	return sessionPrincipal(c), false
}

// tokenRequestsAllowed is Kafka's KafkaApis.allowTokenRequests: not on an unauthenticated
// connection (the anonymous principal: PLAINTEXT, SSL without a client certificate), nor on
// one that authenticated with a delegation token.
func tokenRequestsAllowed(c *call) bool {
	s := c.req.Session
	if s == nil || s.Principal() == "" || s.Principal() == acl.Anonymous {
		return false
	}
	st, _ := s.Exchange().(*saslState)
	return st == nil || !st.token
}

// isController reports whether this node is the active controller, where token changes are
// decided.
func (b *Broker) isController() bool {
	_, err := b.cluster.ActiveController()
	return err == nil
}

// tokenRequestFront is the path of a create, renew or expire request before the controller
// decides it: who asks (tokenRequester); for a client's request Kafka's broker checks —
// DELEGATION_TOKEN_REQUEST_NOT_ALLOWED (tokenRequestsAllowed), then check's code (nil: none);
// then, on a node that is not the active controller, the request sent on
// (sendTokenRequestOn). here reports that this node decides it; otherwise *code and resp
// hold the answer.
func tokenRequestFront[T any, P interface {
	*T
	kmsg.Response
}](b *Broker, c *call, req kmsg.Request, tags *kmsg.Tags, resp P, code *int16, check func(requester string) int16) (requester string, here bool) {
	requester, forwarded := b.tokenRequester(c, tags)
	if !forwarded {
		if !tokenRequestsAllowed(c) {
			*code = kerr.DelegationTokenRequestNotAllowed.Code
			return requester, false
		}
		if check != nil {
			if *code = check(requester); *code != 0 {
				return requester, false
			}
		}
	}
	if !b.isController() {
		r, cd := b.sendTokenRequestOn(req, tags, requester, forwarded)
		*code = cd
		adoptResponse(resp, r)
		return requester, false
	}
	return requester, true
}

// sendTokenRequestOn answers a create, renew or expire request on a node that is not the
// active controller: a client's is sent on to the controller at its newest (flexible)
// version, with the requester named in forwardedPrincipalTag, and the controller's answer
// returned; one another broker sent on is answered NOT_CONTROLLER (that broker retries). A
// nil answer comes with its error code.
func (b *Broker) sendTokenRequestOn(req kmsg.Request, tags *kmsg.Tags, requester string, forwarded bool) (kmsg.Response, int16) {
	if forwarded {
		return nil, kerr.NotController.Code
	}
	tags.Set(forwardedPrincipalTag, []byte(requester))
	req.SetVersion(req.MaxVersion())
	r, err := b.cluster.ForwardToController(req, func(r kmsg.Response) int16 {
		switch r := r.(type) {
		case *kmsg.CreateDelegationTokenResponse:
			return r.ErrorCode
		case *kmsg.RenewDelegationTokenResponse:
			return r.ErrorCode
		case *kmsg.ExpireDelegationTokenResponse:
			return r.ErrorCode
		}
		return 0
	})
	if err != nil {
		b.log.Info("could not send a delegation token request on to the controller", "api", kmsg.NameForKey(req.Key()), "err", err)
		return nil, errorCode(err)
	}
	return r, 0
}

// adoptResponse makes dst the controller's answer src (nil: leaves dst), at dst's version.
func adoptResponse[T any, P interface {
	*T
	kmsg.Response
}](dst P, src kmsg.Response) {
	if src == nil {
		return
	}
	v := dst.GetVersion()
	*dst = *src.(P)
	dst.SetVersion(v)
}

// changeToken renews or expires (what) the token whose HMAC is mac on the active controller
// with the command cmd makes of its id and the controller's clock. It returns the error code
// and the token's new expiry (-1 after an error, Kafka's ErrorTimestamp).
func (b *Broker) changeToken(mac []byte, what string, cmd func(id string, nowMs int64) any) (int16, int64) {
	if b.cfg.DelegationTokens.SecretKey == "" {
		return kerr.DelegationTokenAuthDisabled.Code, -1
	}
	t, ok := b.tokenByHMAC(mac)
	if !ok {
		return kerr.DelegationTokenNotFound.Code, -1
	}
	res, err := b.cluster.ProposeDelegationToken(cmd(t.ID, time.Now().UnixMilli()))
	if err != nil {
		return b.tokenChangeCode(err, what), -1
	}
	return 0, res.(int64)
}

// tokenChangeCode is the error code of a proposed token change's failure; a controller that
// lost its term answers NOT_CONTROLLER (a broker that sent the request on retries).
func (b *Broker) tokenChangeCode(err error, what string) int16 {
	code := errorCode(err)
	if code == kerr.UnknownServerError.Code {
		b.log.Warn("delegation token change failed", "change", what, "err", err)
	}
	return code
}

// saslCredentials is what a SASL listener's SCRAM exchange reads: users' credentials from the
// cluster's metadata (auth.ScramStore) and delegation tokens' (auth.TokenStore).
type saslCredentials struct{ b *Broker }

// ScramCredential implements auth.ScramStore.
func (s saslCredentials) ScramCredential(mechanism, user string) (auth.ScramCredential, bool) {
	return s.b.cluster.ScramCredential(mechanism, user)
}

// TokenCredential implements auth.TokenStore: a token that exists and has not expired, with
// delegation tokens enabled, authenticates as "User:<owner's name>" (Kafka's principal of a
// token-authenticated connection) until its expiry.
func (s saslCredentials) TokenCredential(m *auth.ScramMechanism, id string) (auth.ScramCredential, string, time.Time, bool) {
	b := s.b
	if b.cfg.DelegationTokens.SecretKey == "" {
		return auth.ScramCredential{}, "", time.Time{}, false
	}
	tokens := b.cluster.DelegationTokens()
	t, ok := tokens[id]
	if !ok || t.ExpiredAt(time.Now().UnixMilli()) {
		return auth.ScramCredential{}, "", time.Time{}, false
	}
	cred, err := b.tokenScram.credential(m, id, b.tokenHMAC(id), tokens)
	if err != nil {
		b.log.Warn("could not derive a delegation token's SCRAM credential", "token", id, "err", err)
		return auth.ScramCredential{}, "", time.Time{}, false
	}
	_, owner := splitPrincipal(t.Owner)
	return cred, "User:" + owner, time.UnixMilli(min(t.ExpiryMs, t.MaxMs)), true
}

// tokenScram keeps each token's SCRAM credentials, derived on first use (PBKDF2 is slow on
// purpose: once per token and mechanism, not per authentication).
type tokenScram struct {
	mu    sync.Mutex
	creds map[tokenScramKey]auth.ScramCredential // guarded by mu
}

type tokenScramKey struct {
	id   string
	mech string
}

// credential returns token id's credential for m, deriving it from mac (the password is its
// base64) when missing. tokens are the tokens that exist: credentials of removed ones are
// dropped when the cache has grown past twice their number.
func (ts *tokenScram) credential(m *auth.ScramMechanism, id string, mac []byte, tokens map[string]*metadata.DelegationToken) (auth.ScramCredential, error) {
	key := tokenScramKey{id: id, mech: m.Name}
	ts.mu.Lock()
	cred, ok := ts.creds[key]
	ts.mu.Unlock()
	if ok {
		return cred, nil
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := m.SaltedPassword(base64.StdEncoding.EncodeToString(mac), salt, auth.ScramMinIterations)
	if err != nil {
		return auth.ScramCredential{}, err
	}
	cred = m.CredentialFromSalted(salt, salted, auth.ScramMinIterations)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.creds == nil {
		ts.creds = map[tokenScramKey]auth.ScramCredential{}
	}
	if len(ts.creds) > 2*len(tokens)+16 {
		for k := range ts.creds {
			if _, ok := tokens[k.id]; !ok {
				delete(ts.creds, k)
			}
		}
	}
	if old, ok := ts.creds[key]; ok { // derived meanwhile by another exchange: keep one
		return old, nil
	}
	ts.creds[key] = cred
	return cred, nil
}
