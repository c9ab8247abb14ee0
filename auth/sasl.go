package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ErrAuthentication is a failed authentication: wrong user or password, or a malformed
// exchange. Its text, Kafka's PlainSaslServer's, says no more than that, on purpose. Every
// failure of an Exchange is ErrAuthentication for errors.Is; its Error() is what the client
// is told.
var ErrAuthentication = errors.New("Authentication failed: Invalid username or password")

// Failure is a failed authentication step with a reason for the broker's log that the client
// is not told: Message is Kafka's answer for the case.
type Failure struct {
	Message string
	Reason  string
}

// Error is the client's message.
func (f *Failure) Error() string { return f.Message }

// Is makes every Failure ErrAuthentication.
func (f *Failure) Is(target error) bool { return target == ErrAuthentication }

// FailureReason is what the log should say of an Exchange's error.
func FailureReason(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return err.Error()
}

// MechPlain is SASL PLAIN (RFC 4616).
const MechPlain = "PLAIN"

// Mechanisms are the SASL mechanisms logd serves.
var Mechanisms = []string{MechPlain, ScramSHA256.Name, ScramSHA512.Name, MechOAuthBearer}

// ListenerSASL is one SASL listener's configuration: its enabled mechanisms
// (sasl.enabled.mechanisms), PLAIN's users (PlainLoginModule's user_NAME="password") and
// OAUTHBEARER's token validation.
type ListenerSASL struct {
	Enabled []string
	Plain   map[string]string
	OAuth   *OAuthValidator
	// MaxReauth is connections.max.reauth.ms by mechanism (KIP-368): how long an
	// authentication lasts before the client must re-authenticate; 0 or none: as long as its
	// credential (forever but for an OAUTHBEARER token's expiry).
	MaxReauth map[string]time.Duration
}

// SASL is the SASL configuration of a broker's listeners, by listener name.
type SASL struct {
	listeners map[string]*ListenerSASL
	fakeKey   []byte // derives the salts answered for unknown SCRAM users
}

// NewSASL checks each listener's configuration: its mechanisms must be served and have
// credentials.
func NewSASL(listeners map[string]*ListenerSASL) (*SASL, error) {
	for name, l := range listeners {
		if len(l.Enabled) == 0 {
			return nil, fmt.Errorf("listener %s: sasl.enabled.mechanisms names no mechanism", name)
		}
		for _, m := range l.Enabled {
			if !slices.Contains(Mechanisms, m) {
				return nil, fmt.Errorf("listener %s: SASL mechanism %s is not served (logd serves %s)", name, m, strings.Join(Mechanisms, ", "))
			}
			if m == MechOAuthBearer && l.OAuth == nil {
				return nil, fmt.Errorf("listener %s: OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url", name)
			}
			if m == MechPlain && len(l.Plain) == 0 {
				return nil, fmt.Errorf("listener %s: PLAIN needs users: listener.name.%s.plain.sasl.jaas.config with user_NAME=\"password\" options",
					name, strings.ToLower(name))
			}
		}
	}
	key := make([]byte, 32)
	rand.Read(key)
	return &SASL{listeners: listeners, fakeKey: key}, nil
}

// Close stops the listeners' OAUTHBEARER key refreshes.
func (s *SASL) Close() {
	if s == nil {
		return
	}
	closed := map[*OAuthValidator]bool{}
	for _, l := range s.listeners {
		if l.OAuth != nil && !closed[l.OAuth] {
			closed[l.OAuth] = true
			l.OAuth.Close()
		}
	}
}

// Enabled is the listener's enabled mechanisms (nil: not a SASL listener).
func (s *SASL) Enabled(listener string) []string {
	if s == nil || s.listeners[listener] == nil {
		return nil
	}
	return s.listeners[listener].Enabled
}

// MaxReauth is the listener's connections.max.reauth.ms for mechanism (0: none).
func (s *SASL) MaxReauth(listener, mechanism string) time.Duration {
	if s == nil || s.listeners[listener] == nil {
		return 0
	}
	return s.listeners[listener].MaxReauth[mechanism]
}

// SessionLifetime is how long an authentication that just completed lasts (KIP-368, Kafka's
// SaslServerAuthenticator): the smaller of maxReauth (if set) and the time left until the
// credential expires (an OAUTHBEARER token's exp; an exchange with an Expiry method); 0 with
// neither, meaning no limit.
func SessionLifetime(x Exchange, maxReauth time.Duration, now time.Time) time.Duration {
	var expiry time.Time
	if e, ok := x.(interface{ Expiry() time.Time }); ok {
		expiry = e.Expiry()
	}
	switch {
	case expiry.IsZero():
		return max(maxReauth, 0)
	case maxReauth <= 0:
		return max(expiry.Sub(now), time.Millisecond)
	}
	return max(min(expiry.Sub(now), maxReauth), time.Millisecond)
}

