// Package testjwt makes what OAUTHBEARER tests need at test time: an RSA signing key, its
// JWKS document, and signed JWTs with the claims a test asks for. Nothing is committed.
package testjwt

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is a signing key with its key id.
type Issuer struct {
	KID string
	key *rsa.PrivateKey
}

// NewIssuer makes a 2048-bit RSA key named kid.
func NewIssuer(t testing.TB, kid string) *Issuer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{KID: kid, key: k}
}

// JWKS is the JSON Web Key Set of the issuers' public keys.
func JWKS(t testing.TB, issuers ...*Issuer) []byte {
	t.Helper()
	var ks jose.JSONWebKeySet
	for _, i := range issuers {
		ks.Keys = append(ks.Keys, jose.JSONWebKey{Key: &i.key.PublicKey, KeyID: i.KID, Algorithm: string(jose.RS256), Use: "sig"})
	}
	b, err := json.Marshal(ks)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Claims are a token's claims; zero times are left out.
type Claims struct {
	Subject, Issuer             string
	Audience                    []string
	Expiry, IssuedAt, NotBefore time.Time
	// Extra are more claims (a custom subject claim name, scope).
	Extra map[string]any
}

// Token signs claims with RS256 under the issuer's key id.
func (i *Issuer) Token(t testing.TB, c Claims) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: i.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", i.KID))
	if err != nil {
		t.Fatal(err)
	}
	std := jwt.Claims{Subject: c.Subject, Issuer: c.Issuer, Audience: c.Audience}
	for _, p := range []struct {
		at  time.Time
		dst **jwt.NumericDate
	}{{c.Expiry, &std.Expiry}, {c.IssuedAt, &std.IssuedAt}, {c.NotBefore, &std.NotBefore}} {
		if !p.at.IsZero() {
			*p.dst = jwt.NewNumericDate(p.at)
		}
	}
	b := jwt.Signed(sig).Claims(std)
	if c.Extra != nil {
		b = b.Claims(c.Extra)
	}
	s, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
