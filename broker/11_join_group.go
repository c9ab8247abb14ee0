package broker

import (
	"bytes"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// JoinGroup: versions 0-9 (Kafka 4.0.1 restored v0-1, KAFKA-19444). v4+ makes a new dynamic
// member join twice (MEMBER_ID_REQUIRED, KIP-394); v5+ carries group.instance.id (KIP-345);
// v9+ lets a static leader rejoin without reassigning (SkipAssignment, KIP-814). v0 has no
// rebalance timeout: the session timeout stands in, as in Kafka. A share group's id gets
// INCONSISTENT_GROUP_PROTOCOL (Kafka's GroupMetadataManager.classicGroupJoin).
//
// The answer usually waits for the rebalance to complete (up to the rebalance timeout). The
// request parks like a long-poll fetch (deferred.go): the coordinator's reply callback answers
// it, no goroutine waits, and the connection's later requests and every other connection go
// on. BeginShutdown answers parked requests COORDINATOR_NOT_AVAILABLE.
func init() {
	register(api{key: int16(kmsg.JoinGroup), min: 0, max: 9, handle: handleJoinGroup})
}

func handleJoinGroup(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.JoinGroupRequest)
	v := c.version()
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	coord, lerr := b.authorizedGroupCoordinator(c, acl.OpRead, req.Group)
	if lerr != nil {
		return joinGroupResponse(v, resp, group.JoinResult{Err: lerr, Generation: -1, MemberID: req.MemberID}), nil
	}
	if b.shares.Has(req.Group) { // a share group's id: Kafka answers with no member id
		return joinGroupResponse(v, resp, group.JoinResult{Err: kerr.InconsistentGroupProtocol, Generation: -1}), nil
	}
	jr := group.JoinRequest{
		Group: req.Group, MemberID: req.MemberID, InstanceID: req.InstanceID, ProtocolType: req.ProtocolType,
		SessionTimeout:         time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:       time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		ClientID:               clientID(c),
		ClientHost:             clientHost(c.req.RemoteAddr),
		RequireKnownMemberID:   v >= 4,
		SupportsSkipAssignment: v >= 9,
	}
	if v == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	for _, p := range req.Protocols {
		// The coordinator keeps the metadata past this request: a copy, not a sub-slice of
		// the request frame.
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: bytes.Clone(p.Metadata)})
	}
	return nil, parkGroup(b, c, func(reply func(group.JoinResult)) { coord.JoinFunc(jr, reply) },
		func(res group.JoinResult, ok bool) {
			if !ok {
				res = group.JoinResult{Err: kerr.CoordinatorNotAvailable, Generation: -1, MemberID: req.MemberID}
			}
			b.finishKmsg(c, joinGroupResponse(v, resp, res))
		})
}

// joinGroupResponse fills resp with a JoinGroup answer.
func joinGroupResponse(v int16, resp *kmsg.JoinGroupResponse, res group.JoinResult) *kmsg.JoinGroupResponse {
	resp.ErrorCode = errCode(res.Err)
	resp.Generation = res.Generation
	resp.MemberID = res.MemberID
	resp.LeaderID = res.Leader
	resp.SkipAssignment = res.SkipAssignment
	protocol := res.Protocol
	resp.Protocol = &protocol
	if v >= 7 {
		if res.Err != nil {
			resp.Protocol = nil
		} else {
			pt := res.ProtocolType
			resp.ProtocolType = &pt
		}
	}
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ProtocolMetadata = m.MemberID, m.InstanceID, m.Metadata
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// clientID is the request header's client id ("" when null).
func clientID(c *call) string {
	if c.req.ClientID == nil {
		return ""
	}
	return string(c.req.ClientID)
}