// TokenAuthenticated reports whether a completed exchange authenticated with a delegation
// token (SCRAM's tokenauth=true): Kafka refuses token requests on such a connection.
func TokenAuthenticated(x Exchange) bool {
	t, ok := x.(interface{ TokenAuthenticated() bool })
	return ok && t.TokenAuthenticated()
}

// Exchange is one SASL authentication in progress on a connection.
type Exchange interface {
	// Step takes the client's next message and returns the server's reply; done with the
	// authenticated principal ("User:name") when the exchange is complete. An error is
	// final: the connection is told authentication failed and closed.
	Step(msg []byte) (reply []byte, done bool, principal string, err error)
}

// Start begins an exchange of mechanism on listener (SaslHandshake), or says why not. SCRAM
// reads its credentials from scram at the exchange's first step, and delegation tokens'
// (tokenauth=true) from it too if it is a TokenStore.
func (s *SASL) Start(listener, mechanism string, scram ScramStore) (Exchange, error) {
	l := s.listeners[listener]
	if l == nil || !slices.Contains(l.Enabled, mechanism) {
		return nil, fmt.Errorf("SASL mechanism %q is not enabled on this listener (enabled: %s)", mechanism, strings.Join(s.Enabled(listener), ", "))
	}
	if m := ScramMechanismByName(mechanism); m != nil {
		x := &scramExchange{m: m, store: scram, key: s.fakeKey}
		x.tokens, _ = scram.(TokenStore)
		return x, nil
	}
	if mechanism == MechOAuthBearer {
		return &oauthExchange{v: l.OAuth}, nil
	}
	return &plainExchange{users: l.Plain}, nil
}

// plainExchange is PLAIN: one message, authzid NUL authcid NUL password.
type plainExchange struct{ users map[string]string }

// Step implements Exchange: one message.
func (p *plainExchange) Step(msg []byte) ([]byte, bool, string, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return nil, false, "", ErrAuthentication
	}
	authz, user, pass := string(parts[0]), string(parts[1]), parts[2]
	if user == "" || (authz != "" && authz != user) { // Kafka: no impersonation
		return nil, false, "", ErrAuthentication
	}
	want, ok := p.users[user]
	// Compare even for an unknown user, so timing does not tell which users exist.
	if subtle.ConstantTimeCompare([]byte(want), pass) != 1 || !ok {
		return nil, false, "", ErrAuthentication
	}
	return nil, true, "User:" + user, nil
}

// ParseJAAS parses a sasl.jaas.config value, Kafka's one-module JAAS syntax:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" user_admin="admin-secret";
//
// It returns the login module's class and its options. Values are "quoted" (with \
// escapes) or bare words.
func ParseJAAS(v string) (module string, options map[string]string, err error) {
	s := strings.TrimSpace(v)
	word := func() string {
		i := 0
		for i < len(s) && !strings.ContainsRune(" \t\r\n=;\"", rune(s[i])) {
			i++
		}
		w := s[:i]
		s = strings.TrimLeft(s[i:], " \t\r\n")
		return w
	}
	if module = word(); module == "" {
		return "", nil, errors.New("JAAS config names no login module")
	}
	switch flag := word(); flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return "", nil, fmt.Errorf("JAAS config: login module %s: flag %q is not required, requisite, sufficient or optional", module, flag)
	}
	options = map[string]string{}
	for len(s) > 0 && s[0] != ';' {
		name := word()
		if name == "" || len(s) == 0 || s[0] != '=' {
			return "", nil, fmt.Errorf("JAAS config: want name=value options, at %q", truncate(s))
		}
		s = strings.TrimLeft(s[1:], " \t\r\n")
		var value string
		if len(s) > 0 && s[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i == len(s) {
				return "", nil, fmt.Errorf("JAAS config: option %s: unterminated quoted value", name)
			}
			value = b.String()
			s = strings.TrimLeft(s[i+1:], " \t\r\n")
		} else {
			value = word()
		}
		options[name] = value
	}
	if len(s) == 0 {
		return "", nil, errors.New("JAAS config must end with ';'")
	}
	if rest := strings.TrimSpace(s[1:]); rest != "" {
		return "", nil, fmt.Errorf("JAAS config: one login module only; found more after ';': %q", truncate(rest))
	}
	return module, options, nil
}

func truncate(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// PlainLoginModule is Kafka's PLAIN login module class.
const PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

// PlainUsers reads PLAIN's users from a PlainLoginModule JAAS config: each user_NAME="pw".
func PlainUsers(jaas string) (map[string]string, error) {
	module, opts, err := ParseJAAS(jaas)
	if err != nil {
		return nil, err
	}
	if module != PlainLoginModule {
		return nil, fmt.Errorf("PLAIN's JAAS config must use %s, not %s", PlainLoginModule, module)
	}
	users := map[string]string{}
	for k, v := range opts {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			users[name] = v
		}
	}
	return users, nil
}
