package bench

import (
	"context"
	"math"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metrics"
)

// The measurement's own logic: spread, busy runs, schedules, rates, the latency breakdown
// and the disk fingerprint. No broker is needed.

// run is a report of one run: produce MB/s and p99, busy or not.
func run(n int, mbps, p99 float64, busy bool) *Report {
	r := &Report{Run: n}
	r.Produce.MBps, r.Produce.Latency.P99 = mbps, p99
	r.MachineCPU.Busy = busy
	return r
}

func TestParseCPULineAndBusy(t *testing.T) {
	c := parseCPULine("cpu  100 5 50 1000 40 3 2 7 0 0")
	if c.busy != 160*clockTick || c.iowait != 40*clockTick || c.steal != 7*clockTick || c.idle != 1000*clockTick {
		t.Fatalf("%+v", c)
	}
	m := MachineCPU{Cores: 2, OtherCores: 0.2, StealCores: 0.1}
	m.busyVerdict(0.25)
	if !m.Busy || !strings.Contains(m.BusyReason, "0.20 cores") || !strings.Contains(m.BusyReason, "stole 0.10") {
		t.Fatalf("other 0.2 + steal 0.1 over 0.25 must be busy: %+v", m)
	}
	m.StealCores = 0
	m.busyVerdict(0.25)
	if m.Busy || m.BusyReason != "" {
		t.Fatalf("0.2 cores under 0.25 is not busy: %+v", m)
	}
}

// TestBusyRunsLeftOut: medians and min–max skip busy runs unless every run was busy, and the
// row and per-run marks say so.
func TestBusyRunsLeftOut(t *testing.T) {
	row := summarizeRuns("max-throughput", BrokerKafka, []*Report{run(1, 100, 0, false), run(2, 20, 0, true), run(3, 120, 0, false)})
	if row.ProduceMBps != 110 || row.BusyRuns != 1 || row.AllBusy || row.Runs != 3 {
		t.Fatalf("busy run 2 must be left out of the median: %+v", row)
	}
	if strings.Join(row.RunMarks, ",") != ",b," {
		t.Fatalf("marks %q", row.RunMarks)
	}
	row = summarizeRuns("max-throughput", BrokerKafka, []*Report{run(1, 100, 0, true), run(2, 20, 0, true), run(3, 120, 0, true)})
	if row.ProduceMBps != 100 || !row.AllBusy || row.BusyRuns != 3 {
		t.Fatalf("all busy: the median is over all of them, and says so: %+v", row)
	}
	c := &Comparison{Rows: []CompareRow{row}, BusyLimitCores: DefaultBusyCores}
	c.flagNotes()
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "3 of 3 runs were on a busy machine") || !strings.Contains(c.Notes[0], "1 of 1 rows had only busy runs") {
		t.Fatalf("notes %q", c.Notes)
	}
}

// TestGoalSpread: a goal's ratio is of the non-busy medians; the per-run-pair ratios pair run
// i with run i and carry both runs' marks; min–max skip busy runs.
func TestGoalSpread(t *testing.T) {
	c := compareOf(map[string]map[string][]*Report{"max-throughput": {
		BrokerKafka:     {run(1, 100, 0, false), run(2, 200, 0, false), run(3, 50, 0, true)},
		BrokerLogdFsync: {run(1, 150, 0, false), run(2, 150, 0, false), run(3, 150, 0, false)},
	}})
	if len(c.Goals) != 1 {
		t.Fatalf("%+v", c.Goals)
	}
	g := c.Goals[0]
	// logd median 150 over 3 runs; Kafka median 150 over runs 1 and 2 (run 3 busy).
	if g.Ratio != 1 || g.Met || g.DenMin != 100 || g.DenMax != 200 || g.NumMin != 150 || g.NumMax != 150 {
		t.Fatalf("%+v", g)
	}
	want := []RunValue{{1, 1.5, ""}, {2, 0.75, ""}, {3, 3, "b"}}
	if m := pairMark("bi", "b"); m != "bi" {
		t.Errorf("pair of a busy invalid run and a busy run: %q", m)
	}
	if len(g.RunRatios) != 3 {
		t.Fatalf("run ratios %+v", g.RunRatios)
	}
	for i, w := range want {
		if g.RunRatios[i] != w {
			t.Errorf("run pair %d: %+v, want %+v", i+1, g.RunRatios[i], w)
		}
	}
	tab := c.Table()
	for _, s := range []string{"1.50 (1), 0.75 (2), 3.00b (3)", "150–150", "100–200", "| 150.0 (150.0, 150.0, 150.0) |", "(100.0, 200.0, 50.0b)"} {
		if !strings.Contains(tab, s) {
			t.Errorf("table lacks %q:\n%s", s, tab)
		}
	}
}

