package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/connect"
)

// reconfigurable is a test source connector whose task count is reconfigTasks: it asks the
// runtime to recompute its tasks when the test says so, as a real connector does when its
// source changes shape.
var (
	reconfigTasks atomic.Int32
	reconfigMu    sync.Mutex
	reconfigLive  = map[*reconfigurable]connect.ConnectorContext{} // started and not stopped
)

type reconfigurable struct{}

func (c *reconfigurable) Validate(map[string]string) []connect.ConfigError { return nil }

func (c *reconfigurable) Start(ctx connect.ConnectorContext, _ map[string]string) error {
	reconfigMu.Lock()
	defer reconfigMu.Unlock()
	reconfigLive[c] = ctx
	return nil
}

func (c *reconfigurable) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	n := min(int(reconfigTasks.Load()), maxTasks)
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"of": strconv.Itoa(n)}
	}
	return out, nil
}

func (c *reconfigurable) Stop() error {
	reconfigMu.Lock()
	defer reconfigMu.Unlock()
	delete(reconfigLive, c)
	return nil
}

// idleSource produces nothing.
type idleSource struct{}

func (idleSource) Start(connect.SourceTaskContext, map[string]string) error { return nil }
func (idleSource) Poll(ctx context.Context) ([]connect.SourceRecord, error) {
	<-ctx.Done()
	return nil, nil
}
func (idleSource) Commit(map[string]map[string]any) error { return nil }
func (idleSource) Stop() error                            { return nil }

func init() {
	connect.Register(&connect.Plugin{Class: "test.Reconfigurable", Kind: connect.Source, Version: connect.Version,
		NewConnector:  func() connect.Connector { return &reconfigurable{} },
		NewSourceTask: func() connect.SourceTask { return idleSource{} }})
}

// TestDistributedTaskReconfiguration: in distributed mode a running connector's
// RequestTaskReconfiguration makes the worker running it recompute the task configurations
// and hand them to the leader (directly, or over REST when the leader is another worker),
// which writes them to the config topic; the cluster then runs the new tasks.
func TestDistributedTaskReconfiguration(t *testing.T) {
	group := names(t)
	var workers []*connect.Worker
	for range 2 {
		cfg, err := connect.ParseWorkerConfig(map[string]string{
			"bootstrap.servers": strings.Join(brokers, ","), "group.id": group,
			"config.storage.topic": group + "-configs", "offset.storage.topic": group + "-offsets", "status.storage.topic": group + "-status",
			"offset.storage.partitions": "1", "status.storage.partitions": "1",
			"key.converter": connect.StringConverterClass, "value.converter": connect.StringConverterClass,
			"offset.flush.interval.ms": "200", "session.timeout.ms": "6000", "heartbeat.interval.ms": "500",
			"listeners": "http://127.0.0.1:0", "rest.advertised.host.name": "127.0.0.1",
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		w, err := connect.StartDistributed(context.Background(), cfg, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		workers = append(workers, w)
	}
	reconfigTasks.Store(1)
	body := `{"name":"reconf","config":{"connector.class":"test.Reconfigurable","tasks.max":"4"}}`
	waitFor(t, 60*time.Second, "the connector created", func() (bool, string) {
		code, b := call(t, workers[1], "POST", "/connectors", body)
		return code == 201 || code == 409 && strings.Contains(string(b), "already exists"), fmt.Sprintf("%d %s", code, b)
	})
	running := func(n int) (bool, string) {
		code, b := call(t, workers[0], "GET", "/connectors/reconf/status", nil)
		var st connect.ConnectorStatus
		if code != 200 || json.Unmarshal(b, &st) != nil || len(st.Tasks) != n {
			return false, fmt.Sprintf("%d %s", code, b)
		}
		for _, ts := range st.Tasks {
			if ts.State != connect.StateRunning {
				return false, string(b)
			}
		}
		code, b = call(t, workers[0], "GET", "/connectors/reconf/tasks", nil)
		return code == 200 && strings.Count(string(b), fmt.Sprintf(`"of":"%d"`, n)) == n, fmt.Sprintf("tasks %d %s", code, b)
	}
	waitFor(t, 60*time.Second, "one task running", func() (bool, string) { return running(1) })

	reconfigTasks.Store(3)
	reconfigMu.Lock()
	if len(reconfigLive) != 1 {
		t.Fatalf("%d running connector instances, want 1", len(reconfigLive))
	}
	for _, ctx := range reconfigLive {
		ctx.RequestTaskReconfiguration()
	}
	reconfigMu.Unlock()
	waitFor(t, 60*time.Second, "three tasks running after the connector asked", func() (bool, string) { return running(3) })

	// The internal endpoint a non-leader uses, sent to either worker (a follower forwards it).
	for _, w := range workers {
		waitFor(t, 60*time.Second, "POST /connectors/reconf/tasks", func() (bool, string) {
			code, b := call(t, w, "POST", "/connectors/reconf/tasks", `[{"of":"2"},{"of":"2"}]`)
			return code == 204, fmt.Sprintf("%d %s", code, b)
		})
		waitFor(t, 60*time.Second, "the two tasks written through the endpoint running", func() (bool, string) { return running(2) })
		waitFor(t, 60*time.Second, "POST /connectors/reconf/tasks", func() (bool, string) {
			code, b := call(t, w, "POST", "/connectors/reconf/tasks", `[{"of":"1"}]`)
			return code == 204, fmt.Sprintf("%d %s", code, b)
		})
		waitFor(t, 60*time.Second, "back to one task", func() (bool, string) { return running(1) })
	}

	// Java's internal endpoint refuses unknown connectors, and standalone workers refuse it.
	// (409 while the last change's rebalance runs.)
	waitFor(t, 60*time.Second, "POST /connectors/nope/tasks answering 404", func() (bool, string) {
		code, b := call(t, workers[0], "POST", "/connectors/nope/tasks", "[]")
		return code == 404, fmt.Sprintf("%d %s", code, b)
	})
	sa := startWorker(t, t.TempDir(), nil)
	if code, b := call(t, sa, "POST", "/connectors/x/tasks", "[]"); code != 500 || !strings.Contains(string(b), "standalone") {
		t.Fatalf("standalone POST /connectors/x/tasks: %d %s, want 500", code, b)
	}
}
