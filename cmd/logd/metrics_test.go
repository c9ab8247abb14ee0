package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"
)

// freePort returns a loopback address with a port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeHTTP runs the binary with --http, produces and consumes with franz-go, then scrapes
// /metrics as Prometheus would and checks the probes and pprof.
func TestServeHTTP(t *testing.T) {
	bin := buildLogd(t)

	// A bad --http address is a usage error: one line, exit 2.
	for _, bad := range []string{"nonsense", "127.0.0.1:99999", "127.0.0.1"} {
		out, err := exec.Command(bin, "serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--http", bad).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if !ok || ee.ExitCode() != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "logd: ") || !strings.Contains(lines[0], "--http") {
			t.Errorf("--http %q: exit %v, output %q; want exit 2 and one line naming --http", bad, err, out)
		}
	}

	kafka, ops := freePort(t), freePort(t)
	data := filepath.Join(t.TempDir(), "data")
	cmd := exec.Command(bin, "serve", "--data-dir", data, "--listen", kafka, "--http", ops)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.Contains(line, "http="+ops) {
			t.Fatalf("ready line does not name the http address: %s", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no ready line")
	}
	base := "http://" + ops
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
	}
	if code, body := get("/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: %d", code)
	}
	// The REST proxy (restproxy's tests cover its API) answers on the same port.
	if code, body := get("/v3/clusters"); code != 200 || !strings.Contains(body, `"kind":"KafkaClusterList"`) {
		t.Errorf("GET /v3/clusters: %d %s", code, body)
	}

	const topic, n = "metrics-test", 50
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond)) // caught-up fetches park, and return soon
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "record %d", i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		got += fs.NumRecords()
	}
	time.Sleep(time.Second) // caught up: at least one fetch parks for its 200 ms and answers

	code, body := get("/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	sample := func(family, label, val string) float64 {
		t.Helper()
		f := fams[family]
		if f == nil {
			t.Fatalf("/metrics has no %s", family)
		}
		for _, m := range f.Metric {
			if label != "" && !hasLabel(m, label, val) {
				continue
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("/metrics has no %s{%s=%q}", family, label, val)
		return 0
	}
	for _, c := range []struct {
		family, label, val string
		min                float64
	}{
		{"logd_requests_total", "api", "Produce", 1},
		{"logd_requests_total", "api", "Fetch", 1},
		{"logd_requests_total", "api", "Metadata", 1},
		{"logd_request_duration_seconds", "api", "Produce", 1},
		// the time split: every stage of every answered request is observed
		{"logd_request_queue_seconds", "api", "Produce", 1},
		{"logd_request_queue_seconds", "api", "Fetch", 1},
		{"logd_request_local_seconds", "api", "Produce", 1},
		{"logd_request_local_seconds", "api", "Metadata", 1},
		{"logd_response_queue_seconds", "api", "Produce", 1},
		{"logd_response_send_seconds", "api", "Produce", 1},
		{"logd_response_send_seconds", "api", "Fetch", 1},
		{"logd_produce_fsync_wait_seconds", "", "", 1}, // acks=all (the default) waits for fsync
		{"logd_fetch_wait_seconds", "", "", 1},
		{"logd_topic_bytes_in_total", "topic", topic, 1},
		{"logd_topic_messages_in_total", "topic", topic, n},
		{"logd_topic_bytes_out_total", "topic", topic, 1},
		{"logd_log_flush_rounds_total", "", "", 1}, // acks=all waits for a group commit
		{"logd_log_flush_duration_seconds", "", "", 1},
		{"logd_network_connections", "", "", 1},
		{"logd_network_bytes_in_total", "", "", 1},
		{"logd_partitions", "", "", 1},
	} {
		if got := sample(c.family, c.label, c.val); got < c.min {
			t.Errorf("%s{%s=%q} = %v, want >= %v", c.family, c.label, c.val, got, c.min)
		}
	}
	// Each produce was queued, handled and sent once; the requests counted and the stages
	// observed agree.
	produced := sample("logd_requests_total", "api", "Produce")
	for _, fam := range []string{"logd_request_queue_seconds", "logd_request_local_seconds", "logd_request_duration_seconds"} {
		if got := sample(fam, "api", "Produce"); got != produced {
			t.Errorf("%s{api=Produce} count %v, want %v (logd_requests_total)", fam, got, produced)
		}
	}
	if got := sample("logd_response_send_seconds", "api", "Produce"); got > produced {
		t.Errorf("logd_response_send_seconds{api=Produce} count %v > %v requests", got, produced)
	}
	if got := sample("logd_log_dir_offline", "", ""); got != 0 {
		t.Errorf("logd_log_dir_offline = %v", got)
	}

	cl.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := hc.Get(base + "/healthz"); err == nil {
		t.Error("http server still answers after exit")
	}
}

func hasLabel(m *dto.Metric, name, val string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == val {
			return true
		}
	}
	return false
}

// startServeHTTP runs `logd serve --http` on free ports until the test ends (then SIGTERM) and
// returns its Kafka and HTTP addresses once it is ready.
func startServeHTTP(t *testing.T, bin string) (kafka, ops string) {
	t.Helper()
	kafka, ops = freePort(t), freePort(t)
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(t.TempDir(), "data"), "--listen", kafka, "--http", ops)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("no ready line")
	}
	return kafka, ops
}

// TestGroupLagMetric: after a group commits part of a partition, /metrics exports
// logd_group_lag for it, and it agrees with `logd group describe`.
func TestGroupLagMetric(t *testing.T) {
	bin := buildLogd(t)
	kafka, ops := startServeHTTP(t, bin)
	if missing := groupAPIsMissing(t, kafka); len(missing) > 0 {
		t.Skipf("logd does not serve %s yet: no groups, no lag", strings.Join(missing, ", "))
	}
	B := []string{"--bootstrap", kafka}
	ok(t, bin, "", append([]string{"topic", "create", "lagt"}, B...)...)
	ok(t, bin, strings.Repeat("x\n", 30), append([]string{"produce", "lagt"}, B...)...)
	ok(t, bin, "", append([]string{"consume", "lagt", "--group", "lg", "--from-beginning", "-n", "10"}, B...)...)
	var gi groupTestInfo
	decode(t, ok(t, bin, "", append([]string{"group", "describe", "lg", "-o", "json"}, B...)...).stdout, &gi)

	resp, err := http.Get("http://" + ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	var lag float64
	found := false
	for _, m := range fams["logd_group_lag"].GetMetric() {
		if hasLabel(m, "group", "lg") && hasLabel(m, "topic", "lagt") && hasLabel(m, "partition", "0") {
			lag, found = m.Gauge.GetValue(), true
		}
	}
	if !found || lag != 20 || gi.TotalLag != 20 {
		t.Errorf("logd_group_lag{group=lg,topic=lagt,partition=0} = %v (found %v), group describe total lag %d; want 20 and 20", lag, found, gi.TotalLag)
	}
}
