//go:build soak

package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The soak tests (make soak-waits) run a real `logd serve` child and hold thousands of
// parked requests against it through real sockets. The broker is a child because a
// connection costs the broker two descriptors and the client one, and RLIMIT_NOFILE caps the
// sum per process.
var (
	soakConns   = flag.Int("soak.conns", 5000, "TestSoakParkedFetches: client connections")
	soakPerConn = flag.Int("soak.per-conn", 2, "TestSoakParkedFetches: long-poll fetches pipelined per connection")
	soakMembers = flag.Int("soak.members", 2000, "TestSoakRebalance: consumer group members")
)

// soakBroker is a `logd serve` child process.
type soakBroker struct {
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

func startSoakBroker(t *testing.T) *soakBroker {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "logd")
	build := exec.Command("go", "build", "-o", bin, "../cmd/logd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "logd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--data-dir", filepath.Join(dir, "data"), "--listen", addr)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sb := &soakBroker{addr: addr, cmd: cmd, log: logf}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("broker log (tail):\n%s", tail(string(out), 4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sb
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// rss is the broker's resident set size in bytes.
func (sb *soakBroker) rss(t *testing.T) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", sb.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// soakConn is a raw Kafka connection for pipelined requests.
type soakConn struct {
	c    net.Conn
	br   *bufio.Reader
	f    *kmsg.RequestFormatter
	corr int32
}

func dialSoak(addr string) (*soakConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &soakConn{c: c, br: bufio.NewReaderSize(c, 4096), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("soak"))}, nil
}

func (sc *soakConn) send(req kmsg.Request) error {
	sc.corr++
	_, err := sc.c.Write(sc.f.AppendRequest(nil, req, sc.corr))
	return err
}

// recv reads one response and decodes it as req's.
func (sc *soakConn) recv(req kmsg.Request) (kmsg.Response, error) {
	var size [4]byte
	if _, err := io.ReadFull(sc.br, size[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(sc.br, body); err != nil {
		return nil, err
	}
	body = body[4:]
	if req.IsFlexible() {
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body)
}

// responsiveness measures, while requests are parked, a fresh client's Metadata (connect
// included) and a produce → consume round trip through franz-go clients.
func responsiveness(t *testing.T, addr, topic string, rounds int) (meta, rt time.Duration) {
	t.Helper()
	var metas, rts []time.Duration
	for range rounds {
		start := time.Now()
		sc, err := dialSoak(addr)
		if err != nil {
			t.Fatal(err)
		}
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		_ = sc.c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := sc.send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := sc.recv(req); err != nil {
			t.Fatal(err)
		}
		metas = append(metas, time.Since(start))
		sc.c.Close()
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchMaxWait(5*time.Second),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Warm both clients (metadata, the consumer's first fetch parked at the end).
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for i := range rounds {
		want := fmt.Sprintf("rt-%d", i)
		start := time.Now()
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	poll:
		for {
			fs := cons.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatal("round trip: no record")
			}
			for _, r := range fs.Records() {
				if string(r.Value) == want {
					break poll
				}
			}
		}
		rts = append(rts, time.Since(start))
	}
	return median(metas), median(rts)
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// TestSoakParkedFetches: -soak.conns connections each pipelining -soak.per-conn long-poll
// fetches (MaxWaitMs 25 s) on an idle topic; meanwhile a fresh client's Metadata median is
// under 50 ms and a produce → consume round trip under 100 ms; then one append answers every
// parked fetch within a second. Reports the broker's RSS per connection and per parked fetch.
func TestSoakParkedFetches(t *testing.T) {
	sb := startSoakBroker(t)
	adm, err := kgo.NewClient(kgo.SeedBrokers(sb.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(adm).CreateTopics(ctx, 1, 1, nil, "idle", "rt"); err != nil {
		t.Fatal(err)
	}
	n := *soakConns * *soakPerConn
	// The client whose append wakes the fetches, warmed (connection, metadata, producer id)
	// by a first record, which the fetches start after.
	wake, err := kgo.NewClient(kgo.SeedBrokers(sb.addr), kgo.DefaultProduceTopic("idle"))
	if err != nil {
		t.Fatal(err)
	}
	defer wake.Close()
	if err := wake.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	rss0 := sb.rss(t)

	conns := make([]*soakConn, *soakConns)
	for i := range conns {
		sc, err := dialSoak(sb.addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		defer sc.c.Close()
		conns[i] = sc
	}
	time.Sleep(2 * time.Second)
	rss1 := sb.rss(t)

	req := fetchReqDP(11, "idle", [16]byte{}, 0, 1)
	req.MaxWaitMillis = 25000
	for _, sc := range conns {
		for range *soakPerConn {
			if err := sc.send(req); err != nil {
				t.Fatal(err)
			}
		}
	}
	sent := time.Now()
	time.Sleep(3 * time.Second) // every fetch read and parked
	rss2 := sb.rss(t)

	meta, rt := responsiveness(t, sb.addr, "rt", 11)
	if el := time.Since(sent); el > 20*time.Second {
		t.Fatalf("responsiveness checks took %v: the parked fetches expire at 25 s", el)
	}

	var answered, withData atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	if err := wake.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wakeProduce := time.Since(start) // the append includes its wake of every parked fetch
	var last atomic.Int64
	for _, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for range *soakPerConn {
				resp, err := sc.recv(req)
				if err != nil {
					return
				}
				answered.Add(1)
				if p := resp.(*kmsg.FetchResponse).Topics[0].Partitions[0]; len(p.RecordBatches) > 0 {
					withData.Add(1)
				}
				last.Store(int64(time.Since(start)))
			}
		}()
	}
	wg.Wait()
	all := time.Duration(last.Load())
	t.Logf("%d connections × %d parked fetches = %d: broker RSS %.1f MiB idle, +%.1f KiB per connection, +%.2f KiB per parked fetch",
		*soakConns, *soakPerConn, n, float64(rss0)/(1<<20), float64(rss1-rss0)/float64(*soakConns)/1024, float64(rss2-rss1)/float64(n)/1024)
	t.Logf("while parked: fresh-client Metadata median %v, produce→consume round trip median %v", meta, rt)
	t.Logf("one append answered %d of %d parked fetches (%d with the record) in %v; that produce took %v", answered.Load(), n, withData.Load(), all, wakeProduce)
	if answered.Load() != int64(n) || withData.Load() != int64(n) {
		t.Fatalf("answered %d (%d with data) of %d", answered.Load(), withData.Load(), n)
	}
	if meta > 50*time.Millisecond {
		t.Errorf("Metadata median %v > 50 ms", meta)
	}
	if rt > 100*time.Millisecond {
		t.Errorf("round trip median %v > 100 ms", rt)
	}
	if all > time.Second {
		t.Errorf("the append answered the parked fetches in %v > 1 s", all)
	}
}

// TestSoakRebalance: -soak.members members of one group join (JoinGroup parked until the
// rebalance completes) and sync (followers parked until the leader's SyncGroup), while a
// fresh client's Metadata and a produce → consume round trip are measured.
func TestSoakRebalance(t *testing.T) {
	sb := startSoakBroker(t)
	adm, err := kgo.NewClient(kgo.SeedBrokers(sb.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(adm).CreateTopics(ctx, 1, 1, nil, "rt"); err != nil {
		t.Fatal(err)
	}
	n := *soakMembers
	conns := make([]*soakConn, n)
	for i := range conns {
		sc, err := dialSoak(sb.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer sc.c.Close()
		conns[i] = sc
	}
	// FindCoordinator first: it loads the coordinator (creating __consumer_offsets).
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 3
	fc.CoordinatorKey = "soak"
	if err := conns[0].send(fc); err != nil {
		t.Fatal(err)
	}
	if _, err := conns[0].recv(fc); err != nil {
		t.Fatal(err)
	}
	join := func() *kmsg.JoinGroupRequest {
		r := kmsg.NewPtrJoinGroupRequest()
		r.Version = 3 // before KIP-394: one round
		r.Group, r.ProtocolType = "soak", "consumer"
		r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 45000, 60000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
		r.Protocols = append(r.Protocols, p)
		return r
	}()
	start := time.Now()
	for _, sc := range conns {
		if err := sc.send(join); err != nil {
			t.Fatal(err)
		}
	}
	// The joins park until everyone joined (or the initial rebalance delay passes).
	metaJ, rtJ := responsiveness(t, sb.addr, "rt", 5)
	members := make([]string, n)
	leader := ""
	var gen int32
	var wg sync.WaitGroup
	var failed atomic.Int64
	var mu sync.Mutex
	for i, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sc.c.SetReadDeadline(time.Now().Add(90 * time.Second))
			resp, err := sc.recv(join)
			if err != nil || resp.(*kmsg.JoinGroupResponse).ErrorCode != 0 {
				failed.Add(1)
				return
			}
			r := resp.(*kmsg.JoinGroupResponse)
			members[i] = r.MemberID
			mu.Lock()
			leader, gen = r.LeaderID, r.Generation
			mu.Unlock()
		}()
	}
	wg.Wait()
	joined := time.Since(start)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d joins failed", failed.Load(), n)
	}
	// Followers sync first and park; measure; then the leader syncs and answers them.
	syncReq := func(i int) *kmsg.SyncGroupRequest {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version = 3
		r.Group, r.Generation, r.MemberID = "soak", gen, members[i]
		if members[i] == leader {
			for _, m := range members {
				a := kmsg.NewSyncGroupRequestGroupAssignment()
				a.MemberID, a.MemberAssignment = m, []byte{0}
				r.GroupAssignment = append(r.GroupAssignment, a)
			}
		}
		return r
	}
	li := -1
	for i := range conns {
		if members[i] == leader {
			li = i
			continue
		}
		if err := conns[i].send(syncReq(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second)
	metaS, rtS := responsiveness(t, sb.addr, "rt", 5)
	syncStart := time.Now()
	if err := conns[li].send(syncReq(li)); err != nil {
		t.Fatal(err)
	}
	for i, sc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = sc.c.SetReadDeadline(time.Now().Add(60 * time.Second))
			resp, err := sc.recv(syncReq(i))
			if err != nil || resp.(*kmsg.SyncGroupResponse).ErrorCode != 0 {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	synced := time.Since(syncStart)
	t.Logf("%d members: joined in %v (Metadata median %v, round trip median %v meanwhile); synced %v after the leader (Metadata %v, round trip %v while followers were parked)",
		n, joined, metaJ, rtJ, synced, metaS, rtS)
	if failed.Load() > 0 {
		t.Fatalf("%d of %d syncs failed", failed.Load(), n)
	}
	for _, d := range []time.Duration{metaJ, metaS} {
		if d > 50*time.Millisecond {
			t.Errorf("Metadata median %v > 50 ms", d)
		}
	}
	for _, d := range []time.Duration{rtJ, rtS} {
		if d > 100*time.Millisecond {
			t.Errorf("round trip median %v > 100 ms", d)
		}
	}
}
