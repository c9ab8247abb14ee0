package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// Session is the state a Handler keeps for one connection across its requests: whether it
// authenticated and as whom, and the state of an authentication exchange in progress (a
// SASL mechanism). Request.Session points at its connection's.
//
// A connection of a server whose Config.RequireAuth is set starts unauthenticated, and until
// Authenticate its frames are capped at Config.PreAuthMaxRequestBytes by the framer, before
// anything is allocated for them (CVE-2022-34917: an unauthenticated client must not make the
// broker allocate a large buffer). Other connections start authenticated, as their TLS
// principal (Config.TLSPrincipal) or anonymous ("").
type Session struct {
	authenticated atomic.Bool
	principal     atomic.Pointer[string]
	expires       atomic.Int64 // unix nanoseconds the authentication expires at; 0: never

	mu       sync.Mutex // guards exchange
	exchange any
}

// Authenticated reports whether the connection authenticated (or needs not).
func (s *Session) Authenticated() bool { return s.authenticated.Load() }

// Principal is the connection's identity ("User:name"); "" is anonymous.
func (s *Session) Principal() string {
	if p := s.principal.Load(); p != nil {
		return *p
	}
	return ""
}

// Authenticate marks the connection authenticated as principal. Its frames may be as large
// as Config.MaxRequestBytes from the next read on.
func (s *Session) Authenticate(principal string) {
	s.principal.Store(&principal)
	s.authenticated.Store(true)
}

// SetExpiry sets when the connection's authentication expires (KIP-368: the client must
// re-authenticate before); the zero time is never.
func (s *Session) SetExpiry(t time.Time) {
	if t.IsZero() {
		s.expires.Store(0)
		return
	}
	s.expires.Store(t.UnixNano())
}

// Expired reports whether the authentication expired at now.
func (s *Session) Expired(now time.Time) bool {
	e := s.expires.Load()
	return e != 0 && now.UnixNano() >= e
}

// SwapExchange sets the exchange in progress and returns the previous one (nil: none).
func (s *Session) SwapExchange(x any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.exchange
	s.exchange = x
	return old
}

// Exchange is the exchange slot's current value (SwapExchange's), left in place.
func (s *Session) Exchange() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exchange
}

// initSession sets a new connection's session and framer limit from the server's config.
// Event loop (or stream reader) only, before the first read.
func (c *conn) initSession(principal string) {
	if principal != "" {
		c.sess.principal.Store(&principal)
	}
	if !c.s.cfg.RequireAuth {
		c.sess.authenticated.Store(true)
		return
	}
	c.preAuth = true
	c.fr.maxSize = min(c.s.cfg.PreAuthMaxRequestBytes, c.s.cfg.MaxRequestBytes)
}

// liftPreAuthCap raises the frame limit once the session authenticated. Event loop (or
// stream reader) only, before each feed.
func (c *conn) liftPreAuthCap() {
	if c.preAuth && c.sess.authenticated.Load() {
		c.preAuth = false
		c.fr.maxSize = c.s.cfg.MaxRequestBytes
	}
}
