//go:build compat

package compat

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logd/logd/internal/testcerts"
)

// sslBroker is a logd with PLAINTEXT, SSL (ssl.client.auth=required), SASL_PLAINTEXT and
// SASL_SSL listeners (PLAIN, users alice and admin), and the PEM files its clients need
// (certificates made now, nothing committed).
type sslBroker struct {
	*brokerProc
	ssl, saslPlain, saslSSL      string // the listeners' addresses
	caPEM, clientCert, clientKey string
	clientPair                   tls.Certificate
	serverCA                     *testcerts.CA
}

func startSSLBroker(t *testing.T) *sslBroker {
	t.Helper()
	return startSSLBrokerWith(t, "sasl.enabled.mechanisms=PLAIN\n")
}

// startSSLBrokerWith is startSSLBroker with more server.properties lines and serve flags.
func startSSLBrokerWith(t *testing.T, props string, flags ...string) *sslBroker {
	t.Helper()
	dir := t.TempDir()
	serverCA, clientCA := testcerts.NewCA(t, "logd server CA"), testcerts.NewCA(t, "logd client CA")
	cert, key := serverCA.Issue(t, pkix.Name{CommonName: "localhost"})
	ccert, ckey := clientCA.Issue(t, pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"compat"}})
	b := &sslBroker{serverCA: serverCA, caPEM: filepath.Join(dir, "ca.pem"),
		clientCert: filepath.Join(dir, "client.crt"), clientKey: filepath.Join(dir, "client.key")}
	write := func(p string, data ...[]byte) {
		if err := os.WriteFile(p, bytes.Join(data, nil), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "broker.pem"), cert, key)
	write(filepath.Join(dir, "clients-ca.pem"), clientCA.PEM)
	write(b.caPEM, serverCA.PEM)
	write(b.clientCert, ccert)
	write(b.clientKey, ckey)
	write(filepath.Join(dir, "client-keystore.pem"), ckey, ccert)
	var err error
	if b.clientPair, err = tls.X509KeyPair(ccert, ckey); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "server.properties")
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret" user_admin="admin-secret";`
	write(cfg, []byte(fmt.Sprintf("ssl.keystore.type=PEM\nssl.keystore.location=%s\nssl.truststore.type=PEM\n"+
		"ssl.truststore.location=%s\nssl.client.auth=required\nssl.principal.mapping.rules=RULE:^CN=([^,]+),OU=compat$/$1/,DEFAULT\n"+
		"%slistener.name.sasl_plaintext.plain.sasl.jaas.config=%s\nlistener.name.sasl_ssl.plain.sasl.jaas.config=%s\n"+
		// SASL_SSL authenticates by SASL; its TLS only encrypts (Kafka's listener override).
		"listener.name.sasl_ssl.ssl.client.auth=none\n",
		filepath.Join(dir, "broker.pem"), filepath.Join(dir, "clients-ca.pem"), props, jaas, jaas)))
	var ports [4]int
	for i := range ports {
		ports[i], _ = freePort()
	}
	b.ssl, b.saslPlain, b.saslSSL = fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2]), fmt.Sprintf("127.0.0.1:%d", ports[3])
	b.brokerProc, err = startBrokerArgs(filepath.Join(dir, "data"),
		fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SSL://%s,SASL_PLAINTEXT://%s,SASL_SSL://%s", ports[0], b.ssl, b.saslPlain, b.saslSSL), "ssl.log", append([]string{"--config", cfg}, flags...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("logd with SSL exit: %v", err)
		}
	})
	return b
}

// javaClientConfig is a Kafka client properties file for SSL with a client certificate.
func (b *sslBroker) javaClientConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "client.properties")
	dir := filepath.Dir(b.caPEM)
	os.WriteFile(p, []byte(fmt.Sprintf("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s\n"+
		"ssl.keystore.type=PEM\nssl.keystore.location=%s\n", b.caPEM, filepath.Join(dir, "client-keystore.pem"))), 0o600)
	return p
}

