package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// AddRaftVoter: versions 0-1 (KIP-853), what `kafka-metadata-quorum add-controller` sends
// (v1 adds AckWhenCommitted; logd always answers after the new voter set is committed). The
// metadata quorum's leader adds the node as an observer unless it is one, waits until its
// log has caught up, promotes it to voter and records its directory id
// (metadata.Quorum.AddVoter); any node takes the request and hands it to the leader
// (cluster.Node.AddVoter). The voter's Raft address is its listener named CONTROLLER, or its
// only listener. Checks, Kafka's AddVoterHandler's: ALTER on the cluster
// (CLUSTER_AUTHORIZATION_FAILED), the cluster id if given (INCONSISTENT_CLUSTER_ID), a
// negative id or no usable listener (INVALID_REQUEST), an id that is already a voter
// (DUPLICATE_VOTER), another voter change still running or a new voter that has not caught
// up within the request's timeout, at most voterChangeTimeout (REQUEST_TIMED_OUT).
//
// The change waits for the quorum, so it runs off the network workers (catalogController).
func init() {
	register(api{key: int16(kmsg.AddRaftVoter), min: 0, max: 1, handle: handleAddRaftVoter, catalog: catalogController})
}

func handleAddRaftVoter(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.AddRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.AddRaftVoterResponse)
	qm, err := b.quorumMembership(c, req.ClusterID)
	if err == nil {
		var ls []raftEndpoint
		for _, l := range req.Listeners {
			ls = append(ls, raftEndpoint{l.Name, l.Host, l.Port})
		}
		addr, ok := controllerEndpoint(ls)
		timeout := min(max(time.Duration(req.TimeoutMillis)*time.Millisecond, time.Second), voterChangeTimeout)
		switch {
		case req.VoterID < 0:
			err = refuse(kerr.InvalidRequest, "voter id %d is negative", req.VoterID)
		case !ok:
			err = refuse(kerr.InvalidRequest, "voter %d has no listener named %s among its %d listeners", req.VoterID, controllerListenerName, len(ls))
		default:
			err = qm.AddVoter(req.VoterID, metadata.TopicID(req.VoterDirectoryID), addr, timeout)
		}
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp, nil
}
