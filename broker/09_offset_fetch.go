package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// OffsetFetch: versions 1-9 (Kafka 4 removed v0). v2+ takes a null topic list for "every
// committed offset" and has a top-level error; v5+ returns the committed leader epoch; v7+
// RequireStable (KIP-447: a partition with a pending transactional offset, TxnOffsetCommit,
// answers UNSTABLE_OFFSET_COMMIT and offset -1; without it the last committed offset); v8+ fetches several
// groups at once. v9's member id and epoch are KIP-848 fields: for a consumer-protocol group
// with a member id, the member must exist (UNKNOWN_MEMBER_ID) at that epoch
// (STALE_MEMBER_EPOCH); classic groups do not check them. v10 names topics by id (KIP-848's
// topic ids): an unknown id answers UNKNOWN_TOPIC_ID and offset -1 for each partition asked,
// and the all-topics form gives each topic's id (the zero id for offsets of a topic deleted
// since, as Kafka does). A partition without a commit answers offset -1.
func init() {
	register(api{key: int16(kmsg.OffsetFetch), min: 1, max: 10, handle: handleOffsetFetch})
}

func handleOffsetFetch(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.OffsetFetchRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if v >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDescribe, rg.Group)
			if lerr != nil {
				g.ErrorCode = lerr.Code
				resp.Groups = append(resp.Groups, g)
				continue
			}
			if v >= 9 {
				if err := coord.ValidateFetch(rg.Group, rg.MemberID, rg.MemberEpoch); err != nil {
					g.ErrorCode = err.Code
					resp.Groups = append(resp.Groups, g)
					continue
				}
			}
			var want []group.TopicPartitions
			if rg.Topics != nil {
				want = make([]group.TopicPartitions, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					if v >= 10 {
						topic, ok := b.cluster.TopicByID(t.TopicID)
						if !ok {
							g.Topics = append(g.Topics, unknownTopicIDOffsets(t))
							continue
						}
						t.Topic = topic.Name
					}
					want = append(want, group.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
				}
			}
			for _, co := range coord.FetchOffsets(rg.Group, want) {
				denied, skip := b.offsetFetchTopicDenied(c, want != nil, co.Topic)
				if skip {
					continue
				}
				if n := len(g.Topics); n == 0 || g.Topics[n-1].Topic != co.Topic {
					t := kmsg.NewOffsetFetchResponseGroupTopic()
					t.Topic = co.Topic
					if topic, ok := b.cluster.Topic(co.Topic); ok && v >= 10 {
						t.TopicID = topic.ID
					}
					g.Topics = append(g.Topics, t)
				}
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				p.Partition, p.Offset, p.LeaderEpoch = co.Partition, co.Offset.Offset, co.LeaderEpoch
				if req.RequireStable && co.Unstable {
					p.Offset, p.LeaderEpoch, p.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
				}
				if denied != 0 {
					p.Offset, p.LeaderEpoch, p.ErrorCode, co.Metadata = -1, -1, denied, ""
				}
				md := co.Metadata
				p.Metadata = &md
				t := &g.Topics[len(g.Topics)-1]
				t.Partitions = append(t.Partitions, p)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp, nil
	}
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDescribe, req.Group)
	if lerr != nil {
		if v >= 2 {
			resp.ErrorCode = lerr.Code
			return resp, nil
		}
		for _, rt := range req.Topics { // v1: errors per partition only
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, lerr.Code
				t.Partitions = append(t.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, t)
		}
		return resp, nil
	}
	var want []group.TopicPartitions
	if req.Topics != nil || v < 2 {
		want = make([]group.TopicPartitions, 0, len(req.Topics))
		for _, t := range req.Topics {
			want = append(want, group.TopicPartitions{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	for _, co := range coord.FetchOffsets(req.Group, want) {
		denied, skip := b.offsetFetchTopicDenied(c, want != nil, co.Topic)
		if skip {
			continue
		}
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != co.Topic {
			t := kmsg.NewOffsetFetchResponseTopic()
			t.Topic = co.Topic
			resp.Topics = append(resp.Topics, t)
		}
		p := kmsg.NewOffsetFetchResponseTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = co.Partition, co.Offset.Offset, co.LeaderEpoch
		if v >= 7 && req.RequireStable && co.Unstable {
			p.Offset, p.LeaderEpoch, p.ErrorCode = -1, -1, kerr.UnstableOffsetCommit.Code
		}
		if denied != 0 {
			p.Offset, p.LeaderEpoch, p.ErrorCode, co.Metadata = -1, -1, denied, ""
		}
		md := co.Metadata
		p.Metadata = &md
		t := &resp.Topics[len(resp.Topics)-1]
		t.Partitions = append(t.Partitions, p)
	}
	return resp, nil
}

// unknownTopicIDOffsets answers an OffsetFetch v10 topic whose id names no topic.
func unknownTopicIDOffsets(rt kmsg.OffsetFetchRequestGroupTopic) kmsg.OffsetFetchResponseGroupTopic {
	t := kmsg.NewOffsetFetchResponseGroupTopic()
	t.TopicID = rt.TopicID
	for _, part := range rt.Partitions {
		p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		p.Partition, p.Offset, p.ErrorCode = part, -1, kerr.UnknownTopicID.Code
		t.Partitions = append(t.Partitions, p)
	}
	return t
}
