//go:build compat

package compat

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// startScramBroker is the SSL broker of startSSLBroker with SCRAM-SHA-256 and SCRAM-SHA-512
// enabled beside PLAIN on its SASL listeners, and a first SCRAM user, admin, from --add-scram.
func startScramBroker(t *testing.T) *sslBroker {
	t.Helper()
	return startSSLBrokerWith(t, "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n",
		"--add-scram", "SCRAM-SHA-256=[name=admin,password=admin-secret]", "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]")
}

// scramJavaConfig is a Kafka client properties file for SCRAM on protocol.
func (b *sslBroker) scramJavaConfig(t *testing.T, protocol, mechanism, user, pass string) string {
	p := filepath.Join(t.TempDir(), "scram-client.properties")
	os.WriteFile(p, []byte(fmt.Sprintf("security.protocol=%s\nsasl.mechanism=%s\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"%s\" password=\"%s\";\n"+
		"ssl.truststore.type=PEM\nssl.truststore.location=%s\n", protocol, mechanism, user, pass, b.caPEM)), 0o600)
	return p
}

func scramMechanism(mech, user, pass string) sasl.Mechanism {
	a := scram.Auth{User: user, Pass: pass}
	if mech == "SCRAM-SHA-512" {
		return a.AsSha512Mechanism()
	}
	return a.AsSha256Mechanism()
}

