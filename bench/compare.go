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
	Workloads []string      // names or files; "fixed-rate-latency" runs at half of Kafka's max
	Duration  time.Duration // measured time per run
	Warmup    time.Duration
	Runs      int // per broker and workload; medians are reported
	// Brokers are run in this order within each run: BrokerKafka, BrokerLogdFsync,
	// BrokerLogdNoFsync, BrokerLogdRF3. Unless RateMBps is set, the first one's max-throughput
	// in run 1 sets the fixed rate.
	Brokers []string
	// RateMBps is the fixed rate of fixed-rate-latency (0: half of the first broker's
	// max-throughput in run 1 when both workloads run, else the workload's own rate).
	RateMBps float64
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
	Notes       []string         `json:"notes,omitempty"`

	reports map[string]map[string][]*Report // workload → broker → runs
}

// CompareRow is one workload on one broker: medians over the runs.
type CompareRow struct {
	Workload       string    `json:"workload"`
	Broker         string    `json:"broker"`
	Runs           int       `json:"runs"`
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
}

// Compare runs the workloads against each broker, Runs times, interleaving brokers within a
// run so slow drifts of a shared machine hit all of them, and writes Out/compare.{json,md},
// overlaid plots and every run's own report under Out/BROKER/WORKLOAD/run-N.
func Compare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if len(o.Workloads) == 0 {
		o.Workloads = DefaultCompareWorkloads
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
		Brokers: map[string][]string{}, reports: map[string]map[string][]*Report{}, Notes: notes}
	say := func(format string, a ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", a...)
		}
	}
	// MB/s of fixed-rate-latency: given, or half of the first broker's max-throughput.
	fixedRate := o.RateMBps
	if fixedRate > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("fixed-rate-latency ran at %.1f MB/s (--rate)", fixedRate))
	}
	ceilings := map[string][2]float64{}
	perf := map[string]*PerfTestRow{}
	for run := 1; run <= o.Runs; run++ {
		for _, b := range o.Brokers {
			dir := filepath.Join(parent, fmt.Sprintf("%s-run%d", b, run))
			logPath := filepath.Join(o.Out, fmt.Sprintf("%s-run%d.log", b, run))
			say("== run %d/%d: starting %s", run, o.Runs, b)
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
				return c, err
			}
			c.Brokers[b] = p.config
			for _, w := range ws {
				if ctx.Err() != nil {
					p.stop()
					return c, ctx.Err()
				}
				ro := Options{Bootstrap: p.addr, Workload: w, Duration: o.Duration, Warmup: o.Warmup, ReplicationFactor: p.replication, BacklogMB: o.BacklogMB,
					BrokerName: b, BrokerPIDs: p.pids(), DataDir: dir, BrokerConfig: p.config,
					Out: filepath.Join(o.Out, b, w.Name, fmt.Sprintf("run-%d", run)), Progress: o.Progress, Terminal: o.Terminal}
				if w.Name == "fixed-rate-latency" && fixedRate > 0 {
					ro.RateMBps = fixedRate
				}
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
						return c, ctx.Err()
					}
					if !p.alive() {
						break
					}
					continue
				}
				if r.Generator.CeilingMBps > 0 {
					ceilings[w.Name] = [2]float64{r.Generator.CeilingMBps, r.Generator.CeilingRecordsPerSec}
				}
				if b == o.Brokers[0] && w.Name == "max-throughput" && fixedRate == 0 && slices.ContainsFunc(ws, func(w Workload) bool { return w.Name == "fixed-rate-latency" }) {
					fixedRate = math.Round(r.Produce.MBps/2*10) / 10
					c.Notes = append(c.Notes, fmt.Sprintf("fixed-rate-latency ran at %.1f MB/s: half of %s's max-throughput in run 1 (%.1f MB/s)", fixedRate, b, r.Produce.MBps))
				}
				if c.reports[w.Name] == nil {
					c.reports[w.Name] = map[string][]*Report{}
				}
				c.reports[w.Name][b] = append(c.reports[w.Name][b], r)
			}
			if o.PerfTest && p.alive() {
				say("-- kafka-producer-perf-test on %s (run %d)", b, run)
				if perf[b] == nil {
					perf[b] = &PerfTestRow{Broker: b}
				}
				perfTest(ctx, o.KafkaLib, p.addr, p.replication, perf[b])
			}
			p.stop()
			os.RemoveAll(dir)
		}
	}
	for _, w := range ws {
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
	return c, c.write(o.Out)
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

func summarizeRuns(workload, broker string, rs []*Report) CompareRow {
	m := func(f func(*Report) float64) float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return median(xs)
	}
	row := CompareRow{Workload: workload, Broker: broker, Runs: len(rs),
		RateMBps:    rs[0].Produce.TargetMBps,
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
	}
	for _, r := range rs {
		row.ProduceMBpsAll = append(row.ProduceMBpsAll, math.Round(r.Produce.MBps*10)/10)
	}
	if rs[0].Spec.Transactional() {
		row.Transactional = true
		row.TxnPerSec = m(func(r *Report) float64 { return r.Produce.RecordsPerSec / float64(r.Spec.TxnRecords) })
		for _, r := range rs {
			if r.Transactions != nil {
				row.AbortedRead += r.Transactions.AbortedRead
			}
		}
	}
	// The limit of the run closest to the median (by the workload's headline number).
	key := func(r *Report) float64 { return r.Produce.MBps + r.Consume.MBps }
	best := rs[0]
	for _, r := range rs {
		if math.Abs(key(r)-row.ProduceMBps-row.ConsumeMBps) < math.Abs(key(best)-row.ProduceMBps-row.ConsumeMBps) {
			best = r
		}
	}
	row.LimitedBy = best.LimitedBy
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
// logd replicated three times against logd alone.
func (c *Comparison) goals() {
	type g struct {
		workload, what, target string
		ratio                  func(l, k *CompareRow) (float64, string)
		ok                     func(float64) bool
		num, den               string // brokers: ratio(num's row, den's row)
	}
	ge := func(x float64) func(float64) bool { return func(r float64) bool { return r >= x } }
	le := func(x float64) func(float64) bool { return func(r float64) bool { return r > 0 && r <= x } }
	for _, goal := range []g{
		{"max-throughput", "max produce throughput, 1 KiB, acks=all", "≥ 1.5×", func(l, k *CompareRow) (float64, string) {
			return l.ProduceMBps / k.ProduceMBps, fmt.Sprintf("%.1f vs %.1f MB/s", l.ProduceMBps, k.ProduceMBps)
		}, ge(1.5), BrokerLogdFsync, BrokerKafka},
		{"iot-100b", "produce throughput, 100-byte events", "≥ 2×", func(l, k *CompareRow) (float64, string) {
			return l.ProduceRecs / k.ProduceRecs, fmt.Sprintf("%.0f vs %.0f records/s", l.ProduceRecs, k.ProduceRecs)
		}, ge(2), BrokerLogdFsync, BrokerKafka},
		{"fixed-rate-latency", "produce p99 at 50% of Kafka's max rate", "≤ 0.3×", func(l, k *CompareRow) (float64, string) {
			return l.P99 / k.P99, fmt.Sprintf("%.2f vs %.2f ms at %.1f MB/s", l.P99, k.P99, l.RateMBps)
		}, le(0.3), BrokerLogdFsync, BrokerKafka},
		{"fixed-rate-latency", "produce p99.9 at 50% of Kafka's max rate", "≤ 0.3×", func(l, k *CompareRow) (float64, string) {
			return l.P999 / k.P999, fmt.Sprintf("%.2f vs %.2f ms", l.P999, k.P999)
		}, le(0.3), BrokerLogdFsync, BrokerKafka},
		{"e2e-latency", "end-to-end p99 at 20 MB/s", "≤ 0.3×", func(l, k *CompareRow) (float64, string) {
			return l.E2EP99 / k.E2EP99, fmt.Sprintf("%.2f vs %.2f ms", l.E2EP99, k.E2EP99)
		}, le(0.3), BrokerLogdFsync, BrokerKafka},
		{"catch-up", "consumer catch-up throughput", "≥ 1.5×", func(l, k *CompareRow) (float64, string) {
			return l.ConsumeMBps / k.ConsumeMBps, fmt.Sprintf("%.0f vs %.0f MB/s", l.ConsumeMBps, k.ConsumeMBps)
		}, ge(1.5), BrokerLogdFsync, BrokerKafka},
		{"catch-up", "broker CPU per GB during catch-up", "≤ 0.5×", func(l, k *CompareRow) (float64, string) {
			return l.CPUPerGB / k.CPUPerGB, fmt.Sprintf("%.2f vs %.2f CPU-s/GB", l.CPUPerGB, k.CPUPerGB)
		}, le(0.5), BrokerLogdFsync, BrokerKafka},
		{"max-throughput", "max produce throughput, 1 KiB, acks=all, replication factor 3 on 3 nodes sharing the machine vs 1", "≥ 0.5×", func(r3, r1 *CompareRow) (float64, string) {
			return r3.ProduceMBps / r1.ProduceMBps, fmt.Sprintf("%.1f vs %.1f MB/s, broker CPU %.2f vs %.2f cores", r3.ProduceMBps, r1.ProduceMBps, r3.BrokerCores, r1.BrokerCores)
		}, ge(0.5), BrokerLogdRF3, BrokerLogdFsync},
	} {
		l, k := c.row(goal.workload, goal.num), c.row(goal.workload, goal.den)
		if l == nil || k == nil {
			continue
		}
		ratio, detail := goal.ratio(l, k)
		if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
			ratio = 0
		}
		c.Goals = append(c.Goals, Goal{What: goal.what, Of: goal.num + " / " + goal.den, Target: goal.target, Ratio: ratio, Met: goal.ok(ratio), Detail: detail})
	}
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
	if _, _, err := createTopic(addr, topic, 6, replicas); err != nil {
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
		for name, ch := range charts {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(ch.SVG()), 0o644); err != nil {
				return err
			}
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
	m := c.Machine
	fmt.Fprintf(&b, "## Machine\n\n%s, %d cores, %.1f GB memory, %s, disk %s, %s, load average %.2f at the start.\n",
		m.CPU, m.Cores, m.MemoryGB, m.Kernel, m.Disk, m.Go, m.LoadAvg)
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
	if kafka {
		p("Durability is not equal by default: Kafka acknowledges acks=all without fsync; logd-fsync fsyncs before acks=all; logd-nofsync is logd with Kafka's setting.\n")
	}
	if _, ok := c.Brokers[BrokerLogdRF3]; ok {
		p("logd-rf3 is %d logd nodes on this one machine with topics of replication factor %d: acks=all waits for every in-sync replica; its CPU and RSS are the sums over the nodes.\n", clusterNodes, clusterNodes)
	}
	p("\n")
	if len(c.Goals) > 0 {
		p("## Goals\n\n| goal | ratio of | target | measured | met | numbers |\n|---|---|---|---|---|---|\n")
		for _, g := range c.Goals {
			met := "no"
			if g.Met {
				met = "yes"
			}
			p("| %s | %s | %s | %.2f× | %s | %s |\n", g.What, g.Of, g.Target, g.Ratio, met, g.Detail)
		}
		p("\n")
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
		}
		p("| %s | %s | %.1f (%s) | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.1f | %s | %.2f | %.0f | %s |\n",
			r.Workload, r.Broker, r.ProduceMBps, strings.Join(runs, ", "), r.ProduceRecs, tpr, r.P50, r.P99, r.P999, r.Max, latr,
			r.E2EP50, r.E2EP99, r.E2EP999, r.ConsumeMBps, cr, r.CPUPerGB, r.PeakRSSMB, strings.ReplaceAll(r.LimitedBy, "|", "/"))
	}
	p("\nLatencies in ms. Produce latency is per request (from the intended send time at a fixed rate); e2e is per record. CPU-s/GB is the broker's CPU seconds per GB produced plus consumed.\n")
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
