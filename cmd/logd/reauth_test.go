package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logd/logd/internal/kwire"
)

// TestServeReauthentication (KIP-368) runs the binary with connections.max.reauth.ms=600:
// SaslAuthenticate tells the session lifetime; a connection re-authenticates with
// SaslHandshake and SaslAuthenticate and goes on; a re-authentication as another user fails
// and closes the connection; a connection that lets its session run out is closed at its
// next request; franz-go keeps producing across several lifetimes, re-authenticating.
func TestServeReauthentication(t *testing.T) {
	addr := serveSASL(t, "sasl.enabled.mechanisms=SCRAM-SHA-256\nconnections.max.reauth.ms=600\n",
		"--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-secret]", "--add-scram", "SCRAM-SHA-256=[name=bob,password=bob-secret]")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// authenticate runs SaslHandshake and SaslAuthenticate v2 as user on c: the session
	// lifetime, or the failing response's error.
	authenticate := func(c *kwire.Conn, user, pass string) (int64, error) {
		t.Helper()
		h := kmsg.NewPtrSASLHandshakeRequest()
		h.Version, h.Mechanism = 1, "SCRAM-SHA-256"
		hr, err := c.Request(ctx, h)
		if err != nil {
			return 0, err
		}
		if code := hr.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
			return 0, kerr.ErrorForCode(code)
		}
		sess, msg, err := scram.Auth{User: user, Pass: pass}.AsSha256Mechanism().Authenticate(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		for {
			a := kmsg.NewPtrSASLAuthenticateRequest()
			a.Version, a.SASLAuthBytes = 2, msg
			r, err := c.Request(ctx, a)
			if err != nil {
				return 0, err
			}
			resp := r.(*kmsg.SASLAuthenticateResponse)
			if resp.ErrorCode != 0 {
				return 0, fmt.Errorf("%w: %s", kerr.ErrorForCode(resp.ErrorCode), *resp.ErrorMessage)
			}
			done, next, err := sess.Challenge(resp.SASLAuthBytes)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			if done {
				return resp.SessionLifetimeMillis, nil
			}
			msg = next
		}
	}
	metadata := func(c *kwire.Conn) error {
		m := kmsg.NewPtrMetadataRequest()
		m.Version = 12
		_, err := c.Request(ctx, m)
		return err
	}
	dial := func() *kwire.Conn {
		c, err := kwire.Dial(ctx, addr, kwire.Options{ClientID: "reauth-test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	c := dial()
	if life, err := authenticate(c, "alice", "alice-secret"); err != nil || life != 600 {
		t.Fatalf("first authentication: lifetime %d, %v", life, err)
	}
	if err := metadata(c); err != nil {
		t.Fatalf("metadata: %v", err)
	}
	if life, err := authenticate(c, "alice", "alice-secret"); err != nil || life != 600 {
		t.Fatalf("re-authentication: lifetime %d, %v", life, err)
	}
	if err := metadata(c); err != nil {
		t.Fatalf("metadata after re-authenticating: %v", err)
	}
	if _, err := authenticate(c, "bob", "bob-secret"); err == nil || !strings.Contains(err.Error(), "Cannot change principals during re-authentication from User:alice: User:bob") {
		t.Fatalf("re-authentication as bob: %v", err)
	}
	if err := metadata(c); err == nil {
		t.Fatal("connection open after a principal change")
	}

	// A session left to run out: closed at the next request. Waiting out the lifetime is
	// the point here, not a race with the broker.
	c = dial()
	if _, err := authenticate(c, "alice", "alice-secret"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if err := metadata(c); err == nil {
		t.Fatal("expired session still served")
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()),
		kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce across re-authentications: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
