package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: versions 0-6. Consumer groups and transactions are not implemented yet, so
// every key is answered COORDINATOR_NOT_AVAILABLE with a message saying so. The API must still
// be advertised: librdkafka enables LZ4 only when FindCoordinator v0 is (without it kcat and
// confluent-kafka send lz4 batches uncompressed).
func init() {
	register(api{key: int16(kmsg.FindCoordinator), min: 0, max: 6, handle: handleFindCoordinator})
}

const noCoordinatorMessage = "logd does not implement consumer groups or transactions yet"

func handleFindCoordinator(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	msg := noCoordinatorMessage
	if c.version() < 4 {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		resp.ErrorMessage = &msg
		resp.NodeID, resp.Port = -1, -1
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.NodeID, co.Port = -1, -1
		co.ErrorCode = kerr.CoordinatorNotAvailable.Code
		co.ErrorMessage = &msg
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}
