package broker

import (
	"cmp"
	"slices"
	"strconv"
	"sync"

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
//
// Like Kafka's group coordinator, the answer is the share coordinator's (the persisted
// state): read here when this broker leads the share partition's __share_group_state
// partition, else asked of the broker that does with ReadShareGroupStateSummary (the
// request is parked until every broker asked has answered; sharePersister.readSummary). The
// lag uses this broker's replica's high watermark (-1 without a replica here).
func init() {
	register(api{key: int16(kmsg.DescribeShareGroupOffsets), min: 0, max: 1, handle: handleDescribeShareGroupOffsets})
}

func handleDescribeShareGroupOffsets(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	var asks summaryAsks
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
				if node, remote := b.shareStateElsewhere(rg.GroupID, tp); remote {
					asks.add(node, rg.GroupID, n.topic, tp, len(resp.Groups), len(g.Topics), len(rt.Partitions))
				} else {
					start, completed, ok := int64(0), int64(0), false
					if start, completed, ok = b.storedShareStart(rg.GroupID, tp); !ok {
						if st, live := b.shares.State(rg.GroupID, tp); live {
							start, completed, ok = st.Start, int64(st.Completed), true
						}
					}
					if ok {
						b.setShareOffset(&rp, n.topic, start, completed)
					}
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	if len(asks.reqs) == 0 {
		return resp, nil
	}
	c.park()
	asks.send(b, resp, func() { b.finishKmsg(c, resp) })
	return nil, errDeferred
}

// setShareOffset sets a described share partition's start offset and lag: the high
// watermark of this broker's replica (none: lag -1) minus the start offset and the in-flight
// records delivered for good.
func (b *Broker) setShareOffset(rp *kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition, topic string, start, completed int64) {
	rp.StartOffset = start
	if part, err := b.partition(topic, rp.Partition); err == nil {
		rp.Lag = max(part.log.HighWatermark()-start-completed, 0)
	}
}

// shareStateElsewhere reports whether group gid's share partition tp has its state on
// another broker, the leader of its __share_group_state partition, and which.
func (b *Broker) shareStateElsewhere(gid string, tp share.TopicPartition) (int32, bool) {
	key := share.StateKeyString(gid, tp)
	if _, lerr := b.shareStateOf(key); lerr == nil || lerr == kerr.CoordinatorLoadInProgress {
		return 0, false
	}
	node, ok := b.persister.stateLeader(key)
	return node, ok && node != b.cfg.NodeID
}

// summaryAsks are the share partitions a DescribeShareGroupOffsets asks other brokers about:
// one ReadShareGroupStateSummary per broker and group, each partition's answer put at its
// place in the response.
type summaryAsks struct {
	reqs []*summaryReq
}

// summaryReq is one ReadShareGroupStateSummary to a broker.
type summaryReq struct {
	node   int32
	req    *kmsg.ReadShareGroupStateSummaryRequest
	places map[share.TopicPartition]summaryPlace
}

// summaryPlace is where an asked partition's answer goes: resp.Groups[g].Topics[t].Partitions[p],
// and its topic's name (for the lag).
type summaryPlace struct {
	g, t, p int
	topic   string
}

// add asks node about group gid's share partition tp of topic, answered at the place given.
func (a *summaryAsks) add(node int32, gid, topic string, tp share.TopicPartition, g, t, p int) {
	var r *summaryReq
	for _, x := range a.reqs {
		if x.node == node && x.req.GroupID == gid {
			r = x
		}
	}
	if r == nil {
		r = &summaryReq{node: node, req: kmsg.NewPtrReadShareGroupStateSummaryRequest(), places: map[share.TopicPartition]summaryPlace{}}
		r.req.Version, r.req.GroupID = 1, gid // v1: the delivery complete count, for the lag
		a.reqs = append(a.reqs, r)
	}
	var rt *kmsg.ReadShareGroupStateSummaryRequestTopic
	for i := range r.req.Topics {
		if r.req.Topics[i].TopicID == tp.TopicID {
			rt = &r.req.Topics[i]
		}
	}
	if rt == nil {
		r.req.Topics = append(r.req.Topics, kmsg.NewReadShareGroupStateSummaryRequestTopic())
		rt = &r.req.Topics[len(r.req.Topics)-1]
		rt.TopicID = tp.TopicID
	}
	pt := kmsg.NewReadShareGroupStateSummaryRequestTopicPartition()
	pt.Partition = tp.Partition
	rt.Partitions = append(rt.Partitions, pt)
	r.places[tp] = summaryPlace{g: g, t: t, p: p, topic: topic}
}

// send sends every request (sharePersister.readSummary: callbacks, no goroutine waits) and
// calls done once all are answered into resp. A broker that cannot be asked answers its
// partitions COORDINATOR_NOT_AVAILABLE; a partition's own error is passed on.
func (a *summaryAsks) send(b *Broker, resp *kmsg.DescribeShareGroupOffsetsResponse, done func()) {
	var mu sync.Mutex
	left := len(a.reqs)
	for _, r := range a.reqs {
		b.persister.readSummary(r.node, r.req, func(sr *kmsg.ReadShareGroupStateSummaryResponse, err error) {
			mu.Lock()
			defer mu.Unlock()
			at := func(tp share.TopicPartition) *kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
				pl, ok := r.places[tp]
				if !ok {
					return nil
				}
				return &resp.Groups[pl.g].Topics[pl.t].Partitions[pl.p]
			}
			if err != nil {
				msg := "the share coordinator on broker " + strconv.Itoa(int(r.node)) + " could not be asked: " + err.Error()
				for tp := range r.places {
					rp := at(tp)
					rp.ErrorCode, rp.ErrorMessage = kerr.CoordinatorNotAvailable.Code, &msg
				}
			} else {
				for _, t := range sr.Topics {
					for _, p := range t.Partitions {
						tp := share.TopicPartition{TopicID: t.TopicID, Partition: p.Partition}
						rp := at(tp)
						switch {
						case rp == nil:
						case p.ErrorCode != 0:
							rp.ErrorCode, rp.ErrorMessage = p.ErrorCode, p.ErrorMessage
						case p.StartOffset >= 0:
							b.setShareOffset(rp, r.places[tp].topic, p.StartOffset, int64(max(p.DeliveryCompleteCount, 0)))
						}
					}
				}
			}
			if left--; left == 0 {
				done()
			}
		})
	}
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
