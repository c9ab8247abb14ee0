package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Report is what one workload run measured: report.json is this struct, report.md its
// reading. Units: MB is 10^6 bytes of record values (produce) or record batches (consume);
// latencies are in milliseconds, read from HDR histograms kept in microseconds with 3
// significant digits. Produce latency is per request, measured from the request's intended
// send time at a fixed rate (coordinated omission corrected) and from its actual send time
// at max rate; end-to-end latency is per record, consumer receive time minus the producer's
// send stamp on the same host.
type Report struct {
	Workload string     `json:"workload"`
	Spec     Workload   `json:"workload_spec"`
	Run      int        `json:"run,omitempty"` // which run of a comparison (1…)
	Broker   BrokerInfo `json:"broker"`
	Machine  Machine    `json:"machine"`
	Started  time.Time  `json:"started"`
	Topics   []string   `json:"topics"`
	// TopicsDeleted are the topics the run created and deleted when it ended (not with
	// Options.KeepTopics); TopicsLeft are the run's topics it left on the broker: kept, not
	// created by CreateTopics here (never deleted then), or failed to delete.
	TopicsDeleted []string `json:"topics_deleted,omitempty"`
	TopicsLeft    []string `json:"topics_left,omitempty"`
	// created are the topics CreateTopics created for this run (they did not exist before).
	created   []string
	DurationS float64 `json:"duration_s"`
	WarmupS   float64 `json:"warmup_s"`
	MeasuredS float64 `json:"measured_s"`
	WindowS   float64 `json:"window_s"`

	Produce    ProduceSummary `json:"produce"`
	Consume    ConsumeSummary `json:"consume"`
	E2E        Percentiles    `json:"e2e_latency_ms"`
	Generator  GeneratorInfo  `json:"generator"`
	MachineCPU MachineCPU     `json:"machine_cpu"`
	PreRun     PreRun         `json:"pre_run"`

	// Invalid, when set, says why a fixed-rate run did not measure what it claims: the
	// generator fell behind its schedule by more than the stated bound (Generator.SendLagBoundMs)
	// or the rate was not met.
	Invalid string `json:"invalid,omitempty"`
	// Stages is the broker's own split of a produce request's time over the measured phase,
	// from its metrics endpoint (logd only).
	Stages []Stage `json:"stages,omitempty"`

	// Transactions is set by transactional workloads.
	Transactions *TxnSummary `json:"transactions,omitempty"`

	// LimitedBy says what the numbers were limited by: the broker, the generator, the
	// machine's CPU, or the offered load of a fixed-rate run.
	LimitedBy string   `json:"limited_by"`
	Notes     []string `json:"notes,omitempty"`

	Windows []Window      `json:"windows"` // per report window (10 s) of the measured phase
	Series  []SeriesPoint `json:"series"`  // per second of the measured phase, for plots
}

// BrokerInfo names the broker and what it cost (CPU and memory from /proc/PID, when known;
// summed over PIDs, the nodes of a cluster).
type BrokerInfo struct {
	Name      string `json:"name"`
	Bootstrap string `json:"bootstrap"`
	PIDs      []int  `json:"pids,omitempty"`
	// PIDFrom says where PIDs came from: given (--broker-pid), found listening on the
	// bootstrap port, or why no process was found (its CPU then counts as other processes').
	PIDFrom     string   `json:"pid_from"`
	Config      []string `json:"config,omitempty"`
	CPUSeconds  float64  `json:"cpu_seconds,omitempty"`
	Cores       float64  `json:"cores,omitempty"`
	CPUSecPerGB float64  `json:"cpu_seconds_per_gb,omitempty"` // per GB produced plus consumed
	PeakRSSMB   float64  `json:"peak_rss_mib,omitempty"`
}

// ProduceSummary is the producers' side of the measured phase.
type ProduceSummary struct {
	Version       int16           `json:"api_version,omitempty"`
	Records       int64           `json:"records"`
	Bytes         int64           `json:"bytes"`
	RecordsPerSec float64         `json:"records_per_sec"`
	MBps          float64         `json:"mb_per_sec"`
	TargetMBps    float64         `json:"target_mb_per_sec,omitempty"`
	Latency       Percentiles     `json:"latency_ms"`
	SendLag       Percentiles     `json:"send_lag_ms"`
	Errors        map[int16]int64 `json:"errors,omitempty"`
}

