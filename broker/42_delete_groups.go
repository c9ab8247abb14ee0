package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups: versions 0-2. A group with members is refused (NON_EMPTY_GROUP), an unknown
// one is GROUP_ID_NOT_FOUND; otherwise tombstones for its metadata and offsets are written
// and synced before the answer.
func init() {
	register(api{key: int16(kmsg.DeleteGroups), min: 0, max: 2, handle: handleDeleteGroups})
}

func handleDeleteGroups(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		coord, lerr := b.groupCoordinator(id)
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		if lerr != nil {
			g.ErrorCode = lerr.Code
			resp.Groups = append(resp.Groups, g)
			continue
		}
		e, wait := coord.Delete(id)
		if e == nil && wait != nil {
			if err := wait(); err != nil {
				e = journalError(err)
			}
		}
		g.ErrorCode = errCode(e)
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
