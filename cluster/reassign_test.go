package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
)

// waitLive waits until every running node sees want live brokers.
func waitLive(t *testing.T, nodes []*testNode, want int) {
	t.Helper()
	waitFor(t, strconv.Itoa(want)+" live brokers", 20*time.Second, func() bool {
		for _, tn := range nodes {
			if tn.node != nil && len(tn.node.Brokers()) != want {
				return false
			}
		}
		return true
	})
}

// controllerNode returns the running node that is the active controller, or nil.
func controllerNode(nodes []*testNode) *testNode {
	for _, tn := range nodes {
		if tn.node != nil {
			if _, err := tn.node.ActiveController(); err == nil {
				return tn
			}
		}
	}
	return nil
}

// partitionEverywhere reports whether every running node's view of topic's partition p
// satisfies ok.
func partitionEverywhere(nodes []*testNode, topic string, p int32, ok func(metadata.PartitionAssignment) bool) bool {
	for _, tn := range nodes {
		if tn.node == nil {
			continue
		}
		pa, found := tn.node.Partition(topic, p)
		if !found || !ok(pa) {
			return false
		}
	}
	return true
}

// createAssigned creates a topic whose partitions are on the given replicas (CreateTopics
// with an explicit assignment).
func createAssigned(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, assignment ...[]int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p, replicas := range assignment {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), replicas
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create topic %s on %v: %v", topic, assignment, err)
	}
}

func produceN(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d to %s: %v", i, topic, err)
		}
	}
}

// TestReassignPartition moves a partition with replication factor 1 from one broker to
// another with AlterPartitionReassignments (KIP-455): the new broker copies the log, the
// reassignment completes, leadership moves with it, every acknowledged record is readable
// from the new leader, and the old broker deletes its copy.
func TestReassignPartition(t *testing.T) {
	nodes := startTestClusterWith(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic, records = "moving", 100
	src, dst := nodes[0], nodes[1]
	createAssigned(t, ctx, cl, topic, []int32{src.id})
	waitFor(t, "the partition led by its only replica", 5*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool { return pa.Leader == src.id })
	})
	produceN(t, ctx, cl, topic, 0, records)
	tp := engine.TopicPartition{Topic: topic, Partition: 0}
	if l := src.node.Broker().Engine().Log(tp); l == nil || l.LogEndOffset() != records {
		t.Fatalf("source broker %d does not hold the %d records", src.id, records)
	}
	if _, err := os.Stat(filepath.Join(src.dir, tp.String())); err != nil {
		t.Fatalf("source broker's partition directory: %v", err)
	}

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{dst.id})
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatalf("AlterPartitionAssignments: %v", err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("reassign %s-0 to [%d]: %v", topic, dst.id, err)
	}

	// Right after the request the reassignment is usually still running (the new replica
	// has to copy the log first): then it is listed with both replica sets.
	list, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	if r, ok := list[topic][0]; ok {
		if !slices.Equal(r.Replicas, []int32{dst.id, src.id}) || !slices.Equal(r.AddingReplicas, []int32{dst.id}) || !slices.Equal(r.RemovingReplicas, []int32{src.id}) {
			t.Errorf("reassignment in progress listed as replicas %v adding %v removing %v; want [%d %d] adding [%d] removing [%d]",
				r.Replicas, r.AddingReplicas, r.RemovingReplicas, dst.id, src.id, dst.id, src.id)
		}
	} else {
		t.Logf("the reassignment completed before it could be listed")
	}

	waitFor(t, "the reassignment to complete on every node", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return slices.Equal(pa.Replicas, []int32{dst.id}) && slices.Equal(pa.ISR, []int32{dst.id}) &&
				pa.Leader == dst.id && len(pa.Adding) == 0 && len(pa.Removing) == 0
		})
	})
	list, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	if len(list[topic]) != 0 {
		t.Errorf("a completed reassignment is still listed: %v", list[topic])
	}

	// The old replica's log goes away, directory and all.
	waitFor(t, "the source broker to delete its copy", 5*time.Second, func() bool {
		if src.node.Broker().Engine().Log(tp) != nil {
			return false
		}
		matches, _ := filepath.Glob(filepath.Join(src.dir, tp.String()+"*"))
		return len(matches) == 0
	})

	// The new replica holds everything and serves it as the leader.
	waitFor(t, "the new leader to serve the partition", 5*time.Second, func() bool {
		l := dst.node.Broker().Engine().Log(tp)
		return l != nil && dst.node.Broker().Leading(topic, 0) != nil && l.HighWatermark() == records
	})
	if l := dst.node.Broker().Engine().Log(tp); l.LogEndOffset() != records {
		t.Fatalf("new replica's log ends at %d, want %d", l.LogEndOffset(), records)
	}
	// (kadm.Metadata may answer from the client's cache: ask a broker.)
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	md, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := md.Topics[0].Partitions[0]; p.Leader != dst.id || !slices.Equal(p.Replicas, []int32{dst.id}) {
		t.Fatalf("metadata after the move: leader %d replicas %v, want %d [%d]", p.Leader, p.Replicas, dst.id, dst.id)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(dst.addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) < records {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records before the deadline", len(got), records)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("record %d is %q, want %q", i, v, strconv.Itoa(i))
		}
	}

	// Writes go on on the new leader.
	produceN(t, ctx, cl, topic, records, records+10)
}

