package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
)

// Heartbeat: versions 0-4 (v3+ group.instance.id). REBALANCE_IN_PROGRESS tells a member of
// a rebalancing group to rejoin; ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID and
// FENCED_INSTANCE_ID fence stale members. A share group's id gets GROUP_ID_NOT_FOUND.
func init() {
	register(api{key: int16(kmsg.Heartbeat), min: 0, max: 4, handle: handleHeartbeat})
}

func handleHeartbeat(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpRead, req.Group)
	if lerr != nil {
		resp.ErrorCode = lerr.Code
		return resp, nil
	}
	if b.shares.Has(req.Group) { // not a classic group (Kafka's GroupMetadataManager)
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return resp, nil
	}
	resp.ErrorCode = errCode(coord.Heartbeat(req.Group, req.MemberID, req.InstanceID, req.Generation))
	return resp, nil
}
