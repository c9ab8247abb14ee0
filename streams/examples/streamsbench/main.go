// Command streamsbench compares this library with Kafka Streams on one machine and one
// broker (make streams-bench): two topologies — a stateless filter and a 1-minute
// tumbling windowed count — over the same pre-generated input, each run once in Go
// (this command's app mode) and once in Java (compat/streams StreamsBench.java, Kafka
// Streams 4.3.1), against the same `logd serve`.
//
//	streamsbench drive -logd bin/logd -records 1000000 -out bench/results/2026-12-07-streams
//	streamsbench app -topology filter|windowed -brokers … -app … -input … -output … -state-dir …
//
// Input: String keys (1000 of them), Long values (8 bytes, 0..999), timestamps 10 ms
// apart. filter keeps values ≥ 500 (half the records); windowed counts per key and
// minute and emits every update (neither side caches: Kafka's statestore cache is set
// to 0). Both: one thread, at least once, commits every second, one input partition.
//
// A run is timed from its first output record (so the JVM's and the group's start-up are
// left out) to its last expected one; the records processed meanwhile are the outputs
// seen meanwhile divided by the outputs per input (½ filter, 1 windowed). CPU time is
// the process's utime + stime from /proc/<pid>/stat over the same interval, so
// CPU-seconds per million records does not depend on how busy the machine is, where
// records/s does.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/logd/logd/internal/testcluster"
	"github.com/logd/logd/streams"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: streamsbench drive|app [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "app":
		err = app(os.Args[2:])
	case "drive":
		err = drive(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want drive or app", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "streamsbench:", err)
		os.Exit(1)
	}
}

// topology builds the Go side of a benchmark topology.
func topology(name, input, output string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	in := streams.From(b, input, streams.String(), streams.Int64())
	switch name {
	case "filter":
		in.Filter(func(_ string, v int64) bool { return v >= 500 }).To(output, streams.String(), streams.Int64())
	case "windowed":
		g := streams.GroupByKey(in, streams.Grouped[string, int64]{Name: "by-key", Keys: streams.String(), Values: streams.Int64()})
		g.WindowedBy(streams.Tumbling(time.Minute, 0)).Count("counts").ToStream().
			To(output, streams.WindowedSerde(streams.String(), time.Minute.Milliseconds()), streams.Int64())
	default:
		return nil, fmt.Errorf("unknown topology %q: want filter or windowed", name)
	}
	return b.Build()
}

