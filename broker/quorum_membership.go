package broker

import (
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// What the handlers of the metadata quorum's membership share: AddRaftVoter
// (80_add_raft_voter.go), RemoveRaftVoter (81_remove_raft_voter.go), ControllerRegistration
// (70_controller_registration.go) and DescribeQuorum (55_describe_quorum.go).

// controllerListenerName is the name DescribeQuorum gives the voters' listeners, and the
// listener AddRaftVoter and ControllerRegistration take a node's Raft address from.
const controllerListenerName = "CONTROLLER"

// QuorumMembership is a Cluster whose metadata quorum can grow and shrink (cluster.Node).
type QuorumMembership interface {
	// AddVoter adds node id, its controller listener at addr, as a voter of the quorum.
	AddVoter(id int32, dir metadata.TopicID, addr string, timeout time.Duration) error
	// RemoveVoter removes voter id (a zero dir matches any directory id).
	RemoveVoter(id int32, dir metadata.TopicID) error
	// AddObserver makes node id, its controller listener at addr, an observer of the quorum.
	AddObserver(id int32, addr string) error
}

// voterChangeTimeout bounds how long a voter change waits for the new voter to catch up: the
// forwarding broker's own wait for the controller (metadata.ProposeTimeout and a second) must
// outlast it.
const voterChangeTimeout = metadata.ProposeTimeout - time.Second

// quorumMembership returns the cluster's quorum membership after the checks every voter change
// shares: ALTER on the cluster and the request's cluster id.
func (b *Broker) quorumMembership(c *call, clusterID *string) (QuorumMembership, error) {
	if !b.authorizeCluster(c, acl.OpAlter) {
		return nil, errClusterAuthorization(acl.OpAlter)
	}
	qm, ok := b.cluster.(QuorumMembership)
	if !ok {
		return nil, refuse(kerr.UnsupportedVersion, "this node's cluster has no metadata quorum to change")
	}
	if clusterID != nil && *clusterID != b.cluster.ClusterID() {
		return nil, refuse(kerr.InconsistentClusterID, "the request is for cluster %q, this is %q", *clusterID, b.cluster.ClusterID())
	}
	return qm, nil
}

// raftEndpoint is one listener a node announces for its controller role.
type raftEndpoint struct {
	name, host string
	port       uint16
}

// controllerEndpoint picks a node's Raft address among its listeners: the one named
// CONTROLLER, or the only one.
func controllerEndpoint(ls []raftEndpoint) (string, bool) {
	for _, l := range ls {
		if l.name == controllerListenerName || len(ls) == 1 {
			return net.JoinHostPort(l.host, strconv.Itoa(int(l.port))), true
		}
	}
	return "", false
}
