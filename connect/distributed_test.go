package connect_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/internal/workertest"
)

// TestDistributedFailover runs three distributed workers with three file sources and a file
// sink, kills (SIGKILL) a worker running connectors, and checks that its connectors move to
// the others and that every line of the inputs reaches the sink (at least once, with few
// duplicates: only what was between the last offset flush and the kill).
func TestDistributedFailover(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	topic := p + "-lines"
	createTopic(t, topic, 1)
	var workers []*workertest.Worker
	for i := range 3 {
		workers = append(workers, workertest.Start(t, logdBin, brokers, dir, p, i, nil))
	}
	out := filepath.Join(dir, "out.txt")
	var want []string
	for i := range 3 {
		in := filepath.Join(dir, fmt.Sprintf("in%d.txt", i))
		writeLines(t, in, i*1000, i*1000+50)
		want = append(want, readLines(in)...)
		// Any worker: non-leaders forward to the leader.
		workers[i].MustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"src%d","config":{"connector.class":"FileStreamSource","file":%q,"topic":%q}}`, i, in, topic), 201)
	}
	workers[0].MustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"sink","config":{"connector.class":"FileStreamSink","file":%q,"topics":%q}}`, out, topic), 201)
	allRunning := func(exclude string) (bool, string) {
		for _, w := range workers {
			if w.ID == exclude {
				continue
			}
			st, err := w.Statuses()
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
	st, err := workers[0].Statuses()
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
	victim.Kill()
	for i := range 3 {
		in := filepath.Join(dir, fmt.Sprintf("in%d.txt", i))
		writeLines(t, in, i*1000+50, i*1000+100)
	}
	want = want[:0]
	for i := range 3 {
		want = append(want, readLines(filepath.Join(dir, fmt.Sprintf("in%d.txt", i)))...)
	}
	survivors := []*workertest.Worker{workers[0], workers[2]}
	workers = survivors
	waitFor(t, 90*time.Second, "the killed worker's connectors running elsewhere", func() (bool, string) { return allRunning(victim.ID) })
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
