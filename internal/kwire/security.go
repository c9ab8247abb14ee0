package kwire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ErrAuthentication wraps a Dial error from the TLS handshake or the SASL exchange: the
// listener refused this client's credentials or certificate, or its own did not verify.
var ErrAuthentication = errors.New("kwire: authentication failed")

// Security is how a Conn secures its connection, as the listener it dials requires: TLS
// (SSL, SASL_SSL) and SASL (SASL_PLAINTEXT, SASL_SSL). The zero value is PLAINTEXT.
type Security struct {
	// TLS, if set, wraps the connection in TLS with this configuration (its trust roots,
	// and a client certificate for mTLS). An empty ServerName takes the dialed host.
	TLS *tls.Config
	// SASL, if set, authenticates the connection with this mechanism (franz-go's PLAIN,
	// SCRAM or OAUTHBEARER) right after it is set up: SaslHandshake v1, then
	// SaslAuthenticate v1 until the exchange is done.
	SASL sasl.Mechanism
}

// Protocol is the Kafka security protocol s speaks: PLAINTEXT, SSL, SASL_PLAINTEXT or
// SASL_SSL.
func (s Security) Protocol() string {
	switch {
	case s.TLS != nil && s.SASL != nil:
		return "SASL_SSL"
	case s.TLS != nil:
		return "SSL"
	case s.SASL != nil:
		return "SASL_PLAINTEXT"
	}
	return "PLAINTEXT"
}

// secure runs s's TLS handshake on nc within ctx and returns the connection to speak
// Kafka on.
func (s Security) secure(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	if s.TLS == nil {
		return nc, nil
	}
	cfg := s.TLS
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("kwire: TLS to %s: %w", addr, err)
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("%w: TLS handshake with %s: %w", ErrAuthentication, addr, err)
	}
	return tc, nil
}

// authenticate runs s's SASL exchange on c (Kafka's SaslHandshake then SaslAuthenticate
// round trips). A refusal names the mechanism and carries the broker's error message.
func (s Security) authenticate(ctx context.Context, c *Conn, addr string) error {
	if s.SASL == nil {
		return nil
	}
	name := s.SASL.Name()
	h := kmsg.NewPtrSASLHandshakeRequest()
	h.Version, h.Mechanism = 1, name
	r, err := c.Request(ctx, h)
	if err != nil {
		return fmt.Errorf("kwire: SASL handshake with %s: %w", addr, err)
	}
	if hr := r.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		return fmt.Errorf("%w: SASL mechanism %s refused by %s (it enables %v): %w", ErrAuthentication, name, addr, hr.SupportedMechanisms, kerr.ErrorForCode(hr.ErrorCode))
	}
	host, _, _ := net.SplitHostPort(addr)
	sess, msg, err := s.SASL.Authenticate(ctx, host)
	if err != nil {
		return fmt.Errorf("kwire: SASL %s with %s: %w", name, addr, err)
	}
	for {
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.Version, a.SASLAuthBytes = 1, msg
		r, err := c.Request(ctx, a)
		if err != nil {
			return fmt.Errorf("kwire: SASL %s with %s: %w", name, addr, err)
		}
		ar := r.(*kmsg.SASLAuthenticateResponse)
		if ar.ErrorCode != 0 {
			why := ""
			if ar.ErrorMessage != nil {
				why = ": " + *ar.ErrorMessage
			}
			return fmt.Errorf("%w: SASL %s authentication with %s failed: %w%s", ErrAuthentication, name, addr, kerr.ErrorForCode(ar.ErrorCode), why)
		}
		done, next, err := sess.Challenge(ar.SASLAuthBytes)
		if err != nil {
			if name == "OAUTHBEARER" && len(ar.SASLAuthBytes) > 0 {
				// RFC 7628: a refused token is answered with an error JSON, not an error code.
				return fmt.Errorf("%w: SASL OAUTHBEARER authentication with %s failed: the broker refused the token: %.200s", ErrAuthentication, addr, ar.SASLAuthBytes)
			}
			return fmt.Errorf("kwire: SASL %s with %s: %w", name, addr, err)
		}
		if done {
			return nil
		}
		msg = next
	}
}

// Secure runs s's TLS handshake and SASL exchange on nc, a connection to addr, within ctx,
// and returns the connection to speak on afterwards (nc, or TLS over it), its deadline
// cleared. The metadata quorum secures its Raft connections this way: the controller
// listener answers Kafka's SaslHandshake and SaslAuthenticate before the Raft stream
// (metadata/raftstream.go). Nothing is left unread: the peer says nothing after the last
// SaslAuthenticate response until it is spoken to.
func (s Security) Secure(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	sc, err := s.secure(ctx, nc, addr)
	if err != nil {
		return nil, err
	}
	if s.SASL != nil {
		c := newConn(sc, Options{ReadBufferBytes: 4096, MaxResponseBytes: maxSecureResponse})
		if err := s.authenticate(ctx, c, addr); err != nil {
			return nil, err
		}
	}
	sc.SetDeadline(time.Time{})
	return sc, nil
}

// maxSecureResponse bounds a SaslHandshake or SaslAuthenticate response read by Secure.
const maxSecureResponse = 1 << 20
