package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeQuorum: a single node describes its quorum of one (itself the leader, caught
// up now, no observers); another partition than __cluster_metadata-0 is refused.
func TestDescribeQuorum(t *testing.T) {
	tb := startBroker(t, nil)
	rc := dialDP(t, tb)
	describe := func(topic string, partition int32) *kmsg.DescribeQuorumResponse {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = 2
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = partition
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return rc.request(req).(*kmsg.DescribeQuorumResponse)
	}
	before := time.Now().Add(-time.Second).UnixMilli()
	resp := describe("__cluster_metadata", 0)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("describe quorum: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID != tb.b.cfg.NodeID || p.LeaderEpoch < 1 || p.HighWatermark < 1 || len(p.CurrentVoters) != 1 || len(p.Observers) != 0 {
		t.Fatalf("describe quorum partition: %+v", p)
	}
	if v := p.CurrentVoters[0]; v.ReplicaID != p.LeaderID || v.LogEndOffset < p.HighWatermark || v.LastFetchTimestamp < before || v.LastCaughtUpTimestamp < before {
		t.Fatalf("the leader as a voter: %+v", v)
	}
	if len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != p.LeaderID {
		t.Fatalf("nodes: %+v", resp.Nodes)
	}
	if r := describe("__cluster_metadata", 1); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("describe quorum of partition 1: %+v", r)
	}
	if r := describe("other", 0); r.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("describe quorum of another topic: %+v", r)
	}
}
