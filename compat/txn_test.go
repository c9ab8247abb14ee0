//go:build compat

package compat

// Transactions and Kafka's own kafka-transactions tool (TransactionsCommand, from the tools
// jar): a franz-go client drives a transactional id through InitProducerId and
// AddPartitionsToTxn, and the tool lists and describes it through FindCoordinator TRANSACTION,
// ListTransactions and DescribeTransactions. A hanging transaction (a transactional batch the
// coordinator knows nothing of) is found with kafka-transactions describe-producers and
// find-hanging (DescribeProducers, ListTransactions, DescribeTransactions) and ended with
// abort (WriteTxnMarkers to the partition's leader), which moves the last stable offset.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/segment"
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

// testHangingTransaction: a producer id from InitProducerId without a transactional id writes
// one transactional batch, stamped an hour ago, behind a plain record; no coordinator has its
// transaction, so the partition's last stable offset stays at the batch. kafka-transactions
// must show the producer (describe-producers), list its transaction as hanging (find-hanging:
// open longer than the 15-minute default, and ListTransactions knows no transactional id of
// that producer) and abort it (abort --start-offset: DescribeProducers for the producer's epoch
// and coordinator epoch, then WriteTxnMarkers), after which the last stable offset reaches the
// high watermark and find-hanging lists nothing. The batch could not be written with
// KIP-890's verification on (the coordinator knows no such transaction), so the scenario runs
// on a logd of its own started with transaction.partition.verification.enable=false.
func testHangingTransaction(s *S) {
	dir := filepath.Join(tmpDir, "txn-hanging")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.Fatalf("%v", err)
	}
	conf := filepath.Join(dir, "logd.yaml")
	if err := os.WriteFile(conf, []byte("transaction.partition.verification.enable: \"false\"\n"), 0o644); err != nil {
		s.Fatalf("%v", err)
	}
	b, err := startBrokerArgs(filepath.Join(dir, "data"), "", "broker-txn-hanging.log", "--config", conf)
	if err != nil {
		s.Fatalf("start broker: %v", err)
	}
	s.Cleanup(func() {
		if err := b.stop(); err != nil {
			s.Errorf("broker: %v", err)
		}
	})
	// Produce v11 at most: at v12 (transaction version 2) the leader has the coordinator add
	// the partition first, which refuses a transaction it does not know.
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(int16(kmsg.Produce), 11)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.MaxVersions(versions))
	if err != nil {
		s.Fatalf("client: %v", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topic := "txn-hanging-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	_, err = adm.CreateTopic(s.ctx, 1, 1, nil, topic)
	if err != nil {
		s.Fatalf("create topic: %v", err)
	}
	if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: topic, Value: []byte("before")}).FirstErr(); err != nil {
		s.Fatalf("produce: %v", err)
	}
	init := kmsg.NewPtrInitProducerIDRequest()
	init.ProducerID, init.ProducerEpoch = -1, -1
	ir, err := init.RequestWith(s.ctx, cl)
	if err != nil || ir.ErrorCode != 0 {
		s.Fatalf("InitProducerId: %v %+v", err, ir)
	}
	txnID := topic + "-no-coordinator"
	prod := kmsg.NewPtrProduceRequest()
	prod.TransactionID, prod.Acks, prod.TimeoutMillis = &txnID, -1, 10_000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = testbatch.Build(testbatch.Options{Records: 2, Idempotent: true, ProducerID: ir.ProducerID,
		ProducerEpoch: ir.ProducerEpoch, Attributes: segment.AttrTransactional,
		BaseTimestamp: time.Now().Add(-time.Hour).UnixMilli()})
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	pr, err := prod.RequestWith(s.ctx, cl)
	if err != nil || pr.Topics[0].Partitions[0].ErrorCode != 0 {
		s.Fatalf("transactional produce: %v %+v", err, pr)
	}
	start := pr.Topics[0].Partitions[0].BaseOffset
	pid := strconv.FormatInt(ir.ProducerID, 10)
	if lso := stableOffset(s, adm, topic); lso != start {
		s.Fatalf("last stable offset %d with the transaction open at %d", lso, start)
	}

	const tool, class = "kafka-transactions", "org.apache.kafka.tools.TransactionsCommand"
	out := kafkaToolAt(s, b.addr, tool, class, "describe-producers", "--topic", topic, "--partition", "0")
	// ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
	if !hasRow(out, pid, strconv.Itoa(int(ir.ProducerEpoch)), "-1", "1", "*", strconv.FormatInt(start, 10)) {
		s.Errorf("describe-producers does not show producer %s with its transaction at %d: %s", pid, start, out)
	}
	out = kafkaToolAt(s, b.addr, tool, class, "find-hanging", "--topic", topic)
	// Topic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)
	if !hasRow(out, topic, "0", pid, strconv.Itoa(int(ir.ProducerEpoch)), "-1", strconv.FormatInt(start, 10)) {
		s.Fatalf("find-hanging does not list producer %s's transaction at %d: %s", pid, start, out)
	}
	out = kafkaToolAt(s, b.addr, tool, class, "abort", "--topic", topic, "--partition", "0", "--start-offset", strconv.FormatInt(start, 10))
	ends, err := adm.ListEndOffsets(s.ctx, topic)
	if err != nil || ends.Error() != nil {
		s.Fatalf("ListEndOffsets: %v %v", err, ends.Error())
	}
	hw, _ := ends.Lookup(topic, 0)
	if lso := stableOffset(s, adm, topic); lso != hw.Offset || hw.Offset != start+3 {
		s.Errorf("after abort: last stable offset %d, high watermark %d, want both %d (2 records and the marker): %s", lso, hw.Offset, start+3, out)
	}
	if out := kafkaToolAt(s, b.addr, tool, class, "find-hanging", "--topic", topic); hasRow(out, topic, "0", pid) {
		s.Errorf("find-hanging still lists producer %s after abort: %s", pid, out)
	}
	// A read_committed consumer gets the record before and nothing of the aborted batch.
	got := readCommitted(s, b.addr, topic, hw.Offset)
	if fmt.Sprint(got) != "[before]" {
		s.Errorf("read_committed after abort: %q, want [before]", got)
	}
}

