package broker

import (
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka 4.3's newest versions of the APIs logd served at older ones (issue 17), each sent as a
// kmsg request at exactly that version over a real connection, the answers compared with
// Kafka 4.3.1's to the same requests.

// topicIDOf looks a topic's id up with Metadata.
func topicIDOf(t *testing.T, rc *rawConnDP, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	req.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(topic)}}
	resp := rc.request(req).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || resp.Topics[0].TopicID == [16]byte{} {
		t.Fatalf("metadata for %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].TopicID
}

// TestOffsetCommitFetchTopicIDs: OffsetCommit and OffsetFetch v10 name topics by id; an
// unknown id is UNKNOWN_TOPIC_ID, an unknown partition of a known topic
// UNKNOWN_TOPIC_OR_PARTITION; offsets committed by id read back by name at v9 and by id with
// the all-topics form.
func TestOffsetCommitFetchTopicIDs(t *testing.T) {
	tb := startBroker(t, groupConfig)
	createTopicDP(t, tb, "ids", 2, nil)
	rc := dialDP(t, tb)
	id := topicIDOf(t, rc, "ids")
	unknown := [16]byte{1, 2, 3}
	findCoordinator(t, rc, "g10")

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 10
	commit.Group, commit.Generation = "g10", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{
		{TopicID: id, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 1, Offset: 7, LeaderEpoch: -1}, {Partition: 5, Offset: 1}}},
		{TopicID: unknown, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}},
	}
	cr := rc.request(commit).(*kmsg.OffsetCommitResponse)
	if len(cr.Topics) != 2 || cr.Topics[0].TopicID != id || cr.Topics[1].TopicID != unknown {
		t.Fatalf("commit v10 topics: %+v", cr.Topics)
	}
	code(t, "commit v10", cr.Topics[0].Partitions[0].ErrorCode, nil)
	code(t, "commit v10 unknown partition", cr.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	code(t, "commit v10 unknown topic id", cr.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicID)

	fetch := func(v int16, topics []kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroup {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = v
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g10", Topics: topics, MemberEpoch: -1}}
		resp := rc.request(req).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			t.Fatalf("offset fetch v%d: %+v", v, resp)
		}
		return resp.Groups[0]
	}
	g := fetch(10, []kmsg.OffsetFetchRequestGroupTopic{{TopicID: id, Partitions: []int32{0, 1}}, {TopicID: unknown, Partitions: []int32{0}}})
	var byID, bad *kmsg.OffsetFetchResponseGroupTopic
	for i := range g.Topics {
		switch g.Topics[i].TopicID {
		case id:
			byID = &g.Topics[i]
		case unknown:
			bad = &g.Topics[i]
		}
	}
	if byID == nil || bad == nil || len(byID.Partitions) != 2 || len(bad.Partitions) != 1 {
		t.Fatalf("offset fetch v10 by id: %+v", g.Topics)
	}
	for _, p := range byID.Partitions {
		want := map[int32]int64{0: -1, 1: 7}[p.Partition]
		if p.ErrorCode != 0 || p.Offset != want {
			t.Errorf("offset fetch v10 partition %d: offset %d error %d, want %d", p.Partition, p.Offset, p.ErrorCode, want)
		}
	}
	if p := bad.Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code || p.Offset != -1 {
		t.Errorf("offset fetch v10 unknown id: %+v", p)
	}
	if all := fetch(10, nil); len(all.Topics) != 1 || all.Topics[0].TopicID != id || len(all.Topics[0].Partitions) != 1 || all.Topics[0].Partitions[0].Offset != 7 {
		t.Errorf("offset fetch v10 all topics: %+v", all.Topics)
	}
	if old := fetch(9, []kmsg.OffsetFetchRequestGroupTopic{{Topic: "ids", Partitions: []int32{1}}}); len(old.Topics) != 1 || old.Topics[0].Partitions[0].Offset != 7 {
		t.Errorf("offset fetch v9 of an offset committed by id: %+v", old.Topics)
	}
}

// findCoordinator asks for group's coordinator until one is there (the first ask creates
// __consumer_offsets).
func findCoordinator(t *testing.T, rc *rawConnDP, group string) {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = 4
	req.CoordinatorKeys = []string{group}
	eventually(t, "a coordinator for "+group, func() bool {
		resp := rc.request(req).(*kmsg.FindCoordinatorResponse)
		return len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0
	})
}

