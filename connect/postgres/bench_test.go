//go:build compat && connectbench

package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/internal/workertest"
)

// The benchmark's workload: a burst of burstRows inserts (transactions of txRows) for the
// throughput, then pacedRows inserts at pacedRate rows/s for the latency.
const (
	burstRows = 20000
	txRows    = 100
	pacedRows = 2000
	pacedRate = 200
)

// pipelineResult is one pipeline's numbers.
type pipelineResult struct {
	Pipeline          string  `json:"pipeline"`
	BurstRows         int     `json:"burst_rows"`
	BurstSeconds      float64 `json:"burst_seconds"` // first insert → last row in the sink database
	EventsPerSecond   float64 `json:"events_per_second"`
	PacedRows         int     `json:"paced_rows"`
	PacedRate         int     `json:"paced_rate_rows_per_second"`
	P50Millis         float64 `json:"p50_ms"`
	P99Millis         float64 `json:"p99_ms"`
	MaxMillis         float64 `json:"max_ms"`
	SourceWorkerCPU   float64 `json:"source_worker_cpu_seconds"` // the worker running the source connector
	SinkWorkerCPU     float64 `json:"sink_worker_cpu_seconds"`   // logd's worker running the JDBC sink (the same process for logd's pipeline)
	BrokerCPU         float64 `json:"broker_cpu_seconds"`
	CPUPer100kSource  float64 `json:"source_worker_cpu_seconds_per_100k_events"`
	CPUPer100kAll     float64 `json:"all_processes_cpu_seconds_per_100k_events"`
	MeasuredEvents    int     `json:"measured_events"`
	LoadAverageBefore string  `json:"loadavg_before"`
}