// TestLatencyVariants: fixed-rate-latency runs at the stated fractions of the slower
// broker's max-throughput in run 1, and the latency goals read the 50% variant.
func TestLatencyVariants(t *testing.T) {
	c := &Comparison{Brokers: map[string][]string{BrokerKafka: nil, BrokerLogdFsync: nil}, reports: map[string]map[string][]*Report{
		"max-throughput": {BrokerKafka: {run(1, 318.4, 0, false), run(2, 10, 0, false)}, BrokerLogdFsync: {run(1, 339, 0, false)}},
	}}
	w, err := LoadWorkload("fixed-rate-latency")
	if err != nil {
		t.Fatal(err)
	}
	vs := c.latencyVariants(w, []float64{0.25, 0.5})
	if len(vs) != 2 || vs[0].Name != "fixed-rate-latency-25pct" || vs[0].RateMBps != 79.6 || vs[1].Name != "fixed-rate-latency-50pct" || vs[1].RateMBps != 159.2 {
		t.Fatalf("%+v", vs)
	}
	if lr := c.LatencyRates[1]; lr.Of != BrokerKafka || lr.MaxMBps != 318.4 || lr.Maxes[BrokerLogdFsync] != 339 {
		t.Fatalf("%+v", lr)
	}
	if wl, what := c.latencyGoalWorkload(); wl != "fixed-rate-latency-50pct" || !strings.Contains(what, "kafka") {
		t.Fatalf("latency goal reads %s (%s)", wl, what)
	}
	c.reports["fixed-rate-latency-50pct"] = map[string][]*Report{
		BrokerKafka: {run(1, 159.2, 30, false)}, BrokerLogdFsync: {run(1, 159.2, 6, false)},
	}
	c.goals()
	if len(c.Goals) < 2 || c.Goals[1].Ratio != 0.2 || !c.Goals[1].Met {
		t.Fatalf("%+v", c.Goals)
	}
	empty := &Comparison{Brokers: map[string][]string{BrokerKafka: nil}, reports: map[string]map[string][]*Report{}}
	if vs := empty.latencyVariants(w, []float64{0.5}); vs != nil || len(empty.Notes) != 1 {
		t.Fatalf("no max measured: %v, notes %q", vs, empty.Notes)
	}
}

// TestWindowFor: the window holds budget/interval requests, the interval being one
// producer's request bytes over its share of the rate.
func TestWindowFor(t *testing.T) {
	w, _ := LoadWorkload("fixed-rate-latency")
	w.RateMBps = 150 // 3 producers × 2 partitions × 64 × 1 KiB = 131,072 B per request at 50 MB/s each
	n, iv := windowFor(w, 100*time.Millisecond)
	if want := time.Duration(131072.0 / 50e6 * 1e9); iv != want || n != int(math.Ceil(100e6/float64(want))) || n != 39 {
		t.Fatalf("window %d, interval %v", n, iv)
	}
	if n, _ := windowFor(w, 0); n != w.InFlight {
		t.Fatalf("no budget keeps the workload's %d, got %d", w.InFlight, n)
	}
	w.RateMBps = 0.001
	if n, _ := windowFor(w, time.Millisecond); n != 1 {
		t.Fatalf("a slow rate still has one request in flight, got %d", n)
	}
}

