package metadata

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/internal/testcerts"
)

// logLines collects a logger's lines for a test to look through.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is the number of lines holding every one of subs.
func (l *logLines) count(subs ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range strings.Split(l.buf.String(), "\n") {
		all := line != ""
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// securedQuorum is three voters whose Raft is secured by sec(i), each logging to logs[i].
type securedQuorum struct {
	t     *testing.T
	addrs []string
	nodes []*Quorum
	logs  []*logLines
}

func openSecuredQuorum(t *testing.T, sec func(i int) RaftSecurity) *securedQuorum {
	t.Helper()
	sq := &securedQuorum{t: t, addrs: freePorts(t, 3), nodes: make([]*Quorum, 3), logs: make([]*logLines, 3)}
	var voters []Voter
	for i, a := range sq.addrs {
		voters = append(voters, Voter{ID: int32(i + 1), Addr: a})
	}
	base := t.TempDir()
	for i := range sq.nodes {
		sq.logs[i] = &logLines{}
		cfg := testQuorumConfig(int32(i+1), sq.addrs[i], filepath.Join(base, fmt.Sprint(i+1)), voters)
		cfg.Logger = slog.New(slog.NewTextHandler(sq.logs[i], nil))
		cfg.Security = sec(i)
		q, err := OpenQuorum(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sq.nodes[i] = q
	}
	t.Cleanup(func() {
		for _, q := range sq.nodes {
			if q != nil {
				q.Close()
			}
		}
	})
	return sq
}

// leader waits for a leader and returns its index.
func (sq *securedQuorum) leader() int {
	sq.t.Helper()
	at := -1
	waitFor(sq.t, "a leader", func() bool {
		for i, q := range sq.nodes {
			if q != nil && q.IsController() {
				at = i
				return true
			}
		}
		return false
	})
	return at
}

// commit proposes a broker registration on the leader: the quorum replicates over its
// secured transport.
func (sq *securedQuorum) commit(id int32) {
	sq.t.Helper()
	l := sq.nodes[sq.leader()]
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err = l.Propose(&RegisterBroker{ID: id, Incarnation: "x", Host: "127.0.0.1", Port: 9092}, 2*time.Second); err == nil {
			return
		}
	}
	sq.t.Fatalf("propose over the secured quorum: %v", err)
}

// refused dials addr with dial, sends a Raft-shaped request and checks the connection is
// closed without an answer and that the node logged one refusal with reason.
func (sq *securedQuorum) refused(node int, what, reason string, dial func(addr string) (net.Conn, error)) {
	sq.t.Helper()
	before := sq.logs[node].count("refused a Raft peer", reason)
	c, err := dial(sq.addrs[node])
	if err == nil {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte{0, 0x80, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0xce, 0xff, 0xff, 0xff, 0xff}) // AppendEntries, term 2^32-1
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if err == nil {
		sq.t.Fatalf("%s: the controller listener answered", what)
	}
	waitFor(sq.t, what+" logged as refused", func() bool { return sq.logs[node].count("refused a Raft peer", reason) == before+1 })
}

// TestRaftOverMutualTLS: three voters speak Raft over mTLS (an SSL controller listener) with
// super.users checked, elect, replicate and elect again after the leader goes; a plaintext
// peer, a peer with a certificate of another CA, one with no certificate and one whose
// certificate is not a super user's are each refused with one log line, and the quorum goes
// on committing.
func TestRaftOverMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Raft nodes")
	}
	ca, other := testcerts.NewCA(t, "controllers CA"), testcerts.NewCA(t, "another CA")
	supers := acl.New(acl.Config{SuperUsers: []string{"User:controller-1", "User:controller-2", "User:controller-3"}})
	sq := openSecuredQuorum(t, func(i int) RaftSecurity {
		cert, key := ca.Issue(t, pkix.Name{CommonName: fmt.Sprintf("controller-%d", i+1), Organization: []string{"logd"}})
		tl, err := auth.NewTLS(auth.TLSSettings{KeystoreCertificateChain: string(cert), KeystoreKey: string(key),
			TruststoreCertificates: string(ca.PEM), ClientAuth: "required",
			PrincipalMappingRules: "RULE:^CN=([^,]*),.*$/$1/,DEFAULT"}, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		return RaftSecurity{Protocol: "SSL", ServerTLS: tl.Config(), Client: kwire.Security{TLS: tl.ClientConfig()}, TLSPrincipal: tl.Principal,
			Authorize: func(p string) error {
				if supers.IsSuperUser(acl.Subject{Principal: p}) {
					return nil
				}
				return errors.New("not a super user")
			}}
	})
	sq.commit(1)

	target := (sq.leader() + 1) % 3
	sq.refused(target, "a plaintext peer", "first record does not look like a TLS handshake", func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) })
	// GetClientCertificate sends the certificate whatever CAs the server names, as an
	// intruder would (Go's client leaves out one of a CA the server does not name).
	dialTLS := func(certs []tls.Certificate) func(addr string) (net.Conn, error) {
		return func(addr string) (net.Conn, error) {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost",
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if len(certs) == 0 {
						return &tls.Certificate{}, nil
					}
					return &certs[0], nil
				}})
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	sq.refused(target, "a peer with another CA's certificate", "certificate signed by unknown authority", dialTLS([]tls.Certificate{other.Pair(t, pkix.Name{CommonName: "controller-1", Organization: []string{"logd"}})}))
	sq.refused(target, "a peer with no certificate", "client didn't provide a certificate", dialTLS(nil))
	sq.refused(target, "a peer that is no super user", "User:intruder: not a super user", dialTLS([]tls.Certificate{ca.Pair(t, pkix.Name{CommonName: "intruder", Organization: []string{"logd"}})}))
	sq.commit(2)

	// The leader goes; the other two elect one of them over mTLS and commit.
	old := sq.leader()
	if err := sq.nodes[old].Close(); err != nil {
		t.Fatal(err)
	}
	sq.nodes[old] = nil
	sq.commit(3)
	for i, q := range sq.nodes {
		if q != nil {
			waitFor(t, fmt.Sprintf("node %d to apply", i+1), func() bool { return q.State().Brokers[3] != nil })
		}
	}
}

