package broker

import (
	"cmp"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/share"
)

// DescribeShareGroupOffsets: versions 0-1 (v1 adds Lag). Each group's share partitions:
// the share-partition start offset, the partition's leader epoch and (v1) the lag, Kafka's
// high watermark minus the start offset minus the in-flight records already delivered
// (acknowledged or archived). Topics null: every share partition of the group; a named
// partition without share state has start offset and lag -1. A share partition not used
// since a restart shows its persisted state when its state partition is led here. A group
// unknown here, or of another type, is GROUP_ID_NOT_FOUND.
func init() {
	register(api{key: int16(kmsg.DescribeShareGroupOffsets), min: 0, max: 1, handle: handleDescribeShareGroupOffsets})
}

func handleDescribeShareGroupOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		if !b.authorizeGroup(c, acl.OpDescribe, rg.GroupID) {
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		tps, code, msg := b.shareGroupPartitions(rg.GroupID)
		if code != 0 {
			g.ErrorCode, g.ErrorMessage = code, msg
			resp.Groups = append(resp.Groups, g)
			continue
		}
		type named struct {
			topic string
			id    [16]byte
			parts []int32
		}
		var want []named
		if rg.Topics == nil {
			byID := map[[16]byte]*named{}
			for _, tp := range tps {
				t, ok := b.cluster.TopicByID(metadata.TopicID(tp.TopicID))
				if !ok {
					continue
				}
				if byID[tp.TopicID] == nil {
					want = append(want, named{topic: t.Name, id: tp.TopicID})
					byID[tp.TopicID] = &want[len(want)-1]
				}
			}
			for i := range want {
				for _, tp := range tps {
					if tp.TopicID == want[i].id {
						want[i].parts = append(want[i].parts, tp.Partition)
					}
				}
				slices.Sort(want[i].parts)
			}
			slices.SortFunc(want, func(a, b named) int { return cmp.Compare(a.topic, b.topic) })
		} else {
			for _, rt := range rg.Topics {
				n := named{topic: rt.Topic, parts: rt.Partitions}
				if t, ok := b.cluster.Topic(rt.Topic); ok {
					n.id = t.ID
				}
				want = append(want, n)
			}
		}
		for _, n := range want {
			rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			rt.Topic, rt.TopicID = n.topic, n.id
			for _, p := range n.parts {
				rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
				rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
				if !b.knownPartition(n.topic, p) {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
					rt.Partitions = append(rt.Partitions, rp)
					continue
				}
				if pa, ok := b.cluster.Partition(n.topic, p); ok {
					rp.LeaderEpoch = pa.LeaderEpoch
				}
				tp := share.TopicPartition{TopicID: n.id, Partition: p}
				start, completed, ok := int64(0), int64(0), false
				if st, live := b.shares.State(rg.GroupID, tp); live {
					start, completed, ok = st.Start, int64(st.Completed), true
				} else {
					start, completed, ok = b.storedShareStart(rg.GroupID, tp)
				}
				if ok {
					rp.StartOffset = start
					if part, err := b.partition(n.topic, p); err == nil {
						rp.Lag = max(part.log.HighWatermark()-start-completed, 0)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

// shareGroupPartitions checks that this broker coordinates share group id and returns its
// share partitions, or the group's error code and message (NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, GROUP_ID_NOT_FOUND).
func (b *Broker) shareGroupPartitions(id string) ([]share.TopicPartition, int16, *string) {
	if _, lerr := b.groupCoordinator(id); lerr != nil {
		return nil, lerr.Code, nil
	}
	if msg := b.shareGroupConflict(id); msg != "" {
		return nil, kerr.GroupIDNotFound.Code, &msg
	}
	tps, ok := b.shares.Partitions(id)
	if !ok {
		msg := "Group " + id + " not found."
		return nil, kerr.GroupIDNotFound.Code, &msg
	}
	return tps, 0, nil
}
