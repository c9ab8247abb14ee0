package main

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/internal/testcerts"
)

// TestServeSASL runs the binary with SASL_PLAINTEXT and SASL_SSL listeners (PLAIN): franz-go
// with the right password produces and consumes on both; a wrong password is
// SASL_AUTHENTICATION_FAILED and a closed connection; requests other than ApiVersions and
// SASL before authenticating close the connection, as does a pre-authentication frame above
// the 512 KiB cap; and a flood of 2,000 unauthenticated connections sending junk or huge
// SASL frames leaves the broker's memory bounded and an authenticated client working.
func TestServeSASL(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "server CA")
	ks := writeKeystore(t, ca, dir)
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";`
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0
log.dirs=%s
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=%s
listener.name.sasl_ssl.plain.sasl.jaas.config=%s
ssl.keystore.location=%s
`, filepath.Join(dir, "data"), jaas, jaas, ks)), 0o644)
	_, bound, warnings, pid := serveConfig(t, bin, cfg)
	if len(warnings) != 0 || bound["SASL_PLAINTEXT"] == "" || bound["SASL_SSL"] == "" {
		t.Fatalf("listeners %v, warnings %q", bound, warnings)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := func(listener, user, pass string, opts ...kgo.Opt) *kgo.Client {
		opts = append(opts, kgo.SeedBrokers(bound[listener]), kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()),
			kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(5*time.Second))
		if listener == "SASL_SSL" {
			opts = append(opts, kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	for _, listener := range []string{"SASL_PLAINTEXT", "SASL_SSL"} {
		topic := strings.ToLower(listener)
		cl := client(listener, "alice", "alice-secret", kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		for i := range 20 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", listener, err)
			}
		}
		for got := 0; got < 20; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("%s: fetch: %v", listener, err)
			}
			got += fs.NumRecords()
		}
		bad := client(listener, "alice", "wrong")
		err := bad.Ping(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("%s: wrong password: %v, want SASL_AUTHENTICATION_FAILED", listener, err)
		}
	}

	sasl := bound["SASL_PLAINTEXT"]
	// Metadata before authenticating: closed without an answer.
	c, err := net.Dial("tcp", sasl)
	if err != nil {
		t.Fatal(err)
	}
	c.Write(kwire.EncodeRequest(nil, kmsg.NewPtrMetadataRequest(), "x"))
	expectEOF(t, c, "Metadata before authentication")
	// A pre-authentication frame claiming 1 MiB: closed at its size, before a byte of it.
	c, _ = net.Dial("tcp", sasl)
	c.Write(binary.BigEndian.AppendUint32(nil, 1<<20))
	expectEOF(t, c, "1 MiB pre-authentication frame")

	// The flood: 1,000 connections claim 100 MiB, 1,000 claim 400 KiB (under the cap) and
	// send 1 KiB of it, then stall; an authenticated client keeps producing meanwhile.
	rss0 := rssKiB(t, pid)
	var conns []net.Conn
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", sasl, 10*time.Second)
			if err != nil {
				return
			}
			claim, body := uint32(100<<20), 0
			if i%2 == 1 {
				claim, body = 400<<10, 1<<10
			}
			c.Write(append(binary.BigEndian.AppendUint32(nil, claim), make([]byte, body)...))
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	good := client("SASL_PLAINTEXT", "admin", "admin-secret")
	for i := 0; time.Since(start) < 3*time.Second || i < 20; i++ {
		if err := good.ProduceSync(ctx, &kgo.Record{Topic: "during-flood", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("authenticated client during the flood: %v", err)
		}
	}
	wg.Wait()
	rss1 := rssKiB(t, pid)
	for _, c := range conns {
		c.Close()
	}
	if rss1-rss0 > 200<<10 {
		t.Errorf("flood grew the broker's RSS by %d MiB (from %d MiB)", (rss1-rss0)>>10, rss0>>10)
	}
	t.Logf("flood of %d connections: RSS %d → %d MiB, %v", len(conns), rss0>>10, rss1>>10, time.Since(start).Round(time.Millisecond))
}

// expectEOF asserts that the server closes c without answering.
func expectEOF(t *testing.T, c net.Conn, what string) {
	t.Helper()
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, c)
	var ne net.Error
	if n != 0 || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("%s: read %d bytes, %v; want the connection closed unanswered", what, n, err)
	}
}

// rssKiB is the resident set of process pid.
func rssKiB(t *testing.T, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// writeKeystore writes dir/broker.pem, a PEM keystore (key and certificate, valid for
// localhost and 127.0.0.1) issued by ca, and returns its path.
func writeKeystore(t *testing.T, ca *testcerts.CA, dir string) string {
	cert, key := ca.Issue(t, pkix.Name{CommonName: "localhost"})
	ks := filepath.Join(dir, "broker.pem")
	if err := os.WriteFile(ks, append(cert, key...), 0o600); err != nil {
		t.Fatal(err)
	}
	return ks
}