// TestRaftOverSASL: three voters on a SASL_PLAINTEXT controller listener (PLAIN) form a
// quorum; a peer with a wrong password is told SASL_AUTHENTICATION_FAILED and logged, one
// that speaks Raft at once is refused, one asking for a mechanism not enabled is told
// which are.
func TestRaftOverSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Raft nodes")
	}
	s, err := auth.NewSASL(map[string]*auth.ListenerSASL{"CONTROLLER": {Enabled: []string{auth.MechPlain}, Plain: map[string]string{"controller": "ctl-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	sq := openSecuredQuorum(t, func(int) RaftSecurity {
		return RaftSecurity{Protocol: "SASL_PLAINTEXT", Mechanisms: []string{auth.MechPlain},
			SASL:   func(m string) (auth.Exchange, error) { return s.Start("CONTROLLER", m, nil) },
			Client: kwire.Security{SASL: plain.Auth{User: "controller", Pass: "ctl-secret"}.AsMechanism()}}
	})
	sq.commit(1)

	target := (sq.leader() + 1) % 3
	login := func(sec kwire.Security) func(addr string) (net.Conn, error) {
		return func(addr string) (net.Conn, error) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			sc, err := sec.Secure(context.Background(), c, addr)
			if err != nil {
				c.Close()
				if !errors.Is(err, kwire.ErrAuthentication) {
					t.Errorf("refusal %v is not kwire.ErrAuthentication", err)
				}
				return nil, err
			}
			return sc, nil
		}
	}
	sq.refused(target, "a wrong password", "SASL PLAIN", login(kwire.Security{SASL: plain.Auth{User: "controller", Pass: "guess"}.AsMechanism()}))
	sq.refused(target, "a peer speaking Raft at once", "reading the SASL exchange", func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) })
	sq.refused(target, "a mechanism not enabled", "not enabled", login(kwire.Security{SASL: scram.Auth{User: "controller", Pass: "ctl-secret"}.AsSha256Mechanism()}))
	sq.commit(2)
}
