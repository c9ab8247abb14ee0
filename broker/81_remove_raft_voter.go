package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// RemoveRaftVoter: version 0 (KIP-853), what `kafka-metadata-quorum remove-controller
// --controller-id N --controller-directory-id D` sends. The metadata quorum's leader removes
// the voter (metadata.Quorum.RemoveVoter); asked to remove itself, it first hands leadership
// to another voter, which then removes it. Any node takes the request and hands it to the
// leader (cluster.Node.RemoveVoter). Checks: ALTER on the cluster
// (CLUSTER_AUTHORIZATION_FAILED), the cluster id if given (INCONSISTENT_CLUSTER_ID), an id
// that is not a voter or a directory id that is not the voter's (VOTER_NOT_FOUND), the only
// voter (INVALID_REQUEST), another voter change still running (REQUEST_TIMED_OUT). A removed
// node keeps running as a broker outside the quorum; stop it or add it again.
//
// The change waits for the quorum, so it runs off the network workers (catalogController).
func init() {
	register(api{key: int16(kmsg.RemoveRaftVoter), min: 0, max: 0, handle: handleRemoveRaftVoter, catalog: catalogController})
}

func handleRemoveRaftVoter(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.RemoveRaftVoterRequest)
	resp := req.ResponseKind().(*kmsg.RemoveRaftVoterResponse)
	qm, err := b.quorumMembership(c, req.ClusterID)
	if err == nil {
		err = qm.RemoveVoter(req.VoterID, metadata.TopicID(req.VoterDirectoryID))
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp, nil
}
