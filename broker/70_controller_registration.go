package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// ControllerRegistration: version 0 (KIP-919), internal. A Kafka controller announces its
// listeners to the active controller with it; a logd node joining an existing metadata quorum
// (cluster.Config.JoinVia) sends it to a broker it was given, to be added as an observer of
// the quorum (metadata.Quorum.AddObserver): it then replicates the metadata and serves as a
// broker, and AddRaftVoter can make it a voter. Any node takes the request and hands it to
// the leader. The node's Raft address is its listener named CONTROLLER, or its only one.
// Checks: CLUSTER_ACTION on the cluster (brokers only, CLUSTER_AUTHORIZATION_FAILED), a
// negative id or no usable listener (INVALID_REQUEST).
//
// The change waits for the quorum, so it runs off the network workers (catalogController).
func init() {
	register(api{key: int16(kmsg.ControllerRegistration), min: 0, max: 0, handle: handleControllerRegistration, catalog: catalogController, internal: true})
}

func handleControllerRegistration(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ControllerRegistrationRequest)
	resp := req.ResponseKind().(*kmsg.ControllerRegistrationResponse)
	var err error
	qm, ok := b.cluster.(QuorumMembership)
	var ls []raftEndpoint
	for _, l := range req.Listeners {
		ls = append(ls, raftEndpoint{l.Name, l.Host, l.Port})
	}
	addr, found := controllerEndpoint(ls)
	switch {
	case !b.authorizeCluster(c, acl.OpClusterAction):
		err = errClusterAuthorization(acl.OpClusterAction)
	case !ok:
		err = refuse(kerr.UnsupportedVersion, "this node's cluster has no metadata quorum to join")
	case req.ControllerID < 0:
		err = refuse(kerr.InvalidRequest, "controller id %d is negative", req.ControllerID)
	case !found:
		err = refuse(kerr.InvalidRequest, "controller %d has no listener named %s among its %d listeners", req.ControllerID, controllerListenerName, len(ls))
	default:
		err = qm.AddObserver(req.ControllerID, addr)
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
	return resp, nil
}
