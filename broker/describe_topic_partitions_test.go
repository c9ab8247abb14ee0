package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDescribeTopicPartitions: topics in name order, pages of at most the partition limit
// with a cursor to the next, unknown topics and a cursor outside the request refused.
func TestDescribeTopicPartitions(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "dtp-a", 3, nil)
	createTopicDP(t, tb, "dtp-b", 2, nil)
	createTopicDP(t, tb, "dtp-c", 1, nil)
	rc := dialDP(t, tb)
	describe := func(limit int32, cursor *kmsg.DescribeTopicPartitionsRequestCursor, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
		t.Helper()
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		for _, name := range topics {
			req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: name})
		}
		return rc.request(req).(*kmsg.DescribeTopicPartitionsResponse)
	}
	// shape lists "topic:partition" for each described partition, and the cursor.
	shape := func(r *kmsg.DescribeTopicPartitionsResponse) []string {
		var out []string
		for _, tp := range r.Topics {
			if tp.ErrorCode != 0 {
				out = append(out, *tp.Topic+"!"+kerr.ErrorForCode(tp.ErrorCode).Error()[:7])
				continue
			}
			for _, p := range tp.Partitions {
				if p.ErrorCode != 0 || p.LeaderID != tb.b.cfg.NodeID || len(p.Replicas) != 1 || len(p.ISR) != 1 || tp.TopicID == [16]byte{} {
					t.Errorf("%s-%d: %+v", *tp.Topic, p.Partition, p)
				}
				out = append(out, *tp.Topic+":"+string(rune('0'+p.Partition)))
			}
		}
		if r.NextCursor != nil {
			out = append(out, "next "+r.NextCursor.Topic+":"+string(rune('0'+r.NextCursor.Partition)))
		}
		return out
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
	}
	check("first page", shape(describe(4, nil, "dtp-c", "dtp-a", "dtp-b")), "dtp-a:0", "dtp-a:1", "dtp-a:2", "dtp-b:0", "next dtp-b:1")
	check("second page", shape(describe(4, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-b", Partition: 1}, "dtp-c", "dtp-a", "dtp-b")), "dtp-b:1", "dtp-c:0")
	check("a page ending with a topic", shape(describe(3, nil, "dtp-a", "dtp-b")), "dtp-a:0", "dtp-a:1", "dtp-a:2", "next dtp-b:0")
	check("unknown topic", shape(describe(10, nil, "dtp-c", "nope")), "dtp-c:0", "nope!UNKNOWN")
	check("cursor outside the request", shape(describe(10, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "dtp-b"}, "dtp-c")), "dtp-c!INVALID")
	all := describe(2000, nil)
	if len(all.Topics) < 3 || all.NextCursor != nil {
		t.Fatalf("all topics: %d topics, cursor %+v", len(all.Topics), all.NextCursor)
	}
}