// app runs the Go side of one benchmark until SIGTERM.
func app(args []string) error {
	fs := flag.NewFlagSet("app", flag.ExitOnError)
	var (
		topo     = fs.String("topology", "filter", "filter or windowed")
		brokers  = fs.String("brokers", "127.0.0.1:9092", "seed brokers")
		appID    = fs.String("app", "bench", "application id")
		input    = fs.String("input", "bench-in", "input topic")
		output   = fs.String("output", "bench-out", "output topic")
		stateDir = fs.String("state-dir", "bench-state", "state directory")
	)
	fs.Parse(args)
	t, err := topology(*topo, *input, *output)
	if err != nil {
		return err
	}
	a, err := streams.New(t, streams.Config{ApplicationID: *appID, Brokers: strings.Split(*brokers, ","), StateDir: *stateDir,
		CommitInterval: time.Second, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return a.Run(ctx)
}

// result is one run's measurement.
type result struct {
	Impl             string  `json:"impl"`
	Topology         string  `json:"topology"`
	Records          int64   `json:"records"` // input records processed in the timed interval
	Seconds          float64 `json:"seconds"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	RecordsPerSec    float64 `json:"records_per_sec"`
	RecordsPerCPUSec float64 `json:"records_per_cpu_sec"` // records/s per core busy
	CPUSecPerMillion float64 `json:"cpu_sec_per_million"`
}

// drive runs the whole benchmark and writes its results.
func drive(args []string) error {
	fs := flag.NewFlagSet("drive", flag.ExitOnError)
	var (
		logd      = fs.String("logd", "bin/logd", "the logd binary")
		records   = fs.Int64("records", 1_000_000, "input records")
		out       = fs.String("out", "", "results directory (default: print only)")
		classpath = fs.String("classpath", "compat/streams/target/classpath.txt", "Kafka Streams' classpath file")
		javaSrc   = fs.String("java", "compat/streams/src/main/java/StreamsBench.java", "the Java app's source")
		only      = fs.String("impl", "go,java", "implementations to run")
	)
	fs.Parse(args)
	dir, err := os.MkdirTemp("", "streamsbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cp, err := os.ReadFile(*classpath)
	if err != nil {
		return fmt.Errorf("%w (run scripts/compat-deps.sh)", err)
	}
	classes := filepath.Join(dir, "classes")
	if msg, err := exec.Command("javac", "-nowarn", "-d", classes, "-cp", strings.TrimSpace(string(cp)), *javaSrc).CombinedOutput(); err != nil {
		return fmt.Errorf("javac: %v: %s", err, msg)
	}
	jcp := classes + ":" + strings.TrimSpace(string(cp))
	ctx := context.Background()
	logf, err := os.Create(filepath.Join(dir, "logd.log"))
	if err != nil {
		return err
	}
	c, err := testcluster.Start(ctx, testcluster.Config{Binary: *logd, Nodes: 1, Dir: dir, Log: logf})
	if err != nil {
		return fmt.Errorf("starting logd: %w", err)
	}
	defer c.Close()
	brokers := c.Bootstrap()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	const input = "bench-in"
	if err := createTopic(ctx, adm, input); err != nil {
		return err
	}
	fmt.Printf("generating %d records\n", *records)
	const base = 28333334 * 60000
	batch := make([]*kgo.Record, 0, 10_000)
	for i := range *records {
		batch = append(batch, &kgo.Record{Topic: input, Key: []byte(fmt.Sprintf("k%03d", i%1000)),
			Value: binary.BigEndian.AppendUint64(nil, uint64(i%1000)), Timestamp: time.UnixMilli(base + i*10)})
		if len(batch) == cap(batch) || i == *records-1 {
			if err := cl.ProduceSync(ctx, batch...).FirstErr(); err != nil {
				return fmt.Errorf("generating input: %w", err)
			}
			batch = batch[:0]
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var results []result
	for _, topo := range []string{"filter", "windowed"} {
		want := *records // windowed: one update per record
		if topo == "filter" {
			want = *records / 2
		}
		for _, impl := range strings.Split(*only, ",") {
			name := impl + "-" + topo
			output := "bench-out-" + name
			if err := createTopic(ctx, adm, output); err != nil {
				return err
			}
			state := filepath.Join(dir, "state-"+name)
			var cmd *exec.Cmd
			switch impl {
			case "go":
				cmd = exec.Command(self, "app", "-topology", topo, "-brokers", strings.Join(brokers, ","), "-app", "bench-"+name,
					"-input", input, "-output", output, "-state-dir", state)
			case "java":
				cmd = exec.Command("java", "-cp", jcp, "StreamsBench", topo, strings.Join(brokers, ","), "bench-"+name, state, input, output)
			default:
				return fmt.Errorf("unknown implementation %q", impl)
			}
			r, err := measure(ctx, adm, cmd, output, want, float64(want)/float64(*records), filepath.Join(dir, name+".log"))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			r.Impl, r.Topology = impl, topo
			fmt.Printf("%-6s %-9s %9d records %7.2f s %7.2f CPU-s  %9.0f records/s  %9.0f records/CPU-s  %6.2f CPU-s per million\n",
				r.Impl, r.Topology, r.Records, r.Seconds, r.CPUSeconds, r.RecordsPerSec, r.RecordsPerCPUSec, r.CPUSecPerMillion)
			results = append(results, r)
		}
	}
	if *out == "" {
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(map[string]any{"records": *records, "results": results}, "", "  ")
	return os.WriteFile(filepath.Join(*out, "results.json"), append(b, '\n'), 0o644)
}

// createTopic creates a one-partition topic.
func createTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	resp, err := adm.CreateTopic(ctx, 1, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	return nil
}

// measure runs cmd until output holds want records, timing from its first output.
func measure(ctx context.Context, adm *kadm.Client, cmd *exec.Cmd, output string, want int64, perInput float64, logPath string) (result, error) {
	var r result
	lf, err := os.Create(logPath)
	if err != nil {
		return r, err
	}
	defer lf.Close()
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	var (
		started  bool
		t0       time.Time
		cpu0     float64
		out0     int64
		deadline = time.Now().Add(15 * time.Minute)
		pid      = cmd.Process.Pid
	)
	for {
		select {
		case err := <-exited:
			return r, fmt.Errorf("exited early: %v (log %s)", err, logPath)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("not done within 15 minutes (log %s)", logPath)
		}
		ends, err := adm.ListEndOffsets(ctx, output)
		if err != nil {
			continue
		}
		var n int64
		ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
		cpu, err := cpuSeconds(pid)
		if err != nil {
			return r, err
		}
		now := time.Now()
		if !started && n > 0 {
			started, t0, cpu0, out0 = true, now, cpu, n
		}
		if started && n >= want {
			r.Records = int64(float64(n-out0) / perInput)
			r.Seconds = now.Sub(t0).Seconds()
			r.CPUSeconds = cpu - cpu0
			r.RecordsPerSec = float64(r.Records) / r.Seconds
			r.RecordsPerCPUSec = float64(r.Records) / r.CPUSeconds
			r.CPUSecPerMillion = r.CPUSeconds / float64(r.Records) * 1e6
			return r, nil
		}
	}
}

// cpuSeconds is a process's user + system CPU time from /proc/<pid>/stat (clock ticks
// of 1/100 s, Linux's USER_HZ).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return float64(utime+stime) / 100, nil
}
