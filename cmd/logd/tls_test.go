package main

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testcerts"
)

// TestServeSSL runs the binary with a PLAINTEXT and an SSL listener under
// ssl.client.auth=required: franz-go with a client certificate produces and consumes over
// TLS (fetches copy file regions through TLS), Metadata on the SSL listener names the SSL
// address, and a client whose certificate comes from another CA is refused.
func TestServeSSL(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	serverCA, clientCA, rogueCA := testcerts.NewCA(t, "server CA"), testcerts.NewCA(t, "client CA"), testcerts.NewCA(t, "rogue CA")
	cert, key := serverCA.Issue(t, pkix.Name{CommonName: "localhost"})
	ks, ts := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "clients-ca.pem")
	os.WriteFile(ks, append(cert, key...), 0o600)
	os.WriteFile(ts, clientCA.PEM, 0o644)
	cfg := filepath.Join(dir, "server.properties")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listeners=PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0
log.dirs=%s
ssl.keystore.type=PEM
ssl.keystore.location=%s
ssl.truststore.type=PEM
ssl.truststore.location=%s
ssl.client.auth=required
ssl.enabled.protocols=TLSv1.2,TLSv1.3
ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/L,DEFAULT
`, filepath.Join(dir, "data"), ks, ts)), 0o644)
	_, bound, warnings, _ := serveConfig(t, bin, cfg)
	if len(warnings) != 0 || bound["SSL"] == "" || bound["PLAINTEXT"] == "" {
		t.Fatalf("listeners %v, warnings %q", bound, warnings)
	}
	tlsFor := func(ca *testcerts.CA) *tls.Config {
		return &tls.Config{RootCAs: serverCA.Pool(), ServerName: "localhost",
			Certificates: []tls.Certificate{ca.Pair(t, pkix.Name{CommonName: "Alice"})}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bound["SSL"]), kgo.DialTLSConfig(tlsFor(clientCA)), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 200
	value := make([]byte, 10<<10)
	for i := range n {
		copy(value, fmt.Sprintf("record %d", i))
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: append([]byte(nil), value...)}).FirstErr(); err != nil {
			t.Fatalf("produce over SSL: %v", err)
		}
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("fetch over SSL: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("record %d", got); string(r.Value[:len(want)]) != want || len(r.Value) != len(value) {
				t.Fatalf("record %d: %q...", got, r.Value[:16])
			}
			got++
		})
	}
	// The SSL listener advertises itself; its broker list is the SSL address.
	host, port, _ := net.SplitHostPort(bound["SSL"])
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Brokers) != 1 || fmt.Sprint(resp.Brokers[0].Host, ":", resp.Brokers[0].Port) != host+":"+port {
		meta := fmt.Sprintf("%+v", resp.Brokers)
		t.Errorf("SSL listener's Metadata names %s, want %s", meta, bound["SSL"])
	}

	rogue, err := kgo.NewClient(kgo.SeedBrokers(bound["SSL"]), kgo.DialTLSConfig(tlsFor(rogueCA)))
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := rogue.Ping(rctx); err == nil {
		t.Error("a client certificate from an untrusted CA was accepted")
	}
}
