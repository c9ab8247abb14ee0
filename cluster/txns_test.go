package cluster

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
)

// TestTransactionCoordinatorFailover runs the transaction coordinator on a 3-node cluster:
// __transaction_state is replicated (replication factor 3) and the leader of a transactional
// id's partition coordinates it. One id is left Ongoing, another committed (PrepareCommit
// until its markers are written, then CompleteCommit); the coordinator node is then killed
// and the new leader of the partition resumes both from its replica of the log: same
// producer id, epoch, state, partitions and start time.
func TestTransactionCoordinatorFailover(t *testing.T) {
	const topic = "txn-events"
	nodes := startTestClusterWith(t, 3, func(c *Config) { c.Broker.TransactionTopicPartitions = 1 })
	ctx, cl, adm := txnClusterClient(t, nodes, topic, 2, 3)
	begin := func(id string) *kmsg.InitProducerIDResponse {
		t.Helper()
		init := kmsg.NewPtrInitProducerIDRequest()
		init.TransactionalID, init.TransactionTimeoutMillis, init.ProducerID, init.ProducerEpoch = &id, 600_000, -1, -1
		ir, err := init.RequestWith(ctx, cl)
		if err != nil || ir.ErrorCode != 0 {
			t.Fatalf("init %s: %v %+v", id, err, ir)
		}
		add := kmsg.NewPtrAddPartitionsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch = id, ir.ProducerID, ir.ProducerEpoch
		at := kmsg.NewAddPartitionsToTxnRequestTopic()
		at.Topic, at.Partitions = topic, []int32{0, 1}
		add.Topics = append(add.Topics, at)
		if ar, err := add.RequestWith(ctx, cl); err != nil || ar.Topics[0].Partitions[0].ErrorCode != 0 || ar.Topics[0].Partitions[1].ErrorCode != 0 {
			t.Fatalf("add %s: %v %+v", id, err, ar)
		}
		return ir
	}
	begin("ongoing")
	committed := begin("committed")
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "committed", committed.ProducerID, committed.ProducerEpoch, true
	if er, err := end.RequestWith(ctx, cl); err != nil || er.ErrorCode != 0 {
		t.Fatalf("end: %v %+v", err, er)
	}
	describe := func() kadm.DescribedTransactions {
		t.Helper()
		ds, err := adm.DescribeTransactions(ctx, "ongoing", "committed")
		if err != nil {
			t.Fatalf("describe: %v", err)
		}
		for id, d := range ds {
			if d.Err != nil {
				t.Fatalf("describe %s: %v", id, d.Err)
			}
		}
		return ds
	}
	before := describe()
	if before["ongoing"].State != "Ongoing" || (before["committed"].State != "PrepareCommit" && before["committed"].State != "CompleteCommit") {
		t.Fatalf("before failover: %+v", before)
	}

	pa, ok := nodes[0].node.Partition("__transaction_state", group.PartitionFor("ongoing", 1))
	if !ok || pa.Leader < 0 {
		t.Fatalf("no coordinator: %+v", pa)
	}
	old := pa.Leader
	nodes[old-1].kill()
	live := nodes[old%3]
	waitFor(t, "a new transaction coordinator", 20*time.Second, func() bool {
		pa, ok := live.node.Partition("__transaction_state", 0)
		return ok && pa.Leader >= 0 && pa.Leader != old
	})
	// A new client: franz-go keeps dialing a cached coordinator that refuses connections.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(live.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm2 := kadm.NewClient(cl2)
	var after kadm.DescribedTransactions
	waitFor(t, "the new coordinator to answer", 20*time.Second, func() bool {
		ds, err := adm2.DescribeTransactions(ctx, "ongoing", "committed")
		if err != nil || ds["ongoing"].Err != nil || ds["committed"].Err != nil || ds["ongoing"].Coordinator == old {
			return false
		}
		after = ds
		return true
	})
	for _, id := range []string{"ongoing", "committed"} {
		b, a := before[id], after[id]
		if a.ProducerID != b.ProducerID || a.ProducerEpoch != b.ProducerEpoch || a.StartTimestamp != b.StartTimestamp || a.TimeoutMillis != b.TimeoutMillis {
			t.Errorf("%s after failover: %+v, before %+v", id, a, b)
		}
	}
	if s := after["ongoing"].State; s != "Ongoing" || len(after["ongoing"].Topics[topic]) != 2 {
		t.Errorf("ongoing after failover: %+v", after["ongoing"])
	}
	if s := after["committed"].State; s != "PrepareCommit" && s != "CompleteCommit" {
		t.Errorf("committed after failover: state %s", s)
	}
}
