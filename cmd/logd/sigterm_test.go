package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// serveAt starts `logd serve` on addr over dataDir and waits for its ready line.
func serveAt(t *testing.T, bin, addr, dataDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", addr)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no ready line from logd serve")
	}
	return cmd
}

type ackedRecord struct {
	partition int32
	offset    int64
}

// TestSIGTERMUnderLoad: an idempotent acks=all producer writes as fast as it can; SIGTERM
// mid-load makes the broker exit 0; after a restart on the same data every acknowledged
// record is at the offset it was acknowledged with, with the same value, exactly once.
func TestSIGTERMUnderLoad(t *testing.T) {
	bin := buildLogd(t)
	addr := freePort(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := serveAt(t, bin, addr, data)
	defer func() { srv.Process.Kill(); srv.Wait() }()
	const topic = "load"
	ok(t, bin, "", "topic", "create", topic, "--partitions", "3", "--bootstrap", addr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent is franz-go's default
		kgo.ProducerLinger(0), kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var (
		mu     sync.Mutex
		acked  = map[string]ackedRecord{}
		failed atomic.Int64
	)
	ctx, stop := context.WithCancel(context.Background())
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := 0; ctx.Err() == nil; i++ {
			v := fmt.Sprintf("record-%07d", i)
			cl.Produce(ctx, &kgo.Record{Key: []byte(v[len(v)-2:]), Value: []byte(v)}, func(r *kgo.Record, err error) {
				if err != nil {
					failed.Add(1)
					return
				}
				mu.Lock()
				acked[string(r.Value)] = ackedRecord{r.Partition, r.Offset}
				mu.Unlock()
			})
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count() < 20_000 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	before := count()
	if before == 0 {
		t.Fatal("nothing acknowledged before SIGTERM")
	}

	srv.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM under load: %v (want status 0)", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("no exit within 40 s of SIGTERM under load")
	}
	atShutdown := count()

	// Restart on the same data and port: the producer's retries reach it; stop producing and
	// wait for every outstanding record to be acknowledged or failed.
	srv = serveAt(t, bin, addr, data)
	stop()
	<-produced
	fctx, fcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer fcancel()
	if err := cl.Flush(fctx); err != nil {
		t.Fatalf("flush after restart: %v", err)
	}
	t.Logf("acknowledged: %d before SIGTERM, %d by shutdown, %d in all; %d failed (cancelled when production stopped)",
		before, atShutdown, count(), failed.Load())

	// Read every partition to its end.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(fctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[int32]kgo.Offset{}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) {
		parts[o.Partition] = kgo.NewOffset().AtStart()
		want += o.Offset
	})
	rd, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	log := map[ackedRecord]string{}
	seen := map[string]int{}
	for int64(len(log)) < want {
		fs := rd.PollFetches(fctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("reading back after %d of %d records: %v", len(log), want, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			log[ackedRecord{r.Partition, r.Offset}] = string(r.Value)
			seen[string(r.Value)]++
		})
	}

	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for v, at := range acked {
		if got, ok := log[at]; !ok || got != v {
			if missing < 5 {
				t.Errorf("acknowledged %s at partition %d offset %d; the log has %q there", v, at.partition, at.offset, got)
			}
			missing++
		}
	}
	dups := 0
	for v, n := range seen {
		if n > 1 {
			if dups < 5 {
				t.Errorf("%s is in the log %d times (idempotent producer)", v, n)
			}
			dups++
		}
	}
	if missing > 0 || dups > 0 {
		t.Fatalf("%d of %d acknowledged records missing or different, %d duplicated, in %d records read", missing, len(acked), dups, len(log))
	}
	if len(log) < len(acked) {
		t.Fatalf("%d records in the log, %d acknowledged", len(log), len(acked))
	}
}

// TestServeScript runs the README's first command, scripts/serve.sh: it says it is building,
// becomes the broker itself (exec: the pid the shell started serves), and Ctrl-C (SIGINT)
// stops it cleanly with exit status 0, leaving nothing listening.
func TestServeScript(t *testing.T) {
	addr := freePort(t)
	dir := t.TempDir()
	cmd := exec.Command("sh", "../../scripts/serve.sh", "--data-dir", filepath.Join(dir, "data"), "--listen", addr)
	cmd.Env = append(cmd.Environ(), "LOGD_BIN="+filepath.Join(dir, "logd"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	building, ready := false, false
	deadline := time.After(3 * time.Minute)
	for !ready {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve.sh ended before the broker was ready (building line seen: %v)", building)
			}
			building = building || strings.HasPrefix(l, "building ")
			ready = strings.Contains(l, "logd ready")
		case <-deadline:
			t.Fatal("no ready line from scripts/serve.sh")
		}
	}
	if !building {
		t.Error("serve.sh did not say it was building")
	}
	comm, err := exec.Command("ps", "-o", "comm=", "-p", fmt.Sprint(cmd.Process.Pid)).Output()
	if err != nil || strings.TrimSpace(string(comm)) != "logd" {
		t.Errorf("the started process is %q (%v), not logd itself: signals would not reach the broker", comm, err)
	}
	cmd.Process.Signal(syscall.SIGINT)
	for range lines {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after Ctrl-C: %v, want exit status 0", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTimeout(time.Second))
	if err == nil {
		defer cl.Close()
		if err := cl.Ping(context.Background()); err == nil {
			t.Error("something still answers on the broker's address after it stopped")
		}
	}
}
