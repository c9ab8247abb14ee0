package broker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/eoscheck"
)

// TestTxnGroupTransactSessionExactlyOnce is consume-transform-produce with franz-go's
// GroupTransactSession: every record of an input topic is copied to an output topic in a
// transaction that also commits the input offsets. Every fifth transaction is aborted (its
// copies must stay invisible, the session rewinds to the committed offsets), and the broker
// restarts once in the middle of a transaction, after its records are produced and before
// its offsets are committed (the session's client is then replaced, as an application
// would after a failed End). A read_committed consumer of the output must then see every
// input record exactly once. It runs under transaction version 0 (AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn v4) and 2 (franz-go then uses Produce v12, TxnOffsetCommit v5 and
// EndTxn v5: partitions added by the brokers, an epoch bump per transaction).
func TestTxnGroupTransactSessionExactlyOnce(t *testing.T) {
	for _, tv := range []int16{0, 2} {
		t.Run(fmt.Sprintf("transaction.version=%d", tv), func(t *testing.T) { testGroupTransactSession(t, tv) })
	}
}

func testGroupTransactSession(t *testing.T, tv int16) {
	const n = 400
	config := func(c *Config) {
		c.TransactionTopicPartitions = 3
		c.GroupInitialRebalanceDelay = 20 * time.Millisecond
		c.TransactionVersion = tv
	}
	tb := startBroker(t, config)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	adm := kadm.NewClient(tb.client())
	for _, topic := range []string{"eos-in", "eos-out"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	in := tb.client(kgo.DefaultProduceTopic("eos-in"))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint("v-", i))}
	}
	if err := in.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	newSession := func() *kgo.GroupTransactSession {
		s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(tb.addr), kgo.TransactionalID("eos-tx"),
			kgo.ConsumerGroup("eos-g"), kgo.ConsumeTopics("eos-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.TransactionTimeout(10*time.Second), kgo.RetryTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sess := newSession()
	defer func() { sess.Close() }()
	done := func() bool { // the group committed every input offset
		adm := kadm.NewClient(tb.client())
		defer adm.Close()
		offs, err := adm.FetchOffsets(ctx, "eos-g")
		if err != nil {
			return false
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
		return sum == n
	}
	restarted, aborted, committed := false, 0, 0
	for iter := 0; !done(); iter++ {
		if ctx.Err() != nil {
			t.Fatalf("not every input committed in time: %d transactions committed, %d aborted", committed, aborted)
		}
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fs := sess.PollRecords(pctx, 25)
		pcancel()
		if fs.NumRecords() == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: "eos-out", Key: r.Key, Value: r.Value}, nil)
		})
		try := kgo.TryCommit
		if iter%5 == 4 {
			try = kgo.TryAbort
		}
		if !restarted && committed >= 3 {
			if err := sess.Client().Flush(ctx); err != nil {
				t.Fatal(err)
			}
			tb.stop()
			tb.start(config)
			restarted = true
		}
		ok, err := sess.End(ctx, try)
		switch {
		case err != nil:
			t.Logf("transaction %d failed (%v): replacing the session", iter, err)
			sess.Close()
			sess = newSession()
		case ok:
			committed++
		default:
			aborted++
		}
	}
	if !restarted || aborted == 0 {
		t.Fatalf("restarted %v, %d aborted transactions: the test did not exercise its faults", restarted, aborted)
	}

	want := make([]string, n)
	for i := range want {
		want[i] = string(recs[i].Value)
	}
	problems, err := eoscheck.ExactlyOnce(ctx, tb.addr, "eos-out", want)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("read_committed output: %s", p)
	}
	if tv >= 2 { // every EndTxn v5 bumped the epoch
		ds, err := kadm.NewClient(tb.client()).DescribeTransactions(ctx, "eos-tx")
		if err != nil {
			t.Fatal(err)
		}
		if d := ds["eos-tx"]; int(d.ProducerEpoch) < committed+aborted {
			t.Errorf("producer epoch %d after %d transactions: the client did not use transaction version 2", d.ProducerEpoch, committed+aborted)
		}
	}
	t.Logf("%d transactions committed, %d aborted, broker restarted once", committed, aborted)
}
