package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/perf/loadgen"
)

// TestRF3EndToEnd runs max-throughput's shape for two seconds against a 3-node logd cluster
// (logd-rf3, as `logd bench compare` starts it) on a topic of replication factor 3, and checks
// that records were acknowledged with acks=all, that every partition has three replicas, and
// that the report sums the three processes.
func TestRF3EndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster and runs load for seconds")
	}
	bin := buildBinary(t, "cmd/logd")
	start := time.Now()
	p, err := startLogdCluster(bin, t.TempDir(), filepath.Join(t.TempDir(), "cluster.log"), clusterNodes)
	if errors.Is(err, errNoClusterMode) {
		t.Skipf("no cluster mode yet: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	defer func() {
		if t.Failed() {
			for _, name := range strings.Split(p.logs(), ", ") {
				data, _ := os.ReadFile(name)
				t.Logf("%s: %s", filepath.Base(name), lastLines(data, 20))
			}
		}
	}()
	t.Logf("cluster of %d nodes ready in %v", clusterNodes, time.Since(start).Round(time.Millisecond))
	w, err := LoadWorkload("max-throughput")
	if err != nil {
		t.Fatal(err)
	}
	w.Name, w.BatchRecords = "rf3-smoke", 16
	out := t.TempDir()
	r, err := Run(context.Background(), Options{
		Bootstrap: p.addr, Workload: w, Duration: 2 * time.Second, Warmup: -1, ReplicationFactor: p.replication,
		BrokerName: BrokerLogdRF3, BrokerPIDs: p.pids(), BrokerConfig: p.config, Out: out, Window: time.Second,
		KeepTopics: true, // its metadata is checked below
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Produce.Records == 0 || r.Produce.Latency.Count == 0 || len(r.Produce.Errors) > 0 || r.Spec.AcksValue() != -1 {
		t.Fatalf("acks=%s: %d records, %d responses, errors %v", r.Spec.Acks, r.Produce.Records, r.Produce.Latency.Count, r.Produce.Errors)
	}
	if r.Spec.ReplicationFactor != 3 || len(r.Broker.PIDs) != 3 || r.Broker.CPUSeconds <= 0 || r.Broker.PeakRSSMB <= 0 {
		t.Fatalf("replication factor %d, pids %v, CPU %v s, RSS %v MiB", r.Spec.ReplicationFactor, r.Broker.PIDs, r.Broker.CPUSeconds, r.Broker.PeakRSSMB)
	}
	t.Logf("RF=3: %.1f MB/s, p99 %.2f ms, broker %.2f cores; %s", r.Produce.MBps, r.Produce.Latency.P99, r.Broker.Cores, strings.Join(r.Notes, "; "))
	m := checkReportDir(t, out, false)
	if spec := m["workload_spec"].(map[string]any); spec["replication_factor"] != 3.0 {
		t.Errorf("report.json workload_spec.replication_factor = %v", spec["replication_factor"])
	}
	if pids := m["broker"].(map[string]any)["pids"].([]any); len(pids) != 3 {
		t.Errorf("report.json broker.pids = %v", pids)
	}

	c, err := loadgen.Dial(p.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(r.Topics[0])
	req.Topics = append(req.Topics, rt)
	resp, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	md := resp.(*kmsg.MetadataResponse)
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != w.Partitions {
		t.Fatalf("metadata of %s: %+v", r.Topics[0], md.Topics)
	}
	for _, pt := range md.Topics[0].Partitions {
		if len(pt.Replicas) != 3 {
			t.Errorf("partition %d: replicas %v", pt.Partition, pt.Replicas)
		}
		if len(pt.ISR) != 3 {
			t.Logf("partition %d: in-sync replicas %v of %v after the run", pt.Partition, pt.ISR, pt.Replicas)
		}
	}
}

// TestReplicationTable: with logd-fsync and logd-rf3 rows, the comparison has the goal
// RF3/RF1 ≥ 0.5 and a replication section with the ratios.
func TestReplicationTable(t *testing.T) {
	mk := func(mbps, rate, p99, p999, cores float64) []*Report {
		r := &Report{Run: 1}
		r.Produce.MBps, r.Produce.TargetMBps, r.Produce.Latency.P99, r.Produce.Latency.P999, r.Broker.Cores = mbps, rate, p99, p999, cores
		return []*Report{r}
	}
	stalled := mk(120, 0, 10, 20, 1.5)
	stalled[0].Produce.Latency.Max = 640
	stalled[0].Windows = []Window{{StartS: 0, EndS: 10, Latency: Percentiles{Max: 40}}, {StartS: 10, EndS: 20, Latency: Percentiles{Max: 640}}}
	c := compareOf(map[string]map[string][]*Report{
		"max-throughput":     {BrokerLogdFsync: mk(200, 0, 4, 8, 1), BrokerLogdRF3: stalled},
		"fixed-rate-latency": {BrokerLogdFsync: mk(60, 60, 2, 3, 0), BrokerLogdRF3: mk(60, 60, 5, 9, 0)},
	})
	c.replication()
	if len(c.Goals) != 1 || !c.Goals[0].Met || c.Goals[0].Ratio != 0.6 || c.Goals[0].Of != "logd-rf3 / logd-fsync" {
		t.Fatalf("goals %+v", c.Goals)
	}
	// Rows, and so replication rows, follow the workloads' order (sorted here).
	if len(c.Replication) != 2 || c.Replication[1].MBpsRatio != 0.6 || c.Replication[1].P99Ratio != 2.5 || c.Replication[0].RateMBps != 60 {
		t.Fatalf("replication %+v", c.Replication)
	}
	tab := c.Table()
	for _, want := range []string{"# logd: logd-fsync vs logd-rf3", "## Replication factor 3 vs 1", "| max-throughput | max | 200.0 | 120.0 | 0.60 | 4.00 | 10.00 | 2.50 |", "| fixed-rate-latency | 60.0 |",
		"| 0 | 0 / 1 | 640.0 |", "No-stall check: **FAIL**, 1 windows"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	if md := stalled[0].Markdown(); !strings.Contains(md, "Produce stalls: 1 of 2 windows hold a request slower than 100 ms (10–20 s: 640 ms)") {
		t.Errorf("report lacks its stall:\n%s", md)
	}
	stalled[0].Windows[1].Latency.Max = 90
	c.replication()
	if tab := c.Table(); !strings.Contains(tab, "No-stall check: PASS") {
		t.Errorf("no stall, yet:\n%s", tab)
	}
}
