//go:build compat

package compat

// Exactly-once consume-transform-produce with real clients: the Java client (KafkaConsumer
// read_committed + a transactional KafkaProducer with sendOffsetsToTransaction and the
// consumer's group metadata) and confluent-kafka-python (init_transactions,
// begin_transaction, produce, send_offsets_to_transaction, commit_transaction, and
// abort_transaction). Each copies an input topic to an output topic, aborting every third
// transaction; a read_committed franz-go consumer of the output must see every input record
// exactly once and none of the aborted copies, and the group's committed offsets must be
// the input's end offsets.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/eoscheck"
)

func testEOS(d *driver) func(s *S) {
	return func(s *S) {
		const n = 200
		in, out := topicName(d.client, "eos-in"), topicName(d.client, "eos-out")
		createTopic(s, in, 2, nil)
		createTopic(s, out, 2, nil)
		adm, cl := newAdmin(s, bootAddr)
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: in, Key: []byte(fmt.Sprint(i % 5)), Value: []byte(fmt.Sprint("v-", i))}
		}
		for i := 0; i < n; i += 20 { // several batches, so the clients' transactions are several
			if err := cl.ProduceSync(s.ctx, recs[i:i+20]...).FirstErr(); err != nil {
				s.Fatalf("produce input: %v", err)
			}
		}
		group := in + "-g"
		res := d.run(s, "", "eos", in, out, group, in+"-tx", fmt.Sprint(n))
		var committed, aborted int
		if len(res) != 1 || !strings.HasPrefix(res[0], "DONE ") {
			s.Fatalf("%s eos: %q", d.client, res)
		}
		fmt.Sscanf(res[0], "DONE %d %d", &committed, &aborted)
		if aborted == 0 || committed == 0 {
			s.Fatalf("%s eos: %d committed, %d aborted transactions: nothing aborted", d.client, committed, aborted)
		}

		want := make([]string, n)
		for i := range want {
			want[i] = string(recs[i].Value)
		}
		problems, err := eoscheck.ExactlyOnce(s.ctx, bootAddr, out, want)
		if err != nil {
			s.Fatalf("read output: %v", err)
		}
		for _, p := range problems {
			s.Errorf("read_committed output (%d transactions committed, %d aborted): %s", committed, aborted, p)
		}
		offs, err := adm.FetchOffsets(s.ctx, group)
		if err != nil {
			s.Fatalf("fetch offsets: %v", err)
		}
		ends, err := adm.ListEndOffsets(s.ctx, in)
		if err != nil {
			s.Fatalf("end offsets: %v", err)
		}
		ends.Each(func(e kadm.ListedOffset) {
			if o, ok := offs.Lookup(in, e.Partition); !ok || o.At != e.Offset {
				s.Errorf("group %s committed %s-%d at %v, want the end offset %d", group, in, e.Partition, o.At, e.Offset)
			}
		})
	}
}

// TestEOS: exactly-once consume-transform-produce with the Java client and
// confluent-kafka-python (go test -tags compat -run TestEOS ./compat).
func TestEOS(t *testing.T) {
	scenario(t, "java", "eos-consume-transform-produce", 180*time.Second, testEOS(javaClient))
	scenario(t, "confluent-py", "eos-consume-transform-produce", 180*time.Second, testEOS(confluentPy))
}
