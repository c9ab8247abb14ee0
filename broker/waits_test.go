package broker

import (
	"context"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/replication"
)

// startBrokerWorkers is startBroker with the network worker pool shrunk to workers
// goroutines: waits that held a worker would starve everything else at once.
func startBrokerWorkers(t testing.TB, workers int, modify func(*Config)) *testBroker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.AdvertisedHost = "127.0.0.1"
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	cfg.AdvertisedPort = int32(p)
	cfg.Logger = quietLogger()
	if modify != nil {
		modify(&cfg)
	}
	b, closeNode, err := StartNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{HeaderVersion: HeaderVersion, Workers: workers}, b)
	if err := srv.Start(addr); err != nil {
		closeNode()
		t.Fatal(err)
	}
	tb := &testBroker{t: t, dir: cfg.DataDir, b: b, close: closeNode, srv: srv, addr: addr}
	t.Cleanup(tb.stop)
	return tb
}

// timedMetadata sends a Metadata request on a fresh connection and returns how long the
// answer took (connect included).
func timedMetadata(t testing.TB, tb *testBroker) time.Duration {
	t.Helper()
	start := time.Now()
	rc := dialDP(t, tb)
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	rc.request(req)
	d := time.Since(start)
	rc.c.Close()
	return d
}

// TestParkedFetchesHoldNoWorker: a thousand long-poll fetches parked on an idle topic with four
// network workers; a new client is still served at once, and one append answers them all. A
// fetch that waited on a worker goroutine would leave the other 996 unread and the new client
// unserved until the polls expire.
func TestParkedFetchesHoldNoWorker(t *testing.T) {
	const n = 1000
	tb := startBrokerWorkers(t, 4, nil)
	cl := tb.client(kgo.DefaultProduceTopic("idle"), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "idle"); err != nil {
		t.Fatal(err)
	}
	req := fetchReqDP(11, "idle", [16]byte{}, 0, 0)
	req.MaxWaitMillis = 20000
	conns := make([]*rawConnDP, n)
	corrs := make([]int32, n)
	for i := range conns {
		conns[i] = dialDP(t, tb)
		corrs[i] = conns[i].send(req)
	}
	// Every fetch reaches the broker and parks.
	deadline := time.Now().Add(10 * time.Second)
	for tb.b.parked.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d fetches parked after 10s (server %+v)", tb.b.parked.Load(), n, tb.srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var lat []time.Duration
	for range 5 {
		lat = append(lat, timedMetadata(t, tb))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if lat[2] > time.Second {
		t.Fatalf("metadata with %d parked fetches: median %v (all %v)", n, lat[2], lat)
	}

	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fetchPartDP(t, conns[i].recv(req, corrs[i]))
			if p.HighWatermark != 1 || len(p.RecordBatches) == 0 {
				t.Errorf("fetch %d: hw %d, %d bytes", i, p.HighWatermark, len(p.RecordBatches))
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("one append answered %d parked fetches in %v", n, el)
	}
	if got := tb.b.parked.Load(); got != 0 {
		t.Fatalf("%d fetches still counted as parked", got)
	}
	t.Logf("metadata median %v; %d fetches answered %v after the append", lat[2], n, time.Since(start))
}

// TestParkedFetchShutdown: BeginShutdown answers parked fetches at once.
func TestParkedFetchShutdown(t *testing.T) {
	tb := startBrokerWorkers(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "idle"); err != nil {
		t.Fatal(err)
	}
	req := fetchReqDP(11, "idle", [16]byte{}, 0, 0)
	req.MaxWaitMillis = 25000
	rc := dialDP(t, tb)
	corr := rc.send(req)
	for tb.b.parked.Load() < 1 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	tb.b.BeginShutdown()
	p := fetchPartDP(t, rc.recv(req, corr))
	if el := time.Since(start); el > 5*time.Second || p.ErrorCode != 0 {
		t.Fatalf("parked fetch answered %v after BeginShutdown, error %d", el, p.ErrorCode)
	}
}

// TestParkedJoinsHoldNoWorker: three hundred JoinGroup requests parked for a rebalance with
// four network workers; a new client is served meanwhile, and every member is answered when
// the rebalance completes.
func TestParkedJoinsHoldNoWorker(t *testing.T) {
	const n = 300
	tb := startBrokerWorkers(t, 4, func(c *Config) { c.GroupInitialRebalanceDelay = 2 * time.Second })
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version = 3
	fc.CoordinatorKey = "g"
	dialDP(t, tb).request(fc) // loads the coordinator
	join := kmsg.NewPtrJoinGroupRequest()
	join.Version = 3 // before KIP-394: one round
	join.Group, join.ProtocolType = "g", "consumer"
	join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = 30000, 30000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0}
	join.Protocols = append(join.Protocols, p)
	conns := make([]*rawConnDP, n)
	corrs := make([]int32, n)
	start := time.Now()
	for i := range conns {
		conns[i] = dialDP(t, tb)
		corrs[i] = conns[i].send(join)
	}
	time.Sleep(300 * time.Millisecond)
	if d := timedMetadata(t, tb); d > time.Second || time.Since(start) > 2*time.Second {
		t.Fatalf("metadata with %d parked joins took %v (%v after the first join)", n, d, time.Since(start))
	}
	var wg sync.WaitGroup
	gens := make([]int32, n)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := conns[i].recv(join, corrs[i]).(*kmsg.JoinGroupResponse)
			if r.ErrorCode != 0 {
				t.Errorf("join %d: error %d", i, r.ErrorCode)
			}
			gens[i] = r.Generation
		}()
	}
	wg.Wait()
	for i, g := range gens {
		if g != gens[0] {
			t.Fatalf("member %d got generation %d, member 0 %d", i, g, gens[0])
		}
	}
}

