package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// AlterPartitionReassignments: versions 0-1 (flexible; v1 adds AllowReplicationFactorChange).
// KIP-455: a partition's replicas become the target plus the original ones until every target
// replica is in the ISR, then the target (the controller completes it; the brokers follow the
// new assignment). Null replicas cancel a reassignment in progress (NO_REASSIGNMENT_IN_PROGRESS
// if there is none).
//
// Only the active controller reassigns; any other node answers NOT_CONTROLLER at the top
// level. On a single node the only replica a partition can move to is that node.
func init() {
	register(api{key: int16(kmsg.AlterPartitionAssignments), min: 0, max: 1, handle: handleAlterPartitionAssignments, catalog: catalogController})
}

func handleAlterPartitionAssignments(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	allowRF := c.version() < 1 || req.AllowReplicationFactorChange
	resp.AllowReplicationFactorChange = allowRF
	ctl, err := b.authorizedController(c, acl.OpAlter)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			err := b.reassign(ctl, rt.Topic, rp.Partition, rp.Replicas, allowRF)
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition, sp.ErrorCode, sp.ErrorMessage = rp.Partition, errorCode(err), errorMessage(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// reassign starts (or, with nil replicas, cancels) one partition's reassignment on the active
// controller.
func (b *Broker) reassign(ctl ControllerService, topic string, p int32, replicas []int32, allowRF bool) error {
	pa, ok := b.cluster.Partition(topic, p)
	if !ok {
		return refuse(kerr.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, p)
	}
	if replicas != nil {
		if len(replicas) == 0 {
			return refuse(kerr.InvalidReplicaAssignment, "partition %s-%d: the replica list is empty", topic, p)
		}
		if rf := len(pa.Replicas) - len(pa.Adding); !allowRF && len(replicas) != rf {
			return refuse(kerr.InvalidReplicationFactor, "partition %s-%d: the replication factor would change from %d to %d", topic, p, rf, len(replicas))
		}
	}
	err := ctl.Reassign(metadata.Reassign{Topic: topic, Partition: p, Target: slices.Clone(replicas)})
	if err == nil {
		if replicas == nil {
			b.log.Info("cancelled partition reassignment", "topic", topic, "partition", p)
		} else {
			b.log.Info("reassigning partition", "topic", topic, "partition", p, "from", pa.Replicas, "to", replicas)
		}
	}
	return err
}
