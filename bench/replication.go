package bench

import (
	"strconv"
	"strings"
)

// ReplicationRow is one workload with replication factor 3 (logd-rf3, three nodes sharing the
// machine) against replication factor 1 (logd-fsync, one node): medians over the runs and
// their ratios RF3/RF1. Broker CPU is in cores, summed over the cluster's nodes.
type ReplicationRow struct {
	Workload     string  `json:"workload"`
	RateMBps     float64 `json:"target_mb_per_sec,omitempty"`
	RF1MBps      float64 `json:"rf1_mb_per_sec"`
	RF3MBps      float64 `json:"rf3_mb_per_sec"`
	MBpsRatio    float64 `json:"mb_per_sec_ratio"`
	RF1P99       float64 `json:"rf1_p99_ms"`
	RF3P99       float64 `json:"rf3_p99_ms"`
	P99Ratio     float64 `json:"p99_ratio"`
	RF1P999      float64 `json:"rf1_p999_ms"`
	RF3P999      float64 `json:"rf3_p999_ms"`
	P999Ratio    float64 `json:"p999_ratio"`
	RF1Cores     float64 `json:"rf1_broker_cores"`
	RF3Cores     float64 `json:"rf3_broker_cores"`
	RF1CPUPerGB  float64 `json:"rf1_broker_cpu_s_per_gb"`
	RF3CPUPerGB  float64 `json:"rf3_broker_cpu_s_per_gb"`
	RF3LimitedBy string  `json:"rf3_limited_by"`
	// RF3ProduceErrors counts partition errors in logd-rf3's produce responses, over all runs.
	RF3ProduceErrors int64 `json:"rf3_produce_errors,omitempty"`
	// RF1Stalls and RF3Stalls are the report windows, over all runs, with a produce stall
	// (Report.Stalls); RF3MaxMs is logd-rf3's slowest produce request over all runs.
	RF1Stalls int     `json:"rf1_stall_windows"`
	RF3Stalls int     `json:"rf3_stall_windows"`
	RF3MaxMs  float64 `json:"rf3_max_ms"`
}

// StallMs is the produce latency above which a request counts as a stall: the no-stall check
// of `make bench-rf` (issue 15) is that no report window holds one.
const StallMs = 100

// Stalls are the report's windows holding a produce request slower than StallMs: a stall of
// the broker (or of the machine) at least that long, since with the generator's in-flight
// window a request waits only for the requests ahead of it.
func (r *Report) Stalls() []Window {
	var out []Window
	for _, w := range r.Windows {
		if w.Latency.Max > StallMs {
			out = append(out, w)
		}
	}
	return out
}

// replication fills c.Replication from the rows of logd-rf3 and logd-fsync.
func (c *Comparison) replication() {
	c.Replication = nil
	ratio := safeRatio
	for _, w := range c.workloadNames() {
		r1, r3 := c.row(w, BrokerLogdFsync), c.row(w, BrokerLogdRF3)
		if r1 == nil || r3 == nil {
			continue
		}
		row := ReplicationRow{Workload: w, RateMBps: r3.RateMBps,
			RF1MBps: r1.ProduceMBps, RF3MBps: r3.ProduceMBps, MBpsRatio: ratio(r3.ProduceMBps, r1.ProduceMBps),
			RF1P99: r1.P99, RF3P99: r3.P99, P99Ratio: ratio(r3.P99, r1.P99),
			RF1P999: r1.P999, RF3P999: r3.P999, P999Ratio: ratio(r3.P999, r1.P999),
			RF1Cores: r1.BrokerCores, RF3Cores: r3.BrokerCores, RF1CPUPerGB: r1.CPUPerGB, RF3CPUPerGB: r3.CPUPerGB,
			RF3LimitedBy: r3.LimitedBy}
		for _, r := range c.reports[w][BrokerLogdRF3] {
			for _, n := range r.Produce.Errors {
				row.RF3ProduceErrors += n
			}
			row.RF3Stalls += len(r.Stalls())
			row.RF3MaxMs = max(row.RF3MaxMs, r.Produce.Latency.Max)
		}
		for _, r := range c.reports[w][BrokerLogdFsync] {
			row.RF1Stalls += len(r.Stalls())
		}
		c.Replication = append(c.Replication, row)
	}
}

// replicationTable writes the replication section of compare.md through p.
func (c *Comparison) replicationTable(p func(format string, a ...any)) {
	if len(c.Replication) == 0 {
		return
	}
	p("\n## Replication factor 3 vs 1 (logd-rf3 / logd-fsync)\n\n")
	p("All %d nodes of logd-rf3 and the load generator share this machine's %d cores; RF=1 is one logd node. acks=all in both.\n\n", clusterNodes, c.Machine.Cores)
	p("| workload | rate MB/s | RF=1 MB/s | RF=3 MB/s | RF3/RF1 | RF=1 p99 | RF=3 p99 | RF3/RF1 | RF=1 p99.9 | RF=3 p99.9 | RF3/RF1 | RF=1 broker cores | RF=3 broker cores (sum) | RF=1 CPU-s/GB | RF=3 CPU-s/GB | RF=3 produce errors | RF=1 / RF=3 stall windows | RF=3 max | RF=3 limited by |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range c.Replication {
		rate := "max"
		if r.RateMBps > 0 {
			rate = strconv.FormatFloat(r.RateMBps, 'f', 1, 64)
		}
		p("| %s | %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d / %d | %.1f | %s |\n",
			r.Workload, rate, r.RF1MBps, r.RF3MBps, r.MBpsRatio, r.RF1P99, r.RF3P99, r.P99Ratio, r.RF1P999, r.RF3P999, r.P999Ratio,
			r.RF1Cores, r.RF3Cores, r.RF1CPUPerGB, r.RF3CPUPerGB, r.RF3ProduceErrors, r.RF1Stalls, r.RF3Stalls, r.RF3MaxMs,
			strings.ReplaceAll(r.RF3LimitedBy, "|", "/"))
	}
	p("\nLatencies in ms (produce, per request, medians over runs of each run's percentile; max over all runs).\n")
	stalls := 0
	for _, r := range c.Replication {
		stalls += r.RF3Stalls
	}
	if stalls == 0 {
		p("\nNo-stall check: PASS, no report window of logd-rf3 (--window, 10 s by default) holds a produce request slower than %d ms.\n", StallMs)
	} else {
		p("\nNo-stall check: **FAIL**, %d windows of logd-rf3 (of all runs) hold a produce request slower than %d ms; each run's report.md lists them.\n", stalls, StallMs)
	}
}