// TestSecuritySSL: clients over an SSL listener with mutual TLS: franz-go, the Java client
// (kafka-console-producer and -consumer with --producer.config / --consumer.config) and kcat
// (librdkafka), each producing and reading back its own records.
func TestSecuritySSL(t *testing.T) {
	b := startSSLBroker(t)
	scenario(t, "franz-go", "ssl-mtls-produce-consume", 60*time.Second, func(s *S) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.ssl), kgo.DialTLSConfig(&tls.Config{RootCAs: b.serverCA.Pool(),
			ServerName: "localhost", Certificates: []tls.Certificate{b.clientPair}}), kgo.AllowAutoTopicCreation(),
			kgo.ConsumeTopics("ssl-franz"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			s.Fatalf("client: %v", err)
		}
		defer cl.Close()
		for i := range 50 {
			if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: "ssl-franz", Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
				s.Fatalf("produce: %v", err)
			}
		}
		for got := 0; got < 50; {
			fs := cl.PollFetches(s.ctx)
			if err := fs.Err(); err != nil {
				s.Fatalf("fetch: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Value) != fmt.Sprintf("v%d", got) {
					s.Fatalf("record %d: %q", got, r.Value)
				}
				got++
			})
		}
	})
	scenario(t, "java", "ssl-mtls-console-producer", 120*time.Second, func(s *S) {
		cfg := b.javaClientConfig(t)
		lines := "one\ntwo\nthree\n"
		javaTool(s, lines, "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", b.ssl, "--topic", "ssl-java",
			"--producer.config", cfg)
		out := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", b.ssl, "--topic", "ssl-java",
			"--from-beginning", "--max-messages", "3", "--timeout-ms", "30000", "--consumer.config", cfg)
		if !strings.Contains(out, "one\ntwo\nthree\n") {
			s.Fatalf("console consumer read %q", lastLines(out, 5))
		}
	})
	scenario(t, "kcat", "ssl-mtls-produce-consume", 60*time.Second, func(s *S) {
		if _, err := exec.LookPath("kcat"); err != nil {
			s.NA("kcat not installed")
		}
		args := []string{"-b", b.ssl, "-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + b.caPEM,
			"-X", "ssl.certificate.location=" + b.clientCert, "-X", "ssl.key.location=" + b.clientKey, "-t", "ssl-kcat"}
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

// javaTool runs a Kafka tool's main class with stdin and returns stdout and stderr.
func javaTool(s *S, stdin, mainClass string, args ...string) string {
	s.Helper()
	lib := filepath.Join(repoRoot, "tools", "kafka", "lib")
	if !fileExists(filepath.Join(lib, ".complete")) {
		s.Fatalf("tools/kafka/lib missing: run scripts/kafka-tools.sh fetch (scripts/compat-deps.sh does)")
	}
	ctx, cancel := context.WithTimeout(s.ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", lib + "/*", mainClass}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.Fatalf("%s: %v; stderr: %s", mainClass, err, lastLines(errb.String(), 5))
	}
	return out.String() + errb.String()
}

// saslJavaConfig is a Kafka client properties file for SASL PLAIN on protocol.
func (b *sslBroker) saslJavaConfig(t *testing.T, protocol, user, pass string) string {
	p := filepath.Join(t.TempDir(), "sasl-client.properties")
	os.WriteFile(p, []byte(fmt.Sprintf("security.protocol=%s\nsasl.mechanism=PLAIN\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"%s\" password=\"%s\";\n"+
		"ssl.truststore.type=PEM\nssl.truststore.location=%s\n", protocol, user, pass, b.caPEM)), 0o600)
	return p
}

// TestSecuritySASL: SASL PLAIN on SASL_PLAINTEXT and SASL_SSL for franz-go, the Java client
// (kafka-console-producer and -consumer with --producer.config / --consumer.config) and kcat;
// a wrong password fails with SASL_AUTHENTICATION_FAILED (franz-go) and makes the Java
// producer give up.
func TestSecuritySASL(t *testing.T) {
	b := startSSLBroker(t)
	for _, proto := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		addr := b.saslPlain
		if proto == "SASL_SSL" {
			addr = b.saslSSL
		}
		topic := "sasl-" + strings.ToLower(proto)
		scenario(t, "franz-go", strings.ToLower(proto)+"-plain", 60*time.Second, func(s *S) {
			opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5 * time.Second)}
			if proto == "SASL_SSL" {
				opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: b.serverCA.Pool(), ServerName: "localhost"}))
			}
			cl, err := kgo.NewClient(append(opts, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))...)
			if err != nil {
				s.Fatalf("client: %v", err)
			}
			defer cl.Close()
			if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: topic + "-franz", Value: []byte("x")}).FirstErr(); err != nil {
				s.Fatalf("produce: %v", err)
			}
			bad, _ := kgo.NewClient(append(opts, kgo.SASL(plain.Auth{User: "alice", Pass: "nope"}.AsMechanism()))...)
			defer bad.Close()
			if err := bad.Ping(s.ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
				s.Fatalf("wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
		scenario(t, "java", strings.ToLower(proto)+"-plain-console-producer", 120*time.Second, func(s *S) {
			cfg := b.saslJavaConfig(t, proto, "alice", "alice-secret")
			javaTool(s, "one\ntwo\n", "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", addr, "--topic", topic,
				"--producer.config", cfg)
			out := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", addr, "--topic", topic,
				"--from-beginning", "--max-messages", "2", "--timeout-ms", "30000", "--consumer.config", cfg)
			if !strings.Contains(out, "one\ntwo\n") {
				s.Fatalf("console consumer read %q", lastLines(out, 5))
			}
		})
		scenario(t, "kcat", strings.ToLower(proto)+"-plain", 60*time.Second, func(s *S) {
			if _, err := exec.LookPath("kcat"); err != nil {
				s.NA("kcat not installed")
			}
			args := []string{"-b", addr, "-X", "security.protocol=" + strings.ToLower(proto), "-X", "sasl.mechanisms=PLAIN",
				"-X", "sasl.username=alice", "-X", "sasl.password=alice-secret", "-X", "ssl.ca.location=" + b.caPEM, "-t", topic + "-kcat"}
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
