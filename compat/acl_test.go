//go:build compat

package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// aclBroker is a logd with one SASL_PLAINTEXT listener (PLAIN users admin, alice and bob) and
// Kafka's StandardAuthorizer: admin is the super user, everyone else needs ACLs.
type aclBroker struct {
	*brokerProc
	sasl string
	dir  string
}

func startACLBroker(t *testing.T) *aclBroker {
	t.Helper()
	dir := t.TempDir()
	jaas := `org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" user_bob="bob-secret";`
	cfg := filepath.Join(dir, "server.properties")
	// The PLAINTEXT listener is the inter-broker one; its principal (ANONYMOUS) is a super
	// user as in a Kafka cluster whose brokers talk PLAINTEXT.
	if err := os.WriteFile(cfg, []byte("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"+
		"super.users=User:admin;User:ANONYMOUS\nsasl.enabled.mechanisms=PLAIN\n"+
		"listener.name.sasl_plaintext.plain.sasl.jaas.config="+jaas+"\ngroup.initial.rebalance.delay.ms=0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p0, _ := freePort()
	p1, _ := freePort()
	b := &aclBroker{sasl: fmt.Sprintf("127.0.0.1:%d", p1), dir: dir}
	var err error
	b.brokerProc, err = startBrokerArgs(filepath.Join(dir, "data"),
		fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://%s", p0, b.sasl), "acl.log", "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.stop(); err != nil {
			t.Errorf("logd with ACLs exit: %v", err)
		}
	})
	return b
}

// javaConfig is a client properties file logging in as user.
func (b *aclBroker) javaConfig(t *testing.T, user string) string {
	p := filepath.Join(b.dir, user+".properties")
	os.WriteFile(p, []byte(fmt.Sprintf("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"+
		"sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"%s\" password=\"%s-secret\";\n",
		user, user)), 0o600)
	return p
}

func (b *aclBroker) client(s *S, user string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.sasl), kgo.SASL(plain.Auth{User: user, Pass: user + "-secret"}.AsMechanism()),
		kgo.RetryTimeout(3 * time.Second), kgo.RecordRetries(2)}, opts...)...)
	if err != nil {
		s.Fatalf("client: %v", err)
	}
	s.Cleanup(cl.Close)
	return cl
}

// deniedSend sends one record to acl-java-orders as user with Kafka's VerifiableProducer
// (the console producer logs send errors through SLF4J, which the tools' class path sends
// nowhere) and expects the send to fail with a TopicAuthorizationException.
func deniedSend(s *S, b *aclBroker, user string) {
	s.Helper()
	out := javaTool(s, "", "org.apache.kafka.tools.VerifiableProducer", "--bootstrap-server", b.sasl,
		"--topic", "acl-java-orders", "--max-messages", "1", "--producer.config", b.javaConfig(s.T, user))
	if !strings.Contains(out, "TopicAuthorizationException") {
		s.Fatalf("VerifiableProducer as %s said %q, want a TopicAuthorizationException", user, lastLines(out, 5))
	}
}

