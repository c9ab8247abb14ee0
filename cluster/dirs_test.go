package cluster

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
	"github.com/logd/logd/metadata"
)

// TestLogDirFailureMovesLeadership (KIP-858): three nodes with two log directories each. A
// partition's replicas are recorded in the controller's metadata with their directories
// (AssignReplicasToDirs), and again after AlterReplicaLogDirs moves a replica to another
// directory; the directory holding the leader's replica fails (it vanishes) while
// a producer writes with acks=all; the next heartbeat reports it offline, and the controller
// moves the leadership to another ISR member and drops the failed replica from the ISR.
// Produce and consume continue on the new leader and no acknowledged record is lost. The
// node restarted with the directory repaired (back in place) rejoins the ISR.
func TestLogDirFailureMovesLeadership(t *testing.T) {
	extra := map[int32]string{}
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		extra[c.Broker.NodeID] = filepath.Join(t.TempDir(), "extra")
		c.Broker.ExtraLogDirs = []string{extra[c.Broker.NodeID]}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("d"), kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitLive(t, nodes, 3)
	// "first" fills every node's first directory, so "d" goes to each node's extra one (the
	// directory with the fewest partitions): the first directory also holds the metadata log.
	for _, topic := range []string{"first", "d"} {
		if _, err := adm.CreateTopic(ctx, 1, 3, nil, topic); err != nil {
			t.Fatal(err)
		}
		waitFor(t, topic+" with a full ISR", 20*time.Second, func() bool {
			pa, ok := nodes[0].node.Partition(topic, 0)
			return ok && pa.Leader >= 0 && len(pa.ISR) == 3
		})
	}
	tp := engine.TopicPartition{Topic: "d", Partition: 0}
	dirIDs := map[int32]metadata.TopicID{}
	for _, tn := range nodes {
		waitFor(t, fmt.Sprintf("node %d to open d-0", tn.id), 20*time.Second, func() bool { return tn.node.Broker().Engine().DirOf(tp) != nil })
		ld := tn.node.Broker().Engine().DirOf(tp)
		if ld.Path != extra[tn.id] {
			t.Fatalf("node %d keeps d-0 in %s, want %s", tn.id, ld.Path, extra[tn.id])
		}
		dirIDs[tn.id] = metadata.TopicID(ld.ID)
	}
	// Every replica's directory reaches the metadata (AssignReplicasToDirs), on every node.
	waitFor(t, "the directories of d-0's replicas in the metadata", 20*time.Second, func() bool {
		for _, tn := range nodes {
			pa, _ := tn.node.Partition("d", 0)
			for id, dir := range dirIDs {
				if pa.Directories[id] != dir {
					return false
				}
			}
		}
		return true
	})
	checkAssignReplicasToDirsErrors(t, ctx, nodes, dirIDs)
	pa, _ := nodes[0].node.Partition("d", 0)
	leader := nodes[pa.Leader-1]
	t.Logf("d-0 led by node %d, epoch %d; its replica is in %s", leader.id, pa.LeaderEpoch, extra[leader.id])

	// Another node moves its replica of first-0 to its extra directory (AlterReplicaLogDirs):
	// the metadata follows.
	mover := nodes[leader.id%3]
	var move kadm.AlterReplicaLogDirsReq
	move.Add(extra[mover.id], kadm.TopicsSet{"first": {0: {}}})
	mres, err := adm.AlterBrokerReplicaLogDirs(ctx, mover.id, move)
	if err != nil {
		t.Fatal(err)
	}
	if all := mres.Sorted(); len(all) != 1 || all[0].Err != nil {
		t.Fatalf("AlterReplicaLogDirs: %+v", all)
	}
	waitFor(t, fmt.Sprintf("node %d's replica of first-0 recorded in its extra directory", mover.id), 30*time.Second, func() bool {
		p, _ := leader.node.Partition("first", 0)
		return p.Directories[mover.id] == dirIDs[mover.id]
	})

	// A producer writes throughout; every acknowledged value is remembered.
	var mu sync.Mutex
	acked := map[string]bool{}
	var produceErr error
	produce := func(i int) {
		v := strconv.Itoa(i)
		cl.Produce(ctx, &kgo.Record{Value: []byte(v)}, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				produceErr = err
				return
			}
			acked[v] = true
		})
	}
	for i := range 200 {
		produce(i)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The leader's directory vanishes: the broker takes it offline, reports it in its next
	// heartbeat, and the controller moves d-0's leadership within the ISR.
	broken := extra[leader.id] + ".broken"
	if err := os.Rename(extra[leader.id], broken); err != nil {
		t.Fatal(err)
	}
	failed := time.Now()
	next := 200
	var moved metadata.PartitionAssignment
	waitFor(t, "d-0's leadership to leave the failed directory", 30*time.Second, func() bool {
		produce(next)
		next++
		for _, tn := range nodes {
			p, _ := tn.node.Partition("d", 0)
			if p.Leader < 0 || p.Leader == leader.id || slices.Contains(p.ISR, leader.id) {
				return false
			}
			moved = p
		}
		return true
	})
	t.Logf("new leader %d (ISR %v, epoch %d) %v after the directory failed", moved.Leader, moved.ISR, moved.LeaderEpoch, time.Since(failed).Round(time.Millisecond))
	if b, _ := nodes[0].node.q.Broker(leader.id); !slices.Contains(b.OfflineDirs, dirIDs[leader.id]) || b.Fenced {
		t.Fatalf("node %d's registration: %+v, want its directory %s offline and the broker unfenced", leader.id, b, dirIDs[leader.id])
	}
	if first, _ := nodes[0].node.Partition("first", 0); len(first.ISR) != 3 {
		t.Fatalf("a partition in the node's other directory lost ISR members: %+v", first)
	}
	// Clients see the new leader (Metadata: kgo answers it from its cache while that is
	// younger than MetadataMinAge, so wait; DescribeTopicPartitions), and writes go on there.
	waitFor(t, "Metadata naming the new leader", 10*time.Second, func() bool {
		md, err := adm.Metadata(ctx, "d")
		return err == nil && md.Topics["d"].Partitions[0].Leader == moved.Leader
	})
	dtp := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dt := kmsg.NewDescribeTopicPartitionsRequestTopic()
	dt.Topic = "d"
	dtp.Topics = append(dtp.Topics, dt)
	dresp, err := dtp.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(dresp.Topics) != 1 || len(dresp.Topics[0].Partitions) != 1 {
		t.Fatalf("DescribeTopicPartitions: %+v", dresp.Topics)
	}
	if p := dresp.Topics[0].Partitions[0]; p.LeaderID != moved.Leader || slices.Contains(p.ISR, leader.id) {
		t.Fatalf("DescribeTopicPartitions: leader %d ISR %v, want leader %d without %d", p.LeaderID, p.ISR, moved.Leader, leader.id)
	}
	for range 100 {
		produce(next)
		next++
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if produceErr != nil || len(acked) < 300 {
		t.Fatalf("%d records acknowledged of %d; last error %v", len(acked), next, produceErr)
	}
	want := len(acked)
	mu.Unlock()
	consumeAll(t, ctx, nodes, "d", acked)

	// Restarted with the directory repaired, the node rejoins d-0's ISR.
	leader.stop()
	if err := os.Rename(broken, extra[leader.id]); err != nil {
		t.Fatal(err)
	}
	leader.start(t)
	waitFor(t, fmt.Sprintf("node %d back in d-0's ISR", leader.id), 40*time.Second, func() bool {
		p, _ := nodes[moved.Leader-1].node.Partition("d", 0)
		return len(p.ISR) == 3
	})
	t.Logf("%d acknowledged records all read back; node %d back in the ISR", want, leader.id)
}

// consumeAll reads topic's partition 0 from the start until every value of want was seen.
func consumeAll(t *testing.T, ctx context.Context, nodes []*testNode, topic string, want map[string]bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	missing := func() int {
		n := 0
		for v := range want {
			if !seen[v] {
				n++
			}
		}
		return n
	}
	for missing() > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d acknowledged records never read back", missing())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
}

// checkAssignReplicasToDirsErrors sends AssignReplicasToDirs (API 73) as a broker would, with
// wrong fields: a node that is not the controller answers NOT_CONTROLLER, a stale broker epoch
// STALE_BROKER_EPOCH, and per partition an unknown topic id UNKNOWN_TOPIC_ID, a partition
// out of range UNKNOWN_TOPIC_OR_PARTITION, the zero directory LOG_DIR_NOT_FOUND; the
// assignment the metadata already has is accepted.
func checkAssignReplicasToDirsErrors(t *testing.T, ctx context.Context, nodes []*testNode, dirIDs map[int32]metadata.TopicID) {
	t.Helper()
	ctl := controllerNode(nodes)
	if ctl == nil {
		t.Fatal("no active controller")
	}
	d, _ := ctl.node.Partition("d", 0)
	topicID := ctl.node.view.Load().st.Topics["d"].ID
	b, _ := ctl.node.q.Broker(1)
	req := func(addr string, epoch int64, parts map[metadata.TopicID][]int32, dir metadata.TopicID) *kmsg.AssignReplicasToDirsResponse {
		t.Helper()
		conn, err := kwire.Dial(ctx, addr, kwire.Options{ClientID: "dirs-test"})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := kmsg.NewPtrAssignReplicasToDirsRequest()
		r.BrokerID, r.BrokerEpoch = 1, epoch
		rd := kmsg.NewAssignReplicasToDirsRequestDirectory()
		rd.ID = dir
		for _, tid := range slices.SortedFunc(maps.Keys(parts), func(a, b metadata.TopicID) int { return bytes.Compare(a[:], b[:]) }) {
			rt := kmsg.NewAssignReplicasToDirsRequestDirectoryTopic()
			rt.TopicID = tid
			for _, p := range parts[tid] {
				rp := kmsg.NewAssignReplicasToDirsRequestDirectoryTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			rd.Topics = append(rd.Topics, rt)
		}
		r.Directories = append(r.Directories, rd)
		resp, err := conn.Request(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.AssignReplicasToDirsResponse)
	}
	for _, tn := range nodes {
		if tn != ctl {
			if r := req(tn.addr, b.Epoch, nil, dirIDs[1]); r.ErrorCode != kerr.NotController.Code {
				t.Fatalf("node %d (not the controller): error %d, want NOT_CONTROLLER", tn.id, r.ErrorCode)
			}
			break
		}
	}
	if r := req(ctl.addr, b.Epoch+1000, map[metadata.TopicID][]int32{topicID: {0}}, dirIDs[1]); r.ErrorCode != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("stale broker epoch: error %d, want STALE_BROKER_EPOCH", r.ErrorCode)
	}
	codes := func(r *kmsg.AssignReplicasToDirsResponse) map[string]int16 {
		out := map[string]int16{}
		for _, rd := range r.Directories {
			for _, rt := range rd.Topics {
				for _, rp := range rt.Partitions {
					out[fmt.Sprintf("%s-%d", metadata.TopicID(rt.TopicID), rp.Partition)] = rp.ErrorCode
				}
			}
		}
		return out
	}
	unknown := metadata.TopicID{0xee}
	got := codes(req(ctl.addr, b.Epoch, map[metadata.TopicID][]int32{topicID: {0, 7}, unknown: {0}}, dirIDs[1]))
	want := map[string]int16{topicID.String() + "-0": 0, topicID.String() + "-7": kerr.UnknownTopicOrPartition.Code, unknown.String() + "-0": kerr.UnknownTopicID.Code}
	if !maps.Equal(got, want) {
		t.Fatalf("per-partition errors %v, want %v", got, want)
	}
	got = codes(req(ctl.addr, b.Epoch, map[metadata.TopicID][]int32{topicID: {0}}, metadata.TopicID{}))
	if got[topicID.String()+"-0"] != kerr.LogDirNotFound.Code {
		t.Fatalf("the zero directory: %v, want LOG_DIR_NOT_FOUND", got)
	}
	if after, _ := ctl.node.Partition("d", 0); after.PartitionEpoch != d.PartitionEpoch || after.Directories[1] != dirIDs[1] {
		t.Fatalf("d-0 changed: %+v, was %+v", after, d)
	}
}
