package broker

import (
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// DescribeQuorum: versions 0-2 (KIP-595, v2 KIP-853's nodes and directory ids), what
// `kafka-metadata-quorum describe --status/--replication` asks. logd's metadata log is its
// Raft log (metadata.Quorum); the partition described is Kafka's __cluster_metadata-0, any
// other is UNKNOWN_TOPIC_OR_PARTITION for the whole request, as Kafka's KafkaRaftClient
// answers. The quorum's leader describes it (metadata.QuorumStatus: the Raft term as the
// leader epoch, the commit index as the high watermark, each voter's and observer's last
// index and when it last answered); any other node asks the leader
// (cluster.Node.QuorumStatus), so the request may go to any broker, as Kafka's brokers
// forward it to the controller. Observers are the quorum's nonvoters (nodes that joined and
// replicate the log, metadata/quorum_membership.go), then the other registered brokers that
// are not voters, with unknown offsets. Each voter's endpoint is its controller listener,
// named CONTROLLER as Kafka's default; a lone voter without one has none. Directory ids are
// those AddRaftVoter recorded (kept when RemoveRaftVoter demotes a running voter to an
// observer); zero for the bootstrap voters and for nodes that never were voters.
//
// The call may wait for the leader's answer, so it runs off the network workers
// (catalogController).
func init() {
	register(api{key: int16(kmsg.DescribeQuorum), min: 0, max: 2, handle: handleDescribeQuorum, catalog: catalogController})
}

// QuorumDescriber is a Cluster whose metadata quorum can be described (cluster.Node).
type QuorumDescriber interface {
	// QuorumStatus is the quorum as its leader sees it.
	QuorumStatus() (metadata.QuorumStatus, error)
}

// clusterMetadataTopic is the metadata log's name in Kafka's APIs (KRaft's
// __cluster_metadata-0).
const clusterMetadataTopic = "__cluster_metadata"

func handleDescribeQuorum(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeQuorumRequest)
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	if len(req.Topics) != 1 || req.Topics[0].Topic != clusterMetadataTopic || len(req.Topics[0].Partitions) != 1 || req.Topics[0].Partitions[0].Partition != 0 {
		resp.ErrorCode = kerr.UnknownTopicOrPartition.Code
		msg := "DescribeQuorum describes " + clusterMetadataTopic + "-0 only"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	t := kmsg.NewDescribeQuorumResponseTopic()
	t.Topic = clusterMetadataTopic
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	qd, ok := b.cluster.(QuorumDescriber)
	var st metadata.QuorumStatus
	err := refuse(kerr.UnsupportedVersion, "this node's cluster has no metadata quorum to describe")
	if ok {
		st, err = qd.QuorumStatus()
	}
	if err != nil {
		p.ErrorCode = errorCode(err)
		if p.ErrorCode == kerr.NotController.Code {
			p.ErrorCode = kerr.NotLeaderForPartition.Code // Kafka's answer from a non-leader
		}
		msg := err.Error()
		p.ErrorMessage = &msg
		t.Partitions = append(t.Partitions, p)
		resp.Topics = append(resp.Topics, t)
		return resp, nil
	}
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.LeaderID, st.LeaderEpoch, st.HighWatermark
	known := map[int32]bool{}
	replica := func(v metadata.VoterStatus) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		known[v.ID] = true
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.ReplicaDirectoryID, rs.LogEndOffset = v.ID, v.Directory, v.LogEnd
		if !v.LastFetch.IsZero() {
			rs.LastFetchTimestamp = v.LastFetch.UnixMilli()
		}
		if !v.LastCaughtUp.IsZero() {
			rs.LastCaughtUpTimestamp = v.LastCaughtUp.UnixMilli()
		}
		return rs
	}
	for _, v := range st.Voters {
		p.CurrentVoters = append(p.CurrentVoters, replica(v))
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = v.ID
		if host, port, err := net.SplitHostPort(v.Addr); err == nil {
			if pn, err := strconv.ParseUint(port, 10, 16); err == nil {
				l := kmsg.NewDescribeQuorumResponseNodeListener()
				l.Name, l.Host, l.Port = controllerListenerName, host, uint16(pn)
				n.Listeners = append(n.Listeners, l)
			}
		}
		resp.Nodes = append(resp.Nodes, n)
	}
	for _, v := range st.Observers {
		p.Observers = append(p.Observers, replica(v))
	}
	for _, br := range b.cluster.Brokers() {
		if !known[br.ID] {
			rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
			rs.ReplicaID, rs.LogEndOffset = br.ID, -1
			p.Observers = append(p.Observers, rs)
		}
	}
	t.Partitions = append(t.Partitions, p)
	resp.Topics = append(resp.Topics, t)
	return resp, nil
}
