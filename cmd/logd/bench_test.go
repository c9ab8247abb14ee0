package main

import (
	"bufio"
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
