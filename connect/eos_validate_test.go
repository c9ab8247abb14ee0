package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	"github.com/logd/logd/connect/internal/workertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestExactlyOnceValidation checks the exactly-once settings of source connectors on a
// distributed worker with exactly.once.source.support=enabled: Java's messages for bad values,
// for transaction.boundary=connector and for exactly.once.support=required on a connector
// that cannot say it supports it (the PostgreSQL source), a FileStreamSource with required accepted; then
// PUT /connectors/{name}/fence against a zombie producer.
func TestExactlyOnceValidation(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	w := workertest.Start(t, logdBin, brokers, dir, p, 0, map[string]string{"exactly.once.source.support": "enabled"})
	in := filepath.Join(dir, "in.txt")
	validate := func(class string, extra string) map[string][]string {
		t.Helper()
		body := fmt.Sprintf(`{"connector.class":%q,"name":"v","file":%q,"topic":"t"%s}`, class, in, extra)
		b := w.MustCall(t, "PUT", "/connector-plugins/"+class+"/config/validate", body, 200)
		var res struct {
			Configs []struct {
				Value struct {
					Name   string   `json:"name"`
					Errors []string `json:"errors"`
				} `json:"value"`
			} `json:"configs"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		out := map[string][]string{}
		for _, c := range res.Configs {
			if len(c.Value.Errors) > 0 {
				out[c.Value.Name] = c.Value.Errors
			}
		}
		return out
	}
	if errs := validate("FileStreamSource", `,"exactly.once.support":"required","transaction.boundary":"interval","transaction.boundary.interval.ms":"500"`); len(errs) != 0 {
		t.Fatalf("FileStreamSource with exactly.once.support=required: %v, want no errors", errs)
	}
	errs := validate("FileStreamSource", `,"exactly.once.support":"always","transaction.boundary":"connector","transaction.boundary.interval.ms":"-1"`)
	for name, want := range map[string]string{
		"exactly.once.support":             "Invalid value always for configuration exactly.once.support: String must be one of (case insensitive): REQUIRED, REQUESTED",
		"transaction.boundary":             "The connector does not support connector-defined transaction boundaries with the given configuration. Please reconfigure it to use a different transaction boundary definition.",
		"transaction.boundary.interval.ms": "Invalid value -1 for configuration transaction.boundary.interval.ms: Value must be at least 0",
	} {
		if len(errs[name]) != 1 || errs[name][0] != want {
			t.Errorf("%s: errors %q, want [%q]", name, errs[name], want)
		}
	}
	// logd's PostgreSQL source does not say whether it supports exactly once (as Debezium's).
	pg := validate("io.debezium.connector.postgresql.PostgresConnector", `,"exactly.once.support":"required"`)
	if want := `The connector does not implement the API required for preflight validation of exactly-once source support. Please consult the documentation for the connector to determine whether it supports exactly-once semantics, and then consider reconfiguring the connector to use the value "requested" for this property (which will disable this preflight check and allow the connector to be created).`; len(pg["exactly.once.support"]) != 1 || pg["exactly.once.support"][0] != want {
		t.Errorf("PostgresConnector with exactly.once.support=required: %q, want [%q]", pg["exactly.once.support"], want)
	}
	// A sink has no exactly-once settings.
	if errs := validate("FileStreamSink", `,"topics":"t","exactly.once.support":"always"`); len(errs) != 0 {
		t.Fatalf("a sink's exactly.once.support is not checked: %v", errs)
	}
	// Creating a connector with a bad setting fails with Java's 400 and message.
	var code int
	var b []byte
	waitFor(t, defaultWait, "the group's leader answering POST /connectors", func() (bool, string) {
		var err error
		code, b, err = w.Call("POST", "/connectors", fmt.Sprintf(`{"name":"bad","config":{"connector.class":"FileStreamSource","file":%q,"topic":"t","transaction.boundary":"connector"}}`, in))
		return err == nil && code != 409, fmt.Sprint(code, err)
	})
	if code != 400 || !strings.Contains(string(b), "connector-defined transaction boundaries") {
		t.Fatalf("POST with transaction.boundary=connector: %d %s, want 400 naming the boundary", code, b)
	}

	// Fencing (Java's internal PUT /connectors/{name}/fence): with the connector paused, a
	// producer with its task's transactional id (a zombie) has a transaction open; the fence
	// aborts it and the zombie can no longer commit; the resumed task carries on, and
	// read_committed readers see every line once and nothing of the zombie.
	topic := p + "-lines"
	createTopic(t, topic, 1)
	writeLines(t, in, 0, 50)
	w.MustCall(t, "POST", "/connectors", fmt.Sprintf(`{"name":"src","config":{"connector.class":"FileStreamSource","file":%q,"topic":%q,"exactly.once.support":"required"}}`, in, topic), 201)
	committedLines := func() []string { return committedValues(t, topic) }
	waitFor(t, defaultWait, "50 committed lines", func() (bool, string) {
		n := len(committedLines())
		return n == 50, fmt.Sprint(n)
	})
	state := func(want connect.State) func() (bool, string) {
		return func() (bool, string) {
			st, err := w.Statuses()
			if err != nil || len(st["src"].Tasks) != 1 {
				return false, fmt.Sprint(st, err)
			}
			return st["src"].Tasks[0].State == want, fmt.Sprintf("%+v", st["src"])
		}
	}
	w.MustCall(t, "PUT", "/connectors/src/pause", "", 202)
	waitFor(t, defaultWait, "the task paused", state(connect.StatePaused))
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	zombie := openZombie(t, ctx, p+"-src-0", topic)
	w.MustCall(t, "PUT", "/connectors/nope/fence", "", 404)
	w.MustCall(t, "PUT", "/connectors/src/fence", "", 204)
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the zombie committed its transaction after the fence")
	}
	writeLines(t, in, 50, 60)
	w.MustCall(t, "PUT", "/connectors/src/resume", "", 202)
	waitFor(t, defaultWait, "60 committed lines", func() (bool, string) {
		got := committedLines()
		return len(got) >= 60, fmt.Sprint(len(got))
	})
	got := committedLines()
	if len(got) != 60 || slices.Contains(got, "zombie") {
		t.Fatalf("%d committed records %q, want lines 0..59 and no zombie", len(got), got)
	}
	for i, l := range got {
		if l != fmt.Sprintf("line %d", i) {
			t.Fatalf("committed record %d is %q", i, l)
		}
	}
}

// committedValues reads a topic from its start with read_committed: the values of every
// committed record.
func committedValues(t *testing.T, topic string) []string {
	cl := client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var out []string
	cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	return out
}

// openZombie starts a producer with a task's transactional id (a zombie of the task) and
// leaves a transaction open holding the record "zombie" in topic.
func openZombie(t *testing.T, ctx context.Context, txnID, topic string) *kgo.Client {
	t.Helper()
	zombie := client(t, kgo.TransactionalID(txnID))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return zombie
}

// TestExactlyOnceFencingRound checks the leader's round of zombie fencing before a new task
// generation starts (KIP-618): a source connector runs two tasks, a zombie producer holding
// task 1's transactional id has a transaction open, and the connector is reconfigured to one
// task. The round fences every task of the previous generation, so the zombie's commit fails
// and read_committed readers never see its record; the config topic holds Java's task count
// records (tasks-fencing-<connector>).
func TestExactlyOnceFencingRound(t *testing.T) {
	t.Parallel()
	dir, p := t.TempDir(), names(t)
	w := workertest.Start(t, logdBin, brokers, dir, p, 0, map[string]string{"exactly.once.source.support": "enabled"})
	topic := p + "-lines"
	createTopic(t, topic, 1)
	in0, in1 := filepath.Join(dir, "in0.txt"), filepath.Join(dir, "in1.txt")
	writeLines(t, in0, 0, 10)
	writeLines(t, in1, 100, 110)
	config := func(file, max string) map[string]string {
		return map[string]string{"connector.class": "FileStreamSource", "name": "src", "file": file, "topic": topic,
			"tasks.max": max, "exactly.once.support": "required"}
	}
	body := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	waitFor(t, defaultWait, "the group's leader creating the connector", func() (bool, string) {
		code, b, err := w.Call("POST", "/connectors", body(map[string]any{"name": "src", "config": config(in0, "2")}))
		return err == nil && code == 201, fmt.Sprint(code, string(b), err)
	})
	committed := func() []string { return committedValues(t, topic) }
	waitCommitted := func(n int) {
		t.Helper()
		waitFor(t, defaultWait, fmt.Sprint(n, " committed lines"), func() (bool, string) {
			got := len(committed())
			return got >= n, fmt.Sprint(got)
		})
	}
	waitCommitted(10)
	// FileStreamSource has one task; a second generation of two tasks (one per file) is
	// written through the internal endpoint a connector's reconfiguration uses.
	waitFor(t, defaultWait, "POST /connectors/src/tasks", func() (bool, string) {
		code, b, err := w.Call("POST", "/connectors/src/tasks", body([]map[string]string{config(in0, "2"), config(in1, "2")}))
		return err == nil && code/100 == 2, fmt.Sprint(code, string(b), err)
	})
	waitCommitted(20)
	waitFor(t, defaultWait, "two running tasks", func() (bool, string) {
		st, err := w.Statuses()
		if err != nil || len(st["src"].Tasks) != 2 {
			return false, fmt.Sprint(st, err)
		}
		return st["src"].Tasks[0].State == connect.StateRunning && st["src"].Tasks[1].State == connect.StateRunning, fmt.Sprintf("%+v", st["src"])
	})

	// A zombie of task 1 (say, on a worker cut off from the group) with a transaction open.
	ctx, cancel := context.WithTimeout(context.Background(), defaultWait)
	defer cancel()
	zombie := openZombie(t, ctx, p+"-src-1", topic)

	// The task count shrinks to one; its task starts only after the round, so once it has
	// committed new lines the zombie is fenced.
	w.MustCall(t, "PUT", "/connectors/src/config", body(config(in0, "1")), 200)
	writeLines(t, in0, 10, 15)
	waitCommitted(25)
	if err := zombie.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the zombie of dropped task 1 committed its transaction after the reconfiguration")
	}
	got := committed()
	want := 25
	if len(got) != want || slices.Contains(got, "zombie") {
		t.Fatalf("%d committed records %q, want %d lines and no zombie", len(got), got, want)
	}

	// The config topic holds Java's task count records: 1 (first generation), 2, 1.
	var counts []string
	waitFor(t, defaultWait, "task count records", func() (bool, string) {
		cl := client(t, kgo.ConsumeTopics(p+"-configs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		counts = nil
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if string(r.Key) == "tasks-fencing-src" {
				counts = append(counts, string(r.Value))
			}
		})
		return slices.Equal(counts, []string{`{"task-count":1}`, `{"task-count":2}`, `{"task-count":1}`}), fmt.Sprint(counts)
	})
}