// ConsumeSummary is the consumers' side of the measured phase.
type ConsumeSummary struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	RecordsPerSec float64 `json:"records_per_sec"`
	MBps          float64 `json:"mb_per_sec"`
}

// GeneratorInfo is the load generator's own cost and ceiling.
type GeneratorInfo struct {
	Cores                float64 `json:"cores"`
	CPUSecPerGB          float64 `json:"cpu_seconds_per_gb"`
	CeilingMBps          float64 `json:"ceiling_mb_per_sec,omitempty"`
	CeilingRecordsPerSec float64 `json:"ceiling_records_per_sec,omitempty"`
	// A fixed-rate run's schedule: each producer's in-flight window (sized from the rate and
	// the latency budget, see windowFor), its interval between requests, and the send-lag
	// bound past which the run is invalid.
	InFlight          int     `json:"in_flight"`
	RequestIntervalMs float64 `json:"request_interval_ms,omitempty"`
	LatencyBudgetMs   float64 `json:"latency_budget_ms,omitempty"`
	SendLagBoundMs    float64 `json:"send_lag_bound_ms,omitempty"`
}

// MachineCPU is how busy the whole machine was during the measured phase.
type MachineCPU struct {
	Cores       int     `json:"cores"`
	BusyCores   float64 `json:"busy_cores"`
	OtherCores  float64 `json:"other_cores"`  // neither broker nor generator
	StealCores  float64 `json:"steal_cores"`  // taken by the hypervisor
	IowaitCores float64 `json:"iowait_cores"` // idle waiting for I/O (a note: fsync makes some)
	// Busy marks a run whose machine was busy: OtherCores+StealCores above BusyLimitCores.
	// A comparison leaves busy runs out of its medians unless every run was busy.
	Busy           bool    `json:"busy"`
	BusyLimitCores float64 `json:"busy_limit_cores"`
	BusyReason     string  `json:"busy_reason,omitempty"`
}

// Percentiles of a latency distribution, in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
}

// Window is one reporting window of the measured phase.
type Window struct {
	StartS         float64     `json:"start_s"`
	EndS           float64     `json:"end_s"`
	ProduceMBps    float64     `json:"produce_mb_per_sec"`
	ProduceRecords float64     `json:"produce_records_per_sec"`
	ConsumeMBps    float64     `json:"consume_mb_per_sec"`
	Latency        Percentiles `json:"latency_ms"`
	E2E            Percentiles `json:"e2e_latency_ms"`
}

// SeriesPoint is one second of the measured phase.
type SeriesPoint struct {
	T              float64     `json:"t_s"`
	ProduceMBps    float64     `json:"produce_mb_per_sec"`
	ProduceRecords float64     `json:"produce_records_per_sec"`
	ConsumeMBps    float64     `json:"consume_mb_per_sec"`
	Latency        Percentiles `json:"latency_ms"`
	E2E            Percentiles `json:"e2e_latency_ms"`
}

// ReadReport reads a report.json.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// Write writes report.json, report.md and the plots into dir.
func (r *Report) Write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := writeCharts(dir, r.plots()); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(r.Markdown()), 0o644)
}

// writeCharts writes each chart into dir as its SVG file (the name) and as a PNG beside it
// (the same name ending in .png).
func writeCharts(dir string, charts map[string]Chart) error {
	for name, ch := range charts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(ch.SVG()), 0o644); err != nil {
			return err
		}
		img, err := ch.PNG()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, strings.TrimSuffix(name, ".svg")+".png"), img, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// plots are the report's charts by SVG file name.
