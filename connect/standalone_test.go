package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	"github.com/twmb/franz-go/pkg/kadm"
)

// createTopic creates a topic of n partitions.
func createTopic(t *testing.T, topic string, n int32) {
	t.Helper()
	adm := kadm.NewClient(client(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := adm.CreateTopics(ctx, n, 1, nil, topic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

// writeLines appends lines to a file.
func writeLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := from; i < to; i++ {
		fmt.Fprintf(f, "line %d\n", i)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileConnectors(t *testing.T, w *connect.Worker, prefix, in, out, topic string) {
	t.Helper()
	for _, c := range []map[string]any{
		{"name": prefix + "-src", "config": map[string]string{"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
			"file": in, "topic": topic, "batch.size": "7"}},
		{"name": prefix + "-sink", "config": map[string]string{"connector.class": "FileStreamSink", "file": out, "topics": topic}},
	} {
		if code, body := call(t, w, "POST", "/connectors", c); code != 201 {
			t.Fatalf("creating %s: %d %s", c["name"], code, body)
		}
	}
}

// TestStandaloneFileRoundTrip runs FileStreamSource → logd → FileStreamSink, stops the
// worker, appends to the input and starts a new worker on the same offset file: the output
// must equal the input exactly (the source resumes after its stored offset, the sink after
// its group's committed offsets).
func TestStandaloneFileRoundTrip(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	in, out, topic := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt"), p+"-lines"
	createTopic(t, topic, 3)
	writeLines(t, in, 0, 100)
	w := startWorker(t, dir, nil)
	fileConnectors(t, w, p, in, out, topic)
	waitState(t, w, p+"-src", connect.StateRunning, 1)
	waitFor(t, 30*time.Second, "100 lines in the sink file", func() (bool, string) {
		n := len(readLines(out))
		return n == 100, fmt.Sprint(n, " lines")
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeLines(t, in, 100, 150)
	w = startWorker(t, dir, nil)
	fileConnectors(t, w, p, in, out, topic)
	waitFor(t, 30*time.Second, "150 lines in the sink file", func() (bool, string) {
		n := len(readLines(out))
		return n >= 150, fmt.Sprint(n, " lines")
	})
	// Let a few flush intervals pass: nothing more may arrive.
	time.Sleep(600 * time.Millisecond)
	got, want := readLines(out), readLines(in)
	// Three partitions: order holds per partition only.
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("sink file has %d lines, want the %d input lines exactly once", len(got), len(want))
	}
	var offsets connect.ConnectorOffsets
	code, body := call(t, w, "GET", "/connectors/"+p+"-src/offsets", nil)
	if code != 200 || json.Unmarshal(body, &offsets) != nil || len(offsets.Offsets) != 1 {
		t.Fatalf("source offsets: %d %s", code, body)
	}
	st, _ := os.Stat(in)
	if pos := offsets.Offsets[0].Offset["position"]; pos != float64(st.Size()) {
		t.Fatalf("source offset %v, want the file's size %d", pos, st.Size())
	}
	code, body = call(t, w, "GET", "/metrics", nil)
	if code != 200 || !strings.Contains(string(body), fmt.Sprintf(`logd_connect_task_records_written_total{connector=%q,task="0"} 50`, p+"-sink")) {
		t.Fatalf("metrics: %d, want 50 records written by the sink in the second run:\n%s", code, grep(string(body), p))
	}
}

// grep returns the lines of s containing sub.
func grep(s, sub string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