// TestReassignCancel starts a reassignment that cannot complete (its new replica is down),
// so it is listed as in progress, then cancels it: the partition is back on its original
// replica and a second cancel finds nothing to cancel. Non-controllers refuse the APIs, bad
// targets are refused per partition, and a reassignment to the stopped broker completes once
// it is back.
func TestReassignCancel(t *testing.T) {
	nodes := startTestClusterWith(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	ctrl := controllerNode(nodes)
	if ctrl == nil {
		t.Fatal("no active controller")
	}
	// src and down are not the controller, so stopping down changes no controller.
	var others []*testNode
	for _, tn := range nodes {
		if tn != ctrl {
			others = append(others, tn)
		}
	}
	src, down := others[0], others[1]

	cl, err := kgo.NewClient(kgo.SeedBrokers(ctrl.addr, src.addr), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic = "stuck"
	createAssigned(t, ctx, cl, topic, []int32{src.id})
	produceN(t, ctx, cl, topic, 0, 10)
	down.stop()

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{down.id})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign to the stopped broker %d: %v %v", down.id, err, res.Error())
	}
	list, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}, "no-such-topic": {0: {}}})
	if err != nil {
		t.Fatalf("ListPartitionReassignments: %v", err)
	}
	r, ok := list[topic][0]
	if !ok || !slices.Equal(r.Replicas, []int32{down.id, src.id}) || !slices.Equal(r.AddingReplicas, []int32{down.id}) || !slices.Equal(r.RemovingReplicas, []int32{src.id}) {
		t.Fatalf("listed %+v (found %v); want replicas [%d %d] adding [%d] removing [%d]", r, ok, down.id, src.id, down.id, src.id)
	}
	if len(list["no-such-topic"]) != 0 {
		t.Errorf("an unknown topic is listed: %v", list["no-such-topic"])
	}
	// The old replica still leads and takes writes meanwhile.
	produceN(t, ctx, cl, topic, 10, 20)

	req = nil
	req.CancelAssign(topic, 0)
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("cancel: %v %v", err, res.Error())
	}
	pa, _ := ctrl.node.Partition(topic, 0)
	if !slices.Equal(pa.Replicas, []int32{src.id}) || pa.Leader != src.id || len(pa.Adding)+len(pa.Removing) != 0 {
		t.Fatalf("after the cancel: %+v, want replicas [%d] led by %d", pa, src.id, src.id)
	}
	list, err = adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil || len(list[topic]) != 0 {
		t.Fatalf("listed after the cancel: %v %v", list, err)
	}
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("second cancel: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}

	// Only the controller reassigns, lists and elects: another broker says so.
	other := cl.Broker(int(src.id))
	lreq := kmsg.NewPtrListPartitionReassignmentsRequest()
	if resp, err := other.Request(ctx, lreq); err != nil || resp.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode != kerr.NotController.Code {
		t.Errorf("ListPartitionReassignments to broker %d (not the controller): %+v %v, want NOT_CONTROLLER", src.id, resp, err)
	}
	areq := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	if resp, err := other.Request(ctx, areq); err != nil || resp.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode != kerr.NotController.Code {
		t.Errorf("AlterPartitionAssignments to broker %d (not the controller): %+v %v, want NOT_CONTROLLER", src.id, resp, err)
	}
	ereq := kmsg.NewPtrElectLeadersRequest()
	et := kmsg.NewElectLeadersRequestTopic()
	et.Topic, et.Partitions = topic, []int32{0}
	ereq.Topics = append(ereq.Topics, et)
	if resp, err := other.Request(ctx, ereq); err != nil {
		t.Errorf("ElectLeaders to broker %d: %v", src.id, err)
	} else if er := resp.(*kmsg.ElectLeadersResponse); er.ErrorCode != kerr.NotController.Code || len(er.Topics) != 1 ||
		len(er.Topics[0].Partitions) != 1 || er.Topics[0].Partitions[0].ErrorCode != kerr.NotController.Code {
		t.Errorf("ElectLeaders to broker %d (not the controller): %+v, want NOT_CONTROLLER at the top and for %s-0", src.id, er, topic)
	}

	// Invalid targets are refused per partition.
	req = nil
	req.Assign(topic, 0, []int32{99})
	req.Assign(topic, 1, []int32{src.id})
	res, err = adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Errorf("reassign to an unknown broker: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	if err := res[topic][1].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("reassign an unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	// A reassignment to a broker that is down completes once it is back and has caught up.
	req = nil
	req.Assign(topic, 0, []int32{down.id})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign to the stopped broker %d again: %v %v", down.id, err, res.Error())
	}
	down.start(t)
	waitFor(t, "the reassignment to the restarted broker to complete", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return slices.Equal(pa.Replicas, []int32{down.id}) && pa.Leader == down.id && len(pa.Adding)+len(pa.Removing) == 0
		})
	})
	tp := engine.TopicPartition{Topic: topic, Partition: 0}
	if l := down.node.Broker().Engine().Log(tp); l == nil || l.LogEndOffset() != 20 {
		t.Fatalf("broker %d does not hold the 20 records", down.id)
	}
	waitFor(t, "the source broker to delete its copy", 5*time.Second, func() bool {
		matches, _ := filepath.Glob(filepath.Join(src.dir, tp.String()+"*"))
		return src.node.Broker().Engine().Log(tp) == nil && len(matches) == 0
	})
}

