package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/txn"
)

// ListTransactions: versions 0-1. Each broker lists the transactional ids its coordinators
// hold (clients ask every broker), filtered by state, producer id and (v1, KIP-994) how long
// ago the transaction started (ids that never started one pass, as in Kafka). Unknown state names come back in UnknownStateFilters and
// match nothing; COORDINATOR_LOAD_IN_PROGRESS while a __transaction_state partition led here
// is still loading.
func init() {
	register(api{key: int16(kmsg.ListTransactions), min: 0, max: 1, handle: handleListTransactions})
}

func handleListTransactions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := txn.Filter{ProducerIDs: req.ProducerIDFilters}
	if c.version() >= 1 && req.DurationFilterMillis > 0 {
		f.MinDuration = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	for _, name := range req.StateFilters {
		if s, ok := txn.ParseState(name); ok {
			f.States = append(f.States, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(req.StateFilters) > 0 && len(f.States) == 0 {
		return resp, nil // only unknown states: nothing matches
	}
	coords, kerrv := b.txnCoordinators()
	if kerrv != nil {
		resp.ErrorCode = kerrv.Code
		return resp, nil
	}
	for _, coord := range coords {
		for _, in := range coord.List(f) {
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = in.TransactionalID, in.ProducerID, in.State.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
	return resp, nil
}
