package broker

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/group"
)

// ListGroups: versions 0-5. v4+ filters by state (case-insensitive, KIP-518), v5+ by group
// type (KIP-848, case-insensitive): "classic", "consumer", "streams" or "share" (share
// groups, shares.go). A cluster member lists the groups of the __consumer_offsets partitions
// it leads (clients ask every broker).
func init() {
	register(api{key: int16(kmsg.ListGroups), min: 0, max: 5, handle: handleListGroups})
}

func handleListGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	coords, lerr := b.groupCoordinators()
	if lerr != nil {
		resp.ErrorCode = lerr.Code
		return resp, nil
	}
	states := map[group.State]bool{}
	for _, s := range req.StatesFilter {
		st, ok := group.ParseState(s)
		if !ok {
			resp.ErrorCode = kerr.InvalidRequest.Code
			return resp, nil
		}
		states[st] = true
	}
	types := map[string]bool{}
	for _, t := range req.TypesFilter {
		types[strings.ToLower(t)] = true
	}
	for _, coord := range coords {
		for _, l := range coord.List() {
			if (len(states) > 0 && !states[l.State]) || (len(types) > 0 && !types[l.Type]) || !b.mayListGroup(c, l.Group) {
				continue
			}
			g := kmsg.NewListGroupsResponseGroup()
			g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, l.ProtocolType, l.State.String(), l.Type
			resp.Groups = append(resp.Groups, g)
		}
	}
	for _, l := range b.shares.List(b.coordinatesGroup) {
		if (len(states) > 0 && !shareStateIn(states, l.State)) || (len(types) > 0 && !types[shareGroupType]) {
			continue
		}
		g := kmsg.NewListGroupsResponseGroup()
		g.Group, g.ProtocolType, g.GroupState, g.GroupType = l.Group, shareGroupType, l.State, shareGroupType
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
