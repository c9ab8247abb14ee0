package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/group"
)

// DescribeGroups: versions 0-6 (v3+ authorized operations, v4+ instance ids, v6 error
// messages). As in Kafka's classic coordinator, an unknown group is described as Dead with no
// error before v6 and with GROUP_ID_NOT_FOUND ("Group g not found.") from v6 on (KIP-1043), and
// members' metadata and assignments (and the protocol) are shown only while the group is Stable. A
// consumer-protocol (KIP-848) group gets GROUP_ID_NOT_FOUND ("not a classic group"), as in
// Kafka: ConsumerGroupDescribe describes it; so does a share group (ShareGroupDescribe).
func init() {
	register(api{key: int16(kmsg.DescribeGroups), min: 0, max: 6, handle: handleDescribeGroups})
}

func handleDescribeGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDescribe, id)
		g := kmsg.NewDescribeGroupsResponseGroup()
		g.Group = id
		g.AuthorizedOperations = topicAuthorizedOperationsUnknown
		if lerr == nil {
			g.AuthorizedOperations = b.authorizedOperations(c, req.IncludeAuthorizedOperations, acl.ResourceGroup, id)
		}
		if lerr != nil {
			g.ErrorCode = lerr.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		d, found := coord.Describe(id)
		isShare := b.shares.Has(id)
		if !found && !d.NotClassic && !isShare && c.version() >= 6 {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " not found."
			g.ErrorMessage = &msg
			g.State = group.Dead.String()
			resp.Groups = append(resp.Groups, g)
			continue
		}
		if d.NotClassic || isShare {
			g.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + id + " is not a classic group."
			g.ErrorMessage = &msg
			g.State = group.Dead.String()
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.ProtocolType, g.Protocol = d.State.String(), d.ProtocolType, d.Protocol
		for _, m := range d.Members {
			rm := kmsg.NewDescribeGroupsResponseGroupMember()
			rm.MemberID, rm.InstanceID, rm.ClientID, rm.ClientHost = m.MemberID, m.InstanceID, m.ClientID, m.ClientHost
			rm.ProtocolMetadata, rm.MemberAssignment = nonNil(m.Metadata), nonNil(m.Assignment)
			g.Members = append(g.Members, rm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
