//go:build compat

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/logd/logd/internal/testcerts"
)

// TestClusterSASLSSL: three nodes whose only client listener is SASL_SSL (PLAIN), with an SSL
// controller listener (Raft over mTLS, the certificates' principal User:broker by
// ssl.principal.mapping.rules), StandardAuthorizer and allow.everyone.if.no.acl.found=false.
// Brokers dial each other on it as User:broker (a super user): a topic of replication factor
// 3 gets all three replicas in sync under acks=all writes, a transaction commits across
// partitions led by different brokers; a plaintext Raft peer and one with a certificate of
// another CA are refused by the controller listener; after the active controller is killed
// (kill -9) the other two elect one and a new leader of its partition serves produce and the
// committed records. Restarted with a wrong password of its own, the killed broker logs why
// it cannot join.
func TestClusterSASLSSL(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "cluster CA")
	ks, ts := filepath.Join(dir, "broker.pem"), filepath.Join(dir, "ca.pem")
	cert, key := ca.Issue(t, pkix.Name{CommonName: "broker", Organization: []string{"logd"}})
	os.WriteFile(ks, append(cert, key...), 0o600)
	os.WriteFile(ts, ca.PEM, 0o600)
	ctl := []string{freePort(t), freePort(t), freePort(t)}
	voters := fmt.Sprintf("1@%s,2@%s,3@%s", ctl[0], ctl[1], ctl[2])
	start := func(id int, ctlAddr, password string) (string, int) {
		jaas := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="%s" user_broker="broker-secret" user_alice="alice-secret";`, password)
		cfg := filepath.Join(dir, fmt.Sprintf("node%d.properties", id))
		os.WriteFile(cfg, []byte(fmt.Sprintf(`node.id=%d
controller.quorum.voters=%s
listeners=SASL_SSL://127.0.0.1:0,CONTROLLER://%s
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
ssl.principal.mapping.rules=RULE:^CN=([^,]*),.*$/$1/,DEFAULT
inter.broker.listener.name=SASL_SSL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=%s
ssl.keystore.type=PEM
ssl.keystore.location=%s
ssl.truststore.type=PEM
ssl.truststore.location=%s
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:broker
allow.everyone.if.no.acl.found=false
log.dirs=%s
`, id, voters, ctlAddr, jaas, ks, ts, filepath.Join(dir, fmt.Sprintf("data%d", id)))), 0o644)
		_, bound, warnings, pid := serveConfig(t, bin, cfg)
		if len(warnings) != 0 {
			t.Fatalf("node %d: config warnings %q", id, warnings)
		}
		for _, addr := range bound { // the one client listener: its ready line says listen=
			return addr, pid
		}
		t.Fatalf("node %d: no listener address in its ready line", id)
		return "", 0
	}
	addrs, pids := make([]string, 3), make([]int, 3)
	for i := range 3 {
		addrs[i], pids[i] = start(i+1, ctl[i], "broker-secret")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	client := func(user, pass string, opts ...kgo.Opt) *kgo.Client {
		opts = append(opts, kgo.SeedBrokers(addrs...), kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()),
			kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}), kgo.RetryTimeout(30*time.Second))
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	// User:broker is the super user; alice gets what the test needs through ACLs.
	adm := kadm.NewClient(client("broker", "broker-secret"))
	var brokers kadm.BrokerDetails
	var merr error
	for deadline := time.Now().Add(60 * time.Second); len(brokers) < 3 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var m kadm.Metadata
		if m, merr = adm.Metadata(ctx); merr == nil {
			brokers = m.Brokers
		}
	}
	if len(brokers) < 3 {
		t.Fatalf("brokers registered over SASL_SSL: %v (%v)", brokers, merr)
	}
	if r, err := adm.CreateTopic(ctx, 3, 3, nil, "secure"); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	acls := kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("secure").Groups("*").TransactionalIDs("tx").
		Operations(kadm.OpAll)
	if res, err := adm.CreateACLs(ctx, acls); err != nil || res[0].Err != nil {
		t.Fatalf("create ACLs: %v %+v", err, res)
	}
	// acks=all with replication factor 3: the followers fetch over SASL_SSL as User:broker.
	insync := func() bool {
		ts, err := adm.ListTopics(ctx, "secure")
		if err != nil || ts["secure"].Err != nil {
			return false
		}
		for _, p := range ts["secure"].Partitions {
			if len(p.ISR) != 3 {
				return false
			}
		}
		return len(ts["secure"].Partitions) == 3
	}
	for deadline := time.Now().Add(60 * time.Second); !insync(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replicas of secure never all joined the ISR over SASL_SSL")
		}
	}
	// One transaction over the three partitions (led by different brokers): the markers go
	// from the transaction coordinator to each leader over SASL_SSL.
	// The ACLs reach each broker through the metadata log: a producer refused before they
	// did is fatal, so each try has a client of its own.
	var alice *kgo.Client
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		alice = client("alice", "alice-secret", kgo.TransactionalID("tx"), kgo.RequiredAcks(kgo.AllISRAcks()))
		if err := alice.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secure", Partition: 0, Value: []byte("p0-0")}).FirstErr()
		if err == nil {
			break
		}
		// franz-go reports the refused InitProducerId as a fatal producer-id error that does
		// not always unwrap to the Kafka error: match its name too.
		refused := errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || strings.Contains(err.Error(), "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
		if !refused || time.Now().After(deadline) {
			t.Fatalf("transactional produce: %v", err)
		}
		alice.Close()
	}
	for p := range int32(3) {
		for i := range 10 {
			if p == 0 && i == 0 {
				continue
			}
			if err := alice.ProduceSync(ctx, &kgo.Record{Topic: "secure", Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)}).FirstErr(); err != nil {
				t.Fatalf("transactional produce: %v", err)
			}
		}
	}
	if err := alice.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}
	// The controller listener speaks Raft only to a peer with a certificate of the cluster's
	// CA whose principal is a super user; anyone else is refused with one log line.
	raftPeer := func(c net.Conn) {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte{0, 0x80, 0x81, 0xa4, 'T', 'e', 'r', 'm', 0xce, 0xff, 0xff, 0xff, 0xff}) // AppendEntries, term 2^32-1
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("the controller listener answered a peer of %s", c.RemoteAddr())
		}
		c.Close()
	}
	if c, err := net.Dial("tcp", ctl[0]); err == nil {
		raftPeer(c)
	}
	stranger := testcerts.NewCA(t, "another CA").Pair(t, pkix.Name{CommonName: "broker", Organization: []string{"logd"}})
	// GetClientCertificate: Go's client would not send a certificate of a CA the server does
	// not name; an intruder would.
	if c, err := tls.Dial("tcp", ctl[0], &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &stranger, nil }}); err == nil {
		raftPeer(c)
	}
	for deadline := time.Now().Add(30 * time.Second); !serveLogHas(pids[0], "refused a Raft peer", "first record does not look like a TLS handshake") ||
		!serveLogHas(pids[0], "refused a Raft peer", "certificate signed by unknown authority"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			var said []string
			if v, ok := serveLogs.Load(pids[0]); ok {
				kept := v.(*servedLog)
				kept.mu.Lock()
				for _, l := range kept.lines {
					if strings.Contains(l, "controller listener") || strings.Contains(l, "raft") {
						said = append(said, l)
					}
				}
				kept.mu.Unlock()
			}
			t.Fatalf("node 1 did not log refusing a plaintext and a wrongly certified Raft peer; it logged:\n%s", strings.Join(said, "\n"))
		}
	}
	// Kill -9 the active controller; the other two elect one over mTLS, and another replica
	// of the partition it led takes over and serves the committed records and new writes.
	m, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leader := m.Controller
	td, err := adm.ListTopics(ctx, "secure")
	if err != nil {
		t.Fatal(err)
	}
	var led int32
	for _, p := range td["secure"].Partitions {
		if p.Leader == leader {
			led = p.Partition
		}
	}
	syscall.Kill(pids[leader-1], syscall.SIGKILL)
	seeds := []string{}
	for i, a := range addrs {
		if int32(i+1) != leader {
			seeds = append(seeds, a)
		}
	}
	survivors := kadm.NewClient(client("broker", "broker-secret", kgo.SeedBrokers(seeds...)))
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m, err := survivors.Metadata(ctx)
		if err == nil && m.Controller >= 1 && m.Controller != leader {
			if r, err := survivors.CreateTopic(ctx, 1, 2, nil, "after-election"); err == nil && r.Err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new controller took over after killing controller %d (metadata %v %v)", leader, m.Controller, err)
		}
	}
	after := client("alice", "alice-secret", kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeTopics("secure"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err := after.ProduceSync(ctx, &kgo.Record{Topic: "secure", Partition: led, Value: []byte("after failover")}).FirstErr(); err != nil {
		t.Fatalf("produce to partition %d after killing its leader %d: %v", led, leader, err)
	}
	got := 0
	for got < 31 && ctx.Err() == nil {
		fs := after.PollFetches(ctx)
		fs.EachRecord(func(*kgo.Record) { got++ })
	}
	if got != 31 {
		t.Fatalf("read %d records after failover, want the 30 committed and 1 more", got)
	}
	// The killed broker back with a wrong password of its own: it says why it cannot join,
	// and is not silent.
	_, bad := start(int(leader), ctl[leader-1], "wrong-secret")
	for deadline := time.Now().Add(60 * time.Second); !serveLogHas(bad, "SASL PLAIN authentication", "failed", "Invalid username or password"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a broker with a wrong inter-broker password logged no authentication failure")
		}
	}
}
