package bench

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"image"
	"image/png"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/perf/loadgen"
)

// wellFormed fails unless s parses as XML to the end.
func wellFormed(t *testing.T, name, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: not well-formed SVG: %v", name, err)
		}
	}
}

func TestChartSVG(t *testing.T) {
	for name, c := range map[string]Chart{
		"linear": {Title: "a <b> & c", XLabel: "s", YLabel: "MB/s", Series: []Series{
			{Name: "x", Points: [][2]float64{{0, 1}, {1, 250}, {2, 260}}}, {Name: "y", Dashed: true, Points: [][2]float64{{0, 5}}}}},
		"log":       {LogY: true, Series: []Series{{Name: "p99", Points: [][2]float64{{0, 0.05}, {1, 0}, {2, 1234}}}}},
		"empty":     {Title: "nothing"},
		"empty log": {Title: "nothing", LogY: true, Series: []Series{{Name: "p99"}}},
	} {
		svg := c.SVG()
		wellFormed(t, name, svg)
		if name == "log" && !strings.Contains(svg, ">0.01<") || name == "log" && !strings.Contains(svg, ">10k<") {
			t.Errorf("log chart lacks decade ticks 0.01 … 10k")
		}
		if strings.HasPrefix(name, "empty") && !strings.Contains(svg, "no data") {
			t.Error("empty chart does not say so")
		}
	}
	for raw, want := range map[float64]float64{0.3: 0.5, 7: 10, 1: 1, 42: 50, 0: 1} {
		if got := niceStep(raw); got != want {
			t.Errorf("niceStep(%v) = %v, want %v", raw, got, want)
		}
	}
}

// TestChartPNG renders the charts TestChartSVG renders as PNG: each decodes at the SVG's
// size, a chart with data shows its first series' color and black text, and charts with
// nothing to show still render.
func TestChartPNG(t *testing.T) {
	for name, c := range map[string]Chart{
		"linear": {Title: "a <b> & c", XLabel: "s", YLabel: "MB/s", Series: []Series{
			{Name: "x", Points: [][2]float64{{0, 1}, {1, 250}, {2, 260}}}, {Name: "y", Dashed: true, Points: [][2]float64{{0, 5}}}}},
		"log":       {LogY: true, Series: []Series{{Name: "p99", Color: "#123456", Points: [][2]float64{{0, 0.05}, {1, 0}, {2, 1234}}}}},
		"empty":     {Title: "nothing"},
		"empty log": {Title: "nothing", LogY: true, Series: []Series{{Name: "p99"}}},
	} {
		data, err := c.PNG()
		if err != nil {
			t.Fatal(name, err)
		}
		img := decodePNG(t, name, data)
		if len(c.Series) == 0 || len(c.Series[0].Points) == 0 {
			continue
		}
		want := rgb(c.Series[0].color(0))
		var series, black int
		for y := range chartH {
			for x := range chartW {
				switch r, g, b, _ := img.At(x, y).RGBA(); {
				case uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B:
					series++
				case r == 0 && g == 0 && b == 0:
					black++
				}
			}
		}
		if series < 100 || black < 100 {
			t.Errorf("%s: %d pixels of the series' color %v, %d black (text): want both drawn", name, series, want, black)
		}
	}
}

// decodePNG decodes a chart's PNG and checks its size.
func decodePNG(t *testing.T, name string, data []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
		t.Fatalf("%s: PNG is %v, want %d×%d", name, b, chartW, chartH)
	}
	return img
}

func TestPercentiles(t *testing.T) {
	h := loadgen.NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	p := percentiles(h)
	// 3 significant digits: never below the true value, at most 0.1% above.
	near := func(got, want float64) bool { return got >= want && got <= want*1.001 }
	if p.Count != 10000 || !near(p.P50, 5) || !near(p.P99, 9.9) || !near(p.P9999, 9.999) || p.Max != 10 {
		t.Fatalf("%+v", p)
	}
}

