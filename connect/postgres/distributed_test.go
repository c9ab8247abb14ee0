//go:build compat

package postgres

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/internal/workertest"
)

// TestDistributedWorkerKilled runs the PostgreSQL source and the JDBC sink on three
// `logd connect distributed` workers (the real runtime: JsonConverter with schemas, the
// offsets topic, the sink group), SIGKILLs the worker running the source task while changes
// flow, and checks that the tasks move to the survivors and that the two databases end equal
// row for row.
func TestDistributedWorkerKilled(t *testing.T) {
	s := needPostgres(t)
	brokers := needBroker(t)
	src, conn := newDB(t, s)
	dst, dconn := newDB(t, s)
	createE2ETables(t, conn)
	prefix := "dist" + src
	dir := t.TempDir()
	converters := map[string]string{"key.converter": connect.JSONConverterClass, "value.converter": connect.JSONConverterClass}
	var workers []*workertest.Worker
	for i := range 3 {
		workers = append(workers, workertest.Start(t, filepath.Join(tmpDir, "logd"), brokers, dir, prefix, i, converters))
	}
	srcCfg := sourceConfigFor(s, src, prefix, "table.exclude.list", `public\.ignored`, "heartbeat.interval.ms", "200")
	workers[0].MustCall(t, "POST", "/connectors", connectorJSON(t, "pg-source", srcCfg), 201)
	// The sink names its topics: they exist once the snapshot wrote them.
	sinkCfg := e2eSinkConfig(s, dst)
	sinkCfg["topics"] = fmt.Sprintf("%[1]s.public.orders,%[1]s.public.items,%[1]s.inventory.stock", prefix)
	sinkCfg["tasks.max"] = "2"
	workers[1].MustCall(t, "POST", "/connectors", connectorJSON(t, "pg-sink", sinkCfg), 201)

	running := func(ws []*workertest.Worker, dead string) (bool, string) {
		for _, w := range ws {
			st, err := w.Statuses()
			if err != nil || len(st) != 2 {
				return false, fmt.Sprint(st, err)
			}
			for n, s := range st {
				if s.Connector.State != connect.StateRunning || s.Connector.WorkerID == dead || len(s.Tasks) == 0 {
					return false, fmt.Sprintf("%s: %+v", n, s)
				}
				for _, ts := range s.Tasks {
					if ts.State != connect.StateRunning || ts.WorkerID == dead {
						return false, fmt.Sprintf("%s: %+v", n, s)
					}
				}
			}
		}
		return true, ""
	}
	workertest.WaitFor(t, 90*time.Second, "both connectors running", func() (bool, string) { return running(workers, "") })

	rng := rand.New(rand.NewPCG(3, 4))
	for range 60 {
		conn = workTx(t, s, src, conn, rng)
	}
	workertest.WaitFor(t, 90*time.Second, "the sink caught up before the kill", func() (bool, string) {
		d := compareDBs(t, conn, dconn, prefix)
		return d == "", d
	})

	// Changes in flight, then the source task's worker dies.
	for range 40 {
		conn = workTx(t, s, src, conn, rng)
	}
	st, err := workers[0].Statuses()
	if err != nil {
		t.Fatal(err)
	}
	victimID := st["pg-source"].Tasks[0].WorkerID
	var survivors []*workertest.Worker
	for _, w := range workers {
		if w.ID == victimID {
			w.Kill()
		} else {
			survivors = append(survivors, w)
		}
	}
	if len(survivors) != 2 {
		t.Fatalf("the source task runs on %q, not one of the workers", victimID)
	}
	for range 60 {
		conn = workTx(t, s, src, conn, rng)
	}
	workertest.WaitFor(t, 120*time.Second, "the killed worker's tasks running on the survivors", func() (bool, string) {
		return running(survivors, victimID)
	})
	for range 40 {
		conn = workTx(t, s, src, conn, rng)
	}
	workertest.WaitFor(t, 120*time.Second, "the databases equal after the kill", func() (bool, string) {
		d := compareDBs(t, conn, dconn, prefix)
		return d == "", d
	})
}

// connectorJSON is the REST API's body creating a connector.
func connectorJSON(t *testing.T, name string, config map[string]string) string {
	b, err := json.Marshal(map[string]any{"name": name, "config": config})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
