package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CompareOptions configure Compare.
type CompareOptions struct {
	// Workloads are names or files; "fixed-rate-latency" runs at LatencyFractions of the
	// slower broker's max-throughput (see Compare).
	Workloads []string
	Duration  time.Duration // measured time per run
	Warmup    time.Duration
	Runs      int // per broker and workload; medians are reported
	// Brokers are run in this order within each run: BrokerKafka, BrokerLogdFsync,
	// BrokerLogdNoFsync, BrokerLogdRF3.
	Brokers []string
	// RateMBps is the fixed rate of fixed-rate-latency (0: LatencyFractions of the slower
	// broker's max-throughput in run 1).
	RateMBps float64
	// LatencyFractions are the fractions of the slower broker's max-throughput at which
	// fixed-rate-latency runs (default DefaultLatencyFractions), one variant each.
	LatencyFractions []float64
	// LatencyBudget, MaxSendLag, BusyCores and QuietWait are passed to every run (Options).
	LatencyBudget time.Duration
	MaxSendLag    time.Duration
	BusyCores     float64
	QuietWait     time.Duration
	// BacklogMB overrides the backlog of catch-up workloads when non-zero.
	BacklogMB int
	Out       string
	KafkaLib  string // Apache Kafka's jars
	DataDir   string // parent of the brokers' data directories ("" : a temporary directory)
	PerfTest  bool   // also run kafka-producer-perf-test against each broker
	// LogdBinary is the logd executable to start (`logd serve`).
	LogdBinary string

	Progress io.Writer
	Terminal bool
}

// DefaultCompareWorkloads are what `make bench-compare` runs: the goals.
var DefaultCompareWorkloads = []string{"max-throughput", "iot-100b", "fixed-rate-latency", "e2e-latency", "catch-up"}

// Comparison is what Compare measured: compare.json.
type Comparison struct {
	Started  time.Time           `json:"started"`
	Machine  Machine             `json:"machine"`
	Runs     int                 `json:"runs"`
	Duration Duration            `json:"duration"`
	Brokers  map[string][]string `json:"brokers"` // configuration, by broker
	Rows     []CompareRow        `json:"rows"`
	PerfTest []PerfTestRow       `json:"perf_test,omitempty"`
	Goals    []Goal              `json:"goals"`
	// Replication compares logd-rf3 with logd-fsync, when both ran.
	Replication []ReplicationRow `json:"replication,omitempty"`
	// LatencyRates say how each fixed-rate-latency variant's rate was chosen.
	LatencyRates []LatencyRate `json:"latency_rates,omitempty"`
	// BusyLimitCores marks a run busy (MachineCPU.Busy); LatencyBudgetMs sized fixed-rate
	// in-flight windows (0: the workloads' own); SendLagBoundMs marks fixed-rate runs invalid.
	BusyLimitCores  float64  `json:"busy_limit_cores"`
	LatencyBudgetMs float64  `json:"latency_budget_ms"`
	SendLagBoundMs  float64  `json:"send_lag_bound_ms"`
	Notes           []string `json:"notes,omitempty"`

	reports map[string]map[string][]*Report // workload → broker → runs
}

// CompareRow is one workload on one broker: medians over the runs whose machine was not busy
// (over every run when all were busy: AllBusy).
type CompareRow struct {
	Workload       string    `json:"workload"`
	Broker         string    `json:"broker"`
	Runs           int       `json:"runs"`
	BusyRuns       int       `json:"busy_runs"`    // left out of the medians unless AllBusy
	AllBusy        bool      `json:"all_busy"`     // every run was busy: the medians are over busy runs
	InvalidRuns    int       `json:"invalid_runs"` // fixed-rate runs whose generator fell behind (kept in the medians)
	RunMarks       []string  `json:"run_marks"`    // per run: "b" busy, "i" invalid (runMark)
	RateMBps       float64   `json:"target_mb_per_sec,omitempty"`
	ProduceMBps    float64   `json:"produce_mb_per_sec"`
	ProduceRecs    float64   `json:"produce_records_per_sec"`
	ProduceMBpsAll []float64 `json:"produce_mb_per_sec_runs"`
	P50            float64   `json:"produce_p50_ms"`
	P99            float64   `json:"produce_p99_ms"`
	P999           float64   `json:"produce_p999_ms"`
	Max            float64   `json:"produce_max_ms"`
	E2EP50         float64   `json:"e2e_p50_ms"`
	E2EP99         float64   `json:"e2e_p99_ms"`
	E2EP999        float64   `json:"e2e_p999_ms"`
	ConsumeMBps    float64   `json:"consume_mb_per_sec"`
	CPUPerGB       float64   `json:"broker_cpu_s_per_gb"`
	BrokerCores    float64   `json:"broker_cores"` // summed over a cluster's nodes
	PeakRSSMB      float64   `json:"broker_peak_rss_mib"`
	LimitedBy      string    `json:"limited_by"` // of the median-throughput run
	// A fixed-rate run's schedule: the generator's send lag (p99, max; medians) and in-flight
	// window per producer.
	SendLagP99 float64 `json:"send_lag_p99_ms,omitempty"`
	SendLagMax float64 `json:"send_lag_max_ms,omitempty"`
	InFlight   int     `json:"in_flight"`
	// Stages is the latency breakdown (logd only) of run StagesRun, the run closest to the
	// median.
	Stages    []Stage `json:"stages,omitempty"`
	StagesRun int     `json:"stages_run,omitempty"`

	// Transactional workloads: committed transactions/s (P50, P99, P999 are then the commit
	// latency), and for a read_committed catch-up the records/s read and the records of
	// aborted transactions delivered (summed over runs; must be 0).
	Transactional bool    `json:"transactional,omitempty"`
	TxnPerSec     float64 `json:"committed_transactions_per_sec,omitempty"`
	ConsumeRecs   float64 `json:"consume_records_per_sec"`
	AbortedRead   int64   `json:"aborted_records_read,omitempty"`
}