func (r *Report) plots() map[string]Chart {
	out := map[string]Chart{}
	if r.Spec.CatchUp() {
		out["throughput.svg"] = Chart{Title: r.Workload + ": consume throughput (" + r.Broker.Name + ")", XLabel: "seconds", YLabel: "MB/s",
			Series: []Series{{Name: "consume MB/s", Points: seriesOf(r.Series, func(p SeriesPoint) float64 { return p.ConsumeMBps })}}}
		return out
	}
	tp := []Series{{Name: "produce MB/s", Points: seriesOf(r.Series, func(p SeriesPoint) float64 { return p.ProduceMBps })}}
	if r.Spec.Consumers > 0 {
		tp = append(tp, Series{Name: "consume MB/s", Points: seriesOf(r.Series, func(p SeriesPoint) float64 { return p.ConsumeMBps })})
	}
	out["throughput.svg"] = Chart{Title: r.Workload + ": throughput (" + r.Broker.Name + ")", XLabel: "seconds", YLabel: "MB/s", Series: tp}
	out["latency.svg"] = Chart{Title: r.Workload + ": " + r.latencyName() + " per second (" + r.Broker.Name + ")", XLabel: "seconds", YLabel: "ms", LogY: true,
		Series: latencySeries(r.Series, func(p SeriesPoint) Percentiles { return p.Latency }, "")}
	if r.Spec.Consumers > 0 {
		out["e2e-latency.svg"] = Chart{Title: r.Workload + ": end-to-end latency per second (" + r.Broker.Name + ")", XLabel: "seconds", YLabel: "ms", LogY: true,
			Series: latencySeries(r.Series, func(p SeriesPoint) Percentiles { return p.E2E }, "")}
	}
	return out
}

// Summary is the run's result in one line, with only the sides the workload has: produce
// (throughput and latency) unless it is a catch-up, consume when it has consumers, and
// end-to-end latency when consumers measured it.
func (r *Report) Summary() string {
	var sides []string
	if !r.Spec.CatchUp() {
		lat := "p99"
		if r.Spec.Transactional() {
			lat = "commit p99"
		}
		sides = append(sides, fmt.Sprintf("produce %.1f MB/s (%.0f records/s) %s %.2f ms", r.Produce.MBps, r.Produce.RecordsPerSec, lat, r.Produce.Latency.P99))
	}
	if r.Spec.Consumers > 0 {
		sides = append(sides, fmt.Sprintf("consume %.1f MB/s (%.0f records/s)", r.Consume.MBps, r.Consume.RecordsPerSec))
	}
	if r.E2E.Count > 0 {
		sides = append(sides, fmt.Sprintf("e2e p99 %.2f ms", r.E2E.P99))
	}
	return r.Workload + ": " + strings.Join(sides, "; ")
}

// latencyName is what the report's produce latency measures.
func (r *Report) latencyName() string {
	if r.Spec.Transactional() {
		return "commit (EndTxn) latency"
	}
	return "produce latency"
}

func seriesOf(ps []SeriesPoint, f func(SeriesPoint) float64) [][2]float64 {
	out := make([][2]float64, 0, len(ps))
	for _, p := range ps {
		out = append(out, [2]float64{p.T, f(p)})
	}
	return out
}

// latencySeries is p50, p99, p99.9 and max over time; prefix names the broker in overlays.
func latencySeries(ps []SeriesPoint, f func(SeriesPoint) Percentiles, prefix string) []Series {
	var out []Series
	for _, q := range []struct {
		name string
		get  func(Percentiles) float64
	}{{"p50", func(p Percentiles) float64 { return p.P50 }}, {"p99", func(p Percentiles) float64 { return p.P99 }},
		{"p99.9", func(p Percentiles) float64 { return p.P999 }}, {"max", func(p Percentiles) float64 { return p.Max }}} {
		var pts [][2]float64
		for _, p := range ps {
			if pc := f(p); pc.Count > 0 {
				pts = append(pts, [2]float64{p.T, q.get(pc)})
			}
		}
		out = append(out, Series{Name: prefix + q.name, Points: pts})
	}
	return out
}