func TestCheckSchedule(t *testing.T) {
	w, _ := LoadWorkload("fixed-rate-latency")
	r := &Report{}
	r.Generator = GeneratorInfo{SendLagBoundMs: 10, InFlight: 39, RequestIntervalMs: 2.6}
	r.Produce.MBps, r.Produce.TargetMBps = w.RateMBps, w.RateMBps
	r.Produce.Latency = Percentiles{Count: 1000, P99: 40}
	r.Produce.SendLag = Percentiles{Count: 1000, P99: 2, Max: 30}
	r.checkSchedule(w)
	if r.Invalid != "" {
		t.Fatalf("lag p99 2 ms under 10 is valid: %s", r.Invalid)
	}
	r.Produce.SendLag.P99 = 25
	r.Produce.MBps = w.RateMBps * 0.9
	r.checkSchedule(w)
	if !strings.Contains(r.Invalid, "send lag p99 25.0 ms") || !strings.Contains(r.Invalid, "not offered") {
		t.Fatalf("invalid: %q", r.Invalid)
	}
	r.conclude(w)
	if !strings.Contains(strings.Join(r.Notes, "\n"), "INVALID: ") || !strings.Contains(r.Markdown(), "**INVALID**") {
		t.Fatalf("notes %q", r.Notes)
	}
}

// TestStagesFromMetrics scrapes logd's own metrics registry over HTTP twice and reads the
// window's stages from the difference of the buckets.
func TestStagesFromMetrics(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	produce := int16(kmsg.Produce)
	// Before the window: slow requests that must not count.
	for range 100 {
		m.ObserveRequest(produce, metrics.RequestTimes{Queue: 5 * time.Second, Handled: 5 * time.Second})
	}
	s := &stageScraper{url: srv.URL}
	s.begin()
	for i := range 1000 {
		// Queue 20 µs; handled 3 ms of which 2 ms (or 40 ms for 1 in 50) waiting for fsync.
		wait := 2 * time.Millisecond
		if i%50 == 0 {
			wait = 40 * time.Millisecond
		}
		m.ObserveRequest(produce, metrics.RequestTimes{Queue: 20 * time.Microsecond, Handled: wait + time.Millisecond, Waited: wait})
		m.ObserveResponse(produce, 0, 30*time.Microsecond)
		m.ObserveReplicationWait(300 * time.Microsecond)
	}
	r := &Report{}
	s.end(r)
	if len(r.Stages) != len(produceStages) {
		t.Fatalf("stages %+v, notes %q", r.Stages, r.Notes)
	}
	by := map[string]Stage{}
	for _, st := range r.Stages {
		by[st.Stage] = st
	}
	if q := by["queue"]; q.Count != 1000 || q.P50 < 0.01 || q.P50 > 0.025 || q.P99 > 0.025 {
		t.Errorf("queue: %+v (the 5 s requests before the window must not count)", q)
	}
	if f := by["fsync wait"]; f.Count != 1000 || f.P50 < 1 || f.P50 > 2.5 || f.P99 < 25 || f.P99 > 50 {
		t.Errorf("fsync wait: %+v", f)
	}
	if a := by["append"]; a.Count != 1000 || a.P50 < 0.5 || a.P50 > 1 {
		t.Errorf("append: %+v", a)
	}
	if rw := by["replication wait"]; rw.Count != 1000 || rw.P50 < 0.25 || rw.P50 > 0.5 {
		t.Errorf("replication wait: %+v", rw)
	}
	if fw := by["fetch wake"]; fw.Count != 0 || fw.Metric != metrics.FetchWake {
		t.Errorf("fetch wake (nothing woken in the window): %+v", fw)
	}
	if sd := by["send"]; sd.Count != 1000 || sd.P99 > 0.05 {
		t.Errorf("send: %+v", sd)
	}
	if !strings.Contains(r.Markdown(), "| fsync wait | 1000 |") {
		t.Errorf("report lacks the breakdown:\n%s", r.Markdown())
	}
	gone := httptest.NewServer(m.Handler())
	gone.Close()
	bad := &stageScraper{url: gone.URL}
	bad.begin()
	r = &Report{}
	bad.end(r)
	if len(r.Stages) != 0 || len(r.Notes) != 1 {
		t.Fatalf("a failed scrape is a note: %+v", r)
	}
}

