package connect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	_ "github.com/logd/logd/connect/file"
	"github.com/logd/logd/connect/internal/workertest"
	"github.com/logd/logd/internal/testcluster"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokers is the cluster the tests talk to: $CONNECT_BROKERS (any Kafka-compatible cluster),
// or a `logd serve` child started by TestMain.
var brokers []string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// logdBin is the logd binary TestMain built (the distributed tests run workers with it).
var logdBin string

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "logd-connect-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	logdBin = filepath.Join(dir, "logd")
	build := exec.Command("go", "build", "-o", logdBin, "../cmd/logd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "connect test: building logd:", err)
		return 1
	}
	if s := os.Getenv("CONNECT_BROKERS"); s != "" {
		brokers = strings.Split(s, ",")
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logf, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := testcluster.Start(ctx, testcluster.Config{Binary: filepath.Join(dir, "logd"), Nodes: 1, Dir: dir, Log: logf})
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect test: starting logd:", err)
		return 1
	}
	brokers = c.Bootstrap()
	code := m.Run()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "connect test: stopping logd:", err)
		code = 1
	}
	if code != 0 {
		logf.Seek(0, io.SeekStart)
		if b, err := io.ReadAll(logf); err == nil && len(b) > 0 {
			fmt.Fprintf(os.Stderr, "--- broker log tail ---\n%s\n", b[max(0, len(b)-4000):])
		}
	}
	return code
}

// defaultWait bounds the waits for the runtime to react.
const defaultWait = 20 * time.Second

var uniq atomic.Int64

// names returns a prefix unique to this test run, for topics and connectors.
func names(t *testing.T) string {
	return fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()%1e6, uniq.Add(1))
}

// startWorker starts a standalone worker on a free port with the given extra properties,
// stopped at the end of the test.
func startWorker(t *testing.T, dir string, extra map[string]string) *connect.Worker {
	t.Helper()
	props := map[string]string{
		"bootstrap.servers":            strings.Join(brokers, ","),
		"offset.storage.file.filename": filepath.Join(dir, "offsets.json"),
		"offset.flush.interval.ms":     "200",
		"listeners":                    "http://127.0.0.1:0",
		"key.converter":                connect.StringConverterClass,
		"value.converter":              connect.StringConverterClass,
	}
	for k, v := range extra {
		props[k] = v
	}
	cfg, err := connect.ParseWorkerConfig(props, false)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := connect.StartStandalone(context.Background(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// testWriter sends the worker's log to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// call sends a REST request; body is marshaled to JSON unless it is a string.
func call(t *testing.T, w *connect.Worker, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, w.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = workertest.WaitFor

// waitState waits until the connector and all its tasks are in state.
func waitState(t *testing.T, w *connect.Worker, name string, state connect.State, tasks int) {
	t.Helper()
	waitFor(t, 20*time.Second, name+" "+string(state), func() (bool, string) {
		st, err := w.Herder.Status(name)
		if err != nil {
			return false, err.Error()
		}
		if st.Connector.State != state || len(st.Tasks) != tasks {
			return false, fmt.Sprintf("%+v", st)
		}
		for _, ts := range st.Tasks {
			if ts.State != state {
				return false, fmt.Sprintf("%+v", st)
			}
		}
		return true, ""
	})
}

// client returns a franz-go client closed at the end of the test.
func client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readLines reads a file's lines ("" if it does not exist yet).
func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
