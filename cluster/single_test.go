package cluster

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
)

// startSingle starts a single node — no voters, no controller listener: `logd serve` without
// cluster flags — on dir, and waits until it is ready.
func startSingle(t *testing.T, dir string) *testNode {
	t.Helper()
	tn := &testNode{id: 1, addr: freeAddr(t), dir: dir}
	bc := broker.DefaultConfig()
	host, port, _ := net.SplitHostPort(tn.addr)
	p, _ := strconv.Atoi(port)
	bc.DataDir, bc.AdvertisedHost, bc.AdvertisedPort = dir, host, int32(p)
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	bc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tn.cfg = Config{Broker: bc}
	tn.start(t)
	t.Cleanup(tn.stop)
	select {
	case <-tn.node.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("single node not ready after 10 s")
	}
	return tn
}

// TestSingleNodeStart: a node without voters is a cluster of one whose Raft transport is in
// memory (it opens no controller port); it is ready — controller, registered, unfenced —
// well within a second of its start, serves Metadata naming itself controller and leader,
// and after a restart is ready again at once (its previous incarnation is replaced without
// waiting out a broker session).
func TestSingleNodeStart(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	tn := startSingle(t, dir)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("ready after %v", took)
	}
	if addr := tn.node.q.Addr(); addr != "inmem:node-1" {
		t.Fatalf("Raft transport at %q, want the in-memory one", addr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(tn.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, -1, nil, "s"); err != nil {
		t.Fatal(err)
	}
	md, err := adm.Metadata(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if md.Controller != 1 || len(md.Brokers) != 1 || md.Brokers[0].NodeID != 1 {
		t.Fatalf("controller %d, brokers %+v", md.Controller, md.Brokers)
	}
	for _, p := range md.Topics["s"].Partitions {
		if p.Leader != 1 || !slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.ISR, []int32{1}) {
			t.Fatalf("partition %+v", p)
		}
	}
	// acks=all with an ISR of one is answered at once, not after a replication round.
	pcl, err := kgo.NewClient(kgo.SeedBrokers(tn.addr), kgo.DefaultProduceTopic("s"))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	pcl.Close()

	tn.stop()
	start = time.Now()
	tn.start(t)
	select {
	case <-tn.node.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after a restart")
	}
	if took := time.Since(start); took >= tn.node.cfg.SessionTimeout {
		t.Fatalf("restart ready after %v: it waited out its old session (%v)", took, tn.node.cfg.SessionTimeout)
	}
}

// fixtureDir is a data directory written by the release before the metadata quorum (logd
// built from 1c8937d, `logd serve` on an empty directory): topics orders (2 partitions,
// retention.ms=86400000) and events, keyed records produced with acks=all by an idempotent
// producer (one producer id block reserved: producer-id-block holds 1000), and group billing
// with offset 2 committed on orders-0, by `logd consume --group`.
const fixtureDir = "testdata/logd-1c8937d"

// TestSingleNodeOpensOlderDataDir: a data directory of the release before the quorum opens in
// place. Its metadata file is imported into the quorum on the first start (cluster id,
// topics with their ids, partition counts and configs; producer ids continue above the old
// block) and retired; the logs and the committed group offsets work as they are; its
// __consumer_offsets, created without cleanup.policy=compact, is switched to compact through
// the controller (its logs then compact, and replay to the same offsets after a clean and a
// restart); a restart imports nothing again.
func TestSingleNodeOpensOlderDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixtureDir)); err != nil {
		t.Fatal(err)
	}
	tn := startSingle(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tn.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	// The old __consumer_offsets' overrides, and cleanup.policy=compact set at the start.
	offsetsConfigs := map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "segment.bytes": "16777216", "cleanup.policy": "compact"}
	check := func() {
		t.Helper()
		if id := tn.node.ClusterID(); id != "qVonKzvr-la2pIVqDXRf7g" {
			t.Fatalf("cluster id %q, want the old one", id)
		}
		want := map[string]struct {
			id      string
			parts   int32
			configs map[string]string
		}{
			"orders":             {"oI0pG5epna3svUSPTEqvTQ", 2, map[string]string{"retention.ms": "86400000"}},
			"events":             {"HV8Ki5B9piUvMmah2NJlrA", 1, nil},
			"__consumer_offsets": {"nSB-FQMJMSV9r3Zk0IN2hw", 8, offsetsConfigs},
		}
		topics := tn.node.Topics()
		if len(topics) != len(want) {
			t.Fatalf("topics %+v", topics)
		}
		for _, got := range topics {
			w, ok := want[got.Name]
			if !ok || got.ID.String() != w.id || got.Partitions != w.parts || !maps.Equal(got.Configs, w.configs) {
				t.Fatalf("topic %+v, want %+v", got, w)
			}
		}
		rc, err := adm.DescribeTopicConfigs(ctx, "orders", "__consumer_offsets")
		if err != nil {
			t.Fatal(err)
		}
		if c, err := rc.On("__consumer_offsets", nil); err != nil || !slices.ContainsFunc(c.Configs, func(c kadm.Config) bool {
			return c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact" && c.Source == kmsg.ConfigSourceDynamicTopicConfig
		}) {
			t.Fatalf("__consumer_offsets configs: %+v %v", c, err)
		}
		for p := int32(0); p < 8; p++ {
			l := tn.node.Broker().Engine().Log(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p})
			if l == nil || l.Config().CleanupPolicy != engine.CleanupCompact {
				t.Fatalf("__consumer_offsets-%d is not compacted by the log cleaner", p)
			}
		}
		if c, err := rc.On("orders", nil); err != nil || !slices.ContainsFunc(c.Configs, func(c kadm.Config) bool {
			return c.Key == "retention.ms" && c.Value != nil && *c.Value == "86400000" && c.Source == kmsg.ConfigSourceDynamicTopicConfig
		}) {
			t.Fatalf("orders configs: %+v %v", c, err)
		}

		records := map[string][]string{}
		for _, topic := range []string{"orders", "events"} {
			c, err := kgo.NewClient(kgo.SeedBrokers(tn.addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; n < map[string]int{"orders": 4, "events": 2}[topic]; {
				fetches := c.PollFetches(ctx)
				if err := fetches.Err(); err != nil {
					t.Fatal(err)
				}
				fetches.EachRecord(func(r *kgo.Record) {
					records[topic+"-"+strconv.Itoa(int(r.Partition))] = append(records[topic+"-"+strconv.Itoa(int(r.Partition))], string(r.Key)+"="+string(r.Value))
					n++
				})
			}
			c.Close()
		}
		wantRecords := map[string][]string{"orders-0": {"k3=again", "k4=more"}, "orders-1": {"k1=hello", "k2=world"}, "events-0": {"a=one", "b=two"}}
		if !maps.EqualFunc(records, wantRecords, slices.Equal) {
			t.Fatalf("records %v, want %v", records, wantRecords)
		}

		offs, err := adm.FetchOffsets(ctx, "billing")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offs.Lookup("orders", 0); !ok || o.At != 2 || o.Err != nil {
			t.Fatalf("committed offset of billing on orders-0: %+v %v", o, ok)
		}

		req := kmsg.NewPtrInitProducerIDRequest()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("InitProducerId: %+v %v", resp, err)
		}
		if resp.ProducerID < 1000 {
			t.Fatalf("new producer id %d: the old node reserved ids below 1000", resp.ProducerID)
		}
	}
	waitFor(t, "__consumer_offsets switched to cleanup.policy=compact", 10*time.Second, func() bool {
		o, _ := tn.node.Topic("__consumer_offsets")
		return o.Configs["cleanup.policy"] == "compact"
	})
	check()
	for p := int32(0); p < 8; p++ {
		if _, err := tn.node.Broker().Engine().Clean(engine.TopicPartition{Topic: "__consumer_offsets", Partition: p}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{metadata.LegacyMetadataFile, metadata.LegacyProducerIDFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Fatalf("%s not retired after the import: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, name+metadata.LegacyImportedSuffix)); err != nil {
			t.Fatal(err)
		}
	}

	// A topic deleted after the import stays deleted across a restart.
	if _, err := adm.DeleteTopics(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	tn.stop()
	tn.start(t)
	<-tn.node.Ready()
	if _, ok := tn.node.Topic("events"); ok {
		t.Fatal("a deleted topic came back after a restart: the old metadata file was imported again")
	}
	if _, err := os.Stat(filepath.Join(dir, "events-0")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("events-0 still on disk: %v", err)
	}
	if _, ok := tn.node.Topic("orders"); !ok {
		t.Fatal("orders lost at a restart")
	}
	if o, _ := tn.node.Topic("__consumer_offsets"); o.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("__consumer_offsets configs after a restart: %v", o.Configs)
	}
	cl2, err := kgo.NewClient(kgo.SeedBrokers(tn.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	offs, err := kadm.NewClient(cl2).FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("orders", 0); !ok || o.At != 2 {
		t.Fatalf("billing's offset of orders-0 after a clean and a restart: %+v %v", o, ok)
	}
}

// TestCreatePartitionsAssignment: an explicit replica assignment for new partitions is
// carried to the controller (also when the request reaches another node, which forwards it)
// and placed as given; a bad one — a replica that is not a live broker, a broker twice, the
// wrong replica count — is refused with INVALID_REPLICA_ASSIGNMENT and a message naming the
// problem, and changes nothing.
func TestCreatePartitionsAssignment(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var other *testNode // a node that is not the controller: its requests are forwarded
	waitFor(t, "a controller", 20*time.Second, func() bool {
		for _, tn := range nodes {
			if len(tn.node.Brokers()) == 3 && tn.node.ControllerID() >= 0 && tn.node.ControllerID() != tn.id {
				other = tn
			}
		}
		return other != nil
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(other.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 2, nil, "grow"); err != nil {
		t.Fatal(err)
	}
	grow := func(replicas []int32) *kmsg.CreatePartitionsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.TimeoutMillis = 10000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "grow", 2
		a := kmsg.NewCreatePartitionsRequestTopicAssignment()
		a.Replicas = replicas
		rt.Assignment = append(rt.Assignment, a)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl) // kgo sends it to the controller
		if err != nil || len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions: %+v %v", resp, err)
		}
		return &resp.Topics[0]
	}
	for _, c := range []struct {
		replicas []int32
		msg      string
	}{
		{[]int32{3, 7}, "replica 7 is not a live broker"},
		{[]int32{3, 3}, "list broker 3 twice"},
		{[]int32{3}, "1 replicas [3], but the topic's replication factor is 2"},
	} {
		r := grow(c.replicas)
		if r.ErrorCode != kerr.InvalidReplicaAssignment.Code || r.ErrorMessage == nil || !strings.Contains(*r.ErrorMessage, c.msg) {
			t.Fatalf("assignment %v: error %d %v, want INVALID_REPLICA_ASSIGNMENT saying %q", c.replicas, r.ErrorCode, r.ErrorMessage, c.msg)
		}
	}
	if tp, _ := other.node.Topic("grow"); tp.Partitions != 1 {
		t.Fatalf("refused assignments grew the topic to %d partitions", tp.Partitions)
	}
	if r := grow([]int32{3, 2}); r.ErrorCode != 0 {
		t.Fatalf("a valid assignment: error %d %v", r.ErrorCode, r.ErrorMessage)
	}
	waitFor(t, "the new partition on every node", 10*time.Second, func() bool {
		for _, tn := range nodes {
			pa, ok := tn.node.Partition("grow", 1)
			if !ok || !slices.Equal(pa.Replicas, []int32{3, 2}) {
				return false
			}
		}
		return true
	})
	// ...and through a node that is not the controller, which forwards the assignment.
	if err := other.node.SetPartitions("grow", 3, [][]int32{{2, 1}}); err != nil {
		t.Fatalf("forwarded growth with an assignment: %v", err)
	}
	waitFor(t, "the forwarded partition", 10*time.Second, func() bool {
		pa, ok := other.node.Partition("grow", 2)
		return ok && slices.Equal(pa.Replicas, []int32{2, 1})
	})
}
