package broker

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
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
	// Each deletion's record must be durable before the answer: the last durability callback
	// answers (pending counts the outstanding ones, plus one for this loop).
	var pending atomic.Int32
	pending.Store(1)
	resp.Groups = make([]kmsg.DeleteGroupsResponseGroup, len(req.Groups))
	done := func() {
		if pending.Add(-1) == 0 {
			b.finishKmsg(c, resp)
		}
	}
	c.park()
	for i, id := range req.Groups {
		g := &resp.Groups[i]
		*g = kmsg.NewDeleteGroupsResponseGroup()
		g.Group = id
		coord, lerr := b.authorizedGroupCoordinator(c, acl.OpDelete, id)
		if lerr != nil {
			g.ErrorCode = lerr.Code
			continue
		}
		e, wait := coord.Delete(id)
		g.ErrorCode = errCode(e)
		if e == nil && wait != nil {
			pending.Add(1)
			wait(func(err error) {
				if err != nil {
					g.ErrorCode = journalError(err).Code
				}
				done()
			})
		}
	}
	done()
	return nil, errDeferred
}
