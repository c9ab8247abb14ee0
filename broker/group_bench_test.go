package broker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRebalance100Members1000Partitions measures the time for a new group of 100
// members (one connection each) to become Stable over a 1,000-partition topic, over real
// sockets. Members behave like classic clients: KIP-394's two JoinGroups, the leader assigns
// the partitions round-robin, everyone syncs, synced members heartbeat every 50 ms and rejoin
// on REBALANCE_IN_PROGRESS (members arriving after the initial delay start another
// generation). One op ends when all 100 have their assignment in one generation. The
// initial rebalance delay is 100 ms (Kafka's 3 s scaled down), and is part of the time.
func BenchmarkRebalance100Members1000Partitions(b *testing.B) {
	const members, partitions = 100, 1000
	tb := startBroker(b, func(c *Config) {
		c.GroupInitialRebalanceDelay = 100 * time.Millisecond
		c.LogDefaults.MaxIndexBytes = 64 << 10
	})
	ctx := context.Background()
	create := kmsg.NewPtrCreateTopicsRequest()
	topic := kmsg.NewCreateTopicsRequestTopic()
	topic.Topic, topic.NumPartitions, topic.ReplicationFactor = "big", partitions, 1
	create.Topics = []kmsg.CreateTopicsRequestTopic{topic}
	if _, err := create.RequestWith(ctx, tb.client()); err != nil {
		b.Fatal(err)
	}
	for p := int32(0); p < partitions; p++ { // wait out the background creation of the logs
		if _, err := tb.b.partition("big", p); err != nil {
			b.Fatal(err)
		}
	}
	clients := make([]*kgo.Client, members)
	for i := range clients {
		clients[i] = tb.client()
		if err := clients[i].Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"big"}
	metaBytes := meta.AppendTo(nil)
	generations := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := &rebalanceRun{group: fmt.Sprintf("rebalance-%d", i), meta: metaBytes, partitions: partitions,
			members: members, synced: map[int32]int{}, done: make(chan struct{})}
		runCtx, cancel := context.WithTimeout(ctx, time.Minute)
		var wg sync.WaitGroup
		for m := 0; m < members; m++ {
			wg.Add(1)
			go func(cl *kgo.Client) {
				defer wg.Done()
				r.member(runCtx, cl)
			}(clients[m])
		}
		select {
		case <-r.done:
		case <-runCtx.Done():
			b.Fatalf("group never stable: %v", r.err)
		}
		b.StopTimer()
		cancel()
		wg.Wait()
		generations += len(r.synced)
		b.StartTimer()
	}
	b.ReportMetric(float64(generations)/float64(b.N), "generations/op")
}

// rebalanceRun is one group forming in BenchmarkRebalance100Members1000Partitions.
type rebalanceRun struct {
	group      string
	meta       []byte
	partitions int32
	members    int

	mu     sync.Mutex
	synced map[int32]int // generation → members synced in it
	done   chan struct{} // closed when one generation has every member synced
	err    error
}

// member plays one classic consumer until ctx ends.
func (r *rebalanceRun) member(ctx context.Context, cl *kgo.Client) {
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = r.group, "consumer", 30_000, 30_000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: r.meta}}
	fail := func(what string, err error, code int16) {
		r.mu.Lock()
		r.err = fmt.Errorf("%s: %v (code %d)", what, err, code)
		r.mu.Unlock()
	}
	for ctx.Err() == nil {
		resp, err := join.RequestWith(ctx, cl)
		if err != nil {
			fail("join", err, 0)
			return
		}
		join.MemberID = resp.MemberID
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			continue
		}
		if resp.ErrorCode != 0 {
			fail("join", nil, resp.ErrorCode)
			return
		}
		sync := kmsg.NewPtrSyncGroupRequest()
		sync.Group, sync.MemberID, sync.Generation = r.group, resp.MemberID, resp.Generation
		if resp.LeaderID == resp.MemberID {
			sync.GroupAssignment = roundRobin(resp.Members, "big", r.partitions)
		}
		sresp, err := sync.RequestWith(ctx, cl)
		if err != nil {
			fail("sync", err, 0)
			return
		}
		if sresp.ErrorCode == kerr.RebalanceInProgress.Code {
			continue
		}
		if sresp.ErrorCode != 0 {
			fail("sync", nil, sresp.ErrorCode)
			return
		}
		r.mu.Lock()
		r.synced[resp.Generation]++
		if r.synced[resp.Generation] == r.members {
			close(r.done)
		}
		r.mu.Unlock()
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = r.group, resp.MemberID, resp.Generation
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			hresp, err := hb.RequestWith(ctx, cl)
			if err != nil {
				return
			}
			if hresp.ErrorCode != 0 {
				break // rejoin
			}
		}
	}
}

// roundRobin assigns partitions of topic to members in turn, as the leader's balancer would.
func roundRobin(members []kmsg.JoinGroupResponseMember, topic string, partitions int32) []kmsg.SyncGroupRequestGroupAssignment {
	assigned := make([]kmsg.ConsumerMemberAssignment, len(members))
	for p := int32(0); p < partitions; p++ {
		a := &assigned[int(p)%len(assigned)]
		if len(a.Topics) == 0 {
			a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic}}
		}
		a.Topics[0].Partitions = append(a.Topics[0].Partitions, p)
	}
	out := make([]kmsg.SyncGroupRequestGroupAssignment, len(members))
	for i, m := range members {
		out[i] = kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: assigned[i].AppendTo(nil)}
	}
	return out
}

// BenchmarkOffsetCommit measures durable OffsetCommit throughput over sockets: parallel
// clients (one connection each, b.SetParallelism × GOMAXPROCS) each commit one partition
// offset per request into their own standalone group; every answer waits for the fsync of
// its record (group commit shares the syncs).
func BenchmarkOffsetCommit(b *testing.B) {
	tb := startBroker(b, nil)
	ctx := context.Background()
	admin := tb.client()
	create := kmsg.NewPtrCreateTopicsRequest()
	topic := kmsg.NewCreateTopicsRequestTopic()
	topic.Topic, topic.NumPartitions, topic.ReplicationFactor = "t", 1, 1
	create.Topics = []kmsg.CreateTopicsRequestTopic{topic}
	if _, err := create.RequestWith(ctx, admin); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		cl := tb.client()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = fmt.Sprintf("bench-%d", next.Add(1)), -1
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, LeaderEpoch: -1}}}}
		for off := int64(0); pb.Next(); off++ {
			req.Topics[0].Partitions[0].Offset = off
			resp, err := req.RequestWith(ctx, cl)
			if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
				b.Errorf("commit: %v %+v", err, resp)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
