package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/logd/logd/internal/testjwt"
)

// jwksServer serves a JWKS that a test may replace, counting the fetches.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte]
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{}
	s.doc.Store(&doc)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func oauthSASL(t *testing.T, cfg OAuthConfig) *SASL {
	t.Helper()
	v, err := NewOAuthValidator(cfg, func(err error) { t.Log(err) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	s, err := NewSASL(map[string]*ListenerSASL{"L": {Enabled: []string{MechOAuthBearer}, OAuth: v}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// oauthStep runs franz-go's OAUTHBEARER client's initial response (token, authzid) through
// an exchange: the principal, or the error after the client acknowledged the error JSON.
func oauthStep(t *testing.T, s *SASL, token, zid string) (string, error) {
	t.Helper()
	x, err := s.Start("L", MechOAuthBearer, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, msg, err := oauth.Auth{Token: token, Zid: zid}.AsMechanism().Authenticate(context.Background(), "h")
	if err != nil {
		t.Fatal(err)
	}
	reply, done, principal, err := x.Step(msg)
	if err != nil || done {
		return principal, err
	}
	if string(reply) != `{"status":"invalid_token"}` {
		t.Fatalf("server's error message %q", reply)
	}
	_, done, _, err = x.Step([]byte{1})
	if done || err == nil {
		t.Fatal("authenticated after the error JSON")
	}
	return "", err
}

// TestOAuthBearer: tokens signed by a key of a JWKS served over HTTP authenticate as
// User:<sub>; an expired token, one not valid yet, a wrong audience or issuer, a missing
// iat, an aud without an expected audience, another key's signature, an unsigned token and
// a mismatched authzid fail; a key rotated into the JWKS is fetched when a token names it.
func TestOAuthBearer(t *testing.T) {
	iss := testjwt.NewIssuer(t, "k1")
	srv := newJWKSServer(t, testjwt.JWKS(t, iss))
	s := oauthSASL(t, OAuthConfig{JWKSURL: srv.URL, Audience: []string{"logd"}, Issuer: "https://idp", ClockSkew: 30 * time.Second})
	now := time.Now()
	good := testjwt.Claims{Subject: "alice", Issuer: "https://idp", Audience: []string{"logd"}, Expiry: now.Add(time.Hour), IssuedAt: now}
	if p, err := oauthStep(t, s, iss.Token(t, good), ""); err != nil || p != "User:alice" {
		t.Fatalf("good token: %q %v", p, err)
	}
	if p, err := oauthStep(t, s, iss.Token(t, good), "alice"); err != nil || p != "User:alice" {
		t.Fatalf("good token with authzid: %q %v", p, err)
	}
	other := testjwt.NewIssuer(t, "k1") // same key id, another key: a forgery
	for name, tc := range map[string]struct {
		token, zid string
	}{
		"expired":         {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.Expiry = now.Add(-time.Minute) }))},
		"not yet valid":   {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.NotBefore = now.Add(time.Hour) }))},
		"wrong audience":  {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.Audience = []string{"other"} }))},
		"wrong issuer":    {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.Issuer = "https://evil" }))},
		"no iat":          {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.IssuedAt = time.Time{} }))},
		"no sub":          {token: iss.Token(t, with(good, func(c *testjwt.Claims) { c.Subject = "" }))},
		"forged":          {token: other.Token(t, good)},
		"unsigned":        {token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9."},
		"authzid differs": {token: iss.Token(t, good), zid: "bob"},
	} {
		if p, err := oauthStep(t, s, tc.token, tc.zid); !errors.Is(err, ErrAuthentication) {
			t.Errorf("%s: %q %v, want a failure", name, p, err)
		}
	}

	// Rotation: a token under a new key id makes the validator fetch the JWKS again (once
	// the last fetch is jwksMissRefresh old), so the new key works before the hourly refresh.
	rotated := testjwt.NewIssuer(t, "k2")
	doc := testjwt.JWKS(t, iss, rotated)
	srv.doc.Store(&doc)
	s.listeners["L"].OAuth.fetched.Store(time.Now().Add(-2 * jwksMissRefresh).UnixNano())
	if p, err := oauthStep(t, s, rotated.Token(t, good), ""); err != nil || p != "User:alice" || srv.fetches.Load() != 2 {
		t.Fatalf("rotated key: %q %v after %d fetches", p, err, srv.fetches.Load())
	}
}

func with(c testjwt.Claims, f func(*testjwt.Claims)) testjwt.Claims {
	f(&c)
	return c
}

// TestOAuthBearerFileJWKS: a file:// JWKS, a custom subject claim, and "aud" refused when no
// audience is expected (as Kafka's jose4j validator does).
func TestOAuthBearerFileJWKS(t *testing.T) {
	iss := testjwt.NewIssuer(t, "k")
	p := filepath.Join(t.TempDir(), "jwks.json")
	os.WriteFile(p, testjwt.JWKS(t, iss), 0o600)
	s := oauthSASL(t, OAuthConfig{JWKSURL: "file://" + p, SubClaim: "client_id"})
	now := time.Now()
	c := testjwt.Claims{Expiry: now.Add(time.Minute), IssuedAt: now, Extra: map[string]any{"client_id": "svc-1"}}
	if p, err := oauthStep(t, s, iss.Token(t, c), ""); err != nil || p != "User:svc-1" {
		t.Fatalf("custom sub claim: %q %v", p, err)
	}
	c.Audience = []string{"x"}
	if _, err := oauthStep(t, s, iss.Token(t, c), ""); err == nil {
		t.Fatal("aud accepted without an expected audience")
	}
	for _, u := range []string{"", "ftp://x", "file:///nonexistent/jwks.json"} {
		if _, err := NewOAuthValidator(OAuthConfig{JWKSURL: u}, nil); err == nil {
			t.Errorf("JWKS URL %q accepted", u)
		}
	}
}

// FuzzOAuthInitial: any initial response never panics the parser, and one it accepts has a
// token of the characters a bearer token may have.
func FuzzOAuthInitial(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer abc.def.ghi\x01\x01"))
	f.Add([]byte("n,a=alice,\x01host=h\x01auth=bearer x\x01\x01"))
	f.Add([]byte("n,,\x01\x01"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, token, err := parseOAuthInitial(msg)
		if err == nil && (token == "" || strings.ContainsAny(token, " \x01,")) {
			t.Fatalf("%q: token %q", msg, token)
		}
	})
}

// TestSessionLifetime: KIP-368's lifetime is the smaller of connections.max.reauth.ms and a
// token's remaining life; unlimited (0) with neither.
func TestSessionLifetime(t *testing.T) {
	now := time.Now()
	tok := &oauthExchange{expires: now.Add(time.Minute)}
	for _, tc := range []struct {
		x    Exchange
		max  time.Duration
		want time.Duration
	}{
		{&plainExchange{}, 0, 0},
		{&plainExchange{}, time.Hour, time.Hour},
		{tok, 0, time.Minute},
		{tok, time.Hour, time.Minute},
		{tok, time.Second, time.Second},
	} {
		if got := SessionLifetime(tc.x, tc.max, now); got != tc.want {
			t.Errorf("%T max %v: %v, want %v", tc.x, tc.max, got, tc.want)
		}
	}
}
