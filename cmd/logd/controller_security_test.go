package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/internal/testcerts"
	"github.com/logd/logd/metadata"
)

// TestControllerSecurity: the controller listener's protocol decides how the voters secure
// Raft; settings that would let a peer in unauthenticated, or that cannot work, are usage
// errors naming the setting.
func TestControllerSecurity(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "controllers CA")
	cert, key := ca.Issue(t, pkix.Name{CommonName: "broker"})
	ks, ts := filepath.Join(dir, "ks.pem"), filepath.Join(dir, "ca.pem")
	os.WriteFile(ks, append(cert, key...), 0o600)
	os.WriteFile(ts, ca.PEM, 0o600)
	plan := func(proto string) listenerPlan {
		return listenerPlan{controller: "127.0.0.1:9093", controllerListener: listener{Endpoint: metadata.Endpoint{Name: "CONTROLLER", Protocol: proto}}}
	}
	st := defaultServeSettings()
	st.TLS.KeystoreLocation, st.TLS.TruststoreLocation = ks, ts
	st.PerListener = map[string]string{}

	if sec, _, err := controllerSecurity(st, plan("PLAINTEXT"), nil, nil); err != nil || sec.Protocol != "" {
		t.Fatalf("PLAINTEXT: %+v %v", sec, err)
	}
	sec, _, err := controllerSecurity(st, plan("SSL"), acl.New(acl.Config{SuperUsers: []string{"User:CN=broker"}}), nil)
	if err != nil || sec.ServerTLS == nil || sec.Client.TLS == nil || sec.TLSPrincipal == nil {
		t.Fatalf("SSL: %+v %v", sec, err)
	}
	if err := sec.Authorize("User:CN=broker"); err != nil {
		t.Fatalf("a super user refused: %v", err)
	}
	if err := sec.Authorize("User:CN=intruder"); err == nil || !strings.Contains(err.Error(), "super.users") {
		t.Fatalf("a principal outside super.users: %v", err)
	}
	if sec, _, err := controllerSecurity(st, plan("SSL"), nil, nil); err != nil || sec.Authorize != nil {
		t.Fatalf("SSL without an authorizer lets any certificate of the truststore in: %v", err)
	}
	st.PerListener["listener.name.controller.ssl.client.auth"] = "none"
	if _, _, err := controllerSecurity(st, plan("SSL"), nil, nil); err == nil || !strings.Contains(err.Error(), "listener.name.controller.ssl.client.auth=none") {
		t.Fatalf("SSL without client certificates: %v", err)
	}
	delete(st.PerListener, "listener.name.controller.ssl.client.auth")

	st.SASLMechanisms = "PLAIN,SCRAM-SHA-512"
	if _, _, err := controllerSecurity(st, plan("SASL_PLAINTEXT"), nil, nil); err == nil || !strings.Contains(err.Error(), "enables SCRAM-SHA-512") {
		t.Fatalf("SCRAM between voters: %v", err)
	}
	st.SASLMechanisms = "PLAIN"
	if _, _, err := controllerSecurity(st, plan("SASL_PLAINTEXT"), nil, nil); err == nil || !strings.Contains(err.Error(), "listener.name.controller.plain.sasl.jaas.config") {
		t.Fatalf("SASL PLAIN without users: %v", err)
	}
	st.PerListener["listener.name.controller.plain.sasl.jaas.config"] = `org.apache.kafka.common.security.plain.PlainLoginModule required user_ctl="s";`
	if _, _, err := controllerSecurity(st, plan("SASL_PLAINTEXT"), nil, nil); err == nil || !strings.Contains(err.Error(), `own login needs username="..."`) {
		t.Fatalf("SASL without the voter's own login: %v", err)
	}
	st.PerListener["listener.name.controller.plain.sasl.jaas.config"] = `org.apache.kafka.common.security.plain.PlainLoginModule required username="ctl" password="s" user_ctl="s";`
	sec, closeSASL, err := controllerSecurity(st, plan("SASL_SSL"), nil, nil)
	if err != nil || sec.SASL == nil || sec.Client.SASL.Name() != "PLAIN" || sec.ServerTLS == nil {
		t.Fatalf("SASL_SSL: %+v %v", sec, err)
	}
	defer closeSASL()
	if _, err := sec.SASL("SCRAM-SHA-256"); err == nil {
		t.Fatal("the controller listener started a mechanism it does not enable")
	}
}

// TestFileTokenLogin: OAUTHBEARER between brokers takes the broker's token from the file of
// sasl.oauthbearer.token.endpoint.url, read again at each login, so a renewed token is used
// from the next connection; anything but a file:// URL is a usage error.
func TestFileTokenLogin(t *testing.T) {
	for _, u := range []string{"", "https://idp.example/token", "file://"} {
		if _, err := fileTokenLogin(u); err == nil || !strings.Contains(err.Error(), "sasl.oauthbearer.token.endpoint.url") {
			t.Errorf("%q: %v", u, err)
		}
	}
	path := filepath.Join(t.TempDir(), "token")
	os.WriteFile(path, []byte("first.token.jwt\n"), 0o600)
	m, err := fileTokenLogin("file://" + path)
	if err != nil {
		t.Fatal(err)
	}
	first := func() []byte {
		_, msg, err := m.Authenticate(context.Background(), "host")
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	if msg := first(); !bytes.Contains(msg, []byte("auth=Bearer first.token.jwt\x01")) {
		t.Fatalf("initial response %q", msg)
	}
	os.WriteFile(path, []byte("second.token.jwt"), 0o600)
	if msg := first(); !bytes.Contains(msg, []byte("auth=Bearer second.token.jwt\x01")) {
		t.Fatalf("initial response after the token changed: %q", msg)
	}
	os.WriteFile(path, nil, 0o600)
	if _, _, err := m.Authenticate(context.Background(), "host"); err == nil || !strings.Contains(err.Error(), "holds no token") {
		t.Fatalf("an empty token file: %v", err)
	}
}