// TestACLs: kafka-acls adds, lists and removes ACLs (literal and prefixed, on topics, groups
// and transactional ids); the Java console producer and franz-go are refused with
// TOPIC_AUTHORIZATION_FAILED without an ACL and allowed with one; a DENY wins over a prefixed
// ALLOW; consuming in a group needs READ on the group; a transactional producer needs WRITE
// on its transactional id.
func TestACLs(t *testing.T) {
	b := startACLBroker(t)
	admin := b.javaConfig(t, "admin")
	scenario(t, "java", "acl-kafka-acls-add-list-remove", 180*time.Second, func(s *S) {
		adm := kadm.NewClient(b.client(s, "admin"))
		if _, err := adm.CreateTopics(s.ctx, 1, 1, nil, "acl-java-orders"); err != nil {
			s.Fatalf("create topic: %v", err)
		}
		// bob has no ACL: the Java producer fails with Kafka's authorization error.
		deniedSend(s, b, "bob")
		javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin,
			"--add", "--allow-principal", "User:bob", "--operation", "Write", "--operation", "Describe",
			"--topic", "acl-java-", "--resource-pattern-type", "prefixed")
		javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin,
			"--add", "--allow-principal", "User:bob", "--operation", "Read", "--group", "acl-java-group")
		list := javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin, "--list")
		for _, want := range []string{"name=acl-java-, patternType=PREFIXED", "operation=WRITE", "operation=DESCRIBE",
			"name=acl-java-group, patternType=LITERAL", "principal=User:bob"} {
			if !strings.Contains(list, want) {
				s.Fatalf("kafka-acls --list lacks %q: %s", want, lastLines(list, 12))
			}
		}
		javaTool(s, "one\ntwo\n", "org.apache.kafka.tools.ConsoleProducer", "--bootstrap-server", b.sasl,
			"--topic", "acl-java-orders", "--producer.config", b.javaConfig(t, "bob"))
		// Reading needs READ on the topic too: add it, then consume in the group.
		javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin,
			"--add", "--allow-principal", "User:bob", "--operation", "Read", "--topic", "acl-java-orders")
		got := javaTool(s, "", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", b.sasl,
			"--topic", "acl-java-orders", "--group", "acl-java-group", "--from-beginning", "--max-messages", "2",
			"--timeout-ms", "30000", "--consumer.config", b.javaConfig(t, "bob"))
		if !strings.Contains(got, "one\ntwo\n") {
			s.Fatalf("console consumer read %q", lastLines(got, 5))
		}
		javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin,
			"--remove", "--force", "--topic", "acl-java-", "--resource-pattern-type", "prefixed")
		list = javaTool(s, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", b.sasl, "--command-config", admin,
			"--list", "--topic", "acl-java-", "--resource-pattern-type", "prefixed")
		if strings.Contains(list, "operation=WRITE") {
			s.Fatalf("kafka-acls --list after --remove: %s", lastLines(list, 8))
		}
		deniedSend(s, b, "bob")
	})
	scenario(t, "franz-go", "acl-produce-deny-group-txn", 120*time.Second, func(s *S) {
		adm := kadm.NewClient(b.client(s, "admin"))
		if _, err := adm.CreateTopics(s.ctx, 1, 1, nil, "acl-go-a", "acl-go-b"); err != nil {
			s.Fatalf("create topics: %v", err)
		}
		create := func(acls *kadm.ACLBuilder) {
			res, err := adm.CreateACLs(s.ctx, acls)
			if err != nil {
				s.Fatalf("create ACLs: %v", err)
			}
			for _, r := range res {
				if r.Err != nil {
					s.Fatalf("create ACL: %v", r.Err)
				}
			}
		}
		produce := func(cl *kgo.Client, topic string) error {
			ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
			defer cancel()
			return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
		}
		alice := b.client(s, "alice", kgo.DisableIdempotentWrite())
		if err := produce(alice, "acl-go-a"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			s.Fatalf("produce without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		create(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("acl-go-").ResourcePatternType(kadm.ACLPatternPrefixed).
			Operations(kadm.OpWrite, kadm.OpRead))
		create(kadm.NewACLs().Deny("User:alice").DenyHosts().Topics("acl-go-b").Operations(kadm.OpWrite))
		if err := produce(alice, "acl-go-a"); err != nil {
			s.Fatalf("produce with a prefixed ALLOW: %v", err)
		}
		if err := produce(alice, "acl-go-b"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			s.Fatalf("produce against a DENY: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		consume := func() error {
			cl := b.client(s, "alice", kgo.ConsumeTopics("acl-go-a"), kgo.ConsumerGroup("acl-go-group"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
			defer cancel()
			defer cl.Close() // leave the group: a member left behind would keep the partition
			for {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					return err
				}
				var ferr error
				// Retriable errors (a coordinator still loading) are retried by the client itself.
				fs.EachError(func(_ string, _ int32, err error) {
					if !kerr.IsRetriable(err) {
						ferr = err
					}
				})
				if ferr != nil {
					return ferr
				}
				if fs.NumRecords() > 0 {
					return nil
				}
			}
		}
		if err := consume(); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			s.Fatalf("consume without READ on the group: %v, want GROUP_AUTHORIZATION_FAILED", err)
		}
		create(kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("acl-go-group").Operations(kadm.OpRead))
		if err := consume(); err != nil {
			s.Fatalf("consume with READ on topic and group: %v", err)
		}
		txn := b.client(s, "alice", kgo.TransactionalID("acl-go-tx"))
		err := txn.BeginTransaction() // franz-go asks for the producer id here or at the first produce
		if err == nil {
			err = produce(txn, "acl-go-a")
		}
		if !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			s.Fatalf("transactional produce without an ACL on the id: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
		}
		create(kadm.NewACLs().Allow("User:alice").AllowHosts().TransactionalIDs("acl-go-tx").Operations(kadm.OpWrite))
		txn2 := b.client(s, "alice", kgo.TransactionalID("acl-go-tx"))
		if err := txn2.BeginTransaction(); err != nil {
			s.Fatalf("begin: %v", err)
		}
		if err := produce(txn2, "acl-go-a"); err != nil {
			s.Fatalf("transactional produce with WRITE on the id: %v", err)
		}
		if err := txn2.EndTransaction(s.ctx, kgo.TryCommit); err != nil {
			s.Fatalf("commit: %v", err)
		}
	})
}
