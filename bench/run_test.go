package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunEndToEnd runs `logd bench run`'s engine for two seconds against an in-process broker
// (so this process's /proc entry is the broker's): a max-rate produce with a tailing
// consumer, then a small catch-up, and checks the reports and plots.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of load")
	}
	b := startInproc(t, &target{b: t, addr: freePort(t), role: "broker"}, t.TempDir())
	defer b.stop()
	w, err := LoadWorkload("max-throughput")
	if err != nil {
		t.Fatal(err)
	}
	w.Name, w.Consumers, w.Producers, w.BatchRecords = "smoke", 1, 2, 16
	out := t.TempDir()
	var progress strings.Builder
	r, err := Run(context.Background(), Options{
		Bootstrap: b.addr, Workload: w, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond,
		BrokerName: "logd", BrokerPIDs: []int{os.Getpid()}, Out: out, Window: time.Second, Ceiling: true, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := checkReportDir(t, out, true)
	if m["workload"] != "smoke" {
		t.Errorf("workload %v", m["workload"])
	}
	if r.Produce.Records == 0 || r.Produce.Latency.Count == 0 || r.E2E.Count == 0 || r.Consume.Records == 0 {
		t.Fatalf("nothing measured: produce %+v consume %+v e2e %+v", r.Produce, r.Consume, r.E2E)
	}
	if r.Generator.CeilingMBps <= 0 || r.Broker.PeakRSSMB <= 0 || r.Broker.CPUSeconds <= 0 || len(r.Windows) < 2 || len(r.Series) == 0 {
		t.Fatalf("ceiling %v, RSS %v, CPU %v, %d windows, %d points", r.Generator.CeilingMBps, r.Broker.PeakRSSMB, r.Broker.CPUSeconds, len(r.Windows), len(r.Series))
	}
	if r.E2E.P50 <= 0 || r.E2E.P50 > 10_000 {
		t.Errorf("e2e p50 %v ms", r.E2E.P50)
	}
	if !strings.Contains(progress.String(), "produce") {
		t.Errorf("no progress lines: %q", progress.String())
	}

	cu, err := LoadWorkload(writeFile(t, "cu.yaml", "backlog_mb: 20\npartitions: 2\nproducers: 1\nconsumers: 1\nacks: 1\nduration: 20s\n"))
	if err != nil {
		t.Fatal(err)
	}
	cout := t.TempDir()
	r, err = Run(context.Background(), Options{Bootstrap: b.addr, Workload: cu, BrokerPIDs: []int{os.Getpid()}, Out: cout})
	if err != nil {
		t.Fatal(err)
	}
	if r.Consume.Bytes < 20e6 || r.Consume.MBps <= 0 {
		t.Fatalf("catch-up read %d bytes at %.1f MB/s", r.Consume.Bytes, r.Consume.MBps)
	}
	if _, err := os.Stat(filepath.Join(cout, "throughput.svg")); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, name, body string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