// TestParkedFetchMinBytes: a parked fetch woken by an append that does not bring MinBytes
// parks again, and the append that completes MinBytes answers it long before MaxWait.
func TestParkedFetchMinBytes(t *testing.T) {
	tb := startBrokerWorkers(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "mb"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("mb"), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	value := make([]byte, 100)
	req := fetchReqDP(11, "mb", [16]byte{}, 0, 0)
	req.MaxWaitMillis = 20000
	req.MinBytes = 300 // two batches of one 100-byte record are enough, one is not
	rc := dialDP(t, tb)
	corr := rc.send(req)
	got := make(chan kmsg.FetchResponseTopicPartition, 1)
	go func() { got <- fetchPartDP(t, rc.recv(req, corr)) }()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		t.Fatalf("answered with %d bytes, below MinBytes", len(p.RecordBatches))
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if len(p.RecordBatches) < int(req.MinBytes) {
			t.Fatalf("answered with %d bytes", len(p.RecordBatches))
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("not answered %v after MinBytes was reached", time.Since(start))
	}
}

// TestParkedProducesHoldNoWorker: two hundred acks=all produces parked for a follower that
// has not fetched, with four network workers; a new client is served meanwhile, and the
// follower's fetch past the batches answers them all.
func TestParkedProducesHoldNoWorker(t *testing.T) {
	const n = 200
	tb := startBrokerWorkers(t, 4, func(c *Config) { c.Logger = slog.New(slog.DiscardHandler) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.admin().CreateTopic(ctx, 1, 1, nil, "r"); err != nil {
		t.Fatal(err)
	}
	waitLeading(t, tb, "r", 0) // then the test takes the leadership over, with a follower in the ISR
	const epoch = 3
	st := replication.PartitionState{Leader: 1, LeaderEpoch: epoch, PartitionEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	if _, err := tb.b.Lead("r", 0, replication.Config{ReplicaLagTime: time.Minute, MinInsyncReplicas: 2}, st, &acceptingController{}); err != nil {
		t.Fatal(err)
	}
	conns := make([]*rawConnDP, n)
	reqs := make([]*kmsg.ProduceRequest, n)
	corrs := make([]int32, n)
	for i := range conns {
		conns[i] = dialDP(t, tb)
		reqs[i] = produceReqDP(9, -1, "r", 0, batchDP{timestamps: []int64{1}, valueSize: 10}.encode())
		reqs[i].TimeoutMillis = 20000
		corrs[i] = conns[i].send(reqs[i])
	}
	leaderLog := tb.b.Engine().Log(engine.TopicPartition{Topic: "r", Partition: 0})
	for deadline := time.Now().Add(10 * time.Second); leaderLog.LogEndOffset() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d produces appended", leaderLog.LogEndOffset(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := timedMetadata(t, tb); d > time.Second {
		t.Fatalf("metadata with %d parked produces took %v", n, d)
	}
	fc, err := replication.Dial(ctx, tb.addr, 2, kwire.Security{})
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	fc.MaxWait = 10 * time.Millisecond
	if _, err := fc.Fetch(ctx, engine.TopicPartition{Topic: "r", Partition: 0}, epoch, n, 1<<20); err != nil {
		t.Fatal(err) // the follower has everything below n: the high watermark moves to n
	}
	for i := range conns {
		r := conns[i].recv(reqs[i], corrs[i]).(*kmsg.ProduceResponse)
		if p := r.Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce %d: error %d", i, p.ErrorCode)
		}
	}
}

// TestCatalogChangesHoldNoWorker: a flood of CreateTopics, DeleteTopics and auto-creating
// Metadata requests, each waiting for the controller and for this broker to apply the change,
// with four network workers; Metadata and Produce are still served meanwhile. A catalog change
// that waited on its worker (they also queue behind each other on b.admin) would leave none
// free until the flood drains.
func TestCatalogChangesHoldNoWorker(t *testing.T) {
	const n = 12
	tb := startBrokerWorkers(t, 4, nil)
	createTopicDP(t, tb, "p", 1, nil)
	waitLeading(t, tb, "p", 0)

	conns := make([]*rawConnDP, n)
	creates := make([]*kmsg.CreateTopicsRequest, n)
	deletes := make([]*kmsg.DeleteTopicsRequest, n)
	autos := make([]*kmsg.MetadataRequest, n)
	corrs := make([][3]int32, n)
	start := time.Now()
	for i := range conns {
		conns[i] = dialDP(t, tb)
		name := "flood-" + strconv.Itoa(i)
		creates[i] = kmsg.NewPtrCreateTopicsRequest()
		creates[i].Version = 7
		creates[i].TimeoutMillis = 30000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 8, -1
		creates[i].Topics = append(creates[i].Topics, rt)
		deletes[i] = kmsg.NewPtrDeleteTopicsRequest()
		deletes[i].Version = 5
		deletes[i].TimeoutMillis = 30000
		deletes[i].TopicNames = []string{name}
		autos[i] = kmsg.NewPtrMetadataRequest()
		autos[i].Version, autos[i].AllowAutoTopicCreation = 12, true
		autos[i].Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("auto-" + strconv.Itoa(i))}}
		corrs[i] = [3]int32{conns[i].send(creates[i]), conns[i].send(deletes[i]), conns[i].send(autos[i])}
	}

	var worst time.Duration
	rc := dialDP(t, tb)
	for range 5 {
		if d := timedMetadata(t, tb); d > worst {
			worst = d
		}
		ps := time.Now()
		req := produceReqDP(9, 1, "p", 0, batchDP{timestamps: []int64{1}, valueSize: 10}.encode())
		if p := rc.request(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 {
			t.Fatalf("produce: error %d", p.ErrorCode)
		}
		worst = max(worst, time.Since(ps))
	}
	served := time.Since(start)

	for i := range conns {
		cr := conns[i].recv(creates[i], corrs[i][0]).(*kmsg.CreateTopicsResponse)
		if e := cr.Topics[0].ErrorCode; e != 0 {
			t.Fatalf("create %d: error %d", i, e)
		}
		dr := conns[i].recv(deletes[i], corrs[i][1]).(*kmsg.DeleteTopicsResponse)
		if e := dr.Topics[0].ErrorCode; e != 0 {
			t.Fatalf("delete %d: error %d", i, e)
		}
		mr := conns[i].recv(autos[i], corrs[i][2]).(*kmsg.MetadataResponse)
		if e := mr.Topics[0].ErrorCode; e != 0 {
			t.Fatalf("auto-creating metadata %d: error %d", i, e)
		}
	}
	flood := time.Since(start)
	t.Logf("flood of %d creates, deletes and auto-creates: %v; five Metadata and Produce served in %v (worst %v)", n, flood, served, worst)
	if worst > 300*time.Millisecond || served > flood/8 {
		t.Fatalf("Metadata/Produce during the catalog flood: worst %v, all five after %v of a %v flood", worst, served, flood)
	}
}
