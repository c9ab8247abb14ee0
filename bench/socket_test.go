package bench

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/cluster"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/perf/loadgen"
)

var (
	inproc      = flag.Bool("inproc", false, "run the broker inside the test binary (for -cpuprofile) instead of a `logd serve` child")
	prefillMB   = flag.Int("fetch.prefill-mb", 1024, "BenchmarkFetchCatchUp: MB of 1 KiB records written before fetching")
	latDuration = flag.Duration("latency.duration", 10*time.Second, "BenchmarkProduceLatency: length of each fixed-rate run")
)

// The request shapes. Batches are what a linger-less Kafka producer sends under load (64 KiB
// of 1 KiB records per partition; ~100 KB of 100-byte records); each connection carries the
// batches of its partitions in one request, as a client does per broker.
type produceShape struct {
	name       string
	acks       int16
	size       int // record value bytes
	batch      int // records per partition batch
	partitions int32
	conns      int
	inflight   int
}

var produceShapes = []produceShape{
	{name: "1KB-6p-acks1", acks: 1, size: 1024, batch: 64, partitions: 6, conns: 3, inflight: 8},
	{name: "1KB-6p-acksall-fsync", acks: -1, size: 1024, batch: 64, partitions: 6, conns: 3, inflight: 8},
	{name: "100B-batched-acks1", acks: 1, size: 100, batch: 1000, partitions: 6, conns: 3, inflight: 8},
}