// PerfTestRow is kafka-producer-perf-test's own summary line against one broker.
type PerfTestRow struct {
	Broker     string    `json:"broker"`
	Args       string    `json:"args"`
	RecordsSec []float64 `json:"records_per_sec_runs"`
	MBps       float64   `json:"mb_per_sec"` // median, 10^6 bytes (the tool prints MiB/s)
	AvgMs      float64   `json:"avg_latency_ms"`
	P99Ms      float64   `json:"p99_ms"`
	P999Ms     float64   `json:"p999_ms"`
	MaxMs      float64   `json:"max_ms"`
	Err        string    `json:"error,omitempty"`
}

// Goal is one of the targets, measured.
type Goal struct {
	What   string  `json:"what"`
	Of     string  `json:"of"` // which brokers Ratio divides, "logd-fsync / kafka"
	Target string  `json:"target"`
	Ratio  float64 `json:"ratio"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail"`
	// The spread over the runs: each broker's value per run, its min and max over the runs
	// the medians use, and the ratio of every run pair (run i against run i).
	NumRuns   []RunValue `json:"num_runs"`
	NumMin    float64    `json:"num_min"`
	NumMax    float64    `json:"num_max"`
	DenRuns   []RunValue `json:"den_runs"`
	DenMin    float64    `json:"den_min"`
	DenMax    float64    `json:"den_max"`
	RunRatios []RunValue `json:"run_ratios"`
}

// runOptions are the options of one run of workload w on broker b (process p, data in dir).
func (o CompareOptions) runOptions(p *process, b string, w Workload, dir string, run int) Options {
	// KeepTopics: the broker and its data go when the run ends; deleting would load the next
	// workload.
	return Options{Bootstrap: p.addr, Workload: w, KeepTopics: true, Duration: o.Duration, Warmup: o.Warmup,
		ReplicationFactor: p.replication, BacklogMB: o.BacklogMB,
		BrokerName: b, BrokerPIDs: p.pids(), DataDir: dir, BrokerConfig: p.config, MetricsURL: p.metricsURL,
		LatencyBudget: o.LatencyBudget, MaxSendLag: o.MaxSendLag, BusyCores: o.BusyCores, QuietWait: o.QuietWait,
		Out: filepath.Join(o.Out, b, w.Name, fmt.Sprintf("run-%d", run)), Progress: o.Progress, Terminal: o.Terminal}
}

