package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// serveSASL runs the binary with a PLAINTEXT and a SASL_PLAINTEXT listener, more
// server.properties lines and flags, and returns the SASL listener's address.
func serveSASL(t *testing.T, props string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0\nlog.dirs=%s\n%s",
		filepath.Join(dir, "data"), props)), 0o644)
	_, bound, warnings, _ := serveConfig(t, buildLogd(t), cfg, flags...)
	if len(warnings) != 0 {
		t.Fatalf("config warnings %q", warnings)
	}
	return bound["SASL_PLAINTEXT"]
}

// TestServeSCRAM runs the binary with a SASL_PLAINTEXT listener serving SCRAM-SHA-256 and
// SCRAM-SHA-512 and a first user from --add-scram: that user authenticates and, through
// AlterUserScramCredentials, adds another, who then produces; DescribeUserScramCredentials
// tells mechanisms and iterations; a wrong password and a deleted user fail with Kafka's
// message; a restart with the same --add-scram keeps the password changed since.
func TestServeSCRAM(t *testing.T) {
	addr := serveSASL(t, "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512\n",
		"--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]", "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret,iterations=8192]")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := func(addr string, m sasl.Mechanism) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(m), kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	admin := kadm.NewClient(client(addr, scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha512Mechanism()))
	if err := client(addr, scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism()).Ping(ctx); err != nil {
		t.Fatalf("admin, SCRAM-SHA-256: %v", err)
	}
	altered, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "alice-secret"}})
	if err != nil || altered.Error() != nil {
		t.Fatalf("add alice: %v %v", err, altered)
	}
	alice := client(addr, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism())
	if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "scram", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatalf("alice produce: %v", err)
	}
	described, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil || len(described) != 2 || len(described["admin"].CredInfos) != 2 || described["alice"].CredInfos[0].Iterations != 4096 {
		t.Fatalf("describe: %v %+v", err, described)
	}
	if d, _ := admin.DescribeUserSCRAMs(ctx, "nobody"); !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe an unknown user: %+v", d)
	}
	wrong := client(addr, scram.Auth{User: "alice", Pass: "wrong"}.AsSha512Mechanism())
	if err := wrong.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) ||
		!strings.Contains(err.Error(), "invalid credentials with SASL mechanism SCRAM-SHA-512") {
		t.Fatalf("wrong password: %v", err)
	}
	// Alice has no SCRAM-SHA-256 credential.
	if err := client(addr, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("alice, SCRAM-SHA-256: %v", err)
	}
	altered, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha512}, {User: "nobody", Mechanism: kadm.ScramSha256}},
		[]kadm.UpsertSCRAM{{User: "admin", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "changed"}})
	if err != nil || altered["alice"].Err != nil || altered["admin"].Err != nil || !errors.Is(altered["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("alter: %v %+v", err, altered)
	}
	// Too few iterations and a user named twice: kadm refuses to send them, so by hand.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	for _, u := range []struct {
		name       string
		iterations int32
	}{{"bob", 1000}, {"carol", 4096}, {"carol", 4096}} {
		up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
		up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = u.name, 1, u.iterations, []byte("salt"), make([]byte, 32)
		req.Upsertions = append(req.Upsertions, up)
	}
	resp, err := req.RequestWith(ctx, alice)
	if err != nil || len(resp.Results) != 2 {
		t.Fatalf("raw alter: %v %+v", err, resp)
	}
	for _, r := range resp.Results {
		if want := map[string]int16{"bob": kerr.UnacceptableCredential.Code, "carol": kerr.DuplicateResource.Code}[r.User]; r.ErrorCode != want {
			t.Errorf("%s: error %d, want %d", r.User, r.ErrorCode, want)
		}
	}
	if err := client(addr, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted alice: %v", err)
	}
	if err := client(addr, scram.Auth{User: "admin", Pass: "changed"}.AsSha256Mechanism()).Ping(ctx); err != nil {
		t.Fatalf("admin's new password: %v", err)
	}
}
