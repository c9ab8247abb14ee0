package metadata

import (
	"errors"
	"testing"
)

// TestDelegationTokenCommands: the state machine decides renewals and expiries as Kafka's
// DelegationTokenControlManager does, in its order of checks (renew: not found, expired,
// not owner or renewer; expire: not found, not owner or renewer, then expired unless removed
// at once), caps expiries at the token's max timestamp, and the sweep removes exactly the
// tokens expired at its time.
func TestDelegationTokenCommands(t *testing.T) {
	s := NewClusterState("c")
	apply := func(c any) (any, error) {
		t.Helper()
		return s.Apply(s.LastIndex+1, c)
	}
	mk := func(id string, expiry, maxMs int64) {
		t.Helper()
		tok := DelegationToken{ID: id, Owner: "User:alice", Requester: "User:admin", Renewers: []string{"User:bob"}, IssueMs: 0, MaxMs: maxMs, ExpiryMs: expiry}
		if _, err := apply(&CreateDelegationToken{Token: tok}); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	mk("a", 500, 1000)
	if _, err := apply(&CreateDelegationToken{Token: DelegationToken{ID: "a", Owner: "User:x"}}); !errors.Is(err, ErrDelegationTokenExists) {
		t.Fatalf("a second token a: %v", err)
	}
	for _, c := range []struct {
		cmd  any
		want error
		res  int64
	}{
		{&RenewDelegationToken{ID: "nope", Principal: "User:alice", NowMs: 100, PeriodMs: 10}, ErrDelegationTokenNotFound, 0},
		{&RenewDelegationToken{ID: "a", Principal: "User:carol", NowMs: 100, PeriodMs: 10}, ErrDelegationTokenOwnerMismatch, 0},
		{&RenewDelegationToken{ID: "a", Principal: "User:bob", NowMs: 100, PeriodMs: 200}, nil, 300},
		{&RenewDelegationToken{ID: "a", Principal: "User:alice", NowMs: 200, PeriodMs: 5000}, nil, 1000}, // capped at max
		{&ExpireDelegationToken{ID: "a", Principal: "User:carol", NowMs: 300, PeriodMs: 0}, ErrDelegationTokenOwnerMismatch, 0},
		{&ExpireDelegationToken{ID: "a", Principal: "User:alice", NowMs: 300, PeriodMs: 100}, nil, 400},
		// Expired at 401: renewing is refused as expired before the owner is checked.
		{&RenewDelegationToken{ID: "a", Principal: "User:carol", NowMs: 401, PeriodMs: 10}, ErrDelegationTokenExpired, 0},
		{&ExpireDelegationToken{ID: "a", Principal: "User:alice", NowMs: 401, PeriodMs: 10}, ErrDelegationTokenExpired, 0},
		{&ExpireDelegationToken{ID: "a", Principal: "User:bob", NowMs: 401, PeriodMs: -1}, nil, 401},
		{&RenewDelegationToken{ID: "a", Principal: "User:alice", NowMs: 402, PeriodMs: 10}, ErrDelegationTokenNotFound, 0},
	} {
		res, err := apply(c.cmd)
		if !errors.Is(err, c.want) || (err == nil && res.(int64) != c.res) {
			t.Fatalf("%T%+v: %v %v, want %v %d", c.cmd, c.cmd, res, err, c.want, c.res)
		}
	}

	mk("b", 500, 1000)
	mk("c", 2000, 1000) // max first
	mk("d", 5000, 9000)
	snapshot := s.Clone()
	if n, _ := apply(&RemoveExpiredDelegationTokens{NowMs: 1500}); n.(int) != 2 {
		t.Fatalf("swept %v tokens at 1500, want b and c", n)
	}
	if _, ok := s.DelegationTokens["d"]; !ok || len(s.DelegationTokens) != 1 {
		t.Fatalf("after the sweep: %v", s.DelegationTokens)
	}
	if len(snapshot.DelegationTokens) != 3 {
		t.Fatal("a clone shares the tokens map")
	}
	if got := SaturatingAdd(1<<62, 1<<62); got != 1<<63-1 {
		t.Fatalf("SaturatingAdd overflowed to %d", got)
	}
}
