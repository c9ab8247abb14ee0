package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MechOAuthBearer is SASL OAUTHBEARER (RFC 7628), with tokens validated as Kafka's
// OAuthBearerValidatorCallbackHandler validates them (KIP-768).
const MechOAuthBearer = "OAUTHBEARER"

// OAuthConfig is the broker's token validation: Kafka's sasl.oauthbearer.* settings.
type OAuthConfig struct {
	// JWKSURL is sasl.oauthbearer.jwks.endpoint.url: file://, http:// or https://.
	JWKSURL string
	// Refresh is sasl.oauthbearer.jwks.endpoint.refresh.ms (default 1 h).
	Refresh time.Duration
	// Audience is sasl.oauthbearer.expected.audience: one of them must be in "aud". Empty:
	// a token with an "aud" claim is refused, as jose4j (Kafka's validator) does.
	Audience []string
	// Issuer is sasl.oauthbearer.expected.issuer ("": any).
	Issuer string
	// SubClaim is sasl.oauthbearer.sub.claim.name (default "sub"): the principal's name.
	SubClaim string
	// ClockSkew is sasl.oauthbearer.clock.skew.seconds (Kafka's default is 30 s).
	ClockSkew time.Duration
}

// jwksFetchLimit bounds a JWKS document.
const jwksFetchLimit = 1 << 20

// jwksMissRefresh is how soon after a refresh a token with an unknown key id may make the
// validator fetch the JWKS again (a key rotated in before the periodic refresh).
const jwksMissRefresh = 10 * time.Second

// OAuthValidator validates OAUTHBEARER tokens: a JWS signed by a key of the JWKS (reloaded
// every Refresh, and early when a token names a key id it does not have), with "exp" and
// "iat" required and "exp", "nbf", "iat" checked with ClockSkew, the expected audience and
// issuer, and a non-empty subject claim.
type OAuthValidator struct {
	cfg    OAuthConfig
	client *http.Client
	keys   atomic.Pointer[jose.JSONWebKeySet]
	stop   chan struct{}
	done   chan struct{}

	fetching    atomic.Bool  // a fetch is running: another one is not started
	fetched     atomic.Int64 // unix nanoseconds of the last successful fetch
	closeOnce   sync.Once
	refreshFail func(error) // logs a failed periodic refresh
}

// NewOAuthValidator loads the JWKS (it must load) and starts its periodic refresh; logf
// reports a refresh that fails (the previous keys stay). Close stops it.
func NewOAuthValidator(cfg OAuthConfig, logf func(error)) (*OAuthValidator, error) {
	if cfg.JWKSURL == "" {
		return nil, errors.New("OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url (a file://, http:// or https:// JWKS)")
	}
	u, err := url.Parse(cfg.JWKSURL)
	if err != nil || (u.Scheme != "file" && u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("sasl.oauthbearer.jwks.endpoint.url %q is not a file://, http:// or https:// URL", cfg.JWKSURL)
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	if cfg.SubClaim == "" {
		cfg.SubClaim = "sub"
	}
	v := &OAuthValidator{cfg: cfg, client: &http.Client{Timeout: 10 * time.Second}, stop: make(chan struct{}), done: make(chan struct{}), refreshFail: logf}
	if err := v.fetch(); err != nil {
		return nil, err
	}
	go v.refreshLoop()
	return v, nil
}

// Close stops the periodic refresh.
func (v *OAuthValidator) Close() {
	v.closeOnce.Do(func() { close(v.stop) })
	<-v.done
}

func (v *OAuthValidator) refreshLoop() {
	defer close(v.done)
	t := time.NewTicker(v.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-v.stop:
			return
		case <-t.C:
			if err := v.fetch(); err != nil && !errors.Is(err, errFetching) && v.refreshFail != nil {
				v.refreshFail(err)
			}
		}
	}
}

// errFetching: another fetch is running; its keys will do.
var errFetching = errors.New("a JWKS fetch is already running")