func (s produceShape) config(addr, topic string) loadgen.ProduceConfig {
	return loadgen.ProduceConfig{
		Bootstrap: addr, Topic: topic, Partitions: s.partitions, Create: true,
		Conns: s.conns, InFlight: s.inflight, Acks: s.acks, RecordSize: s.size, RecordsPerBatch: s.batch,
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	closeShared()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// BenchmarkProduce: saturating produce through the socket; one op is one Produce request.
func BenchmarkProduce(b *testing.B) {
	for _, s := range produceShapes {
		b.Run(s.name, func(b *testing.B) {
			t := startBroker(b, b.TempDir())
			defer t.stop()
			cfg := s.config(t.addr, "bench")
			warm := cfg
			warm.Requests = int64(4 * s.conns) // creates the topic and opens the partitions
			if _, err := loadgen.RunProduce(context.Background(), warm); err != nil {
				b.Fatal(err, t.logs())
			}
			cfg.Requests = int64(b.N)
			before := t.sample()
			b.ResetTimer()
			res, err := loadgen.RunProduce(context.Background(), cfg)
			b.StopTimer()
			after := t.sample()
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				b.Fatal(err, t.logs())
			}
			b.SetBytes(res.Bytes / res.Requests)
			b.ReportMetric(res.RecordsPerSec(), "records/s")
			b.ReportMetric(float64(res.Latency.Quantile(0.99))/1e6, "p99-ms")
			t.reportCPU(b, before, after, res.Bytes)
		})
	}
}

// BenchmarkProduceLatency: a steady 50 MB/s of 1 KiB records to 6 partitions from one
// connection (one producer), latency measured from each request's intended send time. One op
// is one -latency.duration run; the percentiles cover all ops of a benchmark invocation.
func BenchmarkProduceLatency(b *testing.B) {
	for _, acks := range []int16{1, -1} {
		name := "50MBps-acks1"
		if acks == -1 {
			name = "50MBps-acksall-fsync"
		}
		b.Run(name, func(b *testing.B) {
			t := startBroker(b, b.TempDir())
			defer t.stop()
			cfg := loadgen.ProduceConfig{
				Bootstrap: t.addr, Topic: "bench", Partitions: 6, Create: true, Conns: 1, InFlight: 8,
				Acks: acks, RecordSize: 1024, RecordsPerBatch: 16, Rate: 50e6,
			}
			warm := cfg
			warm.Duration = time.Second
			if _, err := loadgen.RunProduce(context.Background(), warm); err != nil {
				b.Fatal(err, t.logs())
			}
			cfg.Duration = *latDuration
			lat, lag := loadgen.NewHistogram(), loadgen.NewHistogram()
			var bytes int64
			var elapsed time.Duration
			before := t.sample()
			b.ResetTimer()
			for range b.N {
				res, err := loadgen.RunProduce(context.Background(), cfg)
				if err == nil {
					err = res.Err()
				}
				if err != nil {
					b.Fatal(err, t.logs())
				}
				lat.Merge(res.Latency)
				lag.Merge(res.SendLag)
				bytes += res.Bytes
				elapsed += res.Elapsed
			}
			b.StopTimer()
			after := t.sample()
			b.ReportMetric(float64(bytes)/1e6/elapsed.Seconds(), "MB/s")
			for _, q := range []struct {
				q    float64
				unit string
			}{{0.5, "p50-µs"}, {0.99, "p99-µs"}, {0.999, "p99.9-µs"}, {1, "max-µs"}} {
				b.ReportMetric(float64(lat.Quantile(q.q))/1e3, q.unit)
			}
			b.ReportMetric(float64(lag.Quantile(0.99))/1e3, "sendlag-p99-µs")
			t.reportCPU(b, before, after, bytes)
		})
	}
}

// BenchmarkFetchCatchUp: a consumer reading 6 partitions from offset 0 to the end, from the
// page cache. One op is one whole catch-up of -fetch.prefill-mb; the prefilled broker is shared
// by every invocation of this benchmark.
func BenchmarkFetchCatchUp(b *testing.B) {
	t := prefilled(b)
	cfg := loadgen.FetchConfig{Bootstrap: t.addr, Topic: "catchup", Partitions: 6, Conns: 2,
		MaxBytes: 64 << 20, PartitionMaxBytes: 8 << 20}
	var bytes int64
	before := t.sample()
	b.ResetTimer()
	for range b.N {
		res, err := loadgen.RunFetch(context.Background(), cfg)
		if err != nil {
			b.Fatal(err, t.logs())
		}
		if res.Bytes < int64(*prefillMB)*1e6 {
			b.Fatalf("fetched %d bytes, prefilled %d MB", res.Bytes, *prefillMB)
		}
		bytes += res.Bytes
		b.SetBytes(res.Bytes)
	}
	b.StopTimer()
	after := t.sample()
	t.reportCPU(b, before, after, bytes)
}

// BenchmarkStartup: `logd serve` on an empty directory, from exec to the first ApiVersions
// answer (ready-ms), then its resident memory after a second idle (idle-RSS-MB).
func BenchmarkStartup(b *testing.B) {
	if *inproc {
		b.Skip("startup and RSS are measured on the child process")
	}
	buildBinary(b, "cmd/logd")
	b.ResetTimer()
	var ready time.Duration
	var rss int64
	for range b.N {
		t := startBroker(b, b.TempDir())
		time.Sleep(time.Second)
		rss += t.rss()
		ready += t.readyIn
		t.stop()
	}
	b.ReportMetric(float64(ready.Microseconds())/1e3/float64(b.N), "ready-ms")
	b.ReportMetric(float64(rss)/float64(b.N)/(1<<20), "idle-RSS-MiB")
}

// BenchmarkGeneratorCeiling: the produce shapes, and a catch-up fetch, against loadgen.Sink
// (a server that stores nothing) in a child process. The generator and sink share the
// machine as generator and broker do, so the rate is a lower bound of the generator's
// ceiling; loadgen-CPU-s/GB is the generator's own cost, whose inverse is what one core of
// generator could drive. A broker number well below either was not limited by the generator.
func BenchmarkGeneratorCeiling(b *testing.B) {
	for _, s := range produceShapes {
		b.Run(s.name, func(b *testing.B) {
			sink := startSink(b)
			defer sink.stop()
			cfg := s.config(sink.addr, "bench")
			cfg.Requests = int64(b.N)
			before := sink.sample()
			b.ResetTimer()
			res, err := loadgen.RunProduce(context.Background(), cfg)
			b.StopTimer()
			after := sink.sample()
			if err == nil {
				err = res.Err()
			}
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(res.Bytes / res.Requests)
			b.ReportMetric(res.RecordsPerSec(), "records/s")
			sink.reportCPU(b, before, after, res.Bytes)
		})
	}
	b.Run("fetch-catchup", func(b *testing.B) {
		sink := startSink(b)
		defer sink.stop()
		cfg := loadgen.FetchConfig{Bootstrap: sink.addr, Topic: "catchup", Partitions: 6, Conns: 2,
			MaxBytes: 64 << 20, PartitionMaxBytes: 8 << 20, MaxTotalBytes: int64(*prefillMB) * 1e6}
		var bytes int64
		before := sink.sample()
		b.ResetTimer()
		for range b.N {
			res, err := loadgen.RunFetch(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(res.Bytes)
			bytes += res.Bytes
		}
		b.StopTimer()
		sink.reportCPU(b, before, sink.sample(), bytes)
	})
}

// ---- brokers under test ----

// target is a broker under test: a `logd serve` child (pid > 0) or in-process.
type target struct {
	b       testing.TB
	addr    string
	pid     int
	readyIn time.Duration // exec to first ApiVersions answer (child only)
	role    string        // "broker" or "sink", in metric names
	stderr  *syncBuffer
	stop    func()
}

var (
	buildMu sync.Mutex
	binDir  string
	built   = map[string]string{}
)

// buildBinary builds a main package of the module once per test binary (cmd/logd,
// perf/cmd/logd-load) and returns its path.
func buildBinary(tb testing.TB, pkg string) string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "logd-bench-bin")
		if err != nil {
			tb.Fatal(err)
		}
		binDir = dir
	}
	p := filepath.Join(binDir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", p, "github.com/logd/logd/"+pkg).CombinedOutput()
	if err != nil {
		tb.Fatalf("go build ./%s: %v\n%s", pkg, err, out)
	}
	built[pkg] = p
	return p
}

