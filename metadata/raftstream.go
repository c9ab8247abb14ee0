package metadata

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/auth"
	"github.com/logd/logd/internal/kwire"
)

// RaftSecurity secures the quorum's Raft transport as the controller listener's security
// protocol says (controller.listener.names mapped by listener.security.protocol.map). The zero
// value is PLAINTEXT: hashicorp/raft's TCP transport, which anyone who reaches the port can
// speak to. Otherwise every connection between voters is, before its first Raft byte:
//
//	SSL             TLS with client certificates required (mTLS): each side verifies the other
//	                against its truststore; the dialed side's principal is the dialer's
//	                certificate subject mapped by ssl.principal.mapping.rules
//	SASL_PLAINTEXT  Kafka's SaslHandshake v1 then SaslAuthenticate v1 frames (the dialer is
//	                kwire.Security's client, the dialed side runs auth's server exchange):
//	                the principal is the SASL user
//	SASL_SSL        TLS (server authentication), then the SASL exchange
//
// and the principal must pass Authorize. A peer that fails any step is refused with one log
// line and the connection closed: it never reaches Raft.
type RaftSecurity struct {
	// Protocol is the controller listener's security protocol ("" is PLAINTEXT).
	Protocol string
	// ServerTLS is the tls.Config peers are accepted with (SSL: it must require and verify
	// client certificates); Client is how this node dials the other voters (its TLS
	// configuration with this node's certificate, and for SASL its own mechanism).
	ServerTLS *tls.Config
	Client    kwire.Security
	// TLSPrincipal maps a verified client certificate to its principal (SSL).
	TLSPrincipal func(tls.ConnectionState) (string, error)
	// SASL starts the server side of an exchange of mechanism, or says why not
	// (SASL_PLAINTEXT, SASL_SSL); Mechanisms are the enabled ones, told to a peer that asks
	// for another.
	SASL       func(mechanism string) (auth.Exchange, error)
	Mechanisms []string
	// Authorize, if set, refuses an authenticated principal that may not speak Raft (with an
	// authorizer: any principal not in super.users).
	Authorize func(principal string) error
}

func (s RaftSecurity) plaintext() bool { return s.Protocol == "" || s.Protocol == "PLAINTEXT" }

// check reports a RaftSecurity that would let an unauthenticated peer through.
func (s RaftSecurity) check() error {
	switch s.Protocol {
	case "", "PLAINTEXT":
		return nil
	case "SSL":
		if s.ServerTLS == nil || s.Client.TLS == nil || s.TLSPrincipal == nil {
			return errors.New("an SSL controller listener needs a TLS configuration and a principal mapping")
		}
	case "SASL_SSL", "SASL_PLAINTEXT":
		if s.SASL == nil || s.Client.SASL == nil {
			return fmt.Errorf("a %s controller listener needs SASL mechanisms and this node's own login", s.Protocol)
		}
		if (s.Protocol == "SASL_SSL") != (s.ServerTLS != nil && s.Client.TLS != nil) {
			return fmt.Errorf("a %s controller listener has TLS configured wrongly", s.Protocol)
		}
	default:
		return fmt.Errorf("controller listener protocol %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s.Protocol)
	}
	return nil
}

const (
	// raftHandshakeTimeout bounds a peer's TLS handshake and SASL exchange together.
	raftHandshakeTimeout = 10 * time.Second
	// maxRaftHandshakes caps the connections being authenticated at once; more are closed
	// at once (the voters of a quorum dial a few connections each and retry).
	maxRaftHandshakes = 32
	// maxRaftSASLFrame caps a SaslHandshake or SaslAuthenticate frame from a peer not yet
	// authenticated (a PLAIN message or an OAUTHBEARER token is far smaller).
	maxRaftSASLFrame = 64 << 10
)

// secureStream is the raft.StreamLayer of a secured controller listener: its accept loop
// authenticates each connection on a goroutine of its own (at most maxRaftHandshakes at a
// time, each within raftHandshakeTimeout) and hands Accept only the connections that passed,
// so a peer that stalls its handshake holds up no one. Dial secures its connections the same
// way from the other side.
type secureStream struct {
	ln        net.Listener
	advertise net.Addr // nil: ln's address
	sec       RaftSecurity
	log       *slog.Logger

	ctx      context.Context // cancelled by Close: ends handshakes and Accept
	cancel   context.CancelFunc
	accepted chan net.Conn // authenticated connections for Accept
	slots    chan struct{} // one per handshake in progress
	wg       sync.WaitGroup
	once     sync.Once
}

func newSecureStream(listen string, advertise net.Addr, sec RaftSecurity, log *slog.Logger) (*secureStream, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	addr := advertise
	if addr == nil {
		addr = ln.Addr()
	}
	if a, ok := addr.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("%s is not an address the other voters can reach", addr) // as raft.NewTCPTransport
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &secureStream{ln: ln, advertise: advertise, sec: sec, log: log, ctx: ctx, cancel: cancel,
		accepted: make(chan net.Conn), slots: make(chan struct{}, maxRaftHandshakes)}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// refuse logs the one line a refused peer gets.
func (s *secureStream) refuse(remote net.Addr, err error) {
	s.log.Warn("controller listener: refused a Raft peer", "protocol", s.sec.Protocol, "remote", remote.String(), "reason", err.Error())
}

func (s *secureStream) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("controller listener: accept failed", "err", err)
			select { // out of descriptors, most likely: let some close
			case <-s.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			c.Close()
			s.refuse(c.RemoteAddr(), fmt.Errorf("%d connections are authenticating already", maxRaftHandshakes))
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			sc, err := s.authenticate(c)
			if err != nil {
				c.Close()
				if s.ctx.Err() == nil {
					s.refuse(c.RemoteAddr(), err)
				}
				return
			}
			select {
			case s.accepted <- sc:
			case <-s.ctx.Done():
				sc.Close()
			}
		}()
	}
}

