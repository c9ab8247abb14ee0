//go:build compat

package compat

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/testcerts"
)

// sslBroker is a logd with a PLAINTEXT and an SSL listener under ssl.client.auth=required,
// and the PEM files its clients need (certificates made now, nothing committed).
type sslBroker struct {
	*brokerProc
	ssl                          string // the SSL listener's address
	caPEM, clientCert, clientKey string
	clientPair                   tls.Certificate
	serverCA                     *testcerts.CA
}

func startSSLBroker(t *testing.T) *sslBroker {
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
	write(cfg, []byte(fmt.Sprintf("ssl.keystore.type=PEM\nssl.keystore.location=%s\nssl.truststore.type=PEM\n"+
		"ssl.truststore.location=%s\nssl.client.auth=required\nssl.principal.mapping.rules=RULE:^CN=([^,]+),OU=compat$/$1/,DEFAULT\n",
		filepath.Join(dir, "broker.pem"), filepath.Join(dir, "clients-ca.pem"))))
	p1, _ := freePort()
	p2, _ := freePort()
	b.ssl = fmt.Sprintf("127.0.0.1:%d", p2)
	b.brokerProc, err = startBrokerArgs(filepath.Join(dir, "data"), fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SSL://%s", p1, b.ssl), "ssl.log", "--config", cfg)
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