// stableOffset is partition 0's last stable offset (ListOffsets read_committed, latest).
func stableOffset(s *S, adm *kadm.Client, topic string) int64 {
	s.Helper()
	lso, err := adm.ListCommittedOffsets(s.ctx, topic)
	if err != nil || lso.Error() != nil {
		s.Fatalf("ListOffsets read_committed %s: %v %v", topic, err, lso.Error())
	}
	o, _ := lso.Lookup(topic, 0)
	return o.Offset
}

// hasRow reports whether a line of a tool's table starts with the columns cells ("*" matches
// any value).
func hasRow(out string, cells ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		cols := strings.Fields(line)
		match := len(cols) >= len(cells)
		for i := 0; match && i < len(cells); i++ {
			match = cells[i] == "*" || cells[i] == cols[i]
		}
		if match {
			return true
		}
	}
	return false
}

// readCommitted reads partition 0 of topic at addr read_committed up to end and returns the
// values.
func readCommitted(s *S, addr, topic string, end int64) []string {
	s.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.KeepControlRecords(), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		s.Fatalf("client: %v", err)
	}
	defer cl.Close()
	var vals []string
	for next := int64(0); next < end; {
		fs := cl.PollFetches(s.ctx)
		if s.ctx.Err() != nil {
			s.Fatalf("read_committed %s: reached %d of %d", topic, next, end)
		}
		fs.EachError(func(t string, p int32, err error) { s.Errorf("read_committed %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			next = r.Offset + 1
			if !r.Attrs.IsControl() {
				vals = append(vals, string(r.Value))
			}
		})
	}
	return vals
}

// TestTransactionsTool: kafka-transactions list/describe, describe-producers, find-hanging
// and abort, and the Java client's transactional offsets (go test -tags compat -run
// TestTransactionsTool ./compat).
func TestTransactionsTool(t *testing.T) {
	scenario(t, "java", "kafka-transactions-tool", 180*time.Second, testTransactionsCommand)
	scenario(t, "java", "kafka-transactions-hanging", 180*time.Second, testHangingTransaction)
	scenario(t, "java", "transactional-offsets", 180*time.Second, testJavaTxnOffsets)
}
