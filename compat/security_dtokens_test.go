//go:build compat

package compat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityDelegationTokens: Kafka's kafka-delegation-tokens creates a token (over
// SASL_SSL as the SCRAM user admin), describes, renews and expires it; between, the Java
// console producer authenticates with the token (ScramLoginModule with tokenauth=true) and
// writes as admin, and the console consumer reads the records back as admin. After
// --expire the token no longer authenticates (franz-go, SCRAM tokenauth).
func TestSecurityDelegationTokens(t *testing.T) {
	b := startSSLBrokerWith(t, "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\ndelegation.token.secret.key=compat-secret-key\n",
		"--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]", "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]")
	scenario(t, "java", "kafka-delegation-tokens", 300*time.Second, func(s *S) {
		admin := b.scramJavaConfig(t, "SASL_SSL", "SCRAM-SHA-512", "admin", "admin-secret")
		tokens := func(args ...string) string {
			return javaTool(s, "", "org.apache.kafka.tools.DelegationTokenCommand", append([]string{"--bootstrap-server", b.saslSSL, "--command-config", admin}, args...)...)
		}
		out := tokens("--create", "--max-life-time-period", "-1", "--renewer-principal", "User:alice")
		m := regexp.MustCompile(`(?m)^(\S+)\s+(\S+)\s+User:admin\s+User:admin\s+\[User:alice\]`).FindStringSubmatch(out)
		if m == nil {
			s.Fatalf("kafka-delegation-tokens --create printed no token row: %q", lastLines(out, 5))
		}
		id, hmac := m[1], m[2]
		if _, err := base64.StdEncoding.DecodeString(hmac); err != nil {
			s.Fatalf("the HMAC %q is not base64: %v", hmac, err)
		}
		// Without --owner-principal the tool sends an empty owner list, which Kafka answers
		// with no token (DescribeDelegationTokenRequest.ownersListEmpty); logd too.
		if out := tokens("--describe"); !strings.Contains(out, "Total number of tokens : 0") {
			s.Fatalf("kafka-delegation-tokens --describe without owners: %q", lastLines(out, 5))
		}
		if out := tokens("--describe", "--owner-principal", "User:admin"); !strings.Contains(out, id) || !strings.Contains(out, "Total number of tokens : 1") {
			s.Fatalf("kafka-delegation-tokens --describe: %q", lastLines(out, 5))
		}

		// The Java client authenticates with the token, as admin.
		cfg := filepath.Join(t.TempDir(), "token.properties")
		os.WriteFile(cfg, []byte(fmt.Sprintf("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-256\n"+
			"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\" tokenauth=true;\n"+
			"ssl.truststore.type=PEM\nssl.truststore.location=%s\n", id, hmac, b.caPEM)), 0o600)
		javaTool(s, "t1\nt2\n", "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", b.saslSSL, "--topic", "dtokens-java",
			"--producer.config", cfg)
		read := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", b.saslSSL, "--topic", "dtokens-java",
			"--from-beginning", "--max-messages", "2", "--timeout-ms", "30000", "--consumer.config", admin)
		if !strings.Contains(read, "t1\nt2\n") {
			s.Fatalf("console consumer read %q", lastLines(read, 5))
		}

		if out := tokens("--renew", "--hmac", hmac, "--renew-time-period", "600000"); !strings.Contains(out, "Completed renew operation") {
			s.Fatalf("kafka-delegation-tokens --renew: %q", lastLines(out, 5))
		}
		if out := tokens("--expire", "--hmac", hmac, "--expiry-time-period", "-1"); !strings.Contains(out, "Completed expire operation") {
			s.Fatalf("kafka-delegation-tokens --expire: %q", lastLines(out, 5))
		}
		if out := tokens("--describe", "--owner-principal", "User:admin"); !strings.Contains(out, "Total number of tokens : 0") {
			s.Fatalf("kafka-delegation-tokens --describe after --expire: %q", lastLines(out, 5))
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.saslPlain),
			kgo.SASL(scram.Auth{User: id, Pass: hmac, IsToken: true}.AsSha256Mechanism()))
		if err != nil {
			s.Fatalf("client: %v", err)
		}
		defer cl.Close()
		if err := cl.Ping(s.ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			s.Fatalf("an expired token: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})
}