// TestPreferredLeaderElection stops a partition's preferred leader (leadership moves to
// another replica), restarts it (it rejoins the ISR but does not lead: the automatic
// rebalance is off), and moves leadership back with a preferred ElectLeaders.
func TestPreferredLeaderElection(t *testing.T) {
	nodes := startTestClusterWith(t, 3, func(c *Config) { c.LeaderRebalanceInterval = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	ctrl := controllerNode(nodes)
	if ctrl == nil {
		t.Fatal("no active controller")
	}
	// The preferred leader is not the controller, so stopping it changes no controller.
	var pref *testNode
	replicas := []int32{}
	for _, tn := range nodes {
		if tn != ctrl && pref == nil {
			pref = tn
		}
	}
	replicas = append(replicas, pref.id)
	for _, tn := range nodes {
		if tn != pref {
			replicas = append(replicas, tn.id)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic = "preferred"
	createAssigned(t, ctx, cl, topic, replicas)
	fullISR := func(pa metadata.PartitionAssignment) bool { return len(pa.ISR) == 3 }
	waitFor(t, "a full ISR", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool { return fullISR(pa) && pa.Leader == pref.id })
	})
	produceN(t, ctx, cl, topic, 0, 10)

	// Nothing to elect while the preferred replica leads.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}, 7: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("election with the preferred leader in place: %v, want ELECTION_NOT_NEEDED", err)
	}
	if err := res[topic][7].Err; !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("election of an unknown partition: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}

	pref.stop()
	waitFor(t, "another replica to lead", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return pa.Leader != metadata.NoLeader && pa.Leader != pref.id
		})
	})
	produceN(t, ctx, cl, topic, 10, 20)
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("election with the preferred replica down: %v, want PREFERRED_LEADER_NOT_AVAILABLE", err)
	}
	pref.start(t)
	waitFor(t, "the restarted preferred replica back in the ISR", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return slices.Contains(pa.ISR, pref.id)
		})
	})
	if pa, _ := ctrl.node.Partition(topic, 0); pa.Leader == pref.id {
		t.Fatalf("the preferred replica leads again without an election (rebalance is off): %+v", pa)
	}

	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; err != nil {
		t.Fatalf("preferred election: %v (%s)", err, res[topic][0].ErrMessage)
	}
	if pa, _ := ctrl.node.Partition(topic, 0); pa.Leader != pref.id {
		t.Fatalf("after the election the controller's view has leader %d, want %d", pa.Leader, pref.id)
	}
	waitFor(t, "every node to see the preferred leader", 5*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool { return pa.Leader == pref.id })
	})
	// The preferred replica leads for real: it takes acks=all writes.
	produceN(t, ctx, cl, topic, 20, 30)
	if l := pref.node.Broker().Engine().Log(engine.TopicPartition{Topic: topic}); l == nil || l.LogEndOffset() != 30 {
		t.Fatalf("the preferred leader's log does not end at 30")
	}

	// An election of all partitions reports only the partitions that needed one: none.
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, nil)
	if err != nil {
		t.Fatalf("ElectLeaders(all): %v", err)
	}
	if len(res[topic]) != 0 {
		t.Errorf("ElectLeaders(all) reported %v for %s, whose leader is preferred", res[topic], topic)
	}
	// Unclean election of a partition with a leader: not needed.
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders(unclean): %v", err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Errorf("unclean election of a led partition: %v, want ELECTION_NOT_NEEDED", err)
	}
}