func freePort(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBroker starts a broker on dir with the embedded defaults (fsync before acks=all).
func startBroker(tb testing.TB, dir string) *target {
	tb.Helper()
	addr := freePort(tb)
	t := &target{b: tb, addr: addr, stderr: &syncBuffer{}, role: "broker"}
	if *inproc {
		return startInproc(tb, t, dir)
	}
	return startChild(tb, t, buildBinary(tb, "cmd/logd"), "serve", "--data-dir", dir, "--listen", addr)
}

// startInproc runs the broker inside the test binary on t.addr.
func startInproc(tb testing.TB, t *target, dir string) *target {
	cfg := broker.DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.DiscardHandler)
	port, _ := strconv.Atoi(t.addr[strings.LastIndexByte(t.addr, ':')+1:])
	cfg.AdvertisedPort = int32(port)
	node, err := cluster.Start(cluster.Config{Broker: cfg})
	if err != nil {
		tb.Fatal(err)
	}
	<-node.Ready()
	br := node.Broker()
	srv := server.New(server.Config{HeaderVersion: broker.HeaderVersion}, br)
	if err := srv.Start(t.addr); err != nil {
		node.Close()
		tb.Fatal(err)
	}
	t.stop = sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		br.BeginShutdown()
		srv.Shutdown(ctx)
		if err := node.Close(); err != nil {
			tb.Errorf("node close: %v", err)
		}
	})
	return t
}

// startSink runs loadgen's sink in a `logd-load -mode serve-sink` child, so the generator's
// CPU is measured apart from the sink's.
func startSink(tb testing.TB) *target {
	addr := freePort(tb)
	t := &target{b: tb, addr: addr, stderr: &syncBuffer{}, role: "sink"}
	return startChild(tb, t, buildBinary(tb, "perf/cmd/logd-load"), "-mode", "serve-sink", "-listen", addr)
}

// startChild runs a server process and waits until it answers ApiVersions on t.addr.
func startChild(tb testing.TB, t *target, argv ...string) *target {
	addr := t.addr
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, t.stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	t.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.stop = sync.OnceFunc(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				tb.Errorf("%s exited: %v%s", argv[0], err, t.logs())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
			tb.Errorf("%s did not stop within 30s of SIGTERM%s", argv[0], t.logs())
		}
	})
	for {
		c, err := loadgen.Dial(addr, 100*time.Millisecond)
		if err == nil {
			t.readyIn = time.Since(start)
			c.Close()
			break
		}
		select {
		case err := <-exited:
			tb.Fatalf("%s exited before ready: %v%s", argv[0], err, t.logs())
		case <-time.After(time.Millisecond):
		}
		if time.Since(start) > 10*time.Second {
			t.stop()
			tb.Fatalf("%s not ready after 10s%s", argv[0], t.logs())
		}
	}
	return t
}

