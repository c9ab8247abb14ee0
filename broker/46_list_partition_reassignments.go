package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// ListPartitionReassignments: version 0 (flexible). The reassignments in progress, from the
// cluster state: each partition's replicas (target plus original), and those being added and
// removed. A null topic list means every partition; partitions not being reassigned, and
// unknown ones, are left out, as in Kafka.
//
// Served by the active controller (any other node answers NOT_CONTROLLER).
func init() {
	register(api{key: int16(kmsg.ListPartitionReassignments), min: 0, max: 0, handle: handleListPartitionReassignments})
}

func handleListPartitionReassignments(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if _, err := b.authorizedController(c, acl.OpDescribe); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	list := func(topic string, partitions []int32) {
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = topic
		seen := map[int32]bool{}
		for _, p := range partitions {
			if seen[p] {
				continue
			}
			seen[p] = true
			pa, ok := b.cluster.Partition(topic, p)
			if !ok || !reassigning(pa) {
				continue
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = p
			sp.Replicas, sp.AddingReplicas, sp.RemovingReplicas = slices.Clone(pa.Replicas), nonNilIDs(pa.Adding), nonNilIDs(pa.Removing)
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
	if req.Topics == nil {
		for _, t := range b.cluster.Topics() {
			all := make([]int32, t.Partitions)
			for p := range all {
				all[p] = int32(p)
			}
			list(t.Name, all)
		}
		return resp, nil
	}
	var order []string
	asked := map[string][]int32{}
	for _, rt := range req.Topics {
		if _, ok := asked[rt.Topic]; !ok {
			order = append(order, rt.Topic)
		}
		asked[rt.Topic] = append(asked[rt.Topic], rt.Partitions...)
	}
	for _, topic := range order {
		list(topic, asked[topic])
	}
	return resp, nil
}

// reassigning reports whether a partition is being reassigned.
func reassigning(pa metadata.PartitionAssignment) bool {
	return len(pa.Adding) > 0 || len(pa.Removing) > 0
}

func nonNilIDs(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return slices.Clone(s)
}
