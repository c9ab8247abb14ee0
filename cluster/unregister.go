package cluster

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// UnregisterBroker implements broker.BrokerUnregisterer: it removes broker id's registration
// through the active controller (UnregisterBroker forwarded to it when it is another node).
func (n *Node) UnregisterBroker(id int32) error {
	return n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.UnregisterBroker{ID: id})
		return err
	}, func() error {
		req := kmsg.NewPtrUnregisterBrokerRequest()
		req.BrokerID = id
		return n.forward(req, func(r kmsg.Response) (int16, *string) {
			resp := r.(*kmsg.UnregisterBrokerResponse)
			return resp.ErrorCode, resp.ErrorMessage
		})
	})
}