func (t *target) logs() string {
	if t.stderr.Len() == 0 {
		return ""
	}
	return "\nlogd stderr:\n" + t.stderr.String()
}

// cpuSample is CPU time used so far by the broker, this process and the whole machine.
type cpuSample struct {
	at        time.Time
	broker    time.Duration // child only
	brokerSys time.Duration // the part of broker spent in the kernel
	self      time.Duration
	machine   time.Duration // all CPUs, busy (including steal)
}

func (t *target) sample() cpuSample {
	s := cpuSample{at: time.Now()}
	if t.pid > 0 {
		user, sys, err := procCPUTimes(t.pid)
		if err != nil {
			t.b.Fatal(err)
		}
		s.broker, s.brokerSys = user+sys, sys
	}
	s.self = selfCPU()
	cpu := readCPUTimes()
	s.machine = cpu.busy + cpu.steal
	return s
}

// reportCPU reports CPU seconds per GB served by the broker, the share of it spent in the
// kernel, the cores it and the generator used, and the share of the machine used by anything
// else.
func (t *target) reportCPU(b *testing.B, before, after cpuSample, bytes int64) {
	wall := after.at.Sub(before.at)
	gb := float64(bytes) / 1e9
	self := after.self - before.self
	other := after.machine - before.machine - self
	if t.pid > 0 {
		br := after.broker - before.broker
		other -= br
		b.ReportMetric(br.Seconds()/gb, t.role+"-CPU-s/GB")
		if br > 0 {
			b.ReportMetric(float64(after.brokerSys-before.brokerSys)/float64(br)*100, t.role+"-sys-%")
		}
		b.ReportMetric(br.Seconds()/wall.Seconds(), t.role+"-cores")
		b.ReportMetric(self.Seconds()/gb, "loadgen-CPU-s/GB")
		b.ReportMetric(self.Seconds()/wall.Seconds(), "loadgen-cores")
	} else {
		b.ReportMetric(self.Seconds()/gb, "proc-CPU-s/GB") // broker + generator
	}
	b.ReportMetric(max(other.Seconds(), 0)/wall.Seconds()/float64(runtime.NumCPU())*100, "other-CPU-%")
}

// rss is the child's VmRSS in bytes.
func (t *target) rss() int64 {
	rss, _, err := procMem(t.pid)
	if err != nil {
		t.b.Fatal(err)
	}
	return rss
}

// ---- the shared prefilled broker ----

var (
	sharedMu  sync.Mutex
	sharedT   *target
	sharedDir string
)

// prefilled returns a broker whose topic "catchup" holds -fetch.prefill-mb of 1 KiB records
// in 6 partitions, started once per test binary.
func prefilled(b *testing.B) *target {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedT != nil {
		sharedT.b = b
		return sharedT
	}
	dir, err := os.MkdirTemp("", "logd-bench-catchup")
	if err != nil {
		b.Fatal(err)
	}
	sharedDir = dir
	t := startBroker(b, dir)
	s := produceShapes[0]
	cfg := s.config(t.addr, "catchup")
	perReq := int64(s.size * s.batch * int(s.partitions) / s.conns)
	cfg.Requests = (int64(*prefillMB)*1e6 + perReq - 1) / perReq
	res, err := loadgen.RunProduce(context.Background(), cfg)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.stop()
		b.Fatal(err, t.logs())
	}
	sharedT = t
	return t
}

func closeShared() {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedT != nil {
		sharedT.stop()
		sharedT = nil
	}
	if sharedDir != "" {
		os.RemoveAll(sharedDir)
	}
}

// syncBuffer collects a child's stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf.Len() > 1<<20 {
		return len(p), nil // keep the start; enough to diagnose
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
