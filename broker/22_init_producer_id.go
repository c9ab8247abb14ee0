package broker

import (
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId: versions 0-5.
//
//   - No transactional id: a new producer id with epoch 0, unique across restarts
//     (producerids.go).
//   - v3+ with the producer's current id and epoch (KIP-360, a producer that lost track of its
//     sequences): the same id with the epoch bumped, which fences the old epoch's in-flight
//     batches on every partition. Kafka hands out a new id here instead; the bump is equally
//     valid for clients (they reset sequences either way) and also fences zombies. An id this
//     broker never issued, or an epoch that would overflow, gets a new id.
//   - A transactional id: the id's transaction coordinator (txns.go, package txn) answers,
//     once its new state is durable: epoch bump and zombie fencing, KIP-360 recovery, a new
//     producer id when the epoch is exhausted; CONCURRENT_TRANSACTIONS while an older
//     transaction completes or is being aborted. PRODUCER_FENCED is INVALID_PRODUCER_EPOCH
//     below v4, as in Kafka.
func init() {
	register(api{key: int16(kmsg.InitProducerID), min: 0, max: 5, handle: handleInitProducerID, catalog: catalogController})
}

func handleInitProducerID(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if resp.ErrorCode = b.initProducerIDDenied(c, req.TransactionalID); resp.ErrorCode != 0 {
		return resp, nil
	}
	if req.TransactionalID != nil {
		return initTransactionalProducerID(b, c, req, resp)
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

// initTransactionalProducerID parks the request on the transactional id's coordinator.
func initTransactionalProducerID(b *Broker, c *call, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) (kmsg.Response, error) {
	coord, kerrv := b.txnCoordinator(*req.TransactionalID)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp, nil
	}
	pid, epoch := int64(-1), int16(-1)
	if c.version() >= 3 {
		pid, epoch = req.ProducerID, req.ProducerEpoch
	}
	c.park()
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	coord.InitProducerID(*req.TransactionalID, timeout, pid, epoch, func(pid int64, epoch int16, err error) {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		resp.ErrorCode = fencedCode(txnError(err), c.version(), 4)
		b.finishKmsg(c, resp)
	})
	return nil, errDeferred
}

// fencedCode is code for a request of version v: PRODUCER_FENCED became its own code in the
// version given (KIP-588); older versions get INVALID_PRODUCER_EPOCH, as Kafka answers them.
func fencedCode(code int16, v, since int16) int16 {
	if code == kerr.ProducerFenced.Code && v < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

// allocateProducerID hands out a new producer id, from blocks the controller reserves.
func (b *Broker) allocateProducerID() (int64, error) {
	return b.pids.allocate(b.cluster)
}

// producerIDIssued reports whether id was ever handed out (by any broker of the cluster).
func (b *Broker) producerIDIssued(id int64) (bool, error) {
	return b.cluster.ProducerIDIssued(id), nil
}
