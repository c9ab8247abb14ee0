package main

import (
	"math"
	"time"
)

// delegationTokenKeys are Kafka's delegation.token.* settings (broker.DelegationTokenConfig):
// the secret key turns delegation tokens on; every node of a cluster must have the same.
var delegationTokenKeys = []configKey{
	{name: "delegation.token.secret.key", apply: func(s *serveSettings, v string) error {
		s.DelegationTokens.SecretKey = v
		return nil
	}},
	{name: "delegation.token.max.lifetime.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		s.DelegationTokens.MaxLifetime = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "delegation.token.expiry.time.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		s.DelegationTokens.ExpiryTime = scaleDuration(n, time.Millisecond)
		return err
	}},
	{name: "delegation.token.expiry.check.interval.ms", apply: func(s *serveSettings, v string) error {
		n, err := parseWhole(v, 1, math.MaxInt64)
		s.DelegationTokens.ExpiryCheckInterval = scaleDuration(n, time.Millisecond)
		return err
	}},
}
