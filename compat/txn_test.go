//go:build compat

package compat

// Transactions, coordinator side: a franz-go client drives a transactional id through
// InitProducerId and AddPartitionsToTxn (the partition side, transactional produce and
// markers, is not in logd yet), and Kafka's own kafka-transactions tool (TransactionsCommand,
// from the tools jar) lists and describes it through FindCoordinator TRANSACTION,
// ListTransactions and DescribeTransactions.

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testTransactionsCommand(s *S) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr))
	if err != nil {
		s.Fatalf("client: %v", err)
	}
	defer cl.Close()
	topic := "txn-tool-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	if _, err := kadm.NewClient(cl).CreateTopic(s.ctx, 2, 1, nil, topic); err != nil {
		s.Fatalf("create topic: %v", err)
	}
	id := topic + "-tx"
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis, init.ProducerID, init.ProducerEpoch = &id, 60_000, -1, -1
	ir, err := init.RequestWith(s.ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		s.Fatalf("InitProducerId: %v %+v", err, ir)
	}
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
	at := kmsg.NewAddPartitionsToTxnRequestTopic()
	at.Topic, at.Partitions = topic, []int32{0, 1}
	add.Topics = append(add.Topics, at)
	if ar, err := add.RequestWith(s.ctx, cl); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 {
		s.Fatalf("AddPartitionsToTxn: %v %+v", err, ar)
	}

	out := kafkaTool(s, "kafka-transactions", "org.apache.kafka.tools.TransactionsCommand", "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "Ongoing") {
		s.Errorf("list does not show %s Ongoing: %s", id, out)
	}
	out = kafkaTool(s, "kafka-transactions", "org.apache.kafka.tools.TransactionsCommand", "describe", "--transactional-id", id)
	for _, want := range []string{id, "Ongoing", "60000", topic + "-0", topic + "-1"} {
		if !strings.Contains(out, want) {
			s.Errorf("describe does not show %q: %s", want, out)
		}
	}
}

// testJavaTxnOffsets runs the Java client's transactional calls that need only the
// coordinator (Driver.java txnoffsets) and checks the transaction it leaves: committed (or
// still writing its markers, while the partition side is missing) with the group's
// __consumer_offsets partition in it.
func testJavaTxnOffsets(s *S) {
	if _, err := javaArgv(); err != nil {
		s.Fatalf("java not installed: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr))
	if err != nil {
		s.Fatalf("client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := "txn-java-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	if _, err := adm.CreateTopic(s.ctx, 1, 1, nil, topic); err != nil {
		s.Fatalf("create topic: %v", err)
	}
	id, group := topic+"-tx", topic+"-g"
	out := javaClient.run(s, "", "txnoffsets", id, group, topic)
	if strings.Join(out, " ") != "INIT OFFSETS COMMITTED" {
		s.Fatalf("java txnoffsets: %q", out)
	}
	ds, err := adm.DescribeTransactions(s.ctx, id)
	if err != nil || ds[id].Err != nil {
		s.Fatalf("describe: %v %+v", err, ds)
	}
	d := ds[id]
	if d.State != "PrepareCommit" && d.State != "CompleteCommit" {
		s.Errorf("after commitTransaction: state %s", d.State)
	}
	if d.State == "PrepareCommit" && len(d.Topics["__consumer_offsets"]) != 1 {
		s.Errorf("the group's offsets partition is not in the transaction: %+v", d.Topics)
	}
}

// TestTransactionsTool: kafka-transactions list/describe and the Java client's transactional
// offsets (go test -tags compat -run TestTransactionsTool ./compat).
func TestTransactionsTool(t *testing.T) {
	scenario(t, "java", "kafka-transactions-tool", 180*time.Second, testTransactionsCommand)
	scenario(t, "java", "transactional-offsets", 180*time.Second, testJavaTxnOffsets)
}
