package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTransactionsWorkloads runs the transactions workload for two seconds, then a small
// read_committed catch-up with every third transaction aborted, against an in-process broker,
// and checks what the reports say: whole transactions committed, commit latency measured, every
// committed record read back and no aborted one.
func TestTransactionsWorkloads(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of load")
	}
	b := startInproc(t, &target{b: t, addr: freePort(t), role: "broker"}, t.TempDir())
	defer b.stop()

	w, err := LoadWorkload("transactions")
	if err != nil {
		t.Fatal(err)
	}
	w.Producers, w.Partitions = 2, 3
	out := t.TempDir()
	r, err := Run(context.Background(), Options{
		Bootstrap: b.addr, Workload: w, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond,
		BrokerName: "logd", BrokerPIDs: []int{os.Getpid()}, Out: out, Window: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReportDir(t, out, false)
	tx := r.Transactions
	if tx == nil || tx.Committed == 0 || tx.Aborted != 0 || tx.RecordsPerTxn != 100 {
		t.Fatalf("transactions: %+v", tx)
	}
	if r.Produce.Records == 0 || r.Produce.Records%100 != 0 || r.Produce.Bytes != r.Produce.Records*1024 {
		t.Fatalf("measured %d records, %d bytes: want whole transactions of 100 records of 1 KiB", r.Produce.Records, r.Produce.Bytes)
	}
	if tx.Commit.Count == 0 || tx.Commit.P50 <= 0 || tx.Commit.P99 < tx.Commit.P50 || tx.PerSec <= 0 {
		t.Fatalf("commit latency %+v, %.1f transactions/s", tx.Commit, tx.PerSec)
	}
	if got := float64(tx.Commit.Count) / r.MeasuredS; got < tx.PerSec*0.5 || got > tx.PerSec*1.5 {
		t.Errorf("%d commits measured in %.1f s, but %.1f committed transactions/s", tx.Commit.Count, r.MeasuredS, tx.PerSec)
	}
	perTxn := map[string]float64{}
	for _, q := range tx.Requests {
		perTxn[q.API] = q.PerTxn
	}
	// Transaction version 2 (logd's default): the client sends no AddPartitionsToTxn, the
	// partition leaders add the partitions (Produce v12) — only a first transaction may.
	if perTxn["EndTxn"] < 0.9 || perTxn["EndTxn"] > 1.1 || perTxn["AddPartitionsToTxn"] > 0.1 || perTxn["Produce"] < 1 {
		t.Errorf("requests per transaction: %+v", tx.Requests)
	}
	if !strings.Contains(r.LimitedBy, "commit round trips") && !strings.HasPrefix(r.LimitedBy, "CPU") {
		t.Errorf("limited by: %s", r.LimitedBy)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), "commit (EndTxn round trip)") {
		t.Fatalf("report.md lacks the commit latency: %v", err)
	}

	cu, err := LoadWorkload(writeFile(t, "rc.yaml", "transaction_records: 100\nabort_every: 3\nbacklog_mb: 10\npartitions: 3\nproducers: 2\nconsumers: 2\nduration: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	cout := t.TempDir()
	r, err = Run(context.Background(), Options{Bootstrap: b.addr, Workload: cu, BrokerPIDs: []int{os.Getpid()}, Out: cout})
	if err != nil {
		t.Fatal(err)
	}
	tx = r.Transactions
	if tx == nil || tx.Aborted == 0 || tx.Committed < 2*tx.Aborted || tx.AbortedRead != 0 {
		t.Fatalf("transactions: %+v", tx)
	}
	if want := tx.Committed * 100; tx.ExpectedRecords != want || r.Consume.Records != want || r.Consume.MBps <= 0 {
		t.Fatalf("read %d records at %.1f MB/s; %d committed transactions (expected records %d)", r.Consume.Records, r.Consume.MBps, tx.Committed, tx.ExpectedRecords)
	}
	if r.Consume.Bytes < 10e6 {
		t.Fatalf("read %d bytes of a 10 MB backlog", r.Consume.Bytes)
	}
}

func TestTransactionalWorkloadChecks(t *testing.T) {
	for body, want := range map[string]string{
		"abort_every: 5\n":                                       "abort_every needs transaction_records",
		"transaction_records: 10\nabort_every: 1\n":              "would abort every transaction",
		"transaction_records: 10\nacks: 1\n":                     "need acks=all",
		"transaction_records: 10\ncompression: lz4\n":            "uncompressed",
		"transaction_records: 10\nproducer_rate_mb_per_sec: 5\n": "no producer rate",
		"transaction_records: 10\nconsumers: 1\n":                "measure producers alone",
	} {
		_, err := LoadWorkload(writeFile(t, "w.yaml", body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}

func TestTxnTable(t *testing.T) {
	c := &Comparison{Brokers: map[string][]string{BrokerKafka: nil, BrokerLogdFsync: nil}, Runs: 1, Duration: Duration(time.Minute)}
	c.Rows = []CompareRow{
		{Workload: "transactions", Broker: BrokerKafka, Transactional: true, TxnPerSec: 100, ProduceMBps: 10.24, P50: 4, P99: 10, P999: 20},
		{Workload: "transactions", Broker: BrokerLogdFsync, Transactional: true, TxnPerSec: 50, ProduceMBps: 5.12, P50: 8, P99: 25, P999: 40},
		{Workload: "read-committed-catch-up", Broker: BrokerKafka, Transactional: true, ConsumeMBps: 200, ConsumeRecs: 200000},
		{Workload: "read-committed-catch-up", Broker: BrokerLogdFsync, Transactional: true, ConsumeMBps: 300, ConsumeRecs: 300000},
	}
	tab := c.Table()
	for _, want := range []string{"## Transactions", "| transactions | logd-fsync | 50.0 | 0.50 | 5.1 | 8.00 | 25.00 | 40.00 | 2.50 | – | – | – | – |",
		"| read-committed-catch-up | logd-fsync | – | – | – | – | – | – | – | 300.0 | 300000 | 1.50 | 0 |"} {
		if !strings.Contains(tab, want) {
			t.Fatalf("table lacks %q:\n%s", want, tab)
		}
	}
}
