package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// ElectLeaders: versions 0-2 (v1 adds the election type and a top-level error code, v2 is
// flexible). Preferred (0) moves a partition's leadership to its first replica if that one is
// an eligible ISR member; unclean (1) gives a leaderless partition a leader, from outside the
// ISR if need be. A null topic list means every partition, preferred or unclean alike, and —
// as in Kafka — the answer then leaves out the partitions that needed no election.
//
// Only the active controller elects (admin clients send it there); any other node answers
// NOT_CONTROLLER per partition, and at the top level from v1, so a client looks the
// controller up again. A single node leads its partitions already: ELECTION_NOT_NEEDED.
func init() {
	register(api{key: int16(kmsg.ElectLeaders), min: 0, max: 2, handle: handleElectLeaders, catalog: catalogController})
}

func handleElectLeaders(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := metadata.ElectPreferred
	if c.version() >= 1 {
		typ = req.ElectionType
	}
	all := req.Topics == nil

	// The partitions asked for, deduplicated, in request order.
	type tp struct {
		topic string
		p     int32
	}
	var order []tp
	seen := map[tp]bool{}
	add := func(k tp) {
		if !seen[k] {
			seen[k] = true
			order = append(order, k)
		}
	}
	if all {
		for _, t := range b.cluster.Topics() {
			for p := int32(0); p < t.Partitions; p++ {
				add(tp{t.Name, p})
			}
		}
	} else {
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				add(tp{rt.Topic, p})
			}
		}
	}

	// One error for every partition: a bad election type, or not the controller.
	var common error
	var ctl ControllerService
	switch {
	case typ != metadata.ElectPreferred && typ != metadata.ElectUnclean:
		common = refuse(kerr.InvalidRequest, "unknown election type %d: 0 is preferred, 1 unclean", typ)
	default:
		ctl, common = b.authorizedController(c, acl.OpAlter)
	}
	if common != nil && c.version() >= 1 {
		resp.ErrorCode = errorCode(common)
	}

	byTopic := map[string]int{}
	for _, k := range order {
		var err error
		switch {
		case common != nil:
			err = common
		default:
			err = b.electLeader(ctl, typ, k.topic, k.p)
		}
		if all && errorCode(err) == kerr.ElectionNotNeeded.Code {
			continue
		}
		i, ok := byTopic[k.topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[k.topic] = i
			st := kmsg.NewElectLeadersResponseTopic()
			st.Topic = k.topic
			resp.Topics = append(resp.Topics, st)
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition, sp.ErrorCode, sp.ErrorMessage = k.p, errorCode(err), errorMessage(err)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	return resp, nil
}

// electLeader runs one election on the active controller. A partition whose leader is
// already the one the election would pick is answered from this node's view, without a
// metadata log entry (an election of every partition mostly finds those).
func (b *Broker) electLeader(ctl ControllerService, typ int8, topic string, p int32) error {
	pa, ok := b.cluster.Partition(topic, p)
	switch {
	case !ok:
		return refuse(kerr.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, p)
	case typ == metadata.ElectPreferred && len(pa.Replicas) > 0 && pa.Leader == pa.Replicas[0]:
		return refuse(kerr.ElectionNotNeeded, "%s-%d is led by its preferred replica %d", topic, p, pa.Leader)
	case typ == metadata.ElectUnclean && pa.Leader != metadata.NoLeader:
		return refuse(kerr.ElectionNotNeeded, "%s-%d has a leader (%d)", topic, p, pa.Leader)
	}
	err := ctl.ElectLeaders(metadata.ElectLeaders{Type: typ, Topic: topic, Partition: p})
	if err == nil {
		b.log.Info("elected leader", "topic", topic, "partition", p, "type", typ)
	}
	return err
}