// TestWorkloadFile: YAML files load with defaults, unknown fields and bad values are errors,
// and every built-in normalizes.
func TestWorkloadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	w, err := LoadWorkload(write("mine.yaml", "partitions: 3\nproducer_rate_mb_per_sec: 5\nduration: 90s\nwarmup: 2\nacks: 1\nbacklog_mb: 10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "mine" || w.Partitions != 3 || w.MessageSize != 1024 || time.Duration(w.Duration) != 90*time.Second ||
		time.Duration(w.Warmup) != 2*time.Second || w.AcksValue() != 1 || !w.CatchUp() || w.Consumers != 2 {
		t.Fatalf("%+v", w)
	}
	for _, bad := range []string{"partitons: 3\n", "acks: 2\n", "compression: brotli\n", "duration: soon\n", "topics: 4\nproducers: 2\n"} {
		if _, err := LoadWorkload(write("bad.yaml", bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := LoadWorkload("no-such-workload"); err == nil || !strings.Contains(err.Error(), "max-throughput") {
		t.Errorf("unknown name: %v", err)
	}
	for _, b := range Builtins {
		if _, err := LoadWorkload(b.Name); err != nil {
			t.Error(err)
		}
	}
	if _, err := LoadWorkload("workloads/example.yaml"); err != nil {
		t.Errorf("example: %v", err)
	}
}

// TestReportFiles: a report writes report.json with the documented fields, report.md and
// its plots.
func TestReportFiles(t *testing.T) {
	w, _ := LoadWorkload("e2e-latency")
	r := &Report{Workload: w.Name, Spec: w, Broker: BrokerInfo{Name: "logd", PIDs: []int{1}, Config: []string{"logd serve"}},
		Machine: fingerprint(t.TempDir()), WindowS: 10}
	r.Produce.MBps, r.Produce.TargetMBps = 19.9, 20
	r.Produce.Latency = Percentiles{Count: 10, P50: 1, P99: 2, P999: 3, Max: 4}
	r.E2E = Percentiles{Count: 100, P50: 1.5, P99: 2.5, P999: 3.5, Max: 4.5}
	for i := range 3 {
		r.Series = append(r.Series, SeriesPoint{T: float64(i + 1), ProduceMBps: 20, ConsumeMBps: 20, Latency: r.Produce.Latency, E2E: r.E2E})
	}
	r.Windows = []Window{{StartS: 0, EndS: 3, ProduceMBps: 20, Latency: r.Produce.Latency, E2E: r.E2E}}
	r.conclude(w)
	if !strings.HasPrefix(r.LimitedBy, "offered load") {
		t.Errorf("limited by %q", r.LimitedBy)
	}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	checkReportDir(t, dir, true)
	back, err := ReadReport(filepath.Join(dir, "report.json"))
	if err != nil || back.E2E.P99 != 2.5 || time.Duration(back.Spec.Duration) != time.Minute {
		t.Fatalf("read back: %v %+v", err, back)
	}
}

// TestConcludeWindowFull: a fixed rate met on average whose tail is mostly send lag is
// charged to the in-flight window, with the round trip that fills it.
func TestConcludeWindowFull(t *testing.T) {
	w, _ := LoadWorkload("fixed-rate-latency")
	w.Duration = Duration(20 * time.Second)
	r := &Report{Workload: w.Name, Spec: w}
	r.Produce.MBps = w.RateMBps
	r.Produce.Latency = Percentiles{Count: 21384, P50: 6, P99: 150}
	r.Produce.SendLag = Percentiles{Count: 21384, P50: 0.03, P99: 128}
	r.conclude(w)
	if !strings.HasPrefix(r.LimitedBy, "in-flight window") || !strings.Contains(r.LimitedBy, "exceeds 22 ms") {
		t.Errorf("limited by %q", r.LimitedBy)
	}
	r.Produce.SendLag.P99 = 2
	r.conclude(w)
	if !strings.HasPrefix(r.LimitedBy, "offered load") {
		t.Errorf("limited by %q", r.LimitedBy)
	}
}

// checkReportDir checks what `logd bench run` promises in DIR.
func checkReportDir(t *testing.T, dir string, e2e bool) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			obj, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("report.json: %s: %s is not an object", path, k)
			}
			if v, ok = obj[k]; !ok {
				t.Fatalf("report.json lacks %s", path)
			}
		}
		return v
	}
	get("workload")
	for _, f := range []string{"produce.records_per_sec", "produce.mb_per_sec", "produce.latency_ms.p50", "produce.latency_ms.p99",
		"produce.latency_ms.p999", "produce.latency_ms.max", "e2e_latency_ms.p50", "e2e_latency_ms.p99", "e2e_latency_ms.p999",
		"e2e_latency_ms.max", "machine.cpu", "machine.cores", "machine.kernel", "machine.disk", "limited_by"} {
		if _, ok := get(f).(any); !ok {
			t.Fatalf("%s missing", f)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(md), "Limited by") {
		t.Fatalf("report.md: %v", err)
	}
	plots := []string{"throughput.svg", "latency.svg"}
	if e2e {
		plots = append(plots, "e2e-latency.svg")
	}
	for _, p := range plots {
		svg, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		wellFormed(t, p, string(svg))
		img, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(p, ".svg")+".png"))
		if err != nil {
			t.Fatal(err)
		}
		decodePNG(t, p, img)
	}
	return m
}