// TestUncleanLeaderElection leaves a partition without a leader — its in-sync replica is down
// and the other replica, which left the ISR, comes back — and gives it one with an unclean
// ElectLeaders: the out-of-sync replica, which then makes up the whole ISR.
//
// Five nodes: with both replicas down, the metadata quorum still has a majority.
func TestUncleanLeaderElection(t *testing.T) {
	nodes := startTestClusterWith(t, 5, func(c *Config) { c.LeaderRebalanceInterval = -1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLive(t, nodes, 5)
	ctrl := controllerNode(nodes)
	if ctrl == nil {
		t.Fatal("no active controller")
	}
	// Both replicas are other nodes than the controller, which stays up.
	var replicas []*testNode
	for _, tn := range nodes {
		if tn != ctrl {
			replicas = append(replicas, tn)
		}
	}
	first, second := replicas[0], replicas[1]

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic = "unclean"
	createAssigned(t, ctx, cl, topic, []int32{first.id, second.id})
	waitFor(t, "a full ISR", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool { return len(pa.ISR) == 2 })
	})
	produceN(t, ctx, cl, topic, 0, 10)

	second.stop() // leaves the ISR
	waitFor(t, "the ISR to shrink", 5*time.Second, func() bool {
		pa, _ := ctrl.node.Partition(topic, 0)
		return slices.Equal(pa.ISR, []int32{first.id}) && pa.Leader == first.id
	})
	first.stop() // the last ISR member: the partition has no leader now
	waitFor(t, "the partition to lose its leader", 5*time.Second, func() bool {
		pa, _ := ctrl.node.Partition(topic, 0)
		return pa.Leader == metadata.NoLeader
	})
	res, err := adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.EligibleLeadersNotAvailable) {
		t.Fatalf("unclean election with both replicas down: %v, want ELIGIBLE_LEADERS_NOT_AVAILABLE", err)
	}

	second.start(t)
	waitFor(t, "the out-of-sync replica to rejoin the cluster", 10*time.Second, func() bool {
		// (Brokers lists the stopped incarnation too until it is fenced: it is shutting down.)
		return slices.ContainsFunc(ctrl.node.Brokers(), func(b metadata.BrokerRegistration) bool { return b.ID == second.id && !b.ShuttingDown })
	})
	if pa, _ := ctrl.node.Partition(topic, 0); pa.Leader != metadata.NoLeader {
		t.Fatalf("the partition got leader %d without an unclean election: %+v", pa.Leader, pa)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred election with the preferred replica down: %v, want PREFERRED_LEADER_NOT_AVAILABLE", err)
	}
	res, err = adm.ElectLeaders(ctx, kadm.ElectLiveReplica, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("ElectLeaders: %v", err)
	}
	if err := res[topic][0].Err; err != nil {
		t.Fatalf("unclean election: %v (%s)", err, res[topic][0].ErrMessage)
	}
	pa, _ := ctrl.node.Partition(topic, 0)
	if pa.Leader != second.id || !slices.Equal(pa.ISR, []int32{second.id}) {
		t.Fatalf("after the unclean election: %+v, want leader %d alone in the ISR", pa, second.id)
	}
	waitFor(t, "the unclean leader to lead", 5*time.Second, func() bool {
		return second.node.Broker().Leading(topic, 0) != nil
	})
	// It had every record: it left the ISR after they were acknowledged by both.
	produceN(t, ctx, cl, topic, 10, 20)
	if l := second.node.Broker().Engine().Log(engine.TopicPartition{Topic: topic}); l == nil || l.LogEndOffset() != 20 {
		t.Fatalf("the unclean leader's log does not end at 20")
	}
}