// fetch reads the JWKS and installs it; one at a time, no lock held while reading.
func (v *OAuthValidator) fetch() error {
	if !v.fetching.CompareAndSwap(false, true) {
		return errFetching
	}
	defer v.fetching.Store(false)
	var body []byte
	u, _ := url.Parse(v.cfg.JWKSURL)
	if u.Scheme == "file" {
		f, err := os.Open(u.Path)
		if err != nil {
			return fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
		}
		defer f.Close()
		if body, err = io.ReadAll(io.LimitReader(f, jwksFetchLimit+1)); err != nil {
			return fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
		resp, err := v.client.Do(req)
		if err != nil {
			return fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("JWKS %s: HTTP %s", v.cfg.JWKSURL, resp.Status)
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, jwksFetchLimit+1)); err != nil {
			return fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
		}
	}
	if len(body) > jwksFetchLimit {
		return fmt.Errorf("JWKS %s: larger than %d bytes", v.cfg.JWKSURL, jwksFetchLimit)
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(body, &ks); err != nil {
		return fmt.Errorf("JWKS %s: %w", v.cfg.JWKSURL, err)
	}
	if len(ks.Keys) == 0 {
		return fmt.Errorf("JWKS %s has no keys", v.cfg.JWKSURL)
	}
	v.keys.Store(&ks)
	v.fetched.Store(time.Now().UnixNano())
	return nil
}

// oauthAlgorithms are the signature algorithms accepted: asymmetric only ("none" and HMAC
// are refused, as Kafka refuses "none"; a JWKS publishes public keys).
var oauthAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// Validate checks a token at now and returns its principal's name and expiry.
func (v *OAuthValidator) Validate(token string, now time.Time) (sub string, expiry time.Time, err error) {
	tok, err := jwt.ParseSigned(token, oauthAlgorithms)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("could not parse the access token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return "", time.Time{}, errors.New("the access token must have one signature")
	}
	kid := tok.Headers[0].KeyID
	keys := v.keys.Load().Key(kid)
	if len(keys) == 0 {
		// A key rotated in since the last fetch: fetch now (on the SaslAuthenticate's
		// worker, bounded by the HTTP client's timeout), at most every jwksMissRefresh, so
		// tokens naming unknown keys cannot make the broker hammer the JWKS endpoint.
		if time.Since(time.Unix(0, v.fetched.Load())) > jwksMissRefresh && v.fetch() == nil {
			keys = v.keys.Load().Key(kid)
		}
		if len(keys) == 0 {
			return "", time.Time{}, fmt.Errorf("no key with id %q in the JWKS", kid)
		}
	}
	var claims jwt.Claims
	var all map[string]any
	var verr error
	for _, k := range keys {
		if verr = tok.Claims(k.Key, &claims, &all); verr == nil {
			break
		}
	}
	if verr != nil {
		return "", time.Time{}, fmt.Errorf("the access token's signature does not verify: %w", verr)
	}
	if claims.Expiry == nil {
		return "", time.Time{}, errors.New("the access token has no exp claim")
	}
	if claims.IssuedAt == nil {
		return "", time.Time{}, errors.New("the access token has no iat claim")
	}
	if len(v.cfg.Audience) == 0 && len(claims.Audience) > 0 {
		return "", time.Time{}, errors.New("the access token has an aud claim, but no sasl.oauthbearer.expected.audience is configured")
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: v.cfg.Issuer, AnyAudience: v.cfg.Audience, Time: now}, v.cfg.ClockSkew); err != nil {
		return "", time.Time{}, fmt.Errorf("the access token is not valid: %w", err)
	}
	sub, _ = all[v.cfg.SubClaim].(string)
	if strings.TrimSpace(sub) == "" {
		return "", time.Time{}, fmt.Errorf("the access token has no %q claim naming its principal", v.cfg.SubClaim)
	}
	return sub, claims.Expiry.Time(), nil
}

// oauthInitial matches the client's initial response (RFC 7628 §3.1, as Kafka's
// OAuthBearerClientInitialResponse): gs2 header "n,[a=authzid]," then \x01-separated
// key=value pairs ending in \x01\x01.
var (
	oauthInitial = regexp.MustCompile(`^n,(?:a=([^,\x01]*))?,\x01((?:[A-Za-z]+=[\x21-\x7E \t\r\n]*\x01)*)\x01$`)
	oauthAuth    = regexp.MustCompile(`^([A-Za-z]+) +([-_.A-Za-z0-9]+)$`)
)

// maxOAuthMessage bounds the initial response (tokens of a few KiB are usual).
const maxOAuthMessage = 64 << 10

// parseOAuthInitial returns the authzid and the bearer token of the client's initial response.
func parseOAuthInitial(msg []byte) (authzid, token string, err error) {
	if len(msg) > maxOAuthMessage {
		return "", "", errors.New("initial response too long")
	}
	m := oauthInitial.FindSubmatch(msg)
	if m == nil {
		return "", "", errors.New("invalid OAUTHBEARER client first message")
	}
	authzid = string(m[1])
	for _, kv := range strings.Split(strings.TrimSuffix(string(m[2]), "\x01"), "\x01") {
		k, val, _ := strings.Cut(kv, "=")
		if k != "auth" {
			continue // extensions: accepted and ignored, as Kafka's validator does
		}
		a := oauthAuth.FindStringSubmatch(val)
		if a == nil || !strings.EqualFold(a[1], "bearer") {
			return "", "", errors.New("invalid OAUTHBEARER auth value: want Bearer <token>")
		}
		token = a[2]
	}
	if token == "" {
		return "", "", errors.New("OAUTHBEARER client first message has no auth=Bearer token")
	}
	return authzid, token, nil
}

// oauthInvalidToken is the RFC 7628 §3.2.2 error Kafka's server sends for a token that does
// not validate.
const oauthInvalidToken = `{"status":"invalid_token"}`

// oauthExchange is the server side of OAUTHBEARER: the initial response is answered with
// nothing (authenticated) or with the error JSON, after which the client sends \x01 and is
// told authentication failed.
type oauthExchange struct {
	v       *OAuthValidator
	failed  string // why the token was refused, once the error JSON was sent
	expires time.Time
}

// Step implements Exchange.
func (x *oauthExchange) Step(msg []byte) ([]byte, bool, string, error) {
	if x.failed != "" {
		return nil, false, "", &Failure{Message: oauthInvalidToken, Reason: x.failed}
	}
	authzid, token, err := parseOAuthInitial(msg)
	if err != nil {
		return nil, false, "", &Failure{Message: "Authentication failed: " + err.Error(), Reason: err.Error()}
	}
	sub, expiry, err := x.v.Validate(token, time.Now())
	if err != nil {
		x.failed = err.Error()
		return []byte(oauthInvalidToken), false, "", nil
	}
	if authzid != "" && authzid != sub {
		msg := fmt.Sprintf("Authentication failed: Client requested an authorization id (%s) that is different from the token's principal name (%s)", authzid, sub)
		return nil, false, "", &Failure{Message: msg, Reason: msg}
	}
	x.expires = expiry
	return []byte{}, true, "User:" + sub, nil
}

// Expiry is when the authenticated token expires (re-authentication must come before).
func (x *oauthExchange) Expiry() time.Time { return x.expires }
