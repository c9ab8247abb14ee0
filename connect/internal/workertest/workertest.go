// Package workertest runs `logd connect distributed` workers as child processes for the
// tests of connect and its connectors (real processes, so a test can SIGKILL one), and waits
// for conditions with deadlines instead of sleeping.
package workertest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logd/logd/connect"
)

// Worker is one `logd connect distributed` process.
type Worker struct {
	URL  string // its REST API
	ID   string // its worker id, 127.0.0.1:port, as statuses name it
	Cmd  *exec.Cmd
	Done chan struct{} // closed when the process has exited
}

// Start runs a distributed worker of group (its topics are <group>-configs, -offsets,
// -status) with the binary bin against brokers, with test timings (200 ms offset flushes,
// 6 s session timeouts) and string converters; props override or add worker properties.
// n numbers the worker's files in dir. The worker is stopped (SIGTERM, then SIGKILL) at the
// end of the test, and its log tail printed if the test failed.
func Start(t testing.TB, bin string, brokers []string, dir, group string, n int, props map[string]string) *Worker {
	t.Helper()
	return start(t, brokers, dir, group, n, props, 30*time.Second, func(path string) *exec.Cmd {
		return exec.Command(bin, "connect", "distributed", path)
	})
}

// StartJava runs Apache Kafka Connect's distributed worker (ConnectDistributed) from the
// jars of classpath the way Start runs logd's, with replication factor 1 for its internal
// topics and the worker's default plugin discovery (connectors from plugin.path, if props
// sets it, and from the classpath).
func StartJava(t testing.TB, classpath string, brokers []string, dir, group string, n int, props map[string]string) *Worker {
	t.Helper()
	all := map[string]string{
		"config.storage.replication.factor": "1",
		"offset.storage.replication.factor": "1",
		"status.storage.replication.factor": "1",
		"scheduled.rebalance.max.delay.ms":  "3000",
	}
	maps.Copy(all, props)
	// A small heap and the client compiler: two shared cores start the JVM sooner this way.
	return start(t, brokers, dir, group, n, all, 120*time.Second, func(path string) *exec.Cmd {
		return exec.Command("java", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-Dorg.slf4j.simpleLogger.showDateTime=true", "-cp", classpath, "org.apache.kafka.connect.cli.ConnectDistributed", path)
	})
}

// start writes the worker's properties, runs command(the properties' path) and waits up to
// within for its REST API.
func start(t testing.TB, brokers []string, dir, group string, n int, props map[string]string, within time.Duration, command func(string) *exec.Cmd) *Worker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	all := map[string]string{
		"bootstrap.servers":              strings.Join(brokers, ","),
		"group.id":                       group,
		"config.storage.topic":           group + "-configs",
		"offset.storage.topic":           group + "-offsets",
		"status.storage.topic":           group + "-status",
		"offset.storage.partitions":      "3",
		"status.storage.partitions":      "2",
		"key.converter":                  connect.StringConverterClass,
		"value.converter":                connect.StringConverterClass,
		"offset.flush.interval.ms":       "200",
		"session.timeout.ms":             "6000",
		"heartbeat.interval.ms":          "500",
		"consumer.session.timeout.ms":    "6000",
		"consumer.heartbeat.interval.ms": "500",
		"listeners":                      fmt.Sprintf("http://127.0.0.1:%d", port),
		"rest.advertised.host.name":      "127.0.0.1",
	}
	maps.Copy(all, props)
	var lines []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		lines = append(lines, k+"="+all[k])
	}
	path := filepath.Join(dir, fmt.Sprintf("worker%d.properties", n))
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker%d.log", n)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &Worker{URL: fmt.Sprintf("http://127.0.0.1:%d", port), ID: fmt.Sprintf("127.0.0.1:%d", port), Cmd: cmd, Done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(w.Done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.Done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-w.Done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("worker %d log (%s):\n%s", n, logf.Name(), b[max(0, len(b)-4000):])
		}
	})
	WaitFor(t, within, "worker REST API", func() (bool, string) {
		select {
		case <-w.Done:
			return false, "the worker exited"
		default:
		}
		code, _, err := w.Call("GET", "/", "")
		return err == nil && code == 200, fmt.Sprint(code, err)
	})
	return w
}

// Kill SIGKILLs the worker and waits for it to exit.
func (w *Worker) Kill() {
	w.Cmd.Process.Kill()
	<-w.Done
}

// Call sends a REST request with a JSON body ("" for none).
func (w *Worker) Call(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, w.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// MustCall retries a request until it answers want (e.g. while the cluster rebalances and
// answers 409, as Kafka Connect's docs advise), for up to a minute.
func (w *Worker) MustCall(t testing.TB, method, path, body string, want int) []byte {
	t.Helper()
	var code int
	var b []byte
	var err error
	WaitFor(t, 60*time.Second, method+" "+path, func() (bool, string) {
		code, b, err = w.Call(method, path, body)
		return err == nil && code == want, fmt.Sprintf("%d %s %v", code, b, err)
	})
	return b
}

// Statuses reads every connector's status.
func (w *Worker) Statuses() (map[string]connect.ConnectorStatus, error) {
	code, b, err := w.Call("GET", "/connectors?expand=status", "")
	if err != nil || code != 200 {
		return nil, fmt.Errorf("%d %s %v", code, b, err)
	}
	var all map[string]struct{ Status connect.ConnectorStatus }
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	out := make(map[string]connect.ConnectorStatus, len(all))
	for n, s := range all {
		out[n] = s.Status
	}
	return out, nil
}

// WaitFor polls cond every 50 ms until it holds or within passes, then fails the test with
// what and cond's last description of the state.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v (last: %s)", what, within, last)
}
