package metadata

import (
	"errors"
	"fmt"
	"slices"
)

// Delegation tokens (Kafka's DelegationTokenRecord and RemoveDelegationTokenRecord, decided as
// its DelegationTokenControlManager decides them). The state keeps what the record keeps:
// id, owner, requester, renewers and the three timestamps; never the HMAC, which every node
// derives from the token id with delegation.token.secret.key (the broker's
// delegation_tokens.go). The proposer (the active controller) draws the token id and reads
// the clock; the state machine checks owner, renewers and expiry against the state the
// command applies to, so two changes racing for one token are decided in log order.

// Errors of the delegation token commands; the broker maps them to Kafka's codes.
var (
	ErrDelegationTokenNotFound      = errors.New("delegation token not found")
	ErrDelegationTokenExpired       = errors.New("delegation token has expired")
	ErrDelegationTokenOwnerMismatch = errors.New("the principal is neither the owner nor a renewer of the delegation token")
	ErrDelegationTokenExists        = errors.New("a delegation token with this id exists")
)

// DelegationToken is one token. Principals are "Type:name" (Kafka's KafkaPrincipal);
// timestamps are Unix milliseconds.
type DelegationToken struct {
	ID        string   `json:"id"`
	Owner     string   `json:"owner"`
	Requester string   `json:"requester"`
	Renewers  []string `json:"renewers,omitempty"`
	IssueMs   int64    `json:"issue_ms"`
	// MaxMs is when the token ends, whatever its renewals; ExpiryMs when it ends unless
	// renewed before (never after MaxMs).
	MaxMs    int64 `json:"max_ms"`
	ExpiryMs int64 `json:"expiry_ms"`
}

// ExpiredAt reports whether the token has expired at nowMs (Kafka: maxTimestamp < now or
// expiryTimestamp < now).
func (t *DelegationToken) ExpiredAt(nowMs int64) bool { return t.MaxMs < nowMs || t.ExpiryMs < nowMs }

// OwnerOrRenewer reports whether principal owns the token or may renew it.
func (t *DelegationToken) OwnerOrRenewer(principal string) bool {
	return t.Owner == principal || slices.Contains(t.Renewers, principal)
}

// CreateDelegationToken adds a token. The proposer chose its id (a random UUID) and
// timestamps; an id already present is refused (ErrDelegationTokenExists).
type CreateDelegationToken struct {
	Token DelegationToken `json:"token"`
}

// RenewDelegationToken moves a token's expiry to min(MaxMs, NowMs+PeriodMs) (Kafka's renew):
// refused with ErrDelegationTokenNotFound, ErrDelegationTokenExpired (at NowMs) or
// ErrDelegationTokenOwnerMismatch (Principal neither owner nor renewer), in that order. The
// result (an int64) is the new expiry.
type RenewDelegationToken struct {
	ID        string `json:"id"`
	Principal string `json:"principal"`
	NowMs     int64  `json:"now_ms"`
	PeriodMs  int64  `json:"period_ms"`
}

// ExpireDelegationToken ends a token (Kafka's expire): a negative PeriodMs removes it at once
// (result NowMs); otherwise its expiry becomes min(MaxMs, NowMs+PeriodMs). Refused with
// ErrDelegationTokenNotFound, ErrDelegationTokenOwnerMismatch, then — unless removed at
// once — ErrDelegationTokenExpired. The result (an int64) is the new expiry.
type ExpireDelegationToken struct {
	ID        string `json:"id"`
	Principal string `json:"principal"`
	NowMs     int64  `json:"now_ms"`
	PeriodMs  int64  `json:"period_ms"`
}

// RemoveExpiredDelegationTokens removes every token expired at NowMs (the controller's sweep,
// every delegation.token.expiry.check.interval.ms). The result (an int) is how many went.
type RemoveExpiredDelegationTokens struct {
	NowMs int64 `json:"now_ms"`
}

func (s *ClusterState) createDelegationToken(c *CreateDelegationToken) error {
	if _, ok := s.DelegationTokens[c.Token.ID]; ok {
		return fmt.Errorf("%w: %s", ErrDelegationTokenExists, c.Token.ID)
	}
	if s.DelegationTokens == nil {
		s.DelegationTokens = map[string]*DelegationToken{}
	}
	t := c.Token
	t.Renewers = slices.Clone(t.Renewers)
	s.DelegationTokens[t.ID] = &t
	return nil
}

// delegationTokenFor finds the token id names for principal's renewal or expiry.
func (s *ClusterState) delegationTokenFor(id, principal string) (*DelegationToken, error) {
	t, ok := s.DelegationTokens[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrDelegationTokenNotFound, id)
	}
	if !t.OwnerOrRenewer(principal) {
		return nil, fmt.Errorf("%w: %s", ErrDelegationTokenOwnerMismatch, principal)
	}
	return t, nil
}

func (s *ClusterState) renewDelegationToken(c *RenewDelegationToken) (any, error) {
	t, ok := s.DelegationTokens[c.ID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrDelegationTokenNotFound, c.ID)
	}
	if t.ExpiredAt(c.NowMs) {
		return nil, fmt.Errorf("%w: %s", ErrDelegationTokenExpired, c.ID)
	}
	if _, err := s.delegationTokenFor(c.ID, c.Principal); err != nil {
		return nil, err
	}
	t.ExpiryMs = min(t.MaxMs, SaturatingAdd(c.NowMs, c.PeriodMs))
	return t.ExpiryMs, nil
}

func (s *ClusterState) expireDelegationToken(c *ExpireDelegationToken) (any, error) {
	t, err := s.delegationTokenFor(c.ID, c.Principal)
	if err != nil {
		return nil, err
	}
	if c.PeriodMs < 0 {
		delete(s.DelegationTokens, c.ID)
		return c.NowMs, nil
	}
	if t.ExpiredAt(c.NowMs) {
		return nil, fmt.Errorf("%w: %s", ErrDelegationTokenExpired, c.ID)
	}
	t.ExpiryMs = min(t.MaxMs, SaturatingAdd(c.NowMs, c.PeriodMs))
	return t.ExpiryMs, nil
}

func (s *ClusterState) removeExpiredDelegationTokens(c *RemoveExpiredDelegationTokens) int {
	n := 0
	for id, t := range s.DelegationTokens {
		if t.ExpiredAt(c.NowMs) {
			delete(s.DelegationTokens, id)
			n++
		}
	}
	return n
}

// SaturatingAdd is now+d, capped at the largest int64 (Kafka's DelegationTokenControlManager.sum).
func SaturatingAdd(now, d int64) int64 {
	if d > 0 && now > (1<<63-1)-d {
		return 1<<63 - 1
	}
	return now + d
}

// cloneDelegationTokens deep-copies the tokens (nil stays nil).
func cloneDelegationTokens(in map[string]*DelegationToken) map[string]*DelegationToken {
	if in == nil {
		return nil
	}
	out := make(map[string]*DelegationToken, len(in))
	for id, t := range in {
		c := *t
		c.Renewers = slices.Clone(t.Renewers)
		out[id] = &c
	}
	return out
}