// TestReassignReplicated moves a partition with two replicas to another pair that keeps one
// of them: the kept follower takes over the leadership when the leader is moved off, and the
// added replica copies every record before the reassignment completes.
func TestReassignReplicated(t *testing.T) {
	nodes := startTestClusterWith(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	const topic, records = "pair", 50
	a, b, c := nodes[0], nodes[1], nodes[2]
	createAssigned(t, ctx, cl, topic, []int32{a.id, b.id})
	waitFor(t, "a full ISR led by the first replica", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return len(pa.ISR) == 2 && pa.Leader == a.id
		})
	})
	produceN(t, ctx, cl, topic, 0, records)

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign(topic, 0, []int32{b.id, c.id})
	if res, err := adm.AlterPartitionAssignments(ctx, req); err != nil || res.Error() != nil {
		t.Fatalf("reassign to [%d %d]: %v %v", b.id, c.id, err, res.Error())
	}
	waitFor(t, "the reassignment to complete on every node", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, topic, 0, func(pa metadata.PartitionAssignment) bool {
			return slices.Equal(pa.Replicas, []int32{b.id, c.id}) && len(pa.ISR) == 2 && pa.Leader == b.id &&
				len(pa.Adding)+len(pa.Removing) == 0
		})
	})
	tp := engine.TopicPartition{Topic: topic, Partition: 0}
	waitFor(t, "the moved-off replica to delete its copy", 5*time.Second, func() bool {
		matches, _ := filepath.Glob(filepath.Join(a.dir, tp.String()+"*"))
		return a.node.Broker().Engine().Log(tp) == nil && len(matches) == 0
	})
	if l := c.node.Broker().Engine().Log(tp); l == nil || l.LogEndOffset() != records {
		t.Fatalf("the added replica does not hold the %d records", records)
	}
	// The new pair serves acks=all writes.
	produceN(t, ctx, cl, topic, records, records+10)
	waitFor(t, "both new replicas to hold every record", 5*time.Second, func() bool {
		for _, tn := range []*testNode{b, c} {
			if l := tn.node.Broker().Engine().Log(tp); l == nil || l.LogEndOffset() != records+10 {
				return false
			}
		}
		return true
	})
}

// TestStrayLogsRemovedAfterRestart deletes a topic while one of its replicas is down, and
// leaves a partition directory no metadata names: once that broker is back and caught up it
// removes the logs nobody assigns it any more.
func TestStrayLogsRemovedAfterRestart(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 3, nil, "gone"); err != nil {
		t.Fatal(err)
	}
	var down *testNode
	for _, tn := range nodes {
		if tn.id != tn.node.ControllerID() {
			down = tn
		}
	}
	hosts := func() int {
		n := 0
		for _, tp := range down.node.Broker().Engine().Partitions() {
			if tp.Topic == "gone" || tp.Topic == "ghost" {
				n++
			}
		}
		return n
	}
	waitFor(t, "the replicas' logs", 10*time.Second, func() bool { return hosts() == 2 })
	down.stop()
	if _, err := adm.DeleteTopics(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// A partition directory no metadata names at all (its topic's deletion compacted away
	// in a snapshot, say): only the sweep after registration removes it.
	if err := os.MkdirAll(filepath.Join(down.dir, "ghost-0"), 0o755); err != nil {
		t.Fatal(err)
	}
	down.start(t)
	waitFor(t, "the deleted topic's logs removed after the restart", 15*time.Second, func() bool { return hosts() == 0 })
}
