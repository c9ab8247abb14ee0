package connect_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logd/logd/connect"
)

// distWorker is one `logd connect distributed` process.
type distWorker struct {
	url  string
	id   string // worker id: 127.0.0.1:port
	cmd  *exec.Cmd
	done chan struct{}
}

// startDistWorker runs a distributed worker of group with the test's timings.
func startDistWorker(t *testing.T, dir, group string, n int) *distWorker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	props := filepath.Join(dir, fmt.Sprintf("worker%d.properties", n))
	if err := os.WriteFile(props, []byte(strings.Join([]string{
		"bootstrap.servers=" + strings.Join(brokers, ","),
		"group.id=" + group,
		"config.storage.topic=" + group + "-configs",
		"offset.storage.topic=" + group + "-offsets",
		"status.storage.topic=" + group + "-status",
		"offset.storage.partitions=3",
		"status.storage.partitions=2",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.storage.StringConverter",
		"offset.flush.interval.ms=200",
		"session.timeout.ms=6000",
		"heartbeat.interval.ms=500",
		"consumer.session.timeout.ms=6000",
		"consumer.heartbeat.interval.ms=500",
		fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
		"rest.advertised.host.name=127.0.0.1",
	}, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker%d.log", n)))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(logdBin, "connect", "distributed", props)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &distWorker{url: fmt.Sprintf("http://127.0.0.1:%d", port), id: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("worker %d log:\n%s", n, b[max(0, len(b)-3000):])
		}
	})
	waitFor(t, 30*time.Second, "worker REST API", func() (bool, string) {
		code, _, err := w.call("GET", "/", "")
		return err == nil && code == 200, fmt.Sprint(code, err)
	})
	return w
}

func (w *distWorker) call(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, w.url+path, strings.NewReader(body))
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

// mustCall retries a request while the cluster rebalances (409), as Kafka Connect's docs advise.
func (w *distWorker) mustCall(t *testing.T, method, path, body string, want int) []byte {
	t.Helper()
	var code int
	var b []byte
	var err error
	waitFor(t, 60*time.Second, method+" "+path, func() (bool, string) {
		code, b, err = w.call(method, path, body)
		return err == nil && code == want, fmt.Sprintf("%d %s %v", code, b, err)
	})
	return b
}

// statuses reads every connector's status.
func (w *distWorker) statuses() (map[string]connect.ConnectorStatus, error) {
	code, b, err := w.call("GET", "/connectors?expand=status", "")
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

// TestDistributedFailover runs three distributed workers with three file sources and a file
// sink, kills (SIGKILL) a worker running connectors, and checks that its connectors move to
// the others and that every line of the inputs reaches the sink (at least once, with few
// duplicates: only what was between the last offset flush and the kill).
func TestDistributedFailover(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	topic := p + "-lines"
	createTopic(t, topic, 1)
	var workers []*distWorker
	for i := range 3 {
		workers = append(workers, startDistWorker(t, dir, p, i))
	}
	out := filepath.Join(dir, "out.txt")
	var want []string
	for i := range 3 {
		in := filepath.Join(dir, fmt.Sprintf("in%d.txt", i))
		writeLines(t, in, i*1000, i*1000+50)
		want = append(want, readLines(in)...)
		// Any worker: non-leaders forward to the leader.
		workers[i].mustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"src%d","config":{"connector.class":"FileStreamSource","file":%q,"topic":%q}}`, i, in, topic), 201)
	}
	workers[0].mustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"sink","config":{"connector.class":"FileStreamSink","file":%q,"topics":%q}}`, out, topic), 201)
	allRunning := func(exclude string) (bool, string) {
		for _, w := range workers {
			if w.id == exclude {
				continue
			}
			st, err := w.statuses()
			if err != nil || len(st) != 4 {
				return false, fmt.Sprint(st, err)
			}
			for n, s := range st {
				if s.Connector.State != connect.StateRunning || s.Connector.WorkerID == exclude || len(s.Tasks) != 1 ||
					s.Tasks[0].State != connect.StateRunning || s.Tasks[0].WorkerID == exclude {
					return false, fmt.Sprintf("%s: %+v", n, s)
				}
			}
		}
		return true, ""
	}
	waitFor(t, 60*time.Second, "all connectors running", func() (bool, string) { return allRunning("") })
	waitFor(t, 60*time.Second, "150 lines in the sink file", func() (bool, string) {
		n := len(readLines(out))
		return n >= 150, fmt.Sprint(n)
	})
	// The connectors are spread over the workers: every worker runs at least one.
	st, err := workers[0].statuses()
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]int{}
	split := 0 // connectors whose task runs on another worker than the connector (Java's eager assignor)
	for _, s := range st {
		owners[s.Connector.WorkerID]++
		if s.Tasks[0].WorkerID != s.Connector.WorkerID {
			split++
		}
	}
	if len(owners) != 3 || split == 0 {
		t.Fatalf("connectors on %d workers (want 3: %v), %d with their task elsewhere (want some): %+v", len(owners), owners, split, st)
	}
	victim := workers[1]
	victim.cmd.Process.Kill()
	<-victim.done
	for i := range 3 {
		in := filepath.Join(dir, fmt.Sprintf("in%d.txt", i))
		writeLines(t, in, i*1000+50, i*1000+100)
	}
	want = want[:0]
	for i := range 3 {
		want = append(want, readLines(filepath.Join(dir, fmt.Sprintf("in%d.txt", i)))...)
	}
	survivors := []*distWorker{workers[0], workers[2]}
	workers = survivors
	waitFor(t, 90*time.Second, "the killed worker's connectors running elsewhere", func() (bool, string) { return allRunning(victim.id) })
	waitFor(t, 90*time.Second, "every line in the sink file", func() (bool, string) {
		got := map[string]bool{}
		for _, l := range readLines(out) {
			got[l] = true
		}
		missing := 0
		for _, l := range want {
			if !got[l] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d lines missing", missing, len(want))
	})
	if got := len(readLines(out)); got > len(want)+100 {
		t.Fatalf("%d lines in the sink file for %d input lines: too many duplicates", got, len(want))
	}
}
