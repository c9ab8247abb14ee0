package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/txn"
)

// DescribeTransactions: version 0. Each transactional id is described by its coordinator:
// NOT_COORDINATOR for ids of partitions not led here, TRANSACTIONAL_ID_NOT_FOUND for unknown
// ids (their other fields zero, as Kafka answers). StartTimestamp is -1 before the id's first
// transaction.
func init() {
	register(api{key: int16(kmsg.DescribeTransactions), min: 0, max: 0, handle: handleDescribeTransactions})
}

func handleDescribeTransactions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id // an error leaves the other fields zero, as in Kafka
		coord, kerrv := b.txnCoordinator(id)
		if !b.authorizeTxnID(c, acl.OpDescribe, id) {
			coord, kerrv = nil, kerr.TransactionalIDAuthorizationFailed
		}
		if kerrv != nil {
			st.ErrorCode = kerrv.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		in, err := coord.Describe(id)
		if err != nil {
			st.ErrorCode = txnError(err)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis = in.State.String(), int32(in.Timeout.Milliseconds())
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = in.ProducerID, in.ProducerEpoch, -1
		if !in.Start.IsZero() {
			st.StartTimestamp = in.Start.UnixMilli()
		}
		for topic, ps := range txn.ByTopic(in.Partitions) {
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic, t.Partitions = topic, ps
			st.Topics = append(st.Topics, t)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}