// TestConnectBench measures change capture end to end (insert in PostgreSQL → event in logd
// → row in the sink database, through logd's JDBC sink) for logd's PostgreSQL connector on a
// `logd connect distributed` worker and for Debezium 3.6.1 on Kafka Connect 4.3.1's worker,
// one after the other in the same run against the same broker and PostgreSQL. Each row's
// latency is the sink row's arrival time (a column defaulting to clock_timestamp()) minus its
// insert time in the source (same PostgreSQL clock). Results go to $CONNECT_BENCH_OUT/results-<UTC time>.json.
func TestConnectBench(t *testing.T) {
	out := os.Getenv("CONNECT_BENCH_OUT")
	if out == "" {
		t.Skip("CONNECT_BENCH_OUT is not set: run `make connect-bench`")
	}
	s := needPostgres(t)
	brokers := needBroker(t)
	workerCP, dbzJars := javaClasspaths(t)
	src, conn := newDB(t, s)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugins", "debezium-connector-postgres")
	if err := os.MkdirAll(plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, jar := range dbzJars {
		if err := os.Symlink(jar, filepath.Join(plugin, filepath.Base(jar))); err != nil {
			t.Fatal(err)
		}
	}
	converters := map[string]string{"key.converter": connect.JSONConverterClass, "value.converter": connect.JSONConverterClass,
		"offset.flush.interval.ms": "1000"}
	logd := workertest.Start(t, filepath.Join(tmpDir, "logd"), brokers, dir, "logd"+src, 1, converters)
	java := workertest.StartJava(t, workerCP, brokers, dir, "java"+src, 0,
		map[string]string{"plugin.path": filepath.Join(dir, "plugins"), "key.converter": connect.JSONConverterClass,
			"value.converter": connect.JSONConverterClass, "offset.flush.interval.ms": "1000"})

	var results []pipelineResult
	// Both workers take the same class name: logd registers its connector under Debezium's.
	for _, p := range []struct {
		name, tag string
		worker    *workertest.Worker
	}{
		{"logd connector on logd connect", "own", logd},
		{"Debezium 3.6.1 on Kafka Connect 4.3.1", "dbz", java},
	} {
		table, prefix := "bench_"+p.tag, p.tag+src
		execSQL(t, conn, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, inserted timestamptz NOT NULL DEFAULT clock_timestamp(), payload text)`, table),
			fmt.Sprintf(`CREATE PUBLICATION pub_%s FOR TABLE %s`, prefix, table))
		dst, dconn := newDB(t, s)
		sinkTable := pgx.Identifier{prefix + "_public_" + table}.Sanitize()
		// The sink table exists with one more column: when the sink wrote the row.
		execSQL(t, dconn, fmt.Sprintf(`CREATE TABLE %s (id bigint PRIMARY KEY, inserted text, payload text, arrived timestamptz NOT NULL DEFAULT clock_timestamp())`, sinkTable))
		srcCfg := sourceConfigFor(s, src, prefix, "plugin.name", "pgoutput",
			"table.include.list", "public."+table, "publication.name", "pub_"+prefix, "publication.autocreate.mode", "disabled",
			"topic.creation.default.replication.factor", "1", "topic.creation.default.partitions", "1")
		p.worker.MustCall(t, "POST", "/connectors", connectorJSON(t, prefix+"-source", srcCfg), 201)
		sinkCfg := e2eSinkConfig(s, dst)
		sinkCfg["topics"] = prefix + ".public." + table
		sinkCfg["batch.size"] = "500"
		logd.MustCall(t, "POST", "/connectors", connectorJSON(t, prefix+"-sink", sinkCfg), 201)
		// One row through first: both connectors are up and streaming.
		execSQL(t, conn, fmt.Sprintf(`INSERT INTO %s (id, payload) VALUES (0, 'warmup')`, table))
		waitRows(t, dconn, sinkTable, 1, 5*time.Minute)

		r := pipelineResult{Pipeline: p.name, BurstRows: burstRows, PacedRows: pacedRows, PacedRate: pacedRate}
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			r.LoadAverageBefore = strings.TrimSpace(string(b))
		}
		srcPid, sinkPid, brokerPid := p.worker.Cmd.Process.Pid, logd.Cmd.Process.Pid, brokerPid()
		cpu0 := []float64{procCPU(srcPid), procCPU(sinkPid), procCPU(brokerPid)}

		start := time.Now()
		for i := 0; i < burstRows; i += txRows {
			execSQL(t, conn, fmt.Sprintf(`INSERT INTO %s (id, payload) SELECT g, repeat('x', 100) FROM generate_series(%d, %d) g`, table, i+1, i+txRows))
		}
		waitRows(t, dconn, sinkTable, 1+burstRows, 10*time.Minute)
		var secs float64
		if err := dconn.QueryRow(context.Background(), fmt.Sprintf(`SELECT extract(epoch FROM max(arrived))::float8 FROM %s`, sinkTable)).Scan(&secs); err != nil {
			t.Fatal(err)
		}
		var first float64
		if err := conn.QueryRow(context.Background(), fmt.Sprintf(`SELECT extract(epoch FROM min(inserted))::float8 FROM %s WHERE id >= 1`, table)).Scan(&first); err != nil {
			t.Fatal(err)
		}
		r.BurstSeconds = secs - first
		r.EventsPerSecond = burstRows / r.BurstSeconds
		t.Logf("%s: burst of %d rows in %.1fs (wall %.1fs)", p.name, burstRows, r.BurstSeconds, time.Since(start).Seconds())

		// Paced: pacedRate rows/s in transactions of 10 rows.
		base := 1 + burstRows
		tick := time.NewTicker(time.Second * 10 / pacedRate)
		for i := 0; i < pacedRows; i += 10 {
			<-tick.C
			execSQL(t, conn, fmt.Sprintf(`INSERT INTO %s (id, payload) SELECT g, repeat('x', 100) FROM generate_series(%d, %d) g`, table, base+i, base+i+9))
		}
		tick.Stop()
		waitRows(t, dconn, sinkTable, 1+burstRows+pacedRows, 10*time.Minute)
		cpu1 := []float64{procCPU(srcPid), procCPU(sinkPid), procCPU(brokerPid)}
		r.SourceWorkerCPU, r.SinkWorkerCPU, r.BrokerCPU = cpu1[0]-cpu0[0], cpu1[1]-cpu0[1], cpu1[2]-cpu0[2]
		r.MeasuredEvents = burstRows + pacedRows
		r.CPUPer100kSource = r.SourceWorkerCPU / float64(r.MeasuredEvents) * 1e5
		all := r.SourceWorkerCPU + r.BrokerCPU
		if srcPid != sinkPid {
			all += r.SinkWorkerCPU
		}
		r.CPUPer100kAll = all / float64(r.MeasuredEvents) * 1e5

		// Latency of the paced rows: arrival in the sink minus insert in the source.
		rows, err := dconn.Query(context.Background(), fmt.Sprintf(`SELECT id, inserted, extract(epoch FROM arrived)::float8 FROM %s WHERE id >= %d`, sinkTable, base))
		if err != nil {
			t.Fatal(err)
		}
		var lat []float64
		for rows.Next() {
			var id int64
			var ins string
			var arrived float64
			if err := rows.Scan(&id, &ins, &arrived); err != nil {
				t.Fatal(err)
			}
			it, err := time.Parse(time.RFC3339Nano, ins)
			if err != nil {
				t.Fatalf("row %d: inserted %q: %v", id, ins, err)
			}
			lat = append(lat, (arrived-float64(it.UnixMicro())/1e6)*1000)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(lat) != pacedRows {
			t.Fatalf("%d paced rows in the sink, want %d", len(lat), pacedRows)
		}
		slices.Sort(lat)
		r.P50Millis, r.P99Millis, r.MaxMillis = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
		t.Logf("%+v", r)
		results = append(results, r)

		// Stop this pipeline before measuring the next.
		p.worker.MustCall(t, "DELETE", "/connectors/"+prefix+"-source", "", 204)
		logd.MustCall(t, "DELETE", "/connectors/"+prefix+"-sink", "", 204)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "results-"+time.Now().UTC().Format("150405")+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitRows waits until table has at least n rows.
func waitRows(t *testing.T, conn *pgx.Conn, table string, n int, within time.Duration) {
	t.Helper()
	workertest.WaitFor(t, within, fmt.Sprintf("%d rows in %s", n, table), func() (bool, string) {
		var got int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&got); err != nil {
			return false, err.Error()
		}
		return got >= n, fmt.Sprint(got)
	})
}

// procCPU is a process's user+system CPU seconds so far (0 if it cannot be read).
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil || pid == 0 {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at state, field 3.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}
