package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn: versions 0-4, and 5 once transaction version 2 is finalized (KIP-890 part 2: the
// coordinator bumps the epoch, or moves to a new producer id, and the answer carries the
// producer id and epoch to go on with; txn/doc.go). Answered once the coordinator's
// PrepareCommit or PrepareAbort is durable; the markers are written after (txn_markers.go),
// and the transactional id answers CONCURRENT_TRANSACTIONS until they are.
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH below v2.
func init() {
	register(api{key: int16(kmsg.EndTxn), min: 0, max: 4, maxTV2: 5, handle: handleEndTxn})
}

func handleEndTxn(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	coord, kerrv := b.authorizedTxnCoordinator(c, req.TransactionalID)
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp, nil
	}
	c.park()
	coord.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, c.version() >= 5, func(pid int64, epoch int16, err error) {
		resp.ErrorCode = fencedCode(txnError(err), c.version(), 2)
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
		b.finishKmsg(c, resp)
	})
	return nil, errDeferred
}
