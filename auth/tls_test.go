package auth

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcerts"
	"github.com/logd/logd/net/server"
)

// stores writes a keystore (key + chain) and a truststore for ca into a temporary directory.
func stores(t *testing.T, ca, trusted *testcerts.CA) (keystore, truststore string) {
	t.Helper()
	dir := t.TempDir()
	cert, key := ca.Issue(t, pkix.Name{CommonName: "localhost"})
	keystore, truststore = filepath.Join(dir, "server.pem"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(keystore, append(key, cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truststore, trusted.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return keystore, truststore
}

// principalServer serves TLS with tc; each response is the request's principal.
func principalServer(t *testing.T, tc *TLS) string {
	t.Helper()
	s := server.New(server.Config{TLSPrincipal: tc.Principal}, server.HandlerFunc(func(req *server.Request) *server.Response {
		r := server.NewResponse()
		r.AppendInt32(req.CorrelationID)
		_, _ = r.Write([]byte(req.Session.Principal()))
		return r
	}))
	if err := s.StartTLS("127.0.0.1:0", tc.Config()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.Addr().String()
}

// principalOf connects with cfg and returns the principal the server saw, or the error.
func principalOf(addr string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := binary.BigEndian.AppendUint32(nil, 10)
	req = append(req, 0, 18, 0, 0, 0, 0, 0, 7, 0xff, 0xff) // ApiVersions v0, correlation 7, null client id
	if _, err := c.Write(req); err != nil {
		return "", err
	}
	br := bufio.NewReader(c)
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return "", err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(br, body); err != nil {
		return "", err
	}
	return string(body[4:]), nil
}

// TestMutualTLS: under ssl.client.auth=required a client certificate from the truststore's
// CA gives the mapped principal; none, or one from another CA, fails the handshake; with
// requested, no certificate is User:ANONYMOUS.
func TestMutualTLS(t *testing.T) {
	serverCA, clientCA, rogueCA := testcerts.NewCA(t, "server CA"), testcerts.NewCA(t, "client CA"), testcerts.NewCA(t, "rogue CA")
	ks, ts := stores(t, serverCA, clientCA)
	tc, err := NewTLS(TLSSettings{KeystoreType: "PEM", KeystoreLocation: ks, TruststoreType: "PEM", TruststoreLocation: ts,
		ClientAuth: "required", PrincipalMappingRules: "RULE:^CN=([^,]+),OU=svc$/$1/L,DEFAULT"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := principalServer(t, tc)
	client := func(ca *testcerts.CA, subject pkix.Name) *tls.Config {
		cfg := &tls.Config{RootCAs: serverCA.Pool(), ServerName: "localhost"}
		if ca != nil {
			cfg.Certificates = []tls.Certificate{ca.Pair(t, subject)}
		}
		return cfg
	}
	for _, tc := range []struct {
		cfg  *tls.Config
		want string
	}{
		{client(clientCA, pkix.Name{CommonName: "Alice", OrganizationalUnit: []string{"svc"}}), "User:alice"},
		{client(clientCA, pkix.Name{CommonName: "bob", Organization: []string{"corp"}}), "User:CN=bob,O=corp"},
		{client(nil, pkix.Name{}), "error"},
		{client(rogueCA, pkix.Name{CommonName: "mallory", OrganizationalUnit: []string{"svc"}}), "error"},
	} {
		got, err := principalOf(addr, tc.cfg)
		if err != nil {
			got = "error"
		}
		if got != tc.want {
			t.Errorf("principal %q (%v), want %s", got, err, tc.want)
		}
	}
	tr, err := NewTLS(TLSSettings{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "requested"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := principalOf(principalServer(t, tr), client(nil, pkix.Name{})); err != nil || got != Anonymous {
		t.Fatalf("requested, no certificate: %q %v", got, err)
	}
}

// TestTLSReload: a keystore rewritten on disk is served by the next handshake after the
// check interval, without a restart; one that does not parse keeps the old certificate.
func TestTLSReload(t *testing.T) {
	oldCA, newCA := testcerts.NewCA(t, "old CA"), testcerts.NewCA(t, "new CA")
	ks, ts := stores(t, oldCA, oldCA)
	tc, err := NewTLS(TLSSettings{KeystoreLocation: ks, TruststoreLocation: ts}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := principalServer(t, tc)
	trusting := func(ca *testcerts.CA) *tls.Config { return &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"} }
	if _, err := principalOf(addr, trusting(oldCA)); err != nil {
		t.Fatal(err)
	}
	cert, key := newCA.Issue(t, pkix.Name{CommonName: "localhost"})
	os.WriteFile(ks, append(key, cert...), 0o600)
	os.Chtimes(ks, time.Now().Add(time.Second), time.Now().Add(time.Second))
	if _, err := principalOf(addr, trusting(newCA)); err == nil {
		t.Fatal("reloaded before the check interval")
	}
	tc.current(time.Now().Add(ReloadCheck)) // as the first handshake after the interval does
	if _, err := principalOf(addr, trusting(newCA)); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	os.WriteFile(ks, []byte("garbage"), 0o600)
	os.Chtimes(ks, time.Now().Add(2*time.Second), time.Now().Add(2*time.Second))
	tc.current(time.Now().Add(2 * ReloadCheck))
	if _, err := principalOf(addr, trusting(newCA)); err != nil {
		t.Fatalf("a broken keystore replaced the good certificate: %v", err)
	}
}

func TestTLSSettingsErrors(t *testing.T) {
	ca := testcerts.NewCA(t, "ca")
	ks, ts := stores(t, ca, ca)
	for _, tc := range []struct {
		set  TLSSettings
		want string
	}{
		{TLSSettings{KeystoreType: "JKS", KeystoreLocation: ks}, "ssl.keystore.type=JKS: logd reads PEM stores only"},
		{TLSSettings{KeystoreLocation: ks, KeyPassword: "x"}, "ssl.key.password: logd does not read encrypted keys"},
		{TLSSettings{KeystoreLocation: ks, ClientAuth: "always"}, "ssl.client.auth=always: want required, requested or none"},
		{TLSSettings{KeystoreLocation: ks, ClientAuth: "required"}, "ssl.client.auth=required needs a truststore"},
		{TLSSettings{KeystoreLocation: ks, EnabledProtocols: "TLSv1.1"}, `ssl.enabled.protocols: "TLSv1.1" is not TLSv1.2 or TLSv1.3`},
		{TLSSettings{KeystoreLocation: ks, CipherSuites: "TLS_RSA_WITH_RC4_128_SHA"}, `ssl.cipher.suites: "TLS_RSA_WITH_RC4_128_SHA" is not a secure TLS 1.2 suite`},
		{TLSSettings{KeystoreLocation: ts}, "must hold a certificate chain and its private key"},
		{TLSSettings{KeystoreLocation: filepath.Join(t.TempDir(), "none.pem")}, "ssl.keystore.location: open"},
		{TLSSettings{KeystoreLocation: ks, PrincipalMappingRules: "RULE:x"}, "ssl.principal.mapping.rules: invalid rule"},
	} {
		if _, err := NewTLS(tc.set, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.set, err, tc.want)
		}
	}
	tc, err := NewTLS(TLSSettings{KeystoreLocation: ks, EnabledProtocols: "TLSv1.3", CipherSuites: "TLS_AES_128_GCM_SHA256"}, nil)
	if err != nil || tc.base.MinVersion != tls.VersionTLS13 {
		t.Fatalf("TLSv1.3 only: %v", err)
	}
}
