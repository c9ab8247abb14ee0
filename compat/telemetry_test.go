//go:build compat

package compat

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// clientMetricsTool runs kafka-client-metrics against the broker at addr.
func clientMetricsTool(s *S, addr string, args ...string) string {
	s.Helper()
	return kafkaToolAt(s, addr, "kafka-client-metrics", "org.apache.kafka.tools.ClientMetricsCommand", args...)
}

// TestClientTelemetry: KIP-714 end to end. kafka-client-metrics sets a subscription
// (--alter --metrics org.apache.kafka.producer. --interval 1000 --match client_id=…), --list
// and --describe show it; the real Java producer (enable.metrics.push on by default) asks for
// it and pushes its metrics, which appear on logd's Prometheus /metrics labelled with the
// producer's client instance id; --delete removes the subscription and --list no longer lists
// it (go test -tags compat -run TestClientTelemetry ./compat).
func TestClientTelemetry(t *testing.T) {
	scenario(t, "java", "client-telemetry-prometheus", 240*time.Second, func(s *S) {
		port, err := freePort()
		if err != nil {
			s.Fatalf("free port: %v", err)
		}
		httpAddr := fmt.Sprintf("127.0.0.1:%d", port)
		b, err := startBrokerArgs(filepath.Join(tmpDir, "telemetry"), "", "broker-telemetry.log", "--http", httpAddr)
		if err != nil {
			s.Fatalf("logd with --http: %v", err)
		}
		defer b.stop()

		out := clientMetricsTool(s, b.addr, "--alter", "--name", "prod-metrics", "--metrics", "org.apache.kafka.producer.",
			"--interval", "1000", "--match", "client_id=telemetry-.*")
		if !strings.Contains(out, "Altered client metrics config for prod-metrics") {
			s.Errorf("kafka-client-metrics --alter: %q", lastLines(out, 5))
		}
		if out = clientMetricsTool(s, b.addr, "--list"); !regexp.MustCompile(`(?m)^prod-metrics$`).MatchString(out) {
			s.Errorf("kafka-client-metrics --list does not list prod-metrics: %q", lastLines(out, 5))
		}
		out = clientMetricsTool(s, b.addr, "--describe", "--name", "prod-metrics")
		for _, want := range []string{"metrics=org.apache.kafka.producer.", "interval.ms=1000", "match=client_id=telemetry-.*"} {
			if !strings.Contains(out, want) {
				s.Errorf("kafka-client-metrics --describe: no %q in %q", want, lastLines(out, 8))
			}
		}

		argv, err := javaArgv()
		if err != nil {
			s.Fatalf("java driver: %v", err)
		}
		cmd := exec.CommandContext(s.ctx, argv[0], append(argv[1:], b.addr, "telemetry", "telemetry-compat", "15")...)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			s.Fatalf("java driver: %v", err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			s.Fatalf("java driver: %v", err)
		}
		lines := bufio.NewScanner(stdout)
		var id string
		for id == "" && lines.Scan() {
			if l := lines.Text(); strings.HasPrefix(l, "ID ") {
				id = strings.TrimPrefix(l, "ID ")
			} else if strings.HasPrefix(l, "ERR") {
				s.Errorf("java producer: %s", l)
			}
		}
		if id == "" {
			cmd.Wait()
			s.Fatalf("the Java producer printed no client instance id; stderr: %s", lastLines(stderr.String(), 5))
		}

		// The producer pushes every second (with jitter); its record.send.total must appear.
		series := regexp.MustCompile(`(?m)^org_apache_kafka_producer_record_send_total\{[^}]*client_instance_id="` + regexp.QuoteMeta(id) + `"[^}]*\} ([0-9.e+]+)$`)
		var scrape string
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) && s.ctx.Err() == nil {
			scrape = scrapeMetrics(httpAddr)
			if m := series.FindStringSubmatch(scrape); m != nil && m[1] != "0" {
				s.Logf("logd exports the producer's metrics: %s", m[0])
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if !series.MatchString(scrape) {
			var seen []string
			for _, l := range strings.Split(scrape, "\n") {
				if strings.HasPrefix(l, "org_apache_kafka") || strings.HasPrefix(l, "logd_client_telemetry") {
					seen = append(seen, l)
				}
			}
			s.Errorf("no org_apache_kafka_producer_record_send_total series for client %s on /metrics within 60s; client series seen: %q",
				id, lastLines(strings.Join(seen, "\n"), 10))
		}
		rest := ""
		for lines.Scan() {
			rest += lines.Text() + "\n"
		}
		if err := cmd.Wait(); err != nil || !strings.Contains(rest, "DONE") {
			s.Errorf("java producer: %v; stdout %q; stderr %s", err, lastLines(rest, 5), lastLines(stderr.String(), 5))
		}

		if out = clientMetricsTool(s, b.addr, "--delete", "--name", "prod-metrics"); !strings.Contains(out, "Deleted client metrics config for prod-metrics") {
			s.Errorf("kafka-client-metrics --delete: %q", lastLines(out, 5))
		}
		if out = clientMetricsTool(s, b.addr, "--list"); strings.Contains(out, "prod-metrics") {
			s.Errorf("kafka-client-metrics --list still lists prod-metrics after --delete: %q", lastLines(out, 5))
		}
		if out = clientMetricsTool(s, b.addr, "--describe", "--name", "prod-metrics"); strings.Contains(out, "interval.ms") {
			s.Errorf("kafka-client-metrics --describe after --delete: %q", lastLines(out, 5))
		}
	})
}

// scrapeMetrics reads logd's Prometheus /metrics ("" on any error: the caller polls).
func scrapeMetrics(httpAddr string) string {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
