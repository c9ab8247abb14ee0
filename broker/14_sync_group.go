package broker

import (
	"bytes"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// SyncGroup: versions 0-5 (v3+ group.instance.id, v5+ protocol type and name, checked
// against the group's: INCONSISTENT_GROUP_PROTOCOL). Followers wait for the leader's
// SyncGroup, parked like JoinGroup (11_join_group.go). The group's metadata record (members
// and assignments) is durable before any member gets its assignment, so a restarted broker
// knows the generation its members hold.
func init() {
	register(api{key: int16(kmsg.SyncGroup), min: 0, max: 5, handle: handleSyncGroup})
}

func handleSyncGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpRead, req.Group)
	if lerr != nil {
		return syncGroupResponse(resp, group.SyncResult{Err: lerr}), nil
	}
	sr := group.SyncRequest{Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID,
		Generation: req.Generation, ProtocolType: req.ProtocolType, Protocol: req.Protocol}
	for _, a := range req.GroupAssignment {
		sr.Assignments = append(sr.Assignments, group.Assignment{MemberID: a.MemberID, Assignment: bytes.Clone(a.MemberAssignment)})
	}
	return nil, parkGroup(b, c, func(reply func(group.SyncResult)) { coord.SyncFunc(sr, reply) },
		func(res group.SyncResult, ok bool) {
			if !ok {
				res = group.SyncResult{Err: kerr.CoordinatorNotAvailable}
			}
			if res.Err != nil || res.Wait == nil {
				b.finishKmsg(c, syncGroupResponse(resp, res))
				return
			}
			// The group's metadata record must be durable first: its callback answers.
			res.Wait(func(err error) {
				if err != nil {
					b.log.Warn("sync group: group metadata not durable", "group", req.Group, "err", err)
					res = group.SyncResult{Err: journalError(err)}
				}
				b.finishKmsg(c, syncGroupResponse(resp, res))
			})
		})
}

// syncGroupResponse fills resp with a SyncGroup answer.
func syncGroupResponse(resp *kmsg.SyncGroupResponse, res group.SyncResult) *kmsg.SyncGroupResponse {
	resp.ErrorCode = errCode(res.Err)
	resp.MemberAssignment = res.Assignment
	if res.Err == nil {
		pt, p := res.ProtocolType, res.Protocol
		resp.ProtocolType, resp.Protocol = &pt, &p
	}
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp
}