// Markdown is the human reading of the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# %s on %s\n\n", r.Workload, r.Broker.Name)
	if r.Spec.Description != "" {
		p("%s.\n\n", r.Spec.Description)
	}
	p("**Limited by:** %s\n\n", r.LimitedBy)
	p("Started %s, %.0f s measured after %.0f s warm-up, broker %s", r.Started.Format(time.RFC3339), r.MeasuredS, r.WarmupS, r.Broker.Bootstrap)
	switch len(r.Broker.PIDs) {
	case 0:
		if r.Broker.PIDFrom != "" {
			p(" (broker process: %s)", r.Broker.PIDFrom)
		}
	case 1:
		p(" (pid %d", r.Broker.PIDs[0])
		if r.Broker.PIDFrom != "" && r.Broker.PIDFrom != "given" {
			p(", %s", r.Broker.PIDFrom)
		}
		p(")")
	default:
		p(" (%d processes, pids %s; CPU and RSS are their sums)", len(r.Broker.PIDs), strings.Trim(fmt.Sprint(r.Broker.PIDs), "[]"))
	}
	if r.Spec.ReplicationFactor > 1 {
		p(", replication factor %d", r.Spec.ReplicationFactor)
	}
	p(".\n\n")
	p("| | value |\n|---|---|\n")
	if !r.Spec.CatchUp() {
		p("| produce | %.1f MB/s, %.0f records/s |\n", r.Produce.MBps, r.Produce.RecordsPerSec)
		if r.Produce.TargetMBps > 0 {
			p("| target rate | %.1f MB/s (latency from intended send times) |\n", r.Produce.TargetMBps)
		}
	}
	if r.Consume.Bytes > 0 {
		p("| consume | %.1f MB/s, %.0f records/s |\n", r.Consume.MBps, r.Consume.RecordsPerSec)
	}
	if t := r.Transactions; t != nil {
		p("| transactions | %d committed, %d aborted, %d records each |\n", t.Committed, t.Aborted, t.RecordsPerTxn)
		if !r.Spec.CatchUp() {
			p("| committed transactions/s | %.1f |\n", t.PerSec)
		} else {
			p("| read_committed | %d committed records expected, %d records of aborted transactions delivered |\n", t.ExpectedRecords, t.AbortedRead)
		}
		var reqs []string
		for _, q := range t.Requests {
			if q.PerTxn < 0.01 { // start-up: metadata, coordinator lookup, InitProducerId
				continue
			}
			reqs = append(reqs, fmt.Sprintf("%s %.2f (mean %.2f ms)", q.API, q.PerTxn, q.MeanMs))
		}
		if len(reqs) > 0 {
			p("| producer requests per transaction | %s |\n", strings.Join(reqs, ", "))
		}
	}
	if len(r.Broker.PIDs) > 0 {
		p("| broker CPU | %.2f cores, %.2f CPU-s per GB |\n| broker peak RSS | %.0f MiB |\n", r.Broker.Cores, r.Broker.CPUSecPerGB, r.Broker.PeakRSSMB)
	}
	p("| generator CPU | %.2f cores, %.2f CPU-s per GB |\n", r.Generator.Cores, r.Generator.CPUSecPerGB)
	if r.Generator.CeilingMBps > 0 {
		p("| generator ceiling (vs sink) | %.0f MB/s, %.0f records/s |\n", r.Generator.CeilingMBps, r.Generator.CeilingRecordsPerSec)
	}
	mc := r.MachineCPU
	busy := "quiet"
	if mc.Busy {
		busy = "**BUSY**: " + mc.BusyReason
	}
	p("| machine | %.2f of %d cores busy, %.2f by other processes, %.2f stolen, %.2f in iowait: %s |\n", mc.BusyCores, mc.Cores, mc.OtherCores, mc.StealCores, mc.IowaitCores, busy)
	p("| before the run | other processes %.2f cores, %.2f cores available, load average %.1f (quiet: %v, waited %.0f s) |\n",
		r.PreRun.OtherCores, r.PreRun.AvailableCores, r.PreRun.LoadAvg, r.PreRun.Quiet, r.PreRun.WaitedS)
	if g := r.Generator; r.Produce.TargetMBps > 0 {
		valid := "valid"
		if r.Invalid != "" {
			valid = "**INVALID**: " + r.Invalid
		}
		p("| schedule | %d requests in flight per producer, one request every %.2f ms (latency budget %.0f ms); send lag p99 %.2f ms, max %.2f ms (bound %.0f ms on p99): %s |\n",
			g.InFlight, g.RequestIntervalMs, g.LatencyBudgetMs, r.Produce.SendLag.P99, r.Produce.SendLag.Max, g.SendLagBoundMs, valid)
	}
	p("\n")

	p("## Latency (ms)\n\n| | count | p50 | p90 | p99 | p99.9 | p99.99 | max |\n|---|---|---|---|---|---|---|---|\n")
	row := func(name string, q Percentiles) {
		if q.Count > 0 {
			p("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", name, q.Count, q.P50, q.P90, q.P99, q.P999, q.P9999, q.Max)
		}
	}
	if r.Spec.Transactional() {
		row("commit (EndTxn round trip)", r.Produce.Latency)
	} else {
		row("produce (per request)", r.Produce.Latency)
	}
	row("send lag (generator behind schedule)", r.Produce.SendLag)
	row("end-to-end (per record)", r.E2E)
	p("\n")
	if len(r.Stages) > 0 {
		p("## Latency breakdown in the broker (ms, from its own metrics over the measured phase)\n\n")
		stagesTable(&b, r.Stages)
		p("\n")
	}
	if len(r.Windows) > 0 {
		p("## Per %.0f-second window\n\n| window (s) | produce MB/s | consume MB/s | p50 | p90 | p99 | p99.9 | p99.99 | max | e2e p99 |\n|---|---|---|---|---|---|---|---|---|---|\n", r.WindowS)
		for _, w := range r.Windows {
			p("| %.0f–%.0f | %.1f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |\n", w.StartS, w.EndS, w.ProduceMBps, w.ConsumeMBps,
				w.Latency.P50, w.Latency.P90, w.Latency.P99, w.Latency.P999, w.Latency.P9999, w.Latency.Max, w.E2E.P99)
		}
		if st := r.Stalls(); len(st) > 0 {
			p("\nProduce stalls: %d of %d windows hold a request slower than %d ms (", len(st), len(r.Windows), StallMs)
			for i, w := range st {
				if i > 0 {
					p(", ")
				}
				p("%.0f–%.0f s: %.0f ms", w.StartS, w.EndS, w.Latency.Max)
			}
			p(").\n")
		}
		p("\n")
	}
	p("## Plots\n\n")
	for _, name := range []string{"throughput.svg", "latency.svg", "e2e-latency.svg"} {
		if _, ok := r.plots()[name]; ok {
			p("![%s](%s)\n", name, name)
		}
	}
	p("\n## Workload\n\n```json\n")
	spec, _ := json.MarshalIndent(r.Spec, "", "  ")
	p("%s\n```\n\n", spec)
	if len(r.Broker.Config) > 0 {
		p("## Broker configuration\n\n```\n%s\n```\n\n", strings.Join(r.Broker.Config, "\n"))
	}
	b.WriteString(r.Machine.describe())
	if len(r.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range r.Notes {
			p("- %s\n", n)
		}
	}
	return b.String()
}

// stagesTable writes the latency breakdown of a produce: p50/p99 of each stage, from the
// broker's histograms (bucket-interpolated), and what each stage covers or why it is missing.
func stagesTable(b *strings.Builder, stages []Stage) {
	b.WriteString("| stage | requests | p50 | p99 | histogram | covers |\n|---|---|---|---|---|---|\n")
	for _, s := range stages {
		if s.Metric == "" {
			fmt.Fprintf(b, "| %s | – | – | – | – | %s |\n", s.Stage, s.Note)
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %.3f | %.3f | `%s` | %s |\n", s.Stage, s.Count, s.P50, s.P99, s.Metric, s.Note)
	}
	b.WriteString("\nQuantiles are interpolated within the histogram's buckets (10 µs … 10 s), as Prometheus's histogram_quantile does; the fsync wait counts only requests that waited.\n")
}
