package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestServeDelegationTokens runs the binary with a SASL_PLAINTEXT listener (SCRAM), the
// StandardAuthorizer and delegation.token.secret.key, and goes through the token APIs with
// franz-go: alice creates a token and a client authenticating with it (SCRAM tokenauth)
// produces as alice, her ACLs applied (a topic she may not write is refused); the token's
// connection and a PLAINTEXT one may not create tokens; bob may neither renew her token nor
// see it, nor create one for her without CREATE_TOKENS on User:alice (the super user may);
// renew moves the expiry; after a restart the token still authenticates; expired at once it
// no longer does; a token expired by its period is refused, then removed by the controller's
// sweep.
func TestServeDelegationTokens(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0
log.dirs=%s
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
delegation.token.secret.key=test-secret-key
delegation.token.expiry.check.interval.ms=500
`, filepath.Join(dir, "data"))), 0o644)
	serve := func() (saslAddr, plainAddr string, pid int) {
		_, bound, warnings, pid := serveConfig(t, bin, cfg, "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]")
		if len(warnings) != 0 {
			t.Fatalf("config warnings %q", warnings)
		}
		return bound["SASL_PLAINTEXT"], bound["PLAINTEXT"], pid
	}
	addr, plainAddr, pid := serve()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	client := func(addr string, m sasl.Mechanism) *kgo.Client {
		opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(5 * time.Second)}
		if m != nil {
			opts = append(opts, kgo.SASL(m))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	user := func(name string) *kgo.Client {
		return client(addr, scram.Auth{User: name, Pass: name + "-secret"}.AsSha512Mechanism())
	}
	tokenClient := func(addr, id string, mac []byte) *kgo.Client {
		return client(addr, scram.Auth{User: id, Pass: base64.StdEncoding.EncodeToString(mac), IsToken: true}.AsSha256Mechanism())
	}
	admin := kadm.NewClient(user("admin"))
	altered, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-secret"},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "bob-secret"}})
	if err != nil || altered.Error() != nil {
		t.Fatalf("add alice and bob: %v %v", err, altered)
	}
	for _, topic := range []string{"tok", "forbidden"} {
		if r, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil || r.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r.Err)
		}
	}
	acls := kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("tok").Operations(kadm.OpWrite)
	if res, err := admin.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("ACLs: %v %+v", err, res)
	}

	create := func(cl *kgo.Client, owner string, renewers ...string) *kmsg.CreateDelegationTokenResponse {
		t.Helper()
		req := kmsg.NewPtrCreateDelegationTokenRequest()
		if owner != "" {
			req.OwnerPrincipalType, req.OwnerPrincipalName = kmsg.StringPtr("User"), kmsg.StringPtr(owner)
		}
		for _, r := range renewers {
			typ, name, _ := strings.Cut(r, ":")
			rr := kmsg.NewCreateDelegationTokenRequestRenewer()
			rr.PrincipalType, rr.PrincipalName = typ, name
			req.Renewers = append(req.Renewers, rr)
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("CreateDelegationToken: %v", err)
		}
		return resp
	}
	alice, bob := user("alice"), user("bob")
	tok := create(alice, "")
	if tok.ErrorCode != 0 || tok.TokenID == "" || len(tok.HMAC) != 64 || tok.PrincipalName != "alice" || tok.TokenRequesterPrincipalName != "alice" ||
		tok.ExpiryTimestamp <= tok.IssueTimestamp || tok.MaxTimestamp < tok.ExpiryTimestamp {
		t.Fatalf("alice's token: %+v", tok)
	}

	// The token authenticates as alice: her ACLs apply.
	asToken := tokenClient(addr, tok.TokenID, tok.HMAC)
	if err := asToken.ProduceSync(ctx, &kgo.Record{Topic: "tok", Value: []byte("by token")}).FirstErr(); err != nil {
		t.Fatalf("produce with the token: %v", err)
	}
	if err := asToken.ProduceSync(ctx, &kgo.Record{Topic: "forbidden", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce with the token where alice may not: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if r := create(asToken, ""); r.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
		t.Fatalf("create over a token-authenticated connection: error %d, want DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", r.ErrorCode)
	}
	if r := create(client(plainAddr, nil), ""); r.ErrorCode != kerr.DelegationTokenRequestNotAllowed.Code {
		t.Fatalf("create over PLAINTEXT: error %d, want DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", r.ErrorCode)
	}
	if err := tokenClient(addr, tok.TokenID, []byte("not the hmac")).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a wrong HMAC: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// KIP-373: bob may not create a token owned by alice; the super user may. A renewer
	// that is not a User is refused.
	if r := create(bob, "alice"); r.ErrorCode != kerr.DelegationTokenAuthorizationFailed.Code {
		t.Fatalf("bob creating for alice: error %d, want DELEGATION_TOKEN_AUTHORIZATION_FAILED", r.ErrorCode)
	}
	forAlice := create(user("admin"), "alice", "User:bob")
	if forAlice.ErrorCode != 0 || forAlice.PrincipalName != "alice" || forAlice.TokenRequesterPrincipalName != "admin" {
		t.Fatalf("admin creating for alice: %+v", forAlice)
	}
	if r := create(alice, "", "Group:ops"); r.ErrorCode != kerr.InvalidPrincipalType.Code {
		t.Fatalf("a Group renewer: error %d, want INVALID_PRINCIPAL_TYPE", r.ErrorCode)
	}

	describe := func(cl *kgo.Client) map[string]kmsg.DescribeDelegationTokenResponseTokenDetail {
		t.Helper()
		resp, err := kmsg.NewPtrDescribeDelegationTokenRequest().RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("DescribeDelegationToken: %v %+v", err, resp)
		}
		out := map[string]kmsg.DescribeDelegationTokenResponseTokenDetail{}
		for _, d := range resp.TokenDetails {
			out[d.TokenID] = d
		}
		return out
	}
	if d := describe(alice); len(d) != 2 || string(d[tok.TokenID].HMAC) != string(tok.HMAC) || d[forAlice.TokenID].TokenRequesterPrincipalName != "admin" {
		t.Fatalf("alice describes %+v", d)
	}
	if d := describe(bob); len(d) != 1 || len(d[forAlice.TokenID].Renewers) != 1 { // the one he renews
		t.Fatalf("bob describes %+v", d)
	}

	renew := func(cl *kgo.Client, mac []byte, period int64) *kmsg.RenewDelegationTokenResponse {
		t.Helper()
		req := kmsg.NewPtrRenewDelegationTokenRequest()
		req.HMAC, req.RenewTimeMillis = mac, period
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("RenewDelegationToken: %v", err)
		}
		return resp
	}
	expire := func(cl *kgo.Client, mac []byte, period int64) *kmsg.ExpireDelegationTokenResponse {
		t.Helper()
		req := kmsg.NewPtrExpireDelegationTokenRequest()
		req.HMAC, req.ExpiryPeriodMillis = mac, period
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("ExpireDelegationToken: %v", err)
		}
		return resp
	}
	if r := renew(bob, tok.HMAC, -1); r.ErrorCode != kerr.DelegationTokenOwnerMismatch.Code {
		t.Fatalf("bob renewing alice's token: error %d, want DELEGATION_TOKEN_OWNER_MISMATCH", r.ErrorCode)
	}
	unknown := make([]byte, 64)
	rand.Read(unknown)
	if r := renew(alice, unknown, -1); r.ErrorCode != kerr.DelegationTokenNotFound.Code {
		t.Fatalf("renewing an unknown HMAC: error %d, want DELEGATION_TOKEN_NOT_FOUND", r.ErrorCode)
	}
	if r := renew(bob, forAlice.HMAC, 60_000); r.ErrorCode != 0 || r.ExpiryTimestamp > time.Now().Add(time.Minute).UnixMilli() ||
		r.ExpiryTimestamp >= forAlice.ExpiryTimestamp {
		t.Fatalf("bob renewing the token he may renew for a minute: %+v (created expiring at %d)", r, forAlice.ExpiryTimestamp)
	}

	// A restart keeps the tokens (the metadata quorum's log).
	syscall.Kill(pid, syscall.SIGTERM)
	waitExited(t, pid)
	addr, _, _ = serve()
	asToken = tokenClient(addr, tok.TokenID, tok.HMAC)
	if err := asToken.ProduceSync(ctx, &kgo.Record{Topic: "tok", Value: []byte("after restart")}).FirstErr(); err != nil {
		t.Fatalf("produce with the token after a restart: %v", err)
	}
	alice = user("alice")
	if r := expire(alice, tok.HMAC, -1); r.ErrorCode != 0 {
		t.Fatalf("alice expiring her token at once: %+v", r)
	}
	if err := tokenClient(addr, tok.TokenID, tok.HMAC).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("an expired token: %v, want SASL_AUTHENTICATION_FAILED", err)
	}

	// Expired by its period: refused at once, renewing it is DELEGATION_TOKEN_EXPIRED, and
	// the controller's sweep (every 500 ms here) removes it.
	if r := expire(alice, forAlice.HMAC, 0); r.ErrorCode != 0 {
		t.Fatalf("expiring the second token now: %+v", r)
	}
	time.Sleep(5 * time.Millisecond) // past its expiry millisecond
	if err := tokenClient(addr, forAlice.TokenID, forAlice.HMAC).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("a token past its expiry: %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	if r := renew(alice, forAlice.HMAC, -1); r.ErrorCode != kerr.DelegationTokenExpired.Code && r.ErrorCode != kerr.DelegationTokenNotFound.Code {
		t.Fatalf("renewing an expired token: error %d, want DELEGATION_TOKEN_EXPIRED (or NOT_FOUND once swept)", r.ErrorCode)
	}
	for deadline := time.Now().Add(30 * time.Second); len(describe(alice)) != 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the expired token was never removed: %+v", describe(alice))
		}
	}
}

// waitExited waits until process pid has exited (a zombie until its parent reaps it).
func waitExited(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logd (pid %d) did not exit after SIGTERM", pid)
		}
	}
}