// Compare runs the workloads against each broker, Runs times, interleaving brokers within a
// run so slow drifts of a shared machine hit all of them, and writes Out/compare.{json,md},
// overlaid plots and every run's own report under Out/BROKER/WORKLOAD/run-N.
//
// Unless RateMBps is set, fixed-rate-latency runs in a second phase of each run, on freshly
// started brokers, at LatencyFractions of the slower broker's max-throughput in run 1 (added
// to the workloads when missing), so its rates are stated and the same for every broker.
func Compare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if len(o.Workloads) == 0 {
		o.Workloads = DefaultCompareWorkloads
	}
	if len(o.LatencyFractions) == 0 {
		o.LatencyFractions = DefaultLatencyFractions
	}
	for _, f := range o.LatencyFractions {
		if f <= 0 || f > 1 {
			return nil, fmt.Errorf("latency fraction %g: want a fraction of the max rate in (0, 1]", f)
		}
	}
	var ws []Workload
	for _, name := range o.Workloads {
		w, err := LoadWorkload(name)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	// Brokers inherit the limit: 10,000 connections need more than a default 1024 or 20000
	// (logd counts two descriptors per connection).
	raiseFileLimit(65536)
	var notes []string
	// Connections a broker child can take: logd refuses more than about a third of its
	// open-file limit (two descriptors per connection plus a reserve).
	maxConns := int(fileLimit() * 35 / 100)
	for i := range ws {
		if n := ws[i].Producers + ws[i].Consumers; n > maxConns {
			ws[i].Producers = maxConns - ws[i].Consumers
			notes = append(notes, fmt.Sprintf("%s ran with %d producer connections, not %d: the open-file limit here is %d (and cannot be raised), and a broker needs one or two descriptors per connection",
				ws[i].Name, ws[i].Producers, n-ws[i].Consumers, fileLimit()))
		}
	}
	// Phase 1 of each run: every workload whose rate is known. Phase 2: fixed-rate-latency at
	// fractions of the max measured in run 1's phase 1.
	var phase1 []Workload
	var fixed *Workload
	for _, w := range ws {
		if w.Name == fixedRateWorkload {
			if o.RateMBps == 0 {
				fixed = &w
				continue
			}
			w.RateMBps = o.RateMBps
			notes = append(notes, fmt.Sprintf("%s ran at %.1f MB/s (--rate)", w.Name, o.RateMBps))
		}
		phase1 = append(phase1, w)
	}
	if fixed != nil && !slices.ContainsFunc(phase1, func(w Workload) bool { return w.Name == maxThroughputWorkload }) {
		w, err := LoadWorkload(maxThroughputWorkload)
		if err != nil {
			return nil, err
		}
		phase1 = append([]Workload{w}, phase1...)
		notes = append(notes, fmt.Sprintf("%s was added: %s runs at fractions of the slower broker's max, measured in the same invocation", maxThroughputWorkload, fixedRateWorkload))
	}
	parent := o.DataDir
	if parent == "" {
		d, err := os.MkdirTemp("", "logd-bench-compare")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		parent = d
	}
	c := &Comparison{Started: time.Now().UTC(), Machine: fingerprint(parent), Runs: o.Runs, Duration: Duration(o.Duration),
		Brokers: map[string][]string{}, reports: map[string]map[string][]*Report{}, Notes: notes,
		BusyLimitCores: o.BusyCores, LatencyBudgetMs: float64(o.LatencyBudget) / 1e6, SendLagBoundMs: float64(o.MaxSendLag) / 1e6}
	if c.BusyLimitCores <= 0 {
		c.BusyLimitCores = DefaultBusyCores
	}
	if c.SendLagBoundMs <= 0 {
		c.SendLagBoundMs = float64(DefaultMaxSendLag) / 1e6
	}
	say := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", a...)
		}
	}
	say("== disk: synced writes in %s", parent)
	c.Machine.DiskSync = measureDiskSyncs(parent)
	say("%s", diskSyncLine(c.Machine.DiskSync))
	ceilings := map[string][2]float64{}
	perf := map[string]*PerfTestRow{}
	// runBrokers runs one phase of one run: each broker started fresh, the workloads, stopped.
	runBrokers := func(run int, phase string, list []Workload, withPerfTest bool) error {
		for _, b := range o.Brokers {
			dir := filepath.Join(parent, fmt.Sprintf("%s-run%d%s", b, run, phase))
			logPath := filepath.Join(o.Out, fmt.Sprintf("%s-run%d%s.log", b, run, phase))
			say("== run %d/%d%s: starting %s", run, o.Runs, phase, b)
			var p *process
			var err error
			switch b {
			case BrokerKafka:
				p, err = startKafka(o.KafkaLib, dir, logPath)
			case BrokerLogdRF3:
				p, err = startLogdCluster(o.LogdBinary, dir, logPath, clusterNodes)
			default:
				p, err = startLogd(o.LogdBinary, b, dir, logPath)
			}
			if err != nil {
				return err
			}
			c.Brokers[b] = p.config
			for _, w := range list {
				if ctx.Err() != nil {
					p.stop()
					return ctx.Err()
				}
				ro := o.runOptions(p, b, w, dir, run)
				if w.RateMBps == 0 && !w.CatchUp() && !w.Transactional() {
					if cl, ok := ceilings[w.Name]; ok {
						ro.knownCeiling = cl
					} else {
						ro.Ceiling = true
					}
				}
				say("-- %s on %s (run %d)", w.Name, b, run)
				r, err := Run(ctx, ro)
				if err != nil {
					// One failed workload does not void the rest of a long comparison; it is
					// reported, and a broker that died is not asked again this run.
					msg := fmt.Sprintf("run %d: %s on %s failed: %v (broker log: %s)", run, w.Name, b, err, p.logs())
					say("%s", msg)
					c.Notes = append(c.Notes, msg)
					if ctx.Err() != nil {
						p.stop()
						return ctx.Err()
					}
					if !p.alive() {
						break
					}
					continue
				}
				r.Run = run
				if r.MachineCPU.Busy {
					say("run %d of %s on %s was BUSY: %s", run, w.Name, b, r.MachineCPU.BusyReason)
				}
				if r.Invalid != "" {
					say("run %d of %s on %s is INVALID: %s", run, w.Name, b, r.Invalid)
				}
				if r.Generator.CeilingMBps > 0 {
					ceilings[w.Name] = [2]float64{r.Generator.CeilingMBps, r.Generator.CeilingRecordsPerSec}
				}
				if c.reports[w.Name] == nil {
					c.reports[w.Name] = map[string][]*Report{}
				}
				c.reports[w.Name][b] = append(c.reports[w.Name][b], r)
			}
			if withPerfTest && o.PerfTest && p.alive() {
				say("-- kafka-producer-perf-test on %s (run %d)", b, run)
				if perf[b] == nil {
					perf[b] = &PerfTestRow{Broker: b}
				}
				perfTest(ctx, o.KafkaLib, p.addr, p.replication, perf[b])
			}
			p.stop()
			os.RemoveAll(dir)
		}
		return nil
	}
	var phase2 []Workload // fixed-rate-latency at its fractions, once run 1's phase 1 measured the max
	for run := 1; run <= o.Runs; run++ {
		if err := runBrokers(run, "", phase1, true); err != nil {
			return c, err
		}
		if fixed == nil {
			continue
		}
		if run == 1 {
			phase2 = c.latencyVariants(*fixed, o.LatencyFractions)
			for _, lr := range c.LatencyRates {
				say("== %s at %.1f MB/s: %.0f%% of %s's max-throughput in run 1 (%.1f MB/s), the slower broker", lr.Workload, lr.RateMBps, lr.Fraction*100, lr.Of, lr.MaxMBps)
			}
		}
		if len(phase2) > 0 {
			if err := runBrokers(run, "-latency", phase2, false); err != nil {
				return c, err
			}
		}
	}
	for _, w := range append(phase1, phase2...) {
		for _, b := range c.brokerNames() {
			if rs := c.reports[w.Name][b]; len(rs) > 0 {
				c.Rows = append(c.Rows, summarizeRuns(w.Name, b, rs))
			}
		}
	}
	for _, b := range c.brokerNames() {
		if pr := perf[b]; pr != nil {
			c.PerfTest = append(c.PerfTest, *pr)
		}
	}
	c.goals()
	c.replication()
	c.flagNotes()
	return c, c.write(o.Out)
}

// flagNotes says in the notes how many runs were busy or invalid, so a reading of the medians
// starts from it.
func (c *Comparison) flagNotes() {
	var runs, busy, allBusyRows, rateRuns, invalid int
	for _, r := range c.Rows {
		runs += r.Runs
		busy += r.BusyRuns
		if r.AllBusy {
			allBusyRows++
		}
		if r.RateMBps > 0 {
			rateRuns += r.Runs
			invalid += r.InvalidRuns
		}
	}
	if busy > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d of %d runs were on a busy machine (other processes and steal over %.2f cores); %d of %d rows had only busy runs, so their medians are busy numbers", busy, runs, c.BusyLimitCores, allBusyRows, len(c.Rows)))
	}
	if invalid > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("%d of %d fixed-rate runs were invalid: the generator fell behind its schedule by more than %.0f ms (send lag p99) or did not offer the rate", invalid, rateRuns, c.SendLagBoundMs))
	}
}

// Workloads Compare treats specially: fixed-rate-latency runs at fractions of
// max-throughput's result.
const (
	maxThroughputWorkload = "max-throughput"
	fixedRateWorkload     = "fixed-rate-latency"
)

