//go:build compat

package compat

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/logd/logd/internal/testjwt"
)

// TestSecurityOAuthBearer: a SASL_PLAINTEXT listener serving OAUTHBEARER, tokens validated
// against a file:// JWKS (an RSA key made now). franz-go and the Java console producer and
// consumer (OAuthBearerLoginCallbackHandler reading a signed token from a file://
// sasl.oauthbearer.token.endpoint.url) authenticate as the token's subject; an expired
// token, one for another audience and one signed by another key are refused.
func TestSecurityOAuthBearer(t *testing.T) {
	dir := t.TempDir()
	iss := testjwt.NewIssuer(t, "compat-key")
	jwks := filepath.Join(dir, "jwks.json")
	os.WriteFile(jwks, testjwt.JWKS(t, iss), 0o600)
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf("sasl.enabled.mechanisms=OAUTHBEARER\nsasl.oauthbearer.jwks.endpoint.url=file://%s\n"+
		"sasl.oauthbearer.expected.audience=logd\nsasl.oauthbearer.expected.issuer=https://idp.example\n", jwks)), 0o600)
	var ports [2]int
	for i := range ports {
		ports[i], _ = freePort()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	b, err := startBrokerArgs(filepath.Join(dir, "data"), fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://%s", ports[0], addr), "oauth.log", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("logd with OAUTHBEARER exit: %v", err)
		}
	})
	now := time.Now()
	good := testjwt.Claims{Subject: "svc-orders", Issuer: "https://idp.example", Audience: []string{"logd"}, Expiry: now.Add(time.Hour), IssuedAt: now}
	scenario(t, "franz-go", "oauthbearer-jwks", 60*time.Second, func(s *S) {
		client := func(token string) *kgo.Client {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(oauth.Auth{Token: token}.AsMechanism()), kgo.AllowAutoTopicCreation(),
				kgo.RetryTimeout(5*time.Second))
			if err != nil {
				s.Fatalf("client: %v", err)
			}
			return cl
		}
		cl := client(iss.Token(t, good))
		defer cl.Close()
		if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: "oauth-franz", Value: []byte("x")}).FirstErr(); err != nil {
			s.Fatalf("produce: %v", err)
		}
		expired, aud := good, good
		expired.Expiry, expired.IssuedAt = now.Add(-time.Hour), now.Add(-2*time.Hour)
		aud.Audience = []string{"billing"}
		forger := testjwt.NewIssuer(t, "compat-key")
		for name, token := range map[string]string{"expired": iss.Token(t, expired), "wrong audience": iss.Token(t, aud), "forged": forger.Token(t, good)} {
			bad := client(token)
			err := bad.Ping(s.ctx)
			bad.Close()
			if err == nil || (!errors.Is(err, kerr.SaslAuthenticationFailed) && !strings.Contains(err.Error(), "unexpected data in oauth response")) {
				s.Fatalf("%s token: %v, want refused", name, err)
			}
		}
	})
	scenario(t, "java", "oauthbearer-console-producer", 180*time.Second, func(s *S) {
		token := filepath.Join(dir, "token.jwt")
		os.WriteFile(token, []byte(iss.Token(t, good)), 0o600)
		props := filepath.Join(dir, "oauth-client.properties")
		os.WriteFile(props, []byte(fmt.Sprintf("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=OAUTHBEARER\n"+
			"sasl.oauthbearer.token.endpoint.url=file://%s\n"+
			"sasl.login.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler\n"+
			"sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ;\n", token)), 0o600)
		// Kafka 4's clients read file:// token URLs only when this system property allows them.
		t.Setenv("JAVA_TOOL_OPTIONS", "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=file://"+token)
		javaTool(s, "one\ntwo\n", "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", addr, "--topic", "oauth-java", "--producer.config", props)
		out := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", addr, "--topic", "oauth-java",
			"--from-beginning", "--max-messages", "2", "--timeout-ms", "30000", "--consumer.config", props)
		if !strings.Contains(out, "one\ntwo\n") {
			s.Fatalf("console consumer read %q", lastLines(out, 5))
		}
	})
}
