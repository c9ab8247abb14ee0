package restproxy

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// With Config.Mechanism set, the proxy acts as its HTTP users: each request's HTTP Basic
// credentials become the SASL credentials of a Kafka client of that user's own, so the broker
// authenticates the user and its ACLs decide what the user may do. The clients are cached by
// user, at most Config.MaxUsers at once (the least recently used idle one makes room), and
// closed after Config.UserIdle unused. A request with other credentials for a cached user gets
// a new client once the broker accepted them; the old one closes when its last request ends.

// session is the Kafka client one request acts through: the proxy's own without
// authentication, a user's with it.
type session struct {
	user string   // "" for the proxy's own client
	key  [32]byte // sha256 of user and password: other credentials need another client
	cl   *kgo.Client
	adm  *kadm.Client
	opts []kgo.Opt // how this session dials the broker (the v2 instances' clients reuse it)

	// guarded by sessions.mu
	refs     int       // requests using it now
	lastUsed time.Time // when the last request ended
	dropped  bool      // replaced or evicted: closes when refs reaches 0
}

// sessions is the per-user client cache.
type sessions struct {
	mu     sync.Mutex
	byUser map[string]*session // guarded by mu
	stop   chan struct{}       // closed by Proxy.Close: ends the idle sweeper
}

type sessionKey struct{}

// session returns the session a request's context carries: the user's, or the proxy's own.
func (p *Proxy) session(ctx context.Context) *session {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return s
	}
	return p.own
}

// dialOpts are the options every client of the proxy dials the broker with.
func (p *Proxy) dialOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.SeedBrokers(p.cfg.Bootstrap...)}
	if p.cfg.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(p.cfg.TLS.Clone()))
	}
	return opts
}

// newSession creates a client with opts added to the dialing options.
func (p *Proxy) newSession(user string, opts ...kgo.Opt) (*session, error) {
	opts = append(p.dialOpts(), opts...)
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ClientID("logd-rest-proxy"),
		kgo.RecordPartitioner(partitioner{kgo.StickyKeyPartitioner(nil)}),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("restproxy: %v", err)
	}
	return &session{user: user, cl: cl, adm: kadm.NewClient(cl), opts: opts}, nil
}

