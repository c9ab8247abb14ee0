package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SCRAM's iteration bounds, Kafka's: a credential with fewer than ScramMinIterations is
// refused (ScramMechanism.minIterations), one with more than ScramMaxIterations too
// (ScramControlManager.MAX_ITERATIONS).
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramMechanism is one SCRAM variant: its SASL name, Kafka's wire type (ScramMechanism in
// DescribeUserScramCredentials / AlterUserScramCredentials) and its hash.
type ScramMechanism struct {
	Name string
	Type int8
	hash func() hash.Hash
}

// The SCRAM mechanisms logd serves (RFC 7677 and its SHA-512 sibling, as Kafka names them).
var (
	ScramSHA256 = &ScramMechanism{Name: "SCRAM-SHA-256", Type: 1, hash: sha256.New}
	ScramSHA512 = &ScramMechanism{Name: "SCRAM-SHA-512", Type: 2, hash: sha512.New}
)

// ScramMechanisms are the SCRAM mechanisms, in Kafka's type order.
var ScramMechanisms = []*ScramMechanism{ScramSHA256, ScramSHA512}

// ScramMechanismByName returns the mechanism called name, or nil.
func ScramMechanismByName(name string) *ScramMechanism {
	for _, m := range ScramMechanisms {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// ScramMechanismByType returns the mechanism of Kafka's wire type t, or nil.
func ScramMechanismByType(t int8) *ScramMechanism {
	for _, m := range ScramMechanisms {
		if m.Type == t {
			return m
		}
	}
	return nil
}

// ScramCredential is what a server keeps of a SCRAM password (RFC 5802 §3): enough to check
// a client's proof and to prove itself, never the password or the salted password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramStore finds a user's SCRAM credential for a mechanism (the replicated metadata).
type ScramStore interface {
	ScramCredential(mechanism, user string) (ScramCredential, bool)
}

// TokenStore finds a delegation token's SCRAM credential for a mechanism (KIP-48: the token
// id is the SCRAM user name and the base64 of its HMAC the password), with the principal
// that authenticates with it (its owner, "User:name") and when it expires. A ScramStore that
// is also a TokenStore serves SCRAM's tokenauth=true extension; an unknown or expired token
// is not found.
type TokenStore interface {
	TokenCredential(m *ScramMechanism, tokenID string) (cred ScramCredential, principal string, expiry time.Time, ok bool)
}

func (m *ScramMechanism) hmac(key []byte, parts ...[]byte) []byte {
	h := hmac.New(m.hash, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func (m *ScramMechanism) digest(b []byte) []byte {
	h := m.hash()
	h.Write(b)
	return h.Sum(nil)
}

// SaltedPassword is Hi(password, salt, iterations) (PBKDF2 with the mechanism's HMAC).
func (m *ScramMechanism) SaltedPassword(password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(m.hash, password, salt, iterations, m.hash().Size())
}

// CredentialFromSalted derives the stored credential from a salted password (what
// AlterUserScramCredentials carries; Kafka's controller does the same).
func (m *ScramMechanism) CredentialFromSalted(salt, saltedPassword []byte, iterations int32) ScramCredential {
	clientKey := m.hmac(saltedPassword, []byte("Client Key"))
	return ScramCredential{Salt: bytes.Clone(salt), StoredKey: m.digest(clientKey),
		ServerKey: m.hmac(saltedPassword, []byte("Server Key")), Iterations: iterations}
}

// scramFailure is the one answer to any failed SCRAM exchange, Kafka's
// (SaslServerAuthenticator's text for a SaslException): it tells the client nothing of what
// was wrong; reason is for the broker's log.
func scramFailure(m *ScramMechanism, reason string) error {
	return &Failure{Message: "Authentication failed during authentication due to invalid credentials with SASL mechanism " + m.Name, Reason: reason}
}

// scramExchange is the server side of one SCRAM exchange (RFC 5802 §5): client-first →
// server-first, client-final → server-final.
type scramExchange struct {
	m      *ScramMechanism
	store  ScramStore
	tokens TokenStore // nil: tokenauth is refused
	key    []byte     // this process's secret for fake salts of unknown users

	// Set by the first step.
	first       *scramClientFirst
	serverFirst []byte
	cred        ScramCredential
	known       bool
	principal   string    // who authenticates: User:<user>, or a token's owner
	expiry      time.Time // a token's expiry; zero for a user's password
}

// Expiry is when the delegation token the exchange authenticated with expires (zero: not a
// token): the session ends then at the latest (auth.SessionLifetime, KIP-368).
func (x *scramExchange) Expiry() time.Time { return x.expiry }

// TokenAuthenticated reports whether the exchange authenticates with a delegation token
// (tokenauth=true): such a connection may not create, renew or expire tokens itself.
func (x *scramExchange) TokenAuthenticated() bool { return x.first != nil && x.first.tokenauth }

// scramClientFirst is a parsed client-first-message.
type scramClientFirst struct {
	gs2Header string // "n,," or "n,a=authzid,"
	authzid   string
	user      string // saslname decoded (=2C → ',', =3D → '=')
	nonce     string
	bare      string // client-first-message-bare: n=...,r=...[,ext]
	tokenauth bool   // the tokenauth=true extension: user is a delegation token id
}

// maxScramMessage bounds a SCRAM message; real ones are well under 1 KiB.
const maxScramMessage = 8 << 10

// parseScramClientFirst parses gs2-header [reserved-mext ","] username "," nonce ["," extensions]
// as Kafka's ClientFirstMessage does: only the "n" channel-binding flag (no channel binding),
// an optional authzid, the tokenauth extension (a delegation token) noted.
func parseScramClientFirst(msg []byte) (*scramClientFirst, error) {
	if len(msg) > maxScramMessage {
		return nil, errors.New("client-first-message too long")
	}
	s := string(msg)
	rest, ok := strings.CutPrefix(s, "n,")
	if !ok {
		return nil, errors.New("client-first-message: only the gs2 flag \"n\" (no channel binding) is supported")
	}
	authz, rest, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, errors.New("client-first-message: gs2 header is not terminated")
	}
	f := &scramClientFirst{gs2Header: s[:len(s)-len(rest)], bare: rest}
	if authz != "" {
		a, ok := strings.CutPrefix(authz, "a=")
		if !ok {
			return nil, errors.New("client-first-message: authzid is not a=name")
		}
		if f.authzid, ok = decodeSaslName(a); !ok {
			return nil, errors.New("client-first-message: malformed authzid")
		}
	}
	attrs := strings.Split(rest, ",")
	if len(attrs) > 0 && strings.HasPrefix(attrs[0], "m=") {
		return nil, errors.New("client-first-message: mandatory extensions (m=) are not supported")
	}
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, errors.New("client-first-message: want n=user,r=nonce")
	}
	if f.user, ok = decodeSaslName(attrs[0][2:]); !ok || f.user == "" {
		return nil, errors.New("client-first-message: malformed user name")
	}
	if f.nonce = attrs[1][2:]; !printable(f.nonce) {
		return nil, errors.New("client-first-message: nonce must be printable ASCII without commas")
	}
	for _, ext := range attrs[2:] {
		k, v, ok := strings.Cut(ext, "=")
		if !ok || k == "" || v == "" || !alpha(k) {
			return nil, fmt.Errorf("client-first-message: malformed extension %q", ext)
		}
		if k == "tokenauth" {
			f.tokenauth = strings.EqualFold(v, "true")
		}
	}
	return f, nil
}

// decodeSaslName decodes RFC 5802's saslname: any ASCII but ',' and '=', which are =2C and =3D.
func decodeSaslName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '=':
			switch {
			case strings.HasPrefix(s[i:], "=2C"):
				b.WriteByte(',')
			case strings.HasPrefix(s[i:], "=3D"):
				b.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		case c == 0 || c > 0x7f || c == ',':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

func alpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// scramClientFinal is a parsed client-final-message.
type scramClientFinal struct {
	channel      []byte
	nonce        string
	proof        []byte
	withoutProof string // client-final-message-without-proof, as sent
}

// parseScramClientFinal parses c=channel,r=nonce[,ext],p=proof.
func parseScramClientFinal(msg []byte) (*scramClientFinal, error) {
	if len(msg) > maxScramMessage {
		return nil, errors.New("client-final-message too long")
	}
	s := string(msg)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return nil, errors.New("client-final-message: no proof")
	}
	f := &scramClientFinal{withoutProof: s[:i]}
	var err error
	if f.proof, err = base64.StdEncoding.DecodeString(s[i+3:]); err != nil || len(f.proof) == 0 {
		return nil, errors.New("client-final-message: proof is not base64")
	}
	attrs := strings.Split(f.withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, errors.New("client-final-message: want c=channel-binding,r=nonce")
	}
	if f.channel, err = base64.StdEncoding.DecodeString(attrs[0][2:]); err != nil {
		return nil, errors.New("client-final-message: channel binding is not base64")
	}
	if f.nonce = attrs[1][2:]; !printable(f.nonce) {
		return nil, errors.New("client-final-message: nonce must be printable ASCII without commas")
	}
	for _, ext := range attrs[2:] {
		if k, v, ok := strings.Cut(ext, "="); !ok || k == "" || v == "" || !alpha(k) {
			return nil, fmt.Errorf("client-final-message: malformed extension %q", ext)
		}
	}
	return f, nil
}

// Step implements Exchange: two steps, the first answered with server-first-message, the
// second with server-final-message and the principal.
func (x *scramExchange) Step(msg []byte) ([]byte, bool, string, error) {
	if x.first == nil {
		return x.stepFirst(msg)
	}
	return x.stepFinal(msg)
}

func (x *scramExchange) stepFirst(msg []byte) ([]byte, bool, string, error) {
	f, err := parseScramClientFirst(msg)
	if err != nil {
		return nil, false, "", scramFailure(x.m, err.Error())
	}
	if f.authzid != "" && f.authzid != f.user {
		// Kafka's own text: no impersonation.
		return nil, false, "", &Failure{Message: "Authentication failed: Client requested an authorization id that is different from username",
			Reason: "authzid " + f.authzid + " is not the user " + f.user}
	}
	x.first = f
	x.principal = "User:" + f.user
	switch {
	case f.tokenauth:
		if x.tokens != nil {
			x.cred, x.principal, x.expiry, x.known = x.tokens.TokenCredential(x.m, f.user)
		}
	case x.store != nil:
		x.cred, x.known = x.store.ScramCredential(x.m.Name, f.user)
	}
	if !x.known || x.cred.Iterations < ScramMinIterations {
		// An unknown user gets a server-first-message like a known one (a salt that is the
		// same for the same name, the minimum iterations) and fails at the proof, so the
		// exchange does not tell which users exist (RFC 5802 §9).
		x.known = false
		x.cred = ScramCredential{Salt: x.m.hmac(x.key, []byte(x.m.Name), []byte(f.user))[:16], Iterations: ScramMinIterations}
	}
	nonce := make([]byte, 24)
	rand.Read(nonce)
	combined := f.nonce + base64.RawURLEncoding.EncodeToString(nonce)
	x.serverFirst = []byte("r=" + combined + ",s=" + base64.StdEncoding.EncodeToString(x.cred.Salt) + ",i=" + strconv.Itoa(int(x.cred.Iterations)))
	return bytes.Clone(x.serverFirst), false, "", nil
}

func (x *scramExchange) stepFinal(msg []byte) ([]byte, bool, string, error) {
	if x.serverFirst == nil {
		return nil, false, "", scramFailure(x.m, "a step after the exchange ended")
	}
	serverFirst := x.serverFirst
	x.serverFirst = nil
	f, err := parseScramClientFinal(msg)
	if err != nil {
		return nil, false, "", scramFailure(x.m, err.Error())
	}
	// The nonce must end with the combined nonce the server sent, its fresh random part
	// included (CVE-2024-56128: Kafka before 3.7.2 did not check it at all, so a client
	// could replay another exchange's final message). Ends with, not equals, as Kafka's
	// ScramSaslServer checks: librdkafka sends its own nonce before the combined one.
	combined, _, _ := strings.Cut(string(serverFirst[2:]), ",")
	if !strings.HasSuffix(f.nonce, combined) {
		return nil, false, "", scramFailure(x.m, "the client-final-message's nonce does not end with the server-first-message's")
	}
	if string(f.channel) != x.first.gs2Header {
		return nil, false, "", scramFailure(x.m, "the channel binding is not the client-first-message's gs2 header")
	}
	authMessage := []byte(x.first.bare + "," + string(serverFirst) + "," + f.withoutProof)
	storedKey := x.cred.StoredKey
	if !x.known {
		storedKey = make([]byte, x.m.hash().Size())
	}
	clientSignature := x.m.hmac(storedKey, authMessage)
	if len(f.proof) != len(clientSignature) {
		return nil, false, "", scramFailure(x.m, "the proof has the wrong length")
	}
	clientKey := make([]byte, len(clientSignature))
	for i := range clientKey {
		clientKey[i] = f.proof[i] ^ clientSignature[i]
	}
	if subtle.ConstantTimeCompare(x.m.digest(clientKey), storedKey) != 1 || !x.known {
		if x.first.tokenauth {
			return nil, false, "", scramFailure(x.m, "wrong HMAC, or unknown or expired delegation token "+x.first.user)
		}
		return nil, false, "", scramFailure(x.m, "wrong password or unknown user "+x.first.user)
	}
	serverSignature := x.m.hmac(x.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), true, x.principal, nil
}

// KeySize is the length of the mechanism's keys and salted passwords (its hash's size).
func (m *ScramMechanism) KeySize() int { return m.hash().Size() }

// ParseAddScram parses one credential in the syntax of kafka-storage format --add-scram
// (Kafka's ScramParser): MECHANISM=[name=NAME,password=PW] or, instead of password,
// saltedpassword=BASE64 with salt=BASE64; iterations=N (default 4096) and salt=BASE64
// (default random) are optional. Values may be "quoted".
func ParseAddScram(arg string) (m *ScramMechanism, user string, cred ScramCredential, err error) {
	arg = strings.TrimSpace(arg)
	mech, body, ok := strings.Cut(arg, "=")
	if !ok {
		return nil, "", cred, fmt.Errorf("failed to find equals sign in SCRAM argument %q", arg)
	}
	if m = ScramMechanismByName(mech); m == nil {
		return nil, "", cred, fmt.Errorf("the add-scram mechanism %s is not supported (SCRAM-SHA-256 or SCRAM-SHA-512)", mech)
	}
	inner, ok := strings.CutPrefix(body, "[")
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return nil, "", cred, fmt.Errorf("%s: expected the configuration in [ ]", mech)
	}
	opts := map[string]string{}
	for _, kv := range strings.Split(inner, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, "", cred, fmt.Errorf("%s: %q is not key=value", mech, kv)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		opts[strings.TrimSpace(k)] = v
	}
	take := func(k string) (string, bool) { v, ok := opts[k]; delete(opts, k); return v, ok }
	user, ok = take("name")
	if !ok || user == "" {
		return nil, "", cred, fmt.Errorf("%s: you must supply 'name' to add-scram", mech)
	}
	iterations := ScramMinIterations
	if v, ok := take("iterations"); ok {
		if iterations, err = strconv.Atoi(v); err != nil {
			return nil, "", cred, fmt.Errorf("%s: failed to parse iterations count %q", mech, v)
		}
	}
	if iterations < ScramMinIterations || iterations > ScramMaxIterations {
		return nil, "", cred, fmt.Errorf("%s: iterations must be in [%d, %d], not %d", mech, ScramMinIterations, ScramMaxIterations, iterations)
	}
	var salt []byte
	if v, ok := take("salt"); ok {
		if salt, err = base64.StdEncoding.DecodeString(v); err != nil || len(salt) == 0 {
			return nil, "", cred, fmt.Errorf("%s: failed to decode the salt %q", mech, v)
		}
	}
	password, hasPassword := take("password")
	saltedB64, hasSalted := take("saltedpassword")
	if len(opts) > 0 {
		var keys []string
		for k := range opts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return nil, "", cred, fmt.Errorf("%s: unknown SCRAM configurations: %s", mech, strings.Join(keys, ", "))
	}
	switch {
	case hasPassword:
		if salt == nil {
			salt = make([]byte, 32)
			rand.Read(salt)
		}
		salted, err := m.SaltedPassword(password, salt, iterations)
		if err != nil {
			return nil, "", cred, err
		}
		return m, user, m.CredentialFromSalted(salt, salted, int32(iterations)), nil
	case !hasSalted:
		return nil, "", cred, fmt.Errorf("%s: you must supply one of 'password' or 'saltedpassword' to add-scram", mech)
	case salt == nil:
		return nil, "", cred, fmt.Errorf("%s: you must supply 'salt' with 'saltedpassword' to add-scram", mech)
	}
	salted, err := base64.StdEncoding.DecodeString(saltedB64)
	if err != nil || len(salted) != m.KeySize() {
		return nil, "", cred, fmt.Errorf("%s: saltedpassword must be %d bytes in base64", mech, m.KeySize())
	}
	return m, user, m.CredentialFromSalted(salt, salted, int32(iterations)), nil
}
