package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/metrics"
	"github.com/logd/logd/net/server"
)

// testNode is one in-process cluster node with its network server.
type testNode struct {
	id   int32
	addr string
	dir  string
	cfg  Config
	node *Node
	srv  *server.Server
}

// freeAddr reserves a loopback port and returns it (closed again, to be bound by the node).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startTestCluster starts n nodes in this process, all voters, on loopback.
func startTestCluster(t *testing.T, n int) []*testNode { return startTestClusterWith(t, n, nil) }

// startTestClusterWith is startTestCluster with each node's Config adjusted by tweak before
// it starts.
func startTestClusterWith(t *testing.T, n int, tweak func(*Config)) []*testNode {
	t.Helper()
	var voters []metadata.Voter
	nodes := make([]*testNode, n)
	for i := range nodes {
		id := int32(i + 1)
		nodes[i] = &testNode{id: id, addr: freeAddr(t), dir: t.TempDir()}
		voters = append(voters, metadata.Voter{ID: id, Addr: freeAddr(t)})
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The nodes stop together: one after the other, the last ones would each wait out the
	// controlled shutdown's limit once the quorum has lost its majority. Registered before the
	// first start (and after the TempDirs, so it runs before they are removed): when a later
	// node fails to start, the ones already running stop before their directories go.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, tn := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tn.stop()
			}()
		}
		wg.Wait()
	})
	for i, tn := range nodes {
		bc := broker.DefaultConfig()
		host, port, _ := net.SplitHostPort(tn.addr)
		p, _ := strconv.Atoi(port)
		bc.NodeID, bc.DataDir, bc.AdvertisedHost, bc.AdvertisedPort = tn.id, tn.dir, host, int32(p)
		bc.Logger = logger.With("node", tn.id)
		bc.ReplicaLagTime = 2 * time.Second
		tn.cfg = Config{Broker: bc, ControllerListen: voters[i].Addr, Voters: voters}
		if tweak != nil {
			tweak(&tn.cfg)
		}
		tn.start(t)
	}
	return nodes
}

func (tn *testNode) start(t *testing.T) {
	t.Helper()
	node, err := Start(tn.cfg)
	if err != nil {
		t.Fatalf("node %d: %v", tn.id, err)
	}
	srv := server.New(server.Config{HeaderVersion: broker.HeaderVersion}, node.Broker())
	if err := srv.Start(tn.addr); err != nil {
		node.Close()
		t.Fatalf("node %d listen: %v", tn.id, err)
	}
	tn.node, tn.srv = node, srv
}

// stop shuts the node down cleanly (controlled shutdown first).
func (tn *testNode) stop() {
	if tn.node == nil {
		return
	}
	tn.node.ControlledShutdown()
	tn.node.Broker().BeginShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tn.srv.Shutdown(ctx)
	tn.node.Close()
	tn.node, tn.srv = nil, nil
}

