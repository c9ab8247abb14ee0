package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// AssignReplicasToDirs: version 0 (Kafka 4 serves 0, on controller listeners only; KIP-858).
// A broker tells the active controller which log directory holds each replica it created or
// moved (metadata.AssignReplicasToDirs), so a directory failing later moves exactly its
// partitions' leadership. Requires CLUSTER_ACTION; another node answers NOT_CONTROLLER, a
// stale broker epoch STALE_BROKER_EPOCH; per partition UNKNOWN_TOPIC_ID,
// UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER (the broker holds no replica of it) or
// LOG_DIR_NOT_FOUND (the zero, unassigned directory id).
func init() {
	register(api{key: int16(kmsg.AssignReplicasToDirs), min: 0, max: 0, handle: handleAssignReplicasToDirs, internal: true})
}

func handleAssignReplicasToDirs(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AssignReplicasToDirsRequest)
	resp := req.ResponseKind().(*kmsg.AssignReplicasToDirsResponse)
	ctl, err := b.authorizedController(c, acl.OpClusterAction)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	cmd := metadata.AssignReplicasToDirs{BrokerID: req.BrokerID, BrokerEpoch: req.BrokerEpoch}
	for _, d := range req.Directories {
		for _, t := range d.Topics {
			for _, p := range t.Partitions {
				cmd.Assignments = append(cmd.Assignments, metadata.DirAssignment{Topic: t.TopicID, Partition: p.Partition, Dir: d.ID})
			}
		}
	}
	results, err := ctl.AssignReplicasToDirs(cmd)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	i := 0
	for _, d := range req.Directories {
		rd := kmsg.NewAssignReplicasToDirsResponseDirectory()
		rd.ID = d.ID
		for _, t := range d.Topics {
			rt := kmsg.NewAssignReplicasToDirsResponseDirectoryTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewAssignReplicasToDirsResponseDirectoryTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errorCode(results[i])
				i++
				rt.Partitions = append(rt.Partitions, rp)
			}
			rd.Topics = append(rd.Topics, rt)
		}
		resp.Directories = append(resp.Directories, rd)
	}
	return resp, nil
}