// authenticate runs the TLS handshake and the SASL exchange of a peer that connected and
// checks its principal; it returns the connection to read Raft from.
func (s *secureStream) authenticate(c net.Conn) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, raftHandshakeTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var principal string
	if s.sec.ServerTLS != nil {
		tc := tls.Server(c, s.sec.ServerTLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
		if s.sec.SASL == nil {
			p, err := s.sec.TLSPrincipal(tc.ConnectionState())
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			principal = p
		}
	}
	if s.sec.SASL != nil {
		p, err := s.saslAccept(c)
		if err != nil {
			return nil, err
		}
		principal = p
	}
	if s.sec.Authorize != nil {
		if err := s.sec.Authorize(principal); err != nil {
			return nil, fmt.Errorf("%s: %w", principal, err)
		}
	}
	if !stop() {
		return nil, ctx.Err()
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// saslAccept serves the exchange kwire.Security runs when it dials: SaslHandshake v1 naming
// the mechanism, then SaslAuthenticate v1 round trips until auth's exchange is done. A
// failure is answered with Kafka's error code (UNSUPPORTED_SASL_MECHANISM,
// SASL_AUTHENTICATION_FAILED) so that the dialer logs why, and returned with the reason.
func (s *secureStream) saslAccept(c net.Conn) (string, error) {
	r := kwire.NewReader(c, 4096, maxRaftSASLFrame)
	var hs kmsg.SASLHandshakeRequest
	corr, err := readSASLRequest(r, &hs)
	if err != nil {
		return "", err
	}
	hr := hs.ResponseKind().(*kmsg.SASLHandshakeResponse)
	x, err := s.sec.SASL(hs.Mechanism)
	if err != nil {
		hr.ErrorCode, hr.SupportedMechanisms = kerr.UnsupportedSaslMechanism.Code, s.sec.Mechanisms
		writeSASLResponse(c, corr, hr)
		return "", err
	}
	hr.SupportedMechanisms = s.sec.Mechanisms
	if err := writeSASLResponse(c, corr, hr); err != nil {
		return "", err
	}
	for {
		var a kmsg.SASLAuthenticateRequest
		corr, err := readSASLRequest(r, &a)
		if err != nil {
			return "", err
		}
		ar := a.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		reply, done, principal, err := x.Step(a.SASLAuthBytes)
		if err != nil {
			msg := err.Error()
			ar.ErrorCode, ar.ErrorMessage = kerr.SaslAuthenticationFailed.Code, &msg
			writeSASLResponse(c, corr, ar)
			return "", fmt.Errorf("SASL %s: %s", hs.Mechanism, auth.FailureReason(err))
		}
		ar.SASLAuthBytes = reply
		if err := writeSASLResponse(c, corr, ar); err != nil {
			return "", err
		}
		if done {
			if r.Buffered() != 0 { // the dialer waits for the answer before it speaks Raft
				return "", errors.New("the peer sent more before its SASL exchange completed")
			}
			return principal, nil
		}
	}
}

// saslRequest is SaslHandshakeRequest or SaslAuthenticateRequest.
type saslRequest interface {
	Key() int16
	SetVersion(int16)
	ReadFrom([]byte) error
}

// readSASLRequest reads the next frame into req, which must be that API at version 1 (the
// version kwire sends; neither is flexible, so the header is key, version, correlation id and
// client id), and returns the correlation id.
func readSASLRequest(r *kwire.Reader, req saslRequest) (int32, error) {
	frame, err := r.Next()
	if err != nil {
		return 0, fmt.Errorf("reading the SASL exchange: %w", err)
	}
	name := kmsg.NameForKey(req.Key())
	if len(frame) < 10 {
		return 0, fmt.Errorf("a %d-byte frame where %s v1 was expected", len(frame), name)
	}
	key, version := int16(binary.BigEndian.Uint16(frame)), int16(binary.BigEndian.Uint16(frame[2:]))
	corr, idLen := int32(binary.BigEndian.Uint32(frame[4:])), int16(binary.BigEndian.Uint16(frame[8:]))
	if key != req.Key() || version != 1 {
		return 0, fmt.Errorf("%s v%d where %s v1 was expected (a Raft peer must authenticate first)", kmsg.NameForKey(key), version, name)
	}
	body := frame[10:]
	if idLen > 0 {
		if int(idLen) > len(body) {
			return 0, fmt.Errorf("%s: client id of %d bytes in a %d-byte frame", name, idLen, len(frame))
		}
		body = body[idLen:]
	}
	req.SetVersion(1)
	if err := req.ReadFrom(body); err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return corr, nil
}

// writeSASLResponse writes resp (version 1: response header v0, size and correlation id).
func writeSASLResponse(c net.Conn, corr int32, resp kmsg.Response) error {
	resp.SetVersion(1)
	b := binary.BigEndian.AppendUint32(make([]byte, 4, 64), uint32(corr))
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err := c.Write(b)
	return err
}

// Accept returns the next authenticated connection.
func (s *secureStream) Accept() (net.Conn, error) {
	select {
	case c := <-s.accepted:
		return c, nil
	case <-s.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and waits for the handshakes in progress to give up.
func (s *secureStream) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Addr is the address the other voters reach this one at.
func (s *secureStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial connects to a voter and secures the connection as its listener requires (TLS
// verified against the truststore, this node's certificate, this node's SASL login), within
// timeout.
func (s *secureStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	sc, err := s.sec.Client.Secure(ctx, c, string(address))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("controller listener %s (%s): %w", address, s.sec.Protocol, err)
	}
	return sc, nil
}