// mechanism is the SASL mechanism that carries a user's HTTP credentials.
func (p *Proxy) mechanism(user, pass string) sasl.Mechanism {
	switch p.cfg.Mechanism {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
}

// checkMechanism refuses a mechanism the proxy cannot pass HTTP Basic credentials through.
func checkMechanism(m string) error {
	switch m {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		return nil
	}
	return fmt.Errorf("restproxy: SASL mechanism %q cannot carry HTTP Basic credentials: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m)
}

// authenticate runs next as the request's HTTP user; without credentials it answers 401.
func (p *Proxy) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user == "" {
			// Browsers prompt for a WWW-Authenticate challenge, even on a script's request; the
			// console sends X-Requested-With and shows its own login form instead.
			if r.Header.Get("X-Requested-With") == "" {
				w.Header().Set("WWW-Authenticate", `Basic realm="logd", charset="UTF-8"`)
			}
			writeJSON(w, http.StatusUnauthorized, errorBody{ErrorCode: codeKafkaAuthentication,
				Message: "authentication required: send the broker user's name and password with HTTP Basic authentication (the proxy passes them to the broker with SASL " + p.cfg.Mechanism + ")"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), p.cfg.Timeout)
		s, err := p.acquire(ctx, user, pass)
		cancel()
		if err != nil {
			p.writeError(w, err)
			return
		}
		defer p.release(s)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// acquire returns user's session, creating it (and authenticating to the broker) when the
// user has none or had other credentials. The caller releases it.
func (p *Proxy) acquire(ctx context.Context, user, pass string) (*session, error) {
	key := sha256.Sum256([]byte(user + "\x00" + pass))
	p.users.mu.Lock()
	if s := p.users.byUser[user]; s != nil && subtle.ConstantTimeCompare(s.key[:], key[:]) == 1 {
		s.refs++
		p.users.mu.Unlock()
		return s, nil
	}
	p.users.mu.Unlock()

	s, err := p.newSession(user, kgo.SASL(p.mechanism(user, pass)))
	if err != nil {
		return nil, err
	}
	s.key = key
	// Authenticate now: a wrong password is a 401 here, not a failure of whatever the request
	// asked for, and never a cached client.
	if err := s.cl.Ping(ctx); err != nil {
		s.cl.Close()
		if errors.Is(err, kerr.SaslAuthenticationFailed) {
			return nil, &apiError{status: http.StatusUnauthorized, code: codeKafkaAuthentication,
				msg: "the broker refused user " + user + ": " + strings.TrimPrefix(err.Error(), "SASL_AUTHENTICATION_FAILED: ")}
		}
		return nil, err
	}

	var closing []*session
	p.users.mu.Lock()
	defer func() {
		p.users.mu.Unlock()
		for _, c := range closing {
			c.cl.Close()
		}
	}()
	if old := p.users.byUser[user]; old != nil {
		if subtle.ConstantTimeCompare(old.key[:], key[:]) == 1 { // another request won the race
			old.refs++
			closing = append(closing, s)
			return old, nil
		}
		closing = append(closing, p.dropLocked(old)...)
	}
	if len(p.users.byUser) >= p.cfg.MaxUsers {
		var lru *session
		for _, c := range p.users.byUser {
			if c.refs == 0 && (lru == nil || c.lastUsed.Before(lru.lastUsed)) {
				lru = c
			}
		}
		if lru == nil {
			closing = append(closing, s)
			return nil, &apiError{status: http.StatusServiceUnavailable, code: codeBrokerNotAvailable,
				msg: fmt.Sprintf("the proxy serves at most %d users at once and all of them have requests running; try again", p.cfg.MaxUsers)}
		}
		closing = append(closing, p.dropLocked(lru)...)
	}
	s.refs = 1
	p.users.byUser[user] = s
	return s, nil
}

// dropLocked removes s from the cache and returns it if it can close now (no request uses
// it); otherwise its last request's release closes it. REQUIRES: p.users.mu held.
func (p *Proxy) dropLocked(s *session) []*session {
	if p.users.byUser[s.user] == s {
		delete(p.users.byUser, s.user)
	}
	s.dropped = true
	if s.refs == 0 {
		return []*session{s}
	}
	return nil
}

// release ends one request's use of s.
func (p *Proxy) release(s *session) {
	p.users.mu.Lock()
	s.refs--
	s.lastUsed = time.Now()
	done := s.dropped && s.refs == 0
	p.users.mu.Unlock()
	if done {
		s.cl.Close()
	}
}

// sweepUsers closes the clients idle for longer than Config.UserIdle, until Close.
func (p *Proxy) sweepUsers() {
	every := min(p.cfg.UserIdle/2, time.Minute)
	t := time.NewTicker(max(every, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-p.users.stop:
			return
		case now := <-t.C:
			var closing []*session
			p.users.mu.Lock()
			for _, s := range p.users.byUser {
				if s.refs == 0 && now.Sub(s.lastUsed) > p.cfg.UserIdle {
					closing = append(closing, p.dropLocked(s)...)
				}
			}
			p.users.mu.Unlock()
			for _, s := range closing {
				s.cl.Close()
			}
		}
	}
}

// closeUsers stops the sweeper and closes every user's client (the proxy's Close).
func (p *Proxy) closeUsers() {
	close(p.users.stop)
	p.users.mu.Lock()
	var closing []*session
	for _, s := range p.users.byUser {
		closing = append(closing, p.dropLocked(s)...)
	}
	p.users.mu.Unlock()
	for _, s := range closing {
		s.cl.Close()
	}
}
