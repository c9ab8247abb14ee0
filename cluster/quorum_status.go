package cluster

import (
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// QuorumStatus implements broker.QuorumDescriber: the metadata quorum as its leader sees it,
// from this node's Raft member when it leads, else asked of the leader with DescribeQuorum
// (forward retries while leadership moves).
func (n *Node) QuorumStatus() (metadata.QuorumStatus, error) {
	var st metadata.QuorumStatus
	err := n.onController(func(*activeCtl) error {
		var err error
		st, err = n.q.Status()
		return err
	}, func() error {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.SetVersion(2)
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		return n.forward(req, func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.DescribeQuorumResponse)
			if resp.ErrorCode != 0 {
				return resp.ErrorCode, resp.ErrorMessage
			}
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				msg := "the controller's DescribeQuorum answer describes no partition"
				return kerr.UnknownServerError.Code, &msg
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode == kerr.NotLeaderForPartition.Code {
				return kerr.NotController.Code, p.ErrorMessage // leadership moved: ask again
			}
			if p.ErrorCode != 0 {
				return p.ErrorCode, p.ErrorMessage
			}
			st = quorumStatusOf(resp, p)
			return 0, nil
		})
	})
	return st, err
}

// quorumStatusOf reads the leader's DescribeQuorum answer back into a QuorumStatus.
func quorumStatusOf(resp *kmsg.DescribeQuorumResponse, p kmsg.DescribeQuorumResponseTopicPartition) metadata.QuorumStatus {
	st := metadata.QuorumStatus{LeaderID: p.LeaderID, LeaderEpoch: p.LeaderEpoch, HighWatermark: p.HighWatermark}
	addrs := map[int32]string{}
	for _, nd := range resp.Nodes {
		if len(nd.Listeners) > 0 {
			addrs[nd.NodeID] = net.JoinHostPort(nd.Listeners[0].Host, strconv.Itoa(int(nd.Listeners[0].Port)))
		}
	}
	at := func(ms int64) time.Time {
		if ms < 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	replica := func(v kmsg.DescribeQuorumResponseTopicPartitionReplicaState) metadata.VoterStatus {
		return metadata.VoterStatus{ID: v.ReplicaID, Directory: v.ReplicaDirectoryID, Addr: addrs[v.ReplicaID], LogEnd: v.LogEndOffset,
			LastFetch: at(v.LastFetchTimestamp), LastCaughtUp: at(v.LastCaughtUpTimestamp)}
	}
	for _, v := range p.CurrentVoters {
		st.Voters = append(st.Voters, replica(v))
	}
	for _, v := range p.Observers {
		st.Observers = append(st.Observers, replica(v))
	}
	return st
}
