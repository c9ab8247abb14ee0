package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// LeaveGroup: versions 0-5. v0-2 name one member, whose error is the response's; v3+ batch
// members, each by member id or by group.instance.id alone (KIP-345), each with its error.
func init() {
	register(api{key: int16(kmsg.LeaveGroup), min: 0, max: 5, handle: handleLeaveGroup})
}

func handleLeaveGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpRead, req.Group)
	if lerr != nil {
		resp.ErrorCode = lerr.Code
		return resp, nil
	}
	members := []group.LeaveMember{{MemberID: req.MemberID}}
	if c.version() >= 3 {
		members = members[:0]
		for _, m := range req.Members {
			members = append(members, group.LeaveMember{MemberID: m.MemberID, InstanceID: m.InstanceID})
		}
	}
	errs := coord.Leave(req.Group, members)
	if c.version() < 3 {
		resp.ErrorCode = errCode(errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}
