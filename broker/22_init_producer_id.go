package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: versions 0-5, idempotent producers only.
//
//   - No transactional id: a new producer id with epoch 0, unique across restarts
//     (producerids.go).
//   - v3+ with the producer's current id and epoch (KIP-360, a producer that lost track of its
//     sequences): the same id with the epoch bumped, which fences the old epoch's in-flight
//     batches on every partition. Kafka hands out a new id here instead; the bump is equally
//     valid for clients (they reset sequences either way) and also fences zombies. An id this
//     broker never issued, or an epoch that would overflow, gets a new id.
//   - A transactional id: TRANSACTIONAL_ID_AUTHORIZATION_FAILED. logd has no transaction
//     coordinator yet; this error is fatal and says "no transactions for you" in every client,
//     where COORDINATOR_NOT_AVAILABLE would make clients retry forever.
func init() {
	register(api{key: int16(kmsg.InitProducerID), min: 0, max: 5, handle: handleInitProducerID, catalog: catalogController})
}

func handleInitProducerID(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	if c.version() >= 3 && req.ProducerID >= 0 && req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
		ok, err := b.producerIDIssued(req.ProducerID)
		if err != nil {
			resp.ErrorCode = errorCode(err)
			return resp, nil
		}
		if ok {
			resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
			return resp, nil
		}
	}
	id, err := b.allocateProducerID()
	if err != nil {
		b.log.Error("init producer id", "err", err)
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}

// allocateProducerID hands out a new producer id, from blocks the controller reserves.
func (b *Broker) allocateProducerID() (int64, error) {
	return b.pids.allocate(b.cluster)
}

// producerIDIssued reports whether id was ever handed out (by any broker of the cluster).
func (b *Broker) producerIDIssued(id int64) (bool, error) {
	return b.cluster.ProducerIDIssued(id), nil
}
