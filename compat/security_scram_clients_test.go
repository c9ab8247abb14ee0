//go:build compat

package compat

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// scramClientScripts produce "v0 v1 v2" to a topic with SCRAM as admin, read them back and
// print them: argv BOOTSTRAP MECHANISM TOPIC.
var scramClientScripts = map[string][]string{
	"confluent-py": {"python", `
import sys, time
from confluent_kafka import Producer, Consumer
addr, mech, topic = sys.argv[1:4]
conf = {'bootstrap.servers': addr, 'security.protocol': 'SASL_PLAINTEXT', 'sasl.mechanisms': mech,
        'sasl.username': 'admin', 'sasl.password': 'admin-secret'}
p = Producer(conf)
for i in range(3):
    p.produce(topic, ('v%d' % i).encode())
assert p.flush(30) == 0, 'unflushed records'
c = Consumer(dict(conf, **{'group.id': 'g-' + topic, 'auto.offset.reset': 'earliest'}))
c.subscribe([topic])
got, deadline = [], time.time() + 30
while len(got) < 3 and time.time() < deadline:
    m = c.poll(1)
    if m is not None and m.error() is None:
        got.append(m.value().decode())
c.close()
print(' '.join(got))
`},
	"kafka-python": {"python", `
import sys
from kafka import KafkaProducer, KafkaConsumer
addr, mech, topic = sys.argv[1:4]
conf = dict(bootstrap_servers=addr, security_protocol='SASL_PLAINTEXT', sasl_mechanism=mech,
            sasl_plain_username='admin', sasl_plain_password='admin-secret')
p = KafkaProducer(**conf)
for i in range(3):
    p.send(topic, ('v%d' % i).encode()).get(30)
p.close()
c = KafkaConsumer(topic, auto_offset_reset='earliest', consumer_timeout_ms=20000, **conf)
got = []
for m in c:
    got.append(m.value.decode())
    if len(got) == 3:
        break
c.close()
print(' '.join(got))
`},
	"kafkajs": {"node", `
const { Kafka, logLevel } = require('kafkajs');
const [addr, mech, topic] = process.argv.slice(2);
const kafka = new Kafka({ brokers: [addr], logLevel: logLevel.NOTHING,
  sasl: { mechanism: mech.toLowerCase(), username: 'admin', password: 'admin-secret' } });
(async () => {
  const admin = kafka.admin(); await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] }); await admin.disconnect();
  const p = kafka.producer(); await p.connect();
  await p.send({ topic, messages: [0, 1, 2].map(i => ({ value: 'v' + i })) }); await p.disconnect();
  const c = kafka.consumer({ groupId: 'g-' + topic }); await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  const got = [];
  await new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error('timed out reading')), 30000);
    c.run({ eachMessage: async ({ message }) => { got.push(message.value.toString()); if (got.length === 3) resolve(); } });
  });
  await c.disconnect();
  console.log(got.join(' '));
})().catch(e => { console.error(e); process.exit(1); });
`},
}

// TestSecuritySCRAMClients: confluent-kafka-python, kafka-python, kafkajs and sarama produce
// and read back records over SASL_PLAINTEXT with SCRAM-SHA-256 and SCRAM-SHA-512.
func TestSecuritySCRAMClients(t *testing.T) {
	b := startScramBroker(t)
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		for client, script := range scramClientScripts {
			topic := strings.ToLower("scram-" + client + "-" + mech)
			scenario(t, client, strings.ToLower("sasl_plaintext-"+mech), 120*time.Second, func(s *S) {
				var cmd *exec.Cmd
				if script[0] == "python" {
					py, err := venvPython()
					if err != nil {
						s.NA(err.Error())
					}
					cmd = exec.CommandContext(s.ctx, py, "-c", script[1], b.saslPlain, mech, topic)
				} else {
					p := filepath.Join(t.TempDir(), "scram.js")
					os.WriteFile(p, []byte(script[1]), 0o600)
					cmd = exec.CommandContext(s.ctx, "node", p, b.saslPlain, mech, topic)
					cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(repoRoot, "compat", "js", "node_modules"))
				}
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					s.Fatalf("%v: %s", err, lastLines(errb.String(), 5))
				}
				if got := strings.TrimSpace(out.String()); got != "v0 v1 v2" {
					s.Fatalf("read %q", got)
				}
			})
		}
		scenario(t, "sarama", strings.ToLower("sasl_plaintext-"+mech), 60*time.Second, func(s *S) {
			cfg := saramaConfig()
			cfg.Net.SASL.Enable, cfg.Net.SASL.User, cfg.Net.SASL.Password = true, "admin", "admin-secret"
			cfg.Net.SASL.Mechanism = sarama.SASLMechanism(mech)
			hash := scram.SHA256
			if mech == "SCRAM-SHA-512" {
				hash = scram.SHA512
			}
			cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &saramaSCRAM{hash: hash} }
			cfg.Producer.Partitioner = sarama.NewHashPartitioner
			topic := strings.ToLower("scram-sarama-" + mech)
			adm, err := sarama.NewClusterAdmin([]string{b.saslPlain}, cfg)
			if err != nil {
				s.Fatalf("admin: %v", err)
			}
			defer adm.Close()
			if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
				s.Fatalf("create topic: %v", err)
			}
			p, err := sarama.NewSyncProducer([]string{b.saslPlain}, cfg)
			if err != nil {
				s.Fatalf("producer: %v", err)
			}
			defer p.Close()
			for i := range 3 {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))}); err != nil {
					s.Fatalf("produce: %v", err)
				}
			}
			c, err := sarama.NewConsumer([]string{b.saslPlain}, cfg)
			if err != nil {
				s.Fatalf("consumer: %v", err)
			}
			defer c.Close()
			pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				s.Fatalf("consume: %v", err)
			}
			defer pc.Close()
			for i := range 3 {
				select {
				case m := <-pc.Messages():
					if string(m.Value) != fmt.Sprintf("v%d", i) {
						s.Fatalf("record %d: %q", i, m.Value)
					}
				case <-s.ctx.Done():
					s.Fatalf("record %d: %v", i, s.ctx.Err())
				}
			}
		})
	}
}

// saramaSCRAM is sarama's SCRAM client on xdg-go/scram, as sarama's own example wires it.
type saramaSCRAM struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (x *saramaSCRAM) Begin(user, pass, authzID string) error {
	c, err := x.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	x.conv = c.NewConversation()
	return nil
}

func (x *saramaSCRAM) Step(challenge string) (string, error) { return x.conv.Step(challenge) }
func (x *saramaSCRAM) Done() bool                            { return x.conv.Done() }
