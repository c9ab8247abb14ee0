package broker

import (
	"regexp"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/txn"
)

// ListTransactions: versions 0-2. Each broker lists the transactional ids its coordinators
// hold (clients ask every broker), filtered by state, producer id, (v1, KIP-994) how long
// ago the transaction started (ids that never started one pass, as in Kafka) and (v2,
// KIP-1152) a regular expression the whole transactional id must match (Kafka's RE2/J and
// Go's regexp share the RE2 syntax; null or empty matches all, an invalid one is
// INVALID_REGULAR_EXPRESSION). Unknown state names come back in UnknownStateFilters and
// match nothing; COORDINATOR_LOAD_IN_PROGRESS while a __transaction_state partition led here
// is still loading.
func init() {
	register(api{key: int16(kmsg.ListTransactions), min: 0, max: 2, handle: handleListTransactions})
}

func handleListTransactions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := txn.Filter{ProducerIDs: req.ProducerIDFilters}
	if c.version() >= 1 && req.DurationFilterMillis > 0 {
		f.MinDuration = time.Duration(req.DurationFilterMillis) * time.Millisecond
	}
	var idPattern *regexp.Regexp
	if c.version() >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		// Compiled alone first: a pattern that compiles alone has balanced groups, so
		// wrapping it cannot change its meaning ("a)|(b" would otherwise escape the anchors).
		_, err := regexp.Compile(*req.TransactionalIDPattern)
		re, werr := regexp.Compile(`^(?:` + *req.TransactionalIDPattern + `)$`)
		if err != nil || werr != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
		idPattern = re
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
			if (idPattern != nil && !idPattern.MatchString(in.TransactionalID)) ||
				!b.allowed(c, acl.OpDescribe, acl.ResourceTransactionalID, in.TransactionalID) {
				continue
			}
			st := kmsg.NewListTransactionsResponseTransactionState()
			st.TransactionalID, st.ProducerID, st.TransactionState = in.TransactionalID, in.ProducerID, in.State.String()
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
	return resp, nil
}
