//go:build compat

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/logd/logd/internal/testjwt"
)

// TestClusterOAuthBearer: three nodes whose only client listener is SASL_PLAINTEXT with
// OAUTHBEARER (JWTs checked against a JWKS file, sessions of at most 5 s by
// connections.max.reauth.ms), an authorizer, and OAUTHBEARER between the brokers: each reads
// its own token (sub=broker, a super user) from the file of
// sasl.oauthbearer.token.endpoint.url. The replicas of a topic of replication factor 3 all
// join the ISR under acks=all writes (the followers fetch as User:broker). An expired token
// written to node 3's file is read at its next login: it logs the refusal and drops out of
// the ISR; a fresh one brings it back, with no restart.
func TestClusterOAuthBearer(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	iss := testjwt.NewIssuer(t, "key-1")
	jwks := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwks, testjwt.JWKS(t, iss), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := testjwt.Claims{Subject: "broker", Issuer: "https://idp.example", Audience: []string{"logd"}, Expiry: now.Add(time.Hour), IssuedAt: now}
	expired := claims
	expired.Expiry, expired.IssuedAt = now.Add(-time.Hour), now.Add(-2*time.Hour)
	ctl := []string{freePort(t), freePort(t), freePort(t)}
	voters := fmt.Sprintf("1@%s,2@%s,3@%s", ctl[0], ctl[1], ctl[2])
	addrs, pids := make([]string, 3), make([]int, 3)
	token3 := filepath.Join(dir, "token3")
	for i := range 3 {
		token := filepath.Join(dir, fmt.Sprintf("token%d", i+1))
		if err := os.WriteFile(token, []byte(iss.Token(t, claims)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, fmt.Sprintf("node%d.properties", i+1))
		os.WriteFile(cfg, []byte(fmt.Sprintf(`node.id=%d
controller.quorum.voters=%s
listeners=SASL_PLAINTEXT://127.0.0.1:0,CONTROLLER://%s
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=OAUTHBEARER
sasl.mechanism.inter.broker.protocol=OAUTHBEARER
sasl.oauthbearer.jwks.endpoint.url=file://%s
sasl.oauthbearer.token.endpoint.url=file://%s
sasl.oauthbearer.expected.audience=logd
sasl.oauthbearer.expected.issuer=https://idp.example
connections.max.reauth.ms=5000
replica.lag.time.max.ms=3000
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker
allow.everyone.if.no.acl.found=false
log.dirs=%s
`, i+1, voters, ctl[i], jwks, token, filepath.Join(dir, fmt.Sprintf("data%d", i+1)))), 0o644)
		_, bound, warnings, pid := serveConfig(t, bin, cfg)
		if len(warnings) != 0 {
			t.Fatalf("node %d: config warnings %q", i+1, warnings)
		}
		for _, a := range bound {
			addrs[i] = a
		}
		pids[i] = pid
	}
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	client := func(opts ...kgo.Opt) *kgo.Client {
		// The client's token is read at each login too: a fresh one every time.
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs[:2]...), kgo.RetryTimeout(30 * time.Second),
			kgo.SASL(oauth.Oauth(func(context.Context) (oauth.Auth, error) { return oauth.Auth{Token: iss.Token(t, claims)}, nil }))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	adm := kadm.NewClient(client())
	var brokers kadm.BrokerDetails
	for deadline := time.Now().Add(60 * time.Second); len(brokers) < 3; time.Sleep(200 * time.Millisecond) {
		if m, err := adm.Metadata(ctx); err == nil {
			brokers = m.Brokers
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokers registered over OAUTHBEARER: %v", brokers)
		}
	}
	if r, err := adm.CreateTopic(ctx, 3, 3, nil, "oauth-replicated"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	producer := client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("oauth-replicated"))
	for i := range 30 {
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("acks=all produce: %v", err)
		}
	}
	// isr reports whether the partitions' ISR sizes pass ok.
	isr := func(ok func(sizes []int) bool) bool {
		ts, err := adm.ListTopics(ctx, "oauth-replicated")
		if err != nil || ts["oauth-replicated"].Err != nil || len(ts["oauth-replicated"].Partitions) != 3 {
			return false
		}
		var sizes []int
		for _, p := range ts["oauth-replicated"].Partitions {
			sizes = append(sizes, len(p.ISR))
		}
		return ok(sizes)
	}
	waitISR := func(what string, ok func(sizes []int) bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !isr(ok); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal(what)
			}
		}
	}
	allIn := func(sizes []int) bool { return !slices.ContainsFunc(sizes, func(n int) bool { return n != 3 }) }
	waitISR("the replicas never all joined the ISR over OAUTHBEARER", allIn)

	// An expired token in node 3's file: its next login (its sessions last 5 s) is refused.
	if err := os.WriteFile(token3, []byte(iss.Token(t, expired)), 0o600); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); !serveLogHas(pids[2], "OAUTHBEARER", "refused the token"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node 3 logged no refusal of its expired token")
		}
	}
	// A follower at its leader's log end stays in the ISR while nothing is written (Kafka's
	// isCaughtUp), so records keep arriving (acks=1, not waiting for node 3) until node 3, which
	// can no longer fetch, falls out of an ISR.
	leaderAcks := client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("oauth-replicated"))
	waitISR("node 3 stayed in every ISR with an expired token", func(sizes []int) bool {
		leaderAcks.Produce(ctx, &kgo.Record{Value: []byte("while node 3 is locked out")}, nil)
		return !allIn(sizes)
	})
	// A fresh token: read at the next login, no restart.
	if err := os.WriteFile(token3, []byte(iss.Token(t, claims)), 0o600); err != nil {
		t.Fatal(err)
	}
	waitISR("node 3 did not rejoin the ISR after its token was renewed", allIn)
}
