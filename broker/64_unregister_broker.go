package broker

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// UnregisterBroker: version 0 (KIP-500), what `kafka-cluster unregister --id N` sends. The
// active controller removes the broker's registration from the metadata log
// (metadata.UnregisterBroker: its leaderships and ISR places go first, as when it is
// fenced); any node takes the request and hands it to the controller. An id that is not
// registered is BROKER_ID_NOT_REGISTERED. The tool is for brokers that are gone: unlike Kafka
// (where a running broker registers again at its next heartbeat), logd refuses to unregister
// a live, unfenced broker with INVALID_REQUEST, so that no client can take a serving broker
// out of the metadata, even for a moment, while logd has no authorizer.
//
// The change waits for the controller, so it runs off the network workers (catalogController).
func init() {
	register(api{key: int16(kmsg.UnregisterBroker), min: 0, max: 0, handle: handleUnregisterBroker, catalog: catalogController})
}

// BrokerUnregisterer is a Cluster that can remove a broker's registration (cluster.Node).
type BrokerUnregisterer interface {
	// UnregisterBroker removes broker id's registration through the controller.
	UnregisterBroker(id int32) error
}

func handleUnregisterBroker(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.UnregisterBrokerRequest)
	resp := req.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	u, ok := b.cluster.(BrokerUnregisterer)
	var err error
	switch {
	case !ok:
		err = refuse(kerr.UnsupportedVersion, "this node's cluster cannot unregister brokers")
	case slices.ContainsFunc(b.cluster.Brokers(), func(br metadata.BrokerRegistration) bool { return br.ID == req.BrokerID }):
		err = refuse(kerr.InvalidRequest, "broker %d is live (registered and unfenced): stop it and let it be fenced before unregistering it", req.BrokerID)
	default:
		err = u.UnregisterBroker(req.BrokerID)
	}
	if err != nil {
		resp.ErrorCode = errorCode(err)
		msg := err.Error()
		resp.ErrorMessage = &msg
	}
	return resp, nil
}