// TestDescribeGroupsV6: from v6 an unknown group is GROUP_ID_NOT_FOUND with Kafka's message;
// before, Dead with no error.
func TestDescribeGroupsV6(t *testing.T) {
	tb := startBroker(t, groupConfig)
	rc := dialDP(t, tb)
	findCoordinator(t, rc, "missing")
	for _, v := range []int16{5, 6} {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = v
		req.Groups = []string{"missing"}
		g := rc.request(req).(*kmsg.DescribeGroupsResponse).Groups[0]
		want, msg := int16(0), ""
		if v >= 6 {
			want, msg = kerr.GroupIDNotFound.Code, "Group missing not found."
		}
		if g.ErrorCode != want || g.State != "Dead" || (msg != "" && (g.ErrorMessage == nil || *g.ErrorMessage != msg)) {
			t.Errorf("describe unknown group v%d: %+v", v, g)
		}
	}
}

// TestProduceTopicIDs: Produce v13 names topics by id; the batch lands in the topic (fetched
// back by id), an unknown id is UNKNOWN_TOPIC_ID and appends nothing.
func TestProduceTopicIDs(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "pid", 1, nil)
	rc := dialDP(t, tb)
	id := topicIDOf(t, rc, "pid")
	produce := func(topicID [16]byte) kmsg.ProduceResponseTopic {
		t.Helper()
		req := produceReqDP(13, -1, "", 0, batchDP{timestamps: []int64{1000, 1001}}.encode())
		req.Topics[0].TopicID = topicID
		resp := rc.request(req).(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].TopicID != topicID {
			t.Fatalf("produce v13 response: %+v", resp)
		}
		return resp.Topics[0]
	}
	if p := produce(id).Partitions[0]; p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce v13 by id: %+v", p)
	}
	if p := produce([16]byte{7}).Partitions[0]; p.ErrorCode != kerr.UnknownTopicID.Code || p.BaseOffset != -1 {
		t.Fatalf("produce v13 to an unknown id: %+v", p)
	}
	if p := producePartDP(t, rc.request(produceReqDP(12, -1, "pid", 0, batchDP{timestamps: []int64{2000}}.encode()))); p.ErrorCode != 0 || p.BaseOffset != 2 {
		t.Fatalf("produce v12 by name after v13: %+v", p)
	}
	fp := fetchPartDP(t, rc.request(fetchReqDP(18, "", id, 0, 0)))
	if fp.ErrorCode != 0 || fp.HighWatermark != 3 || len(batchesDP(t, fp.RecordBatches)) != 2 {
		t.Fatalf("fetch v18 by id: error %d high watermark %d", fp.ErrorCode, fp.HighWatermark)
	}
}

// TestListConfigResources: v0 lists client-metrics resources (none); v1 lists topics,
// brokers and groups by type, every type for an empty list; a type without configurations
// is refused.
func TestListConfigResources(t *testing.T) {
	tb := startBroker(t, groupConfig)
	createTopicDP(t, tb, "lcr", 1, nil)
	rc := dialDP(t, tb)
	list := func(v int16, types ...int8) *kmsg.ListConfigResourcesResponse {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.Version, req.ResourceTypes = v, types
		return rc.request(req).(*kmsg.ListConfigResourcesResponse)
	}
	if r := list(0); r.ErrorCode != 0 || len(r.ConfigResources) != 0 {
		t.Fatalf("v0 (client metrics): %+v", r)
	}
	has := func(r *kmsg.ListConfigResourcesResponse, typ int8, name string) bool {
		for _, cr := range r.ConfigResources {
			if cr.Type == typ && cr.Name == name {
				return true
			}
		}
		return false
	}
	node := strconv.Itoa(int(tb.b.cfg.NodeID))
	if r := list(1, configResourceTopic, configResourceBroker); r.ErrorCode != 0 || !has(r, configResourceTopic, "lcr") || !has(r, configResourceBroker, node) || has(r, configResourceBrokerLogger, node) {
		t.Fatalf("v1 topics and brokers: %+v", r)
	}
	if r := list(1); r.ErrorCode != 0 || !has(r, configResourceTopic, "lcr") || !has(r, configResourceBrokerLogger, node) {
		t.Fatalf("v1 every type: %+v", r)
	}
	if r := list(1, 64); r.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("v1 an unknown type: %+v", r)
	}
}