// DefaultLatencyFractions are the fractions of the slower broker's max-throughput at which
// Compare runs fixed-rate-latency.
var DefaultLatencyFractions = []float64{0.25, 0.5}

// LatencyRate is how the rate of one fixed-rate-latency variant was chosen: a fraction of the
// slower broker's max-throughput in run 1 of the same invocation.
type LatencyRate struct {
	Workload string             `json:"workload"`
	Fraction float64            `json:"fraction"`
	Of       string             `json:"of"` // the slower broker
	MaxMBps  float64            `json:"max_mb_per_sec"`
	RateMBps float64            `json:"rate_mb_per_sec"`
	Maxes    map[string]float64 `json:"max_mb_per_sec_by_broker"`
}

// latencyVariants are w at each fraction of the slower broker's max-throughput in run 1,
// named w.Name-NNpct; none (and a note) when no broker's max was measured.
func (c *Comparison) latencyVariants(w Workload, fractions []float64) []Workload {
	maxes := map[string]float64{}
	slow, of := 0.0, ""
	for _, b := range c.brokerNames() {
		for _, r := range c.reports[maxThroughputWorkload][b] {
			if r.Run == 1 && r.Produce.MBps > 0 {
				maxes[b] = r.Produce.MBps
				if of == "" || r.Produce.MBps < slow {
					slow, of = r.Produce.MBps, b
				}
			}
		}
	}
	if of == "" {
		c.Notes = append(c.Notes, fmt.Sprintf("%s did not run: no broker's %s was measured in run 1", w.Name, maxThroughputWorkload))
		return nil
	}
	var out []Workload
	for _, f := range fractions {
		v := w
		v.Name = fmt.Sprintf("%s-%gpct", w.Name, f*100)
		v.RateMBps = math.Round(slow*f*10) / 10
		v.Description = fmt.Sprintf("%s's shape at %.1f MB/s: %g%% of the slower broker's (%s) max-throughput in run 1", maxThroughputWorkload, v.RateMBps, f*100, of)
		c.LatencyRates = append(c.LatencyRates, LatencyRate{Workload: v.Name, Fraction: f, Of: of, MaxMBps: slow, RateMBps: v.RateMBps, Maxes: maxes})
		out = append(out, v)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// included are the runs a median is taken over: those whose machine was not busy, or every
// run when all were busy (the row then says so).
func included(rs []*Report) []*Report {
	var q []*Report
	for _, r := range rs {
		if !r.MachineCPU.Busy {
			q = append(q, r)
		}
	}
	if len(q) == 0 {
		return rs
	}
	return q
}

// runMark is how a run is flagged in a list of per-run values: b busy (left out of the
// medians), i invalid (a fixed-rate run whose generator fell behind).
func runMark(r *Report) string {
	m := ""
	if r.MachineCPU.Busy {
		m += "b"
	}
	if r.Invalid != "" {
		m += "i"
	}
	return m
}

func summarizeRuns(workload, broker string, all []*Report) CompareRow {
	rs := included(all)
	m := func(f func(*Report) float64) float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	row := CompareRow{Workload: workload, Broker: broker, Runs: len(all),
		RateMBps:    all[0].Produce.TargetMBps,
		ProduceMBps: m(func(r *Report) float64 { return r.Produce.MBps }),
		ProduceRecs: m(func(r *Report) float64 { return r.Produce.RecordsPerSec }),
		P50:         m(func(r *Report) float64 { return r.Produce.Latency.P50 }),
		P99:         m(func(r *Report) float64 { return r.Produce.Latency.P99 }),
		P999:        m(func(r *Report) float64 { return r.Produce.Latency.P999 }),
		Max:         m(func(r *Report) float64 { return r.Produce.Latency.Max }),
		E2EP50:      m(func(r *Report) float64 { return r.E2E.P50 }),
		E2EP99:      m(func(r *Report) float64 { return r.E2E.P99 }),
		E2EP999:     m(func(r *Report) float64 { return r.E2E.P999 }),
		ConsumeMBps: m(func(r *Report) float64 { return r.Consume.MBps }),
		ConsumeRecs: m(func(r *Report) float64 { return r.Consume.RecordsPerSec }),
		CPUPerGB:    m(func(r *Report) float64 { return r.Broker.CPUSecPerGB }),
		BrokerCores: m(func(r *Report) float64 { return r.Broker.Cores }),
		PeakRSSMB:   m(func(r *Report) float64 { return r.Broker.PeakRSSMB }),
		SendLagP99:  m(func(r *Report) float64 { return r.Produce.SendLag.P99 }),
		SendLagMax:  m(func(r *Report) float64 { return r.Produce.SendLag.Max }),
		InFlight:    all[0].Generator.InFlight,
		AllBusy:     len(rs) == len(all) && all[0].MachineCPU.Busy,
	}
	for _, r := range all {
		row.ProduceMBpsAll = append(row.ProduceMBpsAll, math.Round(r.Produce.MBps*10)/10)
		row.RunMarks = append(row.RunMarks, runMark(r))
		if r.MachineCPU.Busy {
			row.BusyRuns++
		}
		if r.Invalid != "" {
			row.InvalidRuns++
		}
	}
	if all[0].Spec.Transactional() {
		row.Transactional = true
		row.TxnPerSec = m(func(r *Report) float64 { return r.Produce.RecordsPerSec / float64(r.Spec.TxnRecords) })
		for _, r := range all {
			if r.Transactions != nil {
				row.AbortedRead += r.Transactions.AbortedRead
			}
		}
	}
	// The limit and the latency breakdown of the run closest to the median by the workload's
	// headline number: throughput, or at a fixed rate the produce p99.
	key := func(r *Report) float64 { return r.Produce.MBps + r.Consume.MBps - row.ProduceMBps - row.ConsumeMBps }
	if row.RateMBps > 0 {
		key = func(r *Report) float64 { return r.Produce.Latency.P99 - row.P99 }
	}
	best := rs[0]
	for _, r := range rs {
		if math.Abs(key(r)) < math.Abs(key(best)) {
			best = r
		}
	}
	row.LimitedBy = best.LimitedBy
	row.Stages, row.StagesRun = best.Stages, best.Run
	return row
}

func (c *Comparison) row(workload, broker string) *CompareRow {
	for i := range c.Rows {
		if c.Rows[i].Workload == workload && c.Rows[i].Broker == broker {
			return &c.Rows[i]
		}
	}
	return nil
}

// goals checks the targets: logd with fsync-before-ack against Kafka's defaults, and
// logd replicated three times against logd alone. Each ratio is of the medians (busy runs
// left out), with its spread: each broker's min–max over the same runs and the ratio of
// every run pair, run i of one broker against run i of the other.
func (c *Comparison) goals() {
	type g struct {
		workload, what, target string
		metric                 func(*Report) float64
		format                 string // the medians, numerator then denominator
		ok                     func(float64) bool
		num, den               string // brokers: metric(num) / metric(den)
		extra                  func(l, k *CompareRow) string
	}
	ge := func(x float64) func(float64) bool { return func(r float64) bool { return r >= x } }
	le := func(x float64) func(float64) bool { return func(r float64) bool { return r > 0 && r <= x } }
	mbps := func(r *Report) float64 { return r.Produce.MBps }
	latW, latWhat := c.latencyGoalWorkload()
	for _, goal := range []g{
		{maxThroughputWorkload, "max produce throughput, 1 KiB, acks=all", "≥ 1.5×", mbps, "%.1f vs %.1f MB/s", ge(1.5), BrokerLogdFsync, BrokerKafka, nil},
		{"iot-100b", "produce throughput, 100-byte events", "≥ 2×", func(r *Report) float64 { return r.Produce.RecordsPerSec },
			"%.0f vs %.0f records/s", ge(2), BrokerLogdFsync, BrokerKafka, nil},
		{latW, "produce p99 " + latWhat, "≤ 0.3×", func(r *Report) float64 { return r.Produce.Latency.P99 }, "%.2f vs %.2f ms", le(0.3), BrokerLogdFsync, BrokerKafka,
			func(l, _ *CompareRow) string { return fmt.Sprintf(" at %.1f MB/s", l.RateMBps) }},
		{latW, "produce p99.9 " + latWhat, "≤ 0.3×", func(r *Report) float64 { return r.Produce.Latency.P999 }, "%.2f vs %.2f ms", le(0.3), BrokerLogdFsync, BrokerKafka, nil},
		{"e2e-latency", "end-to-end p99 at 20 MB/s", "≤ 0.3×", func(r *Report) float64 { return r.E2E.P99 }, "%.2f vs %.2f ms", le(0.3), BrokerLogdFsync, BrokerKafka, nil},
		{"catch-up", "consumer catch-up throughput", "≥ 1.5×", func(r *Report) float64 { return r.Consume.MBps }, "%.0f vs %.0f MB/s", ge(1.5), BrokerLogdFsync, BrokerKafka, nil},
		{"catch-up", "broker CPU per GB during catch-up", "≤ 0.5×", func(r *Report) float64 { return r.Broker.CPUSecPerGB }, "%.2f vs %.2f CPU-s/GB", le(0.5), BrokerLogdFsync, BrokerKafka, nil},
		{maxThroughputWorkload, "max produce throughput, 1 KiB, acks=all, replication factor 3 on 3 nodes sharing the machine vs 1", "≥ 0.5×", mbps, "%.1f vs %.1f MB/s", ge(0.5), BrokerLogdRF3, BrokerLogdFsync,
			func(r3, r1 *CompareRow) string {
				return fmt.Sprintf(", broker CPU %.2f vs %.2f cores", r3.BrokerCores, r1.BrokerCores)
			}},
	} {
		nrs, drs := c.reports[goal.workload][goal.num], c.reports[goal.workload][goal.den]
		if len(nrs) == 0 || len(drs) == 0 {
			continue
		}
		gl := Goal{What: goal.what, Of: goal.num + " / " + goal.den, Target: goal.target}
		gl.NumRuns, gl.NumMin, gl.NumMax = runValues(nrs, goal.metric)
		gl.DenRuns, gl.DenMin, gl.DenMax = runValues(drs, goal.metric)
		nm, dm := medianOf(included(nrs), goal.metric), medianOf(included(drs), goal.metric)
		gl.Ratio = safeRatio(nm, dm)
		gl.Met = goal.ok(gl.Ratio)
		gl.Detail = fmt.Sprintf(goal.format, nm, dm)
		if goal.extra != nil {
			if l, k := c.row(goal.workload, goal.num), c.row(goal.workload, goal.den); l != nil && k != nil {
				gl.Detail += goal.extra(l, k)
			}
		}
		for _, n := range gl.NumRuns {
			for _, d := range gl.DenRuns {
				if n.Run == d.Run {
					gl.RunRatios = append(gl.RunRatios, RunValue{Run: n.Run, Value: safeRatio(n.Value, d.Value), Mark: pairMark(n.Mark, d.Mark)})
				}
			}
		}
		c.Goals = append(c.Goals, gl)
	}
}

// latencyGoalWorkload is the fixed-rate run the latency goals read: the variant at 50% of the
// slower broker's max, or fixed-rate-latency itself at --rate; and how to say which.
func (c *Comparison) latencyGoalWorkload() (workload, what string) {
	for _, lr := range c.LatencyRates {
		if lr.Fraction == 0.5 {
			return lr.Workload, fmt.Sprintf("at 50%% of the slower broker's max rate (%s's)", lr.Of)
		}
	}
	if n := len(c.LatencyRates); n > 0 {
		lr := c.LatencyRates[n-1]
		return lr.Workload, fmt.Sprintf("at %g%% of the slower broker's max rate (%s's; no 50%% variant ran)", lr.Fraction*100, lr.Of)
	}
	return fixedRateWorkload, "at the fixed rate given (--rate)"
}

// RunValue is one run's value of a goal's metric (or of a run pair's ratio), marked as
// runMark marks it ("b" busy, "i" invalid; a pair is marked with what either run was).
type RunValue struct {
	Run   int     `json:"run"`
	Value float64 `json:"value"`
	Mark  string  `json:"mark,omitempty"`
}

// pairMark marks a run pair with what either run was: b busy, i invalid.
func pairMark(a, b string) string {
	m := ""
	for _, c := range []string{"b", "i"} {
		if strings.Contains(a, c) || strings.Contains(b, c) {
			m += c
		}
	}
	return m
}

// runValues are metric's value in each run, and its min and max over the runs the medians
// use (included).
func runValues(rs []*Report, metric func(*Report) float64) (vs []RunValue, lo, hi float64) {
	for _, r := range rs {
		vs = append(vs, RunValue{Run: r.Run, Value: metric(r), Mark: runMark(r)})
	}
	for i, r := range included(rs) {
		v := metric(r)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return vs, lo, hi
}

func medianOf(rs []*Report, metric func(*Report) float64) float64 {
	xs := make([]float64, 0, len(rs))
	for _, r := range rs {
		xs = append(xs, metric(r))
	}
	return median(xs)
}

// safeRatio is a/b, 0 when either is 0 (JSON has no NaN or Inf).
func safeRatio(a, b float64) float64 {
	if a == 0 || b == 0 || math.IsNaN(a/b) || math.IsInf(a/b, 0) {
		return 0
	}
	return a / b
}

// perfTestLine is kafka-producer-perf-test's final summary.
var perfTestLine = regexp.MustCompile(`(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th`)

// perfTestRecords is how many 1 KiB records kafka-producer-perf-test sends per run.
const perfTestRecords = 1_000_000

// perfTest runs Kafka's own producer benchmark (org.apache.kafka.tools.ProducerPerformance,
// the Java client with its defaults plus linger and batch size) against addr, on a topic of
// replicas replicas (0 or 1: the broker's default), and adds the result to row.
func perfTest(ctx context.Context, lib, addr string, replicas int, row *PerfTestRow) {
	topic := fmt.Sprintf("perf-test-%d", time.Now().UnixMilli())
	if _, _, err := createTopic(addr, topic, 6, replicas, nil); err != nil {
		row.Err = err.Error()
		return
	}
	args := []string{"--topic", topic, "--num-records", strconv.Itoa(perfTestRecords), "--record-size", "1024",
		"--throughput", "-1", "--producer-props", "bootstrap.servers=" + addr, "acks=all", "linger.ms=5", "batch.size=65536"}
	row.Args = "kafka-producer-perf-test " + strings.Join(args, " ")
	cmd := exec.CommandContext(ctx, "java", append([]string{"-Xmx512M", "-cp", filepath.Join(lib, "*"), "org.apache.kafka.tools.ProducerPerformance"}, args...)...)
	out, err := cmd.CombinedOutput()
	m := perfTestLine.FindAllSubmatch(out, -1)
	if err != nil || len(m) == 0 {
		row.Err = fmt.Sprintf("%v: %s", err, lastLines(out, 5))
		return
	}
	f := func(i int) float64 { v, _ := strconv.ParseFloat(string(m[len(m)-1][i]), 64); return v }
	row.RecordsSec = append(row.RecordsSec, f(2))
	n := len(row.RecordsSec)
	// Running medians: the tool's latency percentiles are whole milliseconds.
	upd := func(old, v float64) float64 { return old + (v-old)/float64(n) }
	row.MBps = median(row.RecordsSec) * 1024 / 1e6
	row.AvgMs = upd(row.AvgMs, f(4))
	row.MaxMs = math.Max(row.MaxMs, f(5))
	row.P99Ms = upd(row.P99Ms, f(8))
	row.P999Ms = upd(row.P999Ms, f(9))
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// write writes compare.json, compare.md and overlaid plots.
func (c *Comparison) write(dir string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var plots []string
	for _, wname := range c.workloadNames() {
		byBroker := c.reports[wname]
		var tp, lat, e2e []Series
		catchUp := false
		for bi, b := range c.brokerNames() {
			rs := byBroker[b]
			if len(rs) == 0 {
				continue
			}
			color := palette[bi%len(palette)]
			r := rs[len(rs)/2] // one run: the middle one
			catchUp = r.Spec.CatchUp()
			if catchUp {
				tp = append(tp, Series{Name: b, Color: color, Points: seriesOf(r.Series, func(p SeriesPoint) float64 { return p.ConsumeMBps })})
				continue
			}
			tp = append(tp, Series{Name: b, Color: color, Points: seriesOf(r.Series, func(p SeriesPoint) float64 { return p.ProduceMBps })})
			// One color per broker: p99 solid, p50 dashed.
			ls := latencySeries(r.Series, func(p SeriesPoint) Percentiles { return p.Latency }, b+" ")
			lat = append(lat, Series{Name: ls[1].Name, Points: ls[1].Points, Color: color},
				Series{Name: ls[0].Name, Points: ls[0].Points, Dashed: true, Color: color})
			if r.Spec.Consumers > 0 {
				es := latencySeries(r.Series, func(p SeriesPoint) Percentiles { return p.E2E }, b+" ")
				e2e = append(e2e, Series{Name: es[1].Name, Points: es[1].Points, Color: color},
					Series{Name: es[0].Name, Points: es[0].Points, Dashed: true, Color: color})
			}
		}
		what, latName := "produce", "produce latency"
		if rs := byBroker[c.brokerNames()[0]]; len(rs) > 0 {
			latName = rs[0].latencyName()
		}
		if catchUp {
			what = "consume"
		}
		charts := map[string]Chart{wname + "-throughput.svg": {Title: wname + ": " + what + " throughput", XLabel: "seconds", YLabel: "MB/s", Series: tp}}
		if len(lat) > 0 {
			charts[wname+"-latency.svg"] = Chart{Title: wname + ": " + latName + " p99 (solid), p50 (dashed)", XLabel: "seconds", YLabel: "ms", LogY: true, Series: lat}
		}
		if len(e2e) > 0 {
			charts[wname+"-e2e-latency.svg"] = Chart{Title: wname + ": end-to-end latency p99 (solid), p50 (dashed)", XLabel: "seconds", YLabel: "ms", LogY: true, Series: e2e}
		}
		if err := writeCharts(dir, charts); err != nil {
			return err
		}
		for name := range charts {
			plots = append(plots, name)
		}
	}
	slices.Sort(plots)
	md := c.Table()
	var b bytes.Buffer
	b.WriteString(md)
	b.WriteString("\n## Plots (the middle run of each)\n\n")
	for _, p := range plots {
		fmt.Fprintf(&b, "![%s](%s)\n", p, p)
	}
	b.WriteString("\n## Broker configurations\n\n")
	for _, name := range c.brokerNames() {
		fmt.Fprintf(&b, "### %s\n\n```\n%s\n```\n\n", name, strings.Join(c.Brokers[name], "\n"))
	}
	b.WriteString(c.Machine.describe())
	return os.WriteFile(filepath.Join(dir, "compare.md"), b.Bytes(), 0o644)
}

// txnTable is the transactional workloads' own reading: committed transactions per second and
// commit latency, read_committed catch-up throughput and whether an aborted record leaked.
func (c *Comparison) txnTable(p func(string, ...any), ratio func(a, b float64) string) {
	var rows []CompareRow
	for _, r := range c.Rows {
		if r.Transactional {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("\n## Transactions\n\n| workload | broker | committed txn/s | ×Kafka | committed MB/s | commit p50 | commit p99 | commit p99.9 | ×Kafka p99 | read_committed MB/s | records/s | ×Kafka | aborted records delivered |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		k := c.row(r.Workload, BrokerKafka)
		tr, lr, cr := "–", "–", "–"
		if k != nil && r.Broker != BrokerKafka {
			tr, lr, cr = ratio(r.TxnPerSec, k.TxnPerSec), ratio(r.P99, k.P99), ratio(r.ConsumeRecs, k.ConsumeRecs)
		}
		if r.ConsumeRecs > 0 { // read_committed catch-up: its producers wrote the backlog, unmeasured
			p("| %s | %s | – | – | – | – | – | – | – | %.1f | %.0f | %s | %d |\n", r.Workload, r.Broker, r.ConsumeMBps, r.ConsumeRecs, cr, r.AbortedRead)
			continue
		}
		p("| %s | %s | %.1f | %s | %.1f | %.2f | %.2f | %.2f | %s | – | – | – | – |\n", r.Workload, r.Broker, r.TxnPerSec, tr, r.ProduceMBps,
			r.P50, r.P99, r.P999, lr)
	}
	p("\nA transaction is its records produced (acks=all) and flushed, then EndTxn; commit latency (ms) is the EndTxn call's round trip alone. In the side-by-side table the produce latency columns of these workloads are this commit latency. read_committed MB/s counts record keys and values.\n")
}

func (c *Comparison) workloadNames() []string {
	var out []string
	for _, r := range c.Rows {
		if !slices.Contains(out, r.Workload) {
			out = append(out, r.Workload)
		}
	}
	return out
}

func (c *Comparison) brokerNames() []string {
	var out []string
	for _, b := range []string{BrokerKafka, BrokerLogdFsync, BrokerLogdNoFsync, BrokerLogdRF3} {
		if _, ok := c.Brokers[b]; ok {
			out = append(out, b)
		}
	}
	return out
}

// Table is the side-by-side reading: goals, then every workload on every broker with ratios
// against Kafka, then replication factor 3 against 1.
func (c *Comparison) Table() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	_, kafka := c.Brokers[BrokerKafka]
	title := "logd vs Apache Kafka"
	if !kafka {
		title = "logd: " + strings.Join(c.brokerNames(), " vs ")
	}
	p("# %s\n\n%s; medians of %d run(s) of %v each (after warm-up); every run's report is under BROKER/WORKLOAD/run-N/.\n", title, c.Started.Format(time.RFC3339), c.Runs, time.Duration(c.Duration))
	p("A run is **busy** (marked b) when processes other than the broker and the generator, plus the hypervisor's steal, used more than %.2f cores during it (/proc/stat minus the broker's and the generator's own CPU): busy runs are left out of the medians and min–max unless every run of a row was busy. A fixed-rate run is **invalid** (marked i) when the generator fell behind its schedule (send lag p99 over %.0f ms) or did not offer the rate; it stays in the medians, marked.\n",
		c.BusyLimitCores, c.SendLagBoundMs)
	if kafka {
		p("Durability is not equal by default: Kafka acknowledges acks=all without fsync; logd-fsync fsyncs before acks=all; logd-nofsync is logd with Kafka's setting.\n")
	}
	if _, ok := c.Brokers[BrokerLogdRF3]; ok {
		p("logd-rf3 is %d logd nodes on this one machine with topics of replication factor %d: acks=all waits for every in-sync replica; its CPU and RSS are the sums over the nodes.\n", clusterNodes, clusterNodes)
	}
	p("\n")
	if len(c.Goals) > 0 {
		p("## Goals\n\n| goal | ratio of | target | measured (medians) | met | numbers (medians) | ratio per run pair | numerator min–max | denominator min–max |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range c.Goals {
			met := "no"
			if g.Met {
				met = "yes"
			}
			p("| %s | %s | %s | %.2f× | %s | %s | %s | %s | %s |\n", g.What, g.Of, g.Target, g.Ratio, met, g.Detail,
				fmtRunValues(g.RunRatios, 2), fmtRange(g.NumMin, g.NumMax), fmtRange(g.DenMin, g.DenMax))
		}
		p("\nA run pair is run i of one broker against run i of the other (brokers interleave within a run); min–max are over the runs the medians use.\n\n")
	}
	p("## Side by side\n\n| workload | broker | produce MB/s (runs) | records/s | ×Kafka | p50 | p99 | p99.9 | max | ×Kafka p99 | e2e p50 | e2e p99 | e2e p99.9 | consume MB/s | ×Kafka | CPU-s/GB | peak RSS MiB | limited by |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	ratio := func(a, b float64) string {
		if b == 0 || a == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	for _, r := range c.Rows {
		k := c.row(r.Workload, BrokerKafka)
		tpr, latr, cr := "–", "–", "–"
		if k != nil && r.Broker != BrokerKafka {
			tpr, latr, cr = ratio(r.ProduceMBps, k.ProduceMBps), ratio(r.P99, k.P99), ratio(r.ConsumeMBps, k.ConsumeMBps)
		}
		runs := make([]string, len(r.ProduceMBpsAll))
		for i, v := range r.ProduceMBpsAll {
			runs[i] = strconv.FormatFloat(v, 'f', 1, 64)
			if i < len(r.RunMarks) {
				runs[i] += r.RunMarks[i]
			}
		}
		p("| %s | %s | %.1f (%s) | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.1f | %s | %.2f | %.0f | %s |\n",
			r.Workload, r.Broker, r.ProduceMBps, strings.Join(runs, ", "), r.ProduceRecs, tpr, r.P50, r.P99, r.P999, r.Max, latr,
			r.E2EP50, r.E2EP99, r.E2EP999, r.ConsumeMBps, cr, r.CPUPerGB, r.PeakRSSMB, strings.ReplaceAll(r.LimitedBy, "|", "/"))
	}
	p("\nLatencies in ms. Produce latency is per request (from the intended send time at a fixed rate); e2e is per record. CPU-s/GB is the broker's CPU seconds per GB produced plus consumed. Per-run throughputs are marked b (busy) and i (invalid).\n")
	c.fixedRateTable(p)
	c.txnTable(p, ratio)
	c.replicationTable(p)
	if len(c.PerfTest) > 0 {
		p("\n## Cross-check: Kafka's kafka-producer-perf-test (Java client, 1 KiB records, acks=all, linger.ms=5, batch.size=64 KiB, %d records per run)\n\n| broker | records/s (runs) | MB/s (median) | avg ms | p99 ms | p99.9 ms | max ms | error |\n|---|---|---|---|---|---|---|---|\n", perfTestRecords)
		for _, r := range c.PerfTest {
			rs := make([]string, len(r.RecordsSec))
			for i, v := range r.RecordsSec {
				rs[i] = strconv.FormatFloat(v, 'f', 0, 64)
			}
			p("| %s | %s | %.1f | %.1f | %.0f | %.0f | %.0f | %s |\n", r.Broker, strings.Join(rs, ", "), r.MBps, r.AvgMs, r.P99Ms, r.P999Ms, r.MaxMs, r.Err)
		}
		p("\nLatency columns of the cross-check are means over runs of the tool's whole-millisecond percentiles.\n")
	}
	if len(c.Notes) > 0 {
		p("\n## Notes\n\n")
		for _, n := range c.Notes {
			p("- %s\n", n)
		}
	}
	return b.String()
}

// fixedRateTable writes the fixed-rate runs: how each rate was chosen, the generator's
// schedule (in-flight window, send lag, invalid runs), and logd's latency breakdown.
func (c *Comparison) fixedRateTable(p func(string, ...any)) {
	var rows []CompareRow
	for _, r := range c.Rows {
		if r.RateMBps > 0 && !r.Transactional {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return
	}
	p("\n## Fixed-rate runs\n\n")
	for _, lr := range c.LatencyRates {
		var maxes []string
		for _, b := range c.brokerNames() {
			if v, ok := lr.Maxes[b]; ok {
				maxes = append(maxes, fmt.Sprintf("%s %.1f", b, v))
			}
		}
		p("- %s: %.1f MB/s, %g%% of %s's max-throughput in run 1 of this invocation, the slower broker's (max MB/s: %s); the same rate for every broker and run.\n",
			lr.Workload, lr.RateMBps, lr.Fraction*100, lr.Of, strings.Join(maxes, ", "))
	}
	budget := "each workload's own in_flight"
	if c.LatencyBudgetMs > 0 {
		budget = fmt.Sprintf("sized from the rate for a %.0f ms latency budget (bench/doc.go)", c.LatencyBudgetMs)
	}
	p("\nIn-flight window per producer: %s. Send lag is how far the generator fell behind its schedule (actual minus intended send time); latency is measured from the intended time, so lag is inside it.\n\n", budget)
	p("| workload | broker | rate MB/s | achieved MB/s | in flight | send lag p99 | send lag max | p99 | p99.9 | runs | invalid runs |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		p("| %s | %s | %.1f | %.1f | %d | %.2f | %.2f | %.2f | %.2f | %d (%d busy) | %d |\n", r.Workload, r.Broker, r.RateMBps, r.ProduceMBps, r.InFlight,
			r.SendLagP99, r.SendLagMax, r.P99, r.P999, r.Runs, r.BusyRuns, r.InvalidRuns)
	}
	for _, r := range rows {
		if len(r.Stages) == 0 {
			continue
		}
		p("\n### Latency breakdown: %s on %s (run %d, the run closest to the median p99)\n\n", r.Workload, r.Broker, r.StagesRun)
		var b strings.Builder
		stagesTable(&b, r.Stages)
		p("%s", b.String())
	}
}

// fmtRunValues lists per-run values with their marks: "1.02 (1), 0.95b (2)".
func fmtRunValues(vs []RunValue, prec int) string {
	if len(vs) == 0 {
		return "–"
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%.*f%s (%d)", prec, v.Value, v.Mark, v.Run)
	}
	return strings.Join(out, ", ")
}

// fmtRange is "lo–hi", each to about three significant digits.
func fmtRange(lo, hi float64) string {
	f := func(v float64) string {
		switch a := math.Abs(v); {
		case a >= 100:
			return strconv.FormatFloat(v, 'f', 0, 64)
		case a >= 10:
			return strconv.FormatFloat(v, 'f', 1, 64)
		case a >= 1:
			return strconv.FormatFloat(v, 'f', 2, 64)
		}
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return f(lo) + "–" + f(hi)
}