func seeds(nodes []*testNode) []string {
	var out []string
	for _, tn := range nodes {
		out = append(out, tn.addr)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// replicatedTopic creates topic with parts partitions of replication factor 3 (and configs)
// on the three nodes once all are live, and waits until every partition has a leader and all
// three replicas in its ISR. It returns an acks=all client producing to topic with the
// partition each record names (closed when the test ends) and its admin client.
func replicatedTopic(t *testing.T, ctx context.Context, nodes []*testNode, topic string, parts int32, configs map[string]*string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	waitLive(t, nodes, 3)
	if _, err := adm.CreateTopic(ctx, parts, 3, configs, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	waitFor(t, "full ISRs of "+topic, 20*time.Second, func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if len(p.ISR) != 3 || p.Leader < 0 {
				return false
			}
		}
		return len(md.Topics[topic].Partitions) == int(parts)
	})
	return cl, adm
}

// TestThreeNodeReplication forms a 3-node cluster, creates a topic with replication factor
// 3, writes with acks=all, and checks every replica ends up with the same records; then the
// partition's leader shuts down and writes continue on a new leader without losing any
// acknowledged record.
func TestThreeNodeReplication(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, adm := replicatedTopic(t, ctx, nodes, "orders", 2, nil)

	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := &kgo.Record{Partition: int32(i % 2), Value: []byte(strconv.Itoa(i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 200)

	// Every replica has every record: the leaders' high watermarks reached 100 per partition
	// and the followers' logs end there too.
	waitFor(t, "replicas in sync", 10*time.Second, func() bool {
		for _, tn := range nodes {
			for p := int32(0); p < 2; p++ {
				l := tn.node.Broker().Engine().Log(engine.TopicPartition{Topic: "orders", Partition: p})
				if l == nil || l.LogEndOffset() != 100 {
					return false
				}
			}
		}
		return true
	})

	// DeleteRecords on the leader reaches the followers (they follow its log start offset),
	// so no later leader brings deleted records back.
	del := kadm.Offsets{}
	del.Add(kadm.Offset{Topic: "orders", Partition: 1, At: 40})
	if res, err := adm.DeleteRecords(ctx, del); err != nil || res.Error() != nil {
		t.Fatalf("delete records: %v %v", err, res.Error())
	}
	waitFor(t, "followers' log start offset 40", 10*time.Second, func() bool {
		for _, tn := range nodes {
			l := tn.node.Broker().Engine().Log(engine.TopicPartition{Topic: "orders", Partition: 1})
			if l == nil || l.LogStartOffset() != 40 {
				return false
			}
		}
		return true
	})

	// The leader of partition 0 leaves; writes go on elsewhere.
	md, err := adm.Metadata(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	leader := md.Topics["orders"].Partitions[0].Leader
	nodes[leader-1].stop()
	produce(200, 400)

	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	for len(seen) < 360 { // 400 written, the first 40 of partition 1 deleted
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 400 records before the deadline", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Errorf("record %s consumed twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
	for i := 0; i < 400; i++ {
		if deleted := i < 80 && i%2 == 1; deleted != !seen[strconv.Itoa(i)] {
			if deleted {
				t.Errorf("deleted record %d consumed", i)
				continue
			}
			t.Errorf("acknowledged record %d lost", i)
		}
	}
	fmt.Fprintln(os.Stderr, "consumed", len(seen), "records after the leader of partition 0 (node", leader, ") left")
}

// kill stops the node abruptly, as kill -9 would: no controlled shutdown, connections cut.
func (tn *testNode) kill() {
	if tn.node == nil {
		return
	}
	tn.node.shutdownOnce.Do(func() {}) // skip the controlled shutdown
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tn.node.Broker().BeginShutdown()
	tn.srv.Shutdown(ctx)
	tn.node.Close()
	tn.node, tn.srv = nil, nil
}

// TestFollowerLoss kills a follower under acks=all writes: the controller fences it and drops
// it from the ISR, the leader adopts the smaller ISR, and writes are acknowledged again within
// the session timeout and a little.
func TestFollowerLoss(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("f"), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "f"); err != nil {
		t.Fatal(err)
	}
	var leader int32 = -1
	waitFor(t, "a leader with a full ISR", 10*time.Second, func() bool {
		pa, ok := nodes[0].node.Partition("f", 0)
		leader = pa.Leader
		return ok && pa.Leader >= 0 && len(pa.ISR) == 3
	})
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("first")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var victim *testNode
	for _, tn := range nodes {
		if tn.id != leader && tn.id != tn.node.ControllerID() {
			victim = tn
		}
	}
	killed := time.Now()
	victim.kill()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatalf("produce after the follower died: %v", err)
	}
	took := time.Since(killed)
	t.Logf("acks=all acknowledged again %v after the follower was killed", took)
	if took > 5*time.Second {
		t.Errorf("a dead follower held acks=all writes for %v", took)
	}
}

// TestAcksAllNotBoundByFollowerMaxWait checks that an acks=all produce on a 3-node cluster
// waits for the followers' round trip, not for their fetch's long poll: with
// replica.fetch.wait.max.ms at 5 s, each of a run of sequential produces over six partitions
// (two led by each node, so each follower's fetch to a leader always names a partition with
// nothing new) must be answered well under it. A follower fetch not woken by the append that
// gives it data, or one partition sitting out a backoff while its fetcher long-polls the
// others, shows as a produce of about 5 s. min.insync.replicas 3 and a lag time beyond the
// long poll keep both followers in every acknowledgement.
func TestAcksAllNotBoundByFollowerMaxWait(t *testing.T) {
	const maxWait = 5 * time.Second
	var regs []*metrics.Metrics
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		c.Broker.ReplicaFetchWaitMax = maxWait
		c.Broker.ReplicaLagTime = 4 * maxWait
		c.Broker.Metrics = metrics.New()
		regs = append(regs, c.Broker.Metrics)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	minISR := "3"
	cl, _ := replicatedTopic(t, ctx, nodes, "acks", 6, map[string]*string{"min.insync.replicas": &minISR})
	// The first produce to each partition also waits for the followers' first fetch under
	// the new leader and for the client's metadata: not measured.
	for p := range int32(6) {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte("warm")}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	const n = 60
	var slowest time.Duration
	for i := range n {
		start := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 6), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		took := time.Since(start)
		if took >= maxWait/2 {
			t.Fatalf("acks=all produce %d took %v: it waited for a follower's long poll (replica.fetch.wait.max.ms %v)", i, took, maxWait)
		}
		slowest = max(slowest, took)
	}
	// Acknowledged means on every replica (min.insync.replicas 3).
	for _, tn := range nodes {
		for p := range int32(6) {
			if l := tn.node.Broker().Engine().Log(engine.TopicPartition{Topic: "acks", Partition: p}); l == nil || l.LogEndOffset() < 1+n/6 {
				t.Fatalf("node %d partition %d lacks acknowledged records", tn.id, p)
			}
		}
	}
	t.Logf("slowest of %d acks=all produces: %v (follower MaxWait %v)", n, slowest, maxWait)

	// The nodes' replication metrics saw it: every measured produce's append timed to its
	// commit, well under the long poll, and follower fetches that brought its bytes.
	var commits, fetches uint64
	var commitSum, bytes float64
	for _, m := range regs {
		h := gathered(t, m, metrics.ReplicationCommit).GetHistogram()
		commits, commitSum = commits+h.GetSampleCount(), commitSum+h.GetSampleSum()
		fetches += gathered(t, m, metrics.ReplicaFetch).GetHistogram().GetSampleCount()
		bytes += gathered(t, m, metrics.ReplicaFetchBytes).GetCounter().GetValue()
	}
	if commits < n || commitSum/float64(commits) >= (maxWait/2).Seconds() {
		t.Fatalf("%s: %d appends timed, mean %.3fs; want at least %d, well under the long poll", metrics.ReplicationCommit, commits, commitSum/float64(commits), n)
	}
	if fetches < 2*n/6 || bytes <= 0 {
		t.Fatalf("%s: %d follower fetches with data, %v bytes", metrics.ReplicaFetch, fetches, bytes)
	}
	t.Logf("%d appends committed, mean %.2f ms; %d follower fetches with data, %.0f bytes", commits, 1e3*commitSum/float64(commits), fetches, bytes)
}

// gathered returns the first metric named name in m's registry, nil if absent (its getters
// then read zero).
func gathered(t *testing.T, m *metrics.Metrics, name string) *dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0]
		}
	}
	return nil
}
