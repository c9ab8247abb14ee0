package streams_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcluster"
	"github.com/logd/logd/streams"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// brokers is the cluster every test talks to: $STREAMS_BROKERS (any Kafka-compatible
// cluster, e.g. Apache Kafka), or a `logd serve` child started by TestMain.
var brokers []string

// binDir holds the binaries TestMain built: logd and the examples.
var binDir string

// startReference, set by kafka_compat_test.go under the compat tag, starts Apache Kafka for
// the suite instead of logd; it returns the bootstrap addresses and how to stop the broker.
var startReference func(dir string) (bootstrap []string, stop func(), err error)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	flag.Parse()
	// The tests mostly wait (on the broker, on windows of time, on killed children): run
	// four at once unless -parallel says otherwise.
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", "4")
	}
	dir, err := os.MkdirTemp("", "logd-streams-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	// The broker and the example binaries build at once.
	bins := map[string]string{"logd": "../cmd/logd", "wordcount": "./examples/wordcount", "trending": "./examples/trending", "payments": "./examples/payments", "fraud": "./examples/fraud"}
	errs := make(chan error, len(bins))
	for name, pkg := range bins {
		go func() { errs <- build(dir, name, pkg) }()
	}
	for range bins {
		if err := <-errs; err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	if s := os.Getenv("STREAMS_BROKERS"); s != "" {
		brokers = strings.Split(s, ",")
		return m.Run()
	}
	if startReference != nil {
		bs, stop, err := startReference(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "streams test: starting Apache Kafka:", err)
			return 1
		}
		defer stop()
		brokers = bs
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
		fmt.Fprintln(os.Stderr, "streams test: starting logd:", err)
		return 1
	}
	brokers = c.Bootstrap()
	code := m.Run()
	if err := c.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "streams test: stopping logd:", err)
		code = 1
	}
	if code != 0 {
		logf.Seek(0, io.SeekStart)
		if b, err := io.ReadAll(logf); err == nil && len(b) > 0 {
			tail := b[max(0, len(b)-4000):]
			fmt.Fprintf(os.Stderr, "--- broker log tail ---\n%s\n", tail)
		}
	}
	return code
}

// build compiles the package at pkg (relative to this directory) to dir/name.
func build(dir, name, pkg string) error {
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building %s: %w", pkg, err)
	}
	return nil
}

var uniq atomic.Int64

// names returns a prefix unique to this test run, for topics and application ids.
func names(t *testing.T) string {
	return fmt.Sprintf("%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()%1e6, uniq.Add(1))
}

// client returns a plain franz-go client closed at the end of the test.
func client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with parts partitions and the configs given (name, value, …).
func createTopic(t *testing.T, topic string, parts int32, configs ...string) {
	t.Helper()
	cfg := map[string]*string{}
	for i := 0; i+1 < len(configs); i += 2 {
		cfg[configs[i]] = kadm.StringPtr(configs[i+1])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(client(t)).CreateTopic(ctx, parts, -1, cfg, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	// Kafka's brokers learn of a topic a moment after CreateTopics answers.
	for {
		d, err := kadm.NewClient(client(t)).ListTopics(ctx, topic)
		if err == nil && d[topic].Err == nil && len(d[topic].Partitions) == int(parts) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("topic %s not in metadata: %v", topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rec is one test record: key, value (nil if Tomb) and event time (ms).
type rec struct {
	Key, Value string
	TS         int64
	Tomb       bool
}

// produce writes records in order, synchronously, keyed (a nil key when Key is "").
func produce(t *testing.T, topic string, rs ...rec) {
	t.Helper()
	cl := client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, r := range rs {
		kr := &kgo.Record{Topic: topic, Value: []byte(r.Value)}
		if r.Key != "" {
			kr.Key = []byte(r.Key)
		}
		if r.Tomb {
			kr.Value = nil
		}
		if r.TS != 0 {
			kr.Timestamp = time.UnixMilli(r.TS)
		}
		if err := cl.ProduceSync(ctx, kr).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// consume reads topic from the start (read_committed) until want records arrived (then
// one more quiet second, to see extras) or 20 s passed; it returns what it read.
func consume(t *testing.T, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var out []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		wait := time.Until(deadline)
		if len(out) >= want {
			wait = time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				t.Fatalf("consume %s: %v", topic, fe.Err)
			}
		}
		n := len(out)
		out = append(out, fs.Records()...)
		if len(out) == n && len(out) >= want {
			break
		}
	}
	return out
}

// strs renders records as "key=value" sorted, for order-free comparison.
func strs(rs []*kgo.Record, value func([]byte) string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Key) + "=" + value(r.Value)
	}
	sort.Strings(out)
	return out
}

func plain(b []byte) string { return string(b) }

// running is an application started by start.
type running struct {
	app    *streams.App
	cancel context.CancelFunc
	done   chan error
}

// start runs topology with cfg (brokers filled in) until stop or the test's end.
func start(t *testing.T, topo *streams.Topology, cfg streams.Config) *running {
	t.Helper()
	cfg.Brokers = brokers
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	if cfg.CommitInterval == 0 {
		cfg.CommitInterval = 200 * time.Millisecond
	}
	app, err := streams.New(topo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{app: app, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- app.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the application and waits for Run to return; a failure fails the test.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(45 * time.Second):
		t.Errorf("Run did not return 45 s after cancel")
	}
}

// listTopics returns every topic's partition count.
func listTopics(t *testing.T) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := kadm.NewClient(client(t)).ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for name, td := range d {
		out[name] = len(td.Partitions)
	}
	return out
}

// testWriter sends an application's logs to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// topicConfig returns the value of a topic's config key ("" if unset or unknown).
func topicConfig(t *testing.T, topic, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(client(t)).DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc.Configs {
		if c.Key == key && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// orNull renders an optional join value.
func orNull(v *string) string {
	if v == nil {
		return "null"
	}
	return *v
}

// waitProcessed waits until app has run n input records through its topology.
func waitProcessed(t *testing.T, app *streams.App, n int64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); app.Metrics().RecordsProcessed.Load() < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("processed %d of %d records", app.Metrics().RecordsProcessed.Load(), n)
		}
	}
}

// gather returns app's metrics as Prometheus exports them, by name.
func gather(t *testing.T, app *streams.App, name string) map[string]*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range app.Metrics().Collectors(name) {
		reg.MustRegister(c)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()[0]
	}
	return out
}
