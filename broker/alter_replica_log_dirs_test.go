package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterReplicaLogDirs sends AlterReplicaLogDirs for one partition to broker 1 and returns its
// error code.
func alterReplicaLogDirs(t *testing.T, cl *kgo.Client, dir, topic string, partition int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAlterReplicaLogDirsRequest()
	d := kmsg.NewAlterReplicaLogDirsRequestDir()
	d.Dir = dir
	dt := kmsg.NewAlterReplicaLogDirsRequestDirTopic()
	dt.Topic, dt.Partitions = topic, []int32{partition}
	d.Topics = append(d.Topics, dt)
	req.Dirs = append(req.Dirs, d)
	// To the broker itself: the client would otherwise shard the request by the partitions'
	// replicas and answer an unknown topic itself.
	kresp, err := cl.Broker(1).Request(testCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.AlterReplicaLogDirsResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != topic || len(resp.Topics[0].Partitions) != 1 ||
		resp.Topics[0].Partitions[0].Partition != partition {
		t.Fatalf("AlterReplicaLogDirs answer: %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestAlterReplicaLogDirs moves a partition to the other log directory over the wire while a
// producer and a fetcher keep going: DescribeLogDirs shows the future replica in the
// destination during the copy (throttled so that it lasts) and the partition there after;
// nothing acknowledged is lost, no fetch fails, and a restart finds it in the destination.
func TestAlterReplicaLogDirs(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "second")
	modify := func(c *Config) {
		c.ExtraLogDirs = []string{extra}
		c.MoveLogBytesPerSecond = 2 << 20
	}
	tb := startBroker(t, modify)
	cs := newClients(t, tb)
	ctx := testCtx(t)
	adm := cs.admin()
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "mv"); err != nil {
		t.Fatal(err)
	}
	const preload = 40
	produceN(t, cs, "mv", 0, preload, 100<<10) // 4 MiB: two seconds of copying
	describe := func() kadm.DescribedLogDirs { return describeLogDirs(t, cs) }
	var src, dst string
	for _, d := range describe() {
		if _, ok := d.Topics["mv"][0]; ok {
			src = d.Dir
		} else {
			dst = d.Dir
		}
	}
	if src == "" || dst == "" {
		t.Fatalf("source %q, destination %q", src, dst)
	}

	raw := cs.client()
	if code := alterReplicaLogDirs(t, raw, filepath.Join(extra, "nope"), "mv", 0); code != kerr.LogDirNotFound.Code {
		t.Fatalf("unknown directory: error %d, want LOG_DIR_NOT_FOUND", code)
	}
	if code := alterReplicaLogDirs(t, raw, dst, "no-such-topic", 0); code != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: error %d, want UNKNOWN_TOPIC_OR_PARTITION", code)
	}
	if code := alterReplicaLogDirs(t, raw, src, "mv", 0); code != 0 {
		t.Fatalf("move to its own directory: error %d", code)
	}

	// A producer and a fetcher throughout the move.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var acked []string
	errs := make(chan error, 2)
	producer := cs.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	rc := dialDP(t, tb)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprintf("during-%d", i)
			if err := producer.ProduceSync(context.Background(), &kgo.Record{Topic: "mv", Partition: 0, Value: []byte(v)}).FirstErr(); err != nil {
				errs <- fmt.Errorf("produce %s: %w", v, err)
				return
			}
			mu.Lock()
			acked = append(acked, v)
			mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		// Each fetch reads one batch: the first, then the newest one the last fetch saw.
		offset := int64(0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			req := fetchReqDP(12, "mv", [16]byte{}, 0, offset)
			req.Topics[0].Partitions[0].PartitionMaxBytes = 1
			resp := rc.request(req).(*kmsg.FetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				errs <- fmt.Errorf("fetch during the move: %d topics", len(resp.Topics))
				return
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
				errs <- fmt.Errorf("fetch at %d during the move: error %d, %d bytes", offset, p.ErrorCode, len(p.RecordBatches))
				return
			}
			offset = p.HighWatermark - 1
		}
	}()

	if code := alterReplicaLogDirs(t, raw, dst, "mv", 0); code != 0 {
		t.Fatalf("AlterReplicaLogDirs: error %d", code)
	}
	sawFuture := false
	deadline := time.Now().Add(90 * time.Second)
	for {
		var cur string
		future := false
		for _, d := range describe() {
			p, ok := d.Topics["mv"][0]
			switch {
			case !ok:
			case p.IsFuture:
				if d.Dir != dst || p.OffsetLag < 0 {
					t.Fatalf("future replica in %s (want %s), lag %d", d.Dir, dst, p.OffsetLag)
				}
				future = true
			default:
				cur = d.Dir
			}
		}
		sawFuture = sawFuture || future
		if cur == dst && !future {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("partition still in %s (future %v) after 90 s", cur, future)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !sawFuture {
		t.Fatal("DescribeLogDirs never showed the future replica")
	}
	// Produces and fetches against the moved log too.
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		more := len(acked) > n+3
		mu.Unlock()
		if more || time.Now().After(deadline) {
			break
		}
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	mu.Lock()
	during := append([]string(nil), acked...)
	mu.Unlock()
	if len(during) <= n {
		t.Fatal("no produce completed after the move")
	}

	check := func(when string) {
		t.Helper()
		cl := cs.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"mv": {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxWait(100*time.Millisecond))
		want := preload + len(during)
		var got []string
		for len(got) < want {
			fs := cl.PollFetches(testCtx(t))
			if err := fs.Err(); err != nil {
				t.Fatalf("%s: consume: %v", when, err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		if len(got) != want {
			t.Fatalf("%s: %d records, want %d", when, len(got), want)
		}
		for i, v := range got {
			switch {
			case i < preload:
				if len(v) != 100<<10 || strings.Trim(v, "x") != "" {
					t.Fatalf("%s: record %d is not the preloaded value", when, i)
				}
			case v != during[i-preload]:
				t.Fatalf("%s: record %d is %q, want %q", when, i, v, during[i-preload])
			}
		}
	}
	check("after the move")
	cs.closeAll()
	tb.stop()
	tb.start(modify)
	for _, d := range describe() {
		if _, ok := d.Topics["mv"][0]; ok != (d.Dir == dst) {
			t.Fatalf("after restart: directory %s lists mv-0: %v", d.Dir, ok)
		}
	}
	check("after restart")
}