// compareOf builds a comparison from per-run reports as Compare does (rows, then goals).
func compareOf(reports map[string]map[string][]*Report) *Comparison {
	c := &Comparison{Brokers: map[string][]string{}, Runs: 3, Duration: Duration(time.Minute), reports: reports, BusyLimitCores: DefaultBusyCores, SendLagBoundMs: 10}
	for _, byBroker := range reports {
		for b := range byBroker {
			c.Brokers[b] = nil
		}
	}
	ws := slices.Sorted(maps.Keys(reports))
	for _, w := range ws {
		for _, b := range c.brokerNames() {
			if rs := reports[w][b]; len(rs) > 0 {
				c.Rows = append(c.Rows, summarizeRuns(w, b, rs))
			}
		}
	}
	c.goals()
	return c
}

func TestGoalsAndTable(t *testing.T) {
	mk := func(run int, mbps, e2e float64) *Report {
		r := &Report{Run: run}
		r.Produce.MBps, r.E2E.P99 = mbps, e2e
		return r
	}
	c := compareOf(map[string]map[string][]*Report{
		"max-throughput": {BrokerKafka: {mk(1, 100, 0)}, BrokerLogdFsync: {mk(1, 160, 0)}},
		"e2e-latency":    {BrokerKafka: {mk(1, 0, 10)}, BrokerLogdFsync: {mk(1, 0, 4)}},
	})
	if len(c.Goals) != 2 || !c.Goals[0].Met || c.Goals[0].Ratio != 1.6 || c.Goals[1].Met || c.Goals[1].Ratio != 0.4 {
		t.Fatalf("%+v", c.Goals)
	}
	tab := c.Table()
	if !strings.Contains(tab, "| max-throughput | logd-fsync | 160.0") || !strings.Contains(tab, "| 1.60 |") {
		t.Fatalf("table:\n%s", tab)
	}
	if median([]float64{3, 1, 2}) != 2 || median([]float64{4, 1, 2, 3}) != 2.5 {
		t.Fatal("median")
	}
}

// TestRunOptionsCarryCompareOptions: every run of a comparison gets the comparison's
// duration, warm-up and backlog and the broker's replication factor (a comment once swallowed
// them, and logd-rf3 ran topics of replication factor 1).
func TestRunOptionsCarryCompareOptions(t *testing.T) {
	o := CompareOptions{Duration: 20 * time.Second, Warmup: 10 * time.Second, BacklogMB: 64, Out: "out"}
	p := &process{addr: "127.0.0.1:1", replication: 3, metricsURL: "http://a/metrics,http://b/metrics"}
	w, _ := LoadWorkload("max-throughput")
	ro := o.runOptions(p, BrokerLogdRF3, w, "dir", 2)
	if ro.Duration != o.Duration || ro.Warmup != o.Warmup || ro.BacklogMB != 64 || ro.ReplicationFactor != 3 ||
		ro.MetricsURL != p.metricsURL || !ro.KeepTopics || ro.Out != filepath.Join("out", BrokerLogdRF3, w.Name, "run-2") {
		t.Fatalf("run options %+v", ro)
	}
}
