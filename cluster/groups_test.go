package cluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
)

// offsetsPartition is the __consumer_offsets partition of group g in tn's view.
func offsetsPartition(tn *testNode, g string) (metadata.PartitionAssignment, bool) {
	t, ok := tn.node.Topic("__consumer_offsets")
	if !ok {
		return metadata.PartitionAssignment{}, false
	}
	return tn.node.Partition("__consumer_offsets", group.PartitionFor(g, t.Partitions))
}

// TestConsumerGroupFailover runs a consumer group on a 3-node cluster: __consumer_offsets is
// replicated (replication factor 3) and the leader of the group's partition coordinates it;
// groups of partitions led elsewhere have other coordinators. A consumer commits part of a
// topic and polls one more batch without committing; the coordinator node then stops, another
// replica takes the group's partition over, and a new consumer of the group resumes exactly
// at the committed offsets: every record after them is read once, none before them again,
// none skipped. The test takes about 15-20 s (two 3 s initial rebalance delays).
func TestConsumerGroupFailover(t *testing.T) {
	const (
		topic   = "events"
		grp     = "failover-group"
		records = 300
		parts   = 3
	)
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	waitLive(t, nodes, 3)
	if _, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil {
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
		return len(md.Topics[topic].Partitions) == parts
	})
	for i := 0; i < records; i++ {
		r := &kgo.Record{Partition: int32(i % parts), Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// Every broker names the same coordinator: the leader of the group's __consumer_offsets
	// partition (the topic is created by the first FindCoordinator, replicated to all three).
	coordinator := func(exclude int32) int32 {
		t.Helper()
		var id int32 = -1
		last := ""
		defer func() {
			if t.Failed() {
				t.Logf("last answer: %s", last)
			}
		}()
		waitFor(t, "every live broker to name the group coordinator", 20*time.Second, func() bool {
			id = -1
			for _, tn := range nodes {
				if tn.node == nil {
					continue
				}
				req := kmsg.NewPtrFindCoordinatorRequest()
				req.CoordinatorKey, req.CoordinatorKeys = grp, []string{grp} // v0-3, v4+
				resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
				if err == nil && len(resp.Coordinators) == 1 { // v4+
					co := resp.Coordinators[0]
					resp.ErrorCode, resp.NodeID = co.ErrorCode, co.NodeID
				}
				if err != nil || resp.ErrorCode != 0 || resp.NodeID == exclude || (id != -1 && resp.NodeID != id) {
					last = fmt.Sprintf("node %d: FindCoordinator %v %+v", tn.id, err, resp)
					return false
				}
				id = resp.NodeID
				if pa, ok := offsetsPartition(tn, grp); !ok || pa.Leader != id || len(pa.Replicas) != 3 {
					last = fmt.Sprintf("node %d: %s's __consumer_offsets partition %+v", tn.id, grp, pa)
					return false
				}
			}
			return true
		})
		return id
	}
	first := coordinator(-1)

	// A group whose partition another node leads is coordinated there: it commits on it.
	other := ""
	for i := 0; other == "" && i < 1000; i++ {
		if pa, ok := offsetsPartition(nodes[0], "other-"+strconv.Itoa(i)); ok && pa.Leader >= 0 && pa.Leader != first {
			other = "other-" + strconv.Itoa(i)
		}
	}
	if other == "" {
		t.Fatalf("every __consumer_offsets partition is led by node %d", first)
	}
	otherOffs := kadm.Offsets{}
	otherOffs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 42, LeaderEpoch: -1})
	waitFor(t, "a commit for group "+other, 20*time.Second, func() bool {
		res, err := adm.CommitOffsets(ctx, other, otherOffs)
		return err == nil && res.Error() == nil
	})
	if co := adm.FindGroupCoordinators(ctx, other)[other]; co.Err != nil {
		t.Fatalf("find coordinator of %s: %v", other, co.Err)
	} else if pa, _ := offsetsPartition(nodes[0], other); co.NodeID != pa.Leader {
		t.Fatalf("coordinator of %s: node %d, want %d", other, co.NodeID, pa.Leader)
	}

	newConsumer := func() *kgo.Client {
		t.Helper()
		c, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond), kgo.RetryTimeout(20*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	type pos struct {
		p   int32
		off int64
	}
	// poll reads at least n records (one PollRecords at most max at a time) and checks each
	// partition's records come in offset order from where the previous poll ended.
	next := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		next[p] = 0
	}
	poll := func(c *kgo.Client, n, max int, seen map[pos]bool) int {
		t.Helper()
		got := 0
		for got < n {
			fs := c.PollRecords(ctx, max)
			if ctx.Err() != nil {
				t.Fatalf("polled %d of %d records before the deadline", got, n)
			}
			for _, e := range fs.Errors() {
				t.Logf("poll error (retried): %v", e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				k := pos{r.Partition, r.Offset}
				if seen[k] {
					t.Errorf("record %d@%d read twice", r.Partition, r.Offset)
				}
				if want, ok := next[r.Partition]; ok && r.Offset != want {
					t.Errorf("partition %d: read offset %d, want %d (skipped or re-read)", r.Partition, r.Offset, want)
				}
				next[r.Partition] = r.Offset + 1
				seen[k] = true
				got++
			})
		}
		return got
	}

	// The first consumer commits what it read, then reads one batch it does not commit.
	c1 := newConsumer()
	seen1 := map[pos]bool{}
	poll(c1, 150, 50, seen1)
	if err := c1.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	committed := map[int32]int64{}
	for p, off := range next {
		committed[p] = off
	}
	offs, err := adm.FetchOffsets(ctx, grp)
	if err != nil || offs.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, offs.Error())
	}
	for p, off := range committed {
		if o, ok := offs.Lookup(topic, p); off > 0 && (!ok || o.At != off) {
			t.Fatalf("partition %d: committed offset %v, want %d", p, o.At, off)
		}
	}
	uncommitted := poll(c1, 1, 30, seen1)
	c1.Close() // leaves the group; nothing more committed

	// The coordinator goes; another replica of __consumer_offsets takes over.
	nodes[first-1].stop()
	second := coordinator(first)
	t.Logf("coordinator moved from node %d to node %d", first, second)
	// A fresh admin client: franz-go keeps a group's coordinator cached while dials to it
	// fail; the consumers below are new clients too.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	adm = kadm.NewClient(cl2)

	// The new coordinator has every committed offset.
	waitFor(t, "the committed offsets on the new coordinator", 20*time.Second, func() bool {
		offs, err := adm.FetchOffsets(ctx, grp)
		if err != nil || offs.Error() != nil {
			t.Logf("fetch offsets: %v %v", err, offs.Error())
			return false
		}
		for p, off := range committed {
			if o, ok := offs.Lookup(topic, p); off > 0 && (!ok || o.At != off) {
				t.Errorf("partition %d: offset %v after failover, want %d", p, o.At, off)
			}
		}
		return true
	})

	waitFor(t, "group "+other+"'s offset after the failover", 20*time.Second, func() bool {
		offs, err := adm.FetchOffsets(ctx, other)
		if err != nil || offs.Error() != nil {
			return false
		}
		if o, ok := offs.Lookup(topic, 0); !ok || o.At != 42 {
			t.Fatalf("group %s: offset %v after the failover, want 42", other, o.At)
		}
		return true
	})

	// A new consumer resumes at the committed offsets: the uncommitted batch is read again,
	// nothing earlier, nothing skipped.
	var total int64
	for _, off := range committed {
		total += off
	}
	rest := records - int(total)
	next = map[int32]int64{}
	for p, off := range committed {
		next[p] = off
	}
	c2 := newConsumer()
	defer c2.Close()
	seen2 := map[pos]bool{}
	if got := poll(c2, rest, 1000, seen2); got != rest {
		t.Fatalf("read %d records after the failover, want %d", got, rest)
	}
	for k := range seen2 {
		if k.off < committed[k.p] {
			t.Errorf("record %d@%d read again: it was committed", k.p, k.off)
		}
	}
	for p := int32(0); p < parts; p++ {
		if next[p] != records/parts {
			t.Errorf("partition %d: read up to %d, want %d", p, next[p], records/parts)
		}
	}
	// The new coordinator takes commits too (replicated to the two replicas left).
	if err := c2.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit after failover: %v", err)
	}
	offs, err = adm.FetchOffsets(ctx, grp)
	if err != nil || offs.Error() != nil {
		t.Fatalf("fetch offsets: %v %v", err, offs.Error())
	}
	for p := int32(0); p < parts; p++ {
		if o, ok := offs.Lookup(topic, p); !ok || o.At != records/parts {
			t.Errorf("partition %d: committed %v after failover, want %d", p, o.At, records/parts)
		}
	}
	// A broker that does not coordinate answers group requests NOT_COORDINATOR.
	for _, tn := range nodes {
		if tn.node == nil || tn.id == second {
			continue
		}
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = grp // v0-7
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = grp
		req.Groups = append(req.Groups, rg) // v8+
		resp, err := req.RequestWith(ctx, cl2.Broker(int(tn.id)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Groups) == 1 {
			resp.ErrorCode = resp.Groups[0].ErrorCode
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != kerr.NotCoordinator {
			t.Errorf("node %d (not the coordinator): OffsetFetch answered %v, want NOT_COORDINATOR", tn.id, err)
		}
	}
	fmt.Fprintf(os.Stderr, "group resumed on node %d: %d records committed before the failover, %d read again (uncommitted)\n", second, total, uncommitted)
}