// TestSecuritySCRAM: SCRAM users added and deleted with kafka-configs --entity-type users
// (AlterUserScramCredentials) and described (DescribeUserScramCredentials, and kafka-configs
// --describe --entity-type users with and without --entity-name, quotas included); the
// Java console producer and consumer, franz-go and kcat authenticate with SCRAM-SHA-256 and
// SCRAM-SHA-512 over SASL_PLAINTEXT and SASL_SSL; a wrong password and a deleted user fail
// with SASL_AUTHENTICATION_FAILED.
func TestSecuritySCRAM(t *testing.T) {
	b := startScramBroker(t)
	scenario(t, "java", "kafka-configs-scram-users", 240*time.Second, func(s *S) {
		admin := b.scramJavaConfig(t, "SASL_SSL", "SCRAM-SHA-512", "admin", "admin-secret")
		configs := func(args ...string) string {
			return javaTool(s, "", "kafka.admin.ConfigCommand", append([]string{"--bootstrap-server", b.saslSSL, "--command-config", admin}, args...)...)
		}
		// One mechanism per request: Kafka's controller refuses a user named twice in one.
		configs("--alter", "--add-config", "SCRAM-SHA-512=[password=alice-secret]", "--entity-type", "users", "--entity-name", "alice")
		configs("--alter", "--add-config", "SCRAM-SHA-256=[iterations=8192,password=alice-secret]", "--entity-type", "users", "--entity-name", "alice")
		// kafka-configs --describe --entity-type users also asks DescribeClientQuotas, which
		// comes with quotas; kadm asks DescribeUserScramCredentials alone.
		describe := func() map[kadm.ScramMechanism]int32 {
			adm, err := kgo.NewClient(kgo.SeedBrokers(b.saslPlain), kgo.SASL(scramMechanism("SCRAM-SHA-256", "admin", "admin-secret")))
			if err != nil {
				s.Fatalf("client: %v", err)
			}
			defer adm.Close()
			d, err := kadm.NewClient(adm).DescribeUserSCRAMs(s.ctx, "alice")
			if err != nil {
				s.Fatalf("describe alice: %v", err)
			}
			out := map[kadm.ScramMechanism]int32{}
			for _, c := range d["alice"].CredInfos {
				out[c.Mechanism] = c.Iterations
			}
			return out
		}
		if got := describe(); len(got) != 2 || got[kadm.ScramSha512] != 4096 || got[kadm.ScramSha256] != 8192 {
			s.Fatalf("alice's credentials: %v", got)
		}
		// kafka-configs --describe --entity-type users lists each user's quotas
		// (DescribeClientQuotas) and SCRAM credentials (DescribeUserScramCredentials) in
		// Kafka's words (ConfigCommand.describeClientQuotaAndUserScramCredentialConfigs):
		// one user with --entity-name, every user with credentials without it.
		configs("--alter", "--add-config", "producer_byte_rate=1048576", "--entity-type", "users", "--entity-name", "alice")
		wantLines := func(out string, want ...string) {
			for _, w := range want {
				if !strings.Contains(out, w) {
					s.Fatalf("kafka-configs --describe printed %q, want a line with %q", lastLines(out, 10), w)
				}
			}
		}
		listed := configs("--describe", "--entity-type", "users", "--entity-name", "alice")
		wantLines(listed, "Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0",
			"SCRAM credential configs for user-principal 'alice' are ", "SCRAM-SHA-256=iterations=8192", "SCRAM-SHA-512=iterations=4096")
		if strings.Contains(listed, "'admin'") {
			s.Fatalf("kafka-configs --describe --entity-name alice listed admin: %q", lastLines(listed, 10))
		}
		listed = configs("--describe", "--entity-type", "users")
		wantLines(listed, "Quota configs for user-principal 'alice' are producer_byte_rate=1048576.0",
			"SCRAM credential configs for user-principal 'alice' are ", "SCRAM credential configs for user-principal 'admin' are ")
		if strings.Contains(listed, "Error retrieving") {
			s.Fatalf("kafka-configs --describe --entity-type users: %q", lastLines(listed, 10))
		}
		configs("--alter", "--delete-config", "producer_byte_rate", "--entity-type", "users", "--entity-name", "alice")
		cfg := b.scramJavaConfig(t, "SASL_SSL", "SCRAM-SHA-512", "alice", "alice-secret")
		javaTool(s, "one\ntwo\n", "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", b.saslSSL, "--topic", "scram-java",
			"--producer.config", cfg)
		out := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", b.saslPlain, "--topic", "scram-java",
			"--from-beginning", "--max-messages", "2", "--timeout-ms", "30000",
			"--consumer.config", b.scramJavaConfig(t, "SASL_PLAINTEXT", "SCRAM-SHA-256", "alice", "alice-secret"))
		if !strings.Contains(out, "one\ntwo\n") {
			s.Fatalf("console consumer read %q", lastLines(out, 5))
		}
		configs("--alter", "--delete-config", "SCRAM-SHA-512", "--entity-type", "users", "--entity-name", "alice")
		if got := describe(); len(got) != 1 || got[kadm.ScramSha256] != 8192 {
			s.Fatalf("alice's credentials after the delete: %v", got)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.saslPlain), kgo.SASL(scramMechanism("SCRAM-SHA-512", "alice", "alice-secret")))
		if err != nil {
			s.Fatalf("client: %v", err)
		}
		defer cl.Close()
		if err := cl.Ping(s.ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			s.Fatalf("deleted SCRAM-SHA-512 credential: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
	})
	for _, proto := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		addr := b.saslPlain
		if proto == "SASL_SSL" {
			addr = b.saslSSL
		}
		for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
			name := strings.ToLower(proto + "-" + mech)
			topic := "scram-" + name
			scenario(t, "franz-go", name, 60*time.Second, func(s *S) {
				opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5 * time.Second),
					kgo.ConsumeTopics(topic + "-franz"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
				if proto == "SASL_SSL" {
					opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: b.serverCA.Pool(), ServerName: "localhost"}))
				}
				cl, err := kgo.NewClient(append(opts, kgo.SASL(scramMechanism(mech, "admin", "admin-secret")))...)
				if err != nil {
					s.Fatalf("client: %v", err)
				}
				defer cl.Close()
				for i := range 10 {
					if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: topic + "-franz", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
						s.Fatalf("produce: %v", err)
					}
				}
				for got := 0; got < 10; {
					fs := cl.PollFetches(s.ctx)
					if err := fs.Err(); err != nil {
						s.Fatalf("fetch: %v", err)
					}
					got += fs.NumRecords()
				}
				bad, _ := kgo.NewClient(append(opts, kgo.SASL(scramMechanism(mech, "admin", "nope")))...)
				defer bad.Close()
				if err := bad.Ping(s.ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) ||
					!strings.Contains(err.Error(), "invalid credentials with SASL mechanism "+mech) {
					s.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED with Kafka's message", err)
				}
			})
			scenario(t, "kcat", name, 60*time.Second, func(s *S) {
				if _, err := exec.LookPath("kcat"); err != nil {
					s.NA("kcat not installed")
				}
				args := []string{"-b", addr, "-X", "security.protocol=" + strings.ToLower(proto), "-X", "sasl.mechanisms=" + mech,
					"-X", "sasl.username=admin", "-X", "sasl.password=admin-secret", "-X", "ssl.ca.location=" + b.caPEM, "-t", topic + "-kcat"}
				run := func(stdin string, extra ...string) string {
					cmd := exec.CommandContext(s.ctx, "kcat", append(append([]string(nil), args...), extra...)...)
					cmd.Stdin = strings.NewReader(stdin)
					var out, errb bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &errb
					if err := cmd.Run(); err != nil {
						s.Fatalf("kcat %v: %v: %s", extra, err, lastLines(errb.String(), 3))
					}
					return out.String()
				}
				run("a\nb\n", "-P")
				if out := run("", "-C", "-o", "beginning", "-e", "-q"); out != "a\nb\n" {
					s.Fatalf("kcat read %q", out)
				}
			})
		}
	}
}