// TestStagesSummedOverNodes scrapes two registries as one cluster (comma-separated URLs):
// the leader's commit times and the follower's fetches add up across the nodes.
func TestStagesSummedOverNodes(t *testing.T) {
	leader, follower := metrics.New(), metrics.New()
	a, b := httptest.NewServer(leader.Handler()), httptest.NewServer(follower.Handler())
	defer a.Close()
	defer b.Close()
	s := &stageScraper{url: a.URL + "," + b.URL}
	s.begin()
	for range 100 {
		leader.Committed(3 * time.Millisecond)
		follower.Committed(3 * time.Millisecond)
		follower.ReplicaFetched(1<<20, 2*time.Millisecond)
	}
	follower.ReplicaFetched(0, 500*time.Millisecond)
	r := &Report{}
	s.end(r)
	by := map[string]Stage{}
	for _, st := range r.Stages {
		by[st.Stage] = st
	}
	if c := by["replication commit"]; c.Count != 200 || c.P50 < 2.5 || c.P50 > 5 {
		t.Errorf("replication commit over both nodes: %+v (notes %q)", c, r.Notes)
	}
	if f := by["follower fetch, data"]; f.Count != 100 || f.P50 < 1 || f.P50 > 2.5 {
		t.Errorf("follower fetch, data: %+v", f)
	}
	if f := by["follower fetch, empty"]; f.Count != 1 || f.P99 < 250 || f.P99 > 500 {
		t.Errorf("follower fetch, empty: %+v", f)
	}
}

func TestBucketQuantile(t *testing.T) {
	b := bucketSet{upper: []float64{1, 2, 4, math.Inf(1)}, cum: []uint64{0, 50, 100, 100}}
	if q := b.quantile(0.5); q != 2 {
		t.Errorf("p50 %v", q)
	}
	if q := b.quantile(0.75); q != 3 {
		t.Errorf("p75 %v, want 3 (halfway through the 2–4 bucket)", q)
	}
	b.cum = []uint64{0, 0, 0, 10}
	if q := b.quantile(0.99); q != 4 {
		t.Errorf("in +Inf: the highest finite bound, got %v", q)
	}
	prev := bucketSet{upper: b.upper, cum: []uint64{0, 0, 0, 4}}
	if n := b.since(&prev).count(); n != 6 {
		t.Errorf("window count %d", n)
	}
}

func TestDiskSync(t *testing.T) {
	d := measureDiskSync(t.TempDir(), 4<<10, 200*time.Millisecond)
	if d.Err != "" || d.Writes == 0 || d.PerSec <= 0 || d.P50Ms <= 0 || d.MaxMs < d.P50Ms || d.WriteKiB != 4 {
		t.Fatalf("%+v", d)
	}
	if line := diskSyncLine([]DiskSync{d}); !strings.HasPrefix(line, "4 KiB writes ") {
		t.Fatalf("%q", line)
	}
	m := Machine{DiskSync: []DiskSync{d}}
	if !strings.Contains(m.describe(), "fdatasync") {
		t.Fatal(m.describe())
	}
}

// TestQuietCheck probes the real machine once: the numbers must be possible.
func TestQuietCheck(t *testing.T) {
	p := quietCheck(context.Background(), DefaultBusyCores, 0, nil)
	cores := float64(runtime.NumCPU())
	if p.OtherCores < 0 || p.OtherCores > cores+0.5 || p.AvailableCores < 0 || p.AvailableCores > cores+0.5 || p.WaitedS < 0.9 {
		t.Fatalf("%+v", p)
	}
	if p.Quiet != (p.OtherCores <= DefaultBusyCores) {
		t.Fatalf("quiet %v with %.2f other cores", p.Quiet, p.OtherCores)
	}
	if !p.Quiet && !strings.Contains(p.note(DefaultBusyCores), "NOT quiet") {
		t.Fatal(p.note(DefaultBusyCores))
	}
}
