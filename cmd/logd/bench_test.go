package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBenchVerbs drives `logd bench` as a user would: list, usage errors, and a two-second
// run of a built-in workload against a `logd serve` child whose pid it is given, checking
// report.json's fields, report.md and the plots.
func TestBenchVerbs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for seconds")
	}
	bin := buildLogd(t)
	r := ok(t, bin, "", "bench", "list")
	for _, name := range []string{"max-throughput", "iot-100b", "fixed-rate-latency", "many-partitions", "many-connections", "catch-up", "e2e-latency"} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("bench list lacks %s:\n%s", name, r.stdout)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "run", "--workload", "max-throughput"}, "--out"},
		{[]string{"bench", "run", "--workload", "nope", "--out", t.TempDir()}, "no built-in workload"},
		{[]string{"bench", "run", "--bootstrap", "nohost", "--out", t.TempDir()}, "--bootstrap"},
	} {
		oneLineError(t, runLogd(t, bin, "", c.args...), 2, c.want, c.args)
	}

	ops := freePort(t)
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--http", ops)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- regexp.MustCompile(`listen=(\S+)`).FindStringSubmatch(sc.Text())[1]
			}
		}
	}()
	var addr string
	select {
	case addr = <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line from logd serve")
	}
	out := filepath.Join(t.TempDir(), "report")
	r = ok(t, bin, "", "bench", "run", "--bootstrap", addr, "--workload", "e2e-latency", "--duration", "2s", "--warmup", "500ms",
		"--rate", "5", "--out", out, "--broker-pid", strconv.Itoa(cmd.Process.Pid), "--broker-name", "logd",
		"--metrics-url", "http://"+ops+"/metrics", "--quiet-wait", "0s")
	if !strings.Contains(r.stdout, "limited by:") || !strings.Contains(r.stderr, "produce") {
		t.Errorf("stdout %q, progress %q", r.stdout, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Workload string `json:"workload"`
		Produce  struct {
			RecordsPerSec float64            `json:"records_per_sec"`
			MBps          float64            `json:"mb_per_sec"`
			Latency       map[string]float64 `json:"latency_ms"`
		} `json:"produce"`
		E2E    map[string]float64 `json:"e2e_latency_ms"`
		Stages []struct {
			Stage string  `json:"stage"`
			Count int     `json:"count"`
			P50   float64 `json:"p50_ms"`
		} `json:"stages"`
		Generator struct {
			InFlight int `json:"in_flight"`
		} `json:"generator"`
		MachineCPU struct {
			BusyLimit float64 `json:"busy_limit_cores"`
		} `json:"machine_cpu"`
		Broker struct {
			CPUPerGB float64 `json:"cpu_seconds_per_gb"`
			PeakRSS  float64 `json:"peak_rss_mib"`
		} `json:"broker"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Workload != "e2e-latency" || rep.Produce.RecordsPerSec <= 0 || rep.Produce.MBps < 4 || rep.Produce.MBps > 6 {
		t.Errorf("report: %+v", rep)
	}
	for _, q := range []string{"p50", "p99", "p999", "max"} {
		if rep.Produce.Latency[q] <= 0 || rep.E2E[q] <= 0 {
			t.Errorf("%s: produce %v e2e %v", q, rep.Produce.Latency[q], rep.E2E[q])
		}
	}
	if rep.Broker.CPUPerGB <= 0 || rep.Broker.PeakRSS <= 0 {
		t.Errorf("broker cost: %+v", rep.Broker)
	}
	// The breakdown from logd's metrics: every produce of the measured phase passed the queue
	// and waited for fsync (acks=all); the window was sized from the rate (not the workload's 16).
	stages := map[string]int{}
	for _, s := range rep.Stages {
		stages[s.Stage] = s.Count
	}
	if stages["queue"] == 0 || stages["fsync wait"] == 0 || stages["send"] == 0 {
		t.Errorf("latency breakdown: %+v", rep.Stages)
	}
	if rep.Generator.InFlight <= 0 || rep.Generator.InFlight == 16 || rep.MachineCPU.BusyLimit != 0.25 {
		t.Errorf("generator %+v, machine %+v", rep.Generator, rep.MachineCPU)
	}
	for _, f := range []string{"report.md", "throughput.svg", "latency.svg", "e2e-latency.svg"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestBenchRunRoughEdges runs `logd bench run` as a new user would, without --broker-pid, on
// a workload without consumers: the summary shows only the produce side, the broker's pid
// is found by its port (and is the `logd serve` child), the last window is never a
// collapse, plots come as PNG too, and the run's topic is deleted at the end — or, with
// --keep-topic, left with the command that removes it.
func TestBenchRunRoughEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for seconds")
	}
	bin := buildLogd(t)
	addr := startServe(t, bin)
	run := func(extra ...string) (result, string) {
		out := filepath.Join(t.TempDir(), "report")
		args := append([]string{"bench", "run", "--bootstrap", addr, "--workload", "max-throughput", "--rate", "5",
			"--duration", "2s", "--warmup", "-1s", "--window", "1s", "--out", out, "--quiet-wait", "0s"}, extra...)
		return ok(t, bin, "", args...), out
	}
	topics := func() string { return ok(t, bin, "", "topic", "list", "--bootstrap", addr, "-o", "json").stdout }

	r, out := run()
	if !strings.HasPrefix(r.stdout, "max-throughput: produce ") || strings.Contains(r.stdout, "consume") || strings.Contains(r.stdout, "e2e") {
		t.Errorf("summary of a workload without consumers:\n%s", r.stdout)
	}
	m := regexp.MustCompile(`broker pid: (\d+) \(the process listening on ` + regexp.QuoteMeta(addr) + `\)`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no broker pid found by port:\n%s", r.stdout)
	}
	if cmdline, err := os.ReadFile("/proc/" + m[1] + "/cmdline"); err != nil || !strings.Contains(string(cmdline), "serve") {
		t.Errorf("pid %s is not the logd serve child: %q %v", m[1], cmdline, err)
	}
	deleted := regexp.MustCompile(`deleted topics: (bench-max-throughput-\d+)`).FindStringSubmatch(r.stdout)
	if deleted == nil {
		t.Fatalf("no deleted topic said:\n%s", r.stdout)
	}
	if list := topics(); strings.Contains(list, deleted[1]) {
		t.Errorf("topic %s still listed after the run: %s", deleted[1], list)
	}
	var rep struct {
		Broker struct {
			CPUPerGB float64 `json:"cpu_seconds_per_gb"`
		} `json:"broker"`
		Windows []struct {
			StartS  float64 `json:"start_s"`
			EndS    float64 `json:"end_s"`
			Produce float64 `json:"produce_mb_per_sec"`
		} `json:"windows"`
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	decode(t, string(data), &rep)
	if rep.Broker.CPUPerGB <= 0 || len(rep.Windows) == 0 {
		t.Errorf("broker cost %+v, windows %+v", rep.Broker, rep.Windows)
	}
	// Every window is at least half a window long and carries the producers' rate: a partial
	// one is rated over its real length, the time after the producers is none of them.
	for _, w := range rep.Windows {
		if w.EndS-w.StartS < 0.5 || w.Produce <= 0 {
			t.Errorf("window %+v: shorter than half a window or without produce", w)
		}
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if last := lines[len(lines)-1]; regexp.MustCompile(`produce +0\.0 MB/s`).MatchString(last) {
		t.Errorf("last progress line shows a collapse: %q", last)
	}
	for _, f := range []string{"throughput.png", "latency.png"} {
		img, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || !bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("%s: not a PNG (%v)", f, err)
		}
	}

	r, _ = run("--keep-topic", "--broker-pid", m[1])
	left := regexp.MustCompile(`left topics on the broker: (\S+) \(remove them: (logd topic delete .*)\)`).FindStringSubmatch(r.stdout)
	if left == nil || !strings.Contains(r.stdout, "broker pid: "+m[1]+" (given)") {
		t.Fatalf("--keep-topic run does not say what it left, or which pid it measured:\n%s", r.stdout)
	}
	if !strings.Contains(topics(), left[1]) {
		t.Fatalf("kept topic %s is not listed", left[1])
	}
	ok(t, bin, "", strings.Fields(left[2])[1:]...)
	if strings.Contains(topics(), left[1]) {
		t.Errorf("the printed command %q did not remove %s", left[2], left[1])
	}
}
