package broker

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/group"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/txn"
)

// The transaction coordinators' glue (package txn): the internal __transaction_state topic
// and the coordinators' lifetime, which follows the leadership of its partitions exactly as
// the group coordinators follow __consumer_offsets (groups.go, "Groups in a cluster"):
//
//   - FindCoordinator with key type TRANSACTION answers the leader of the transactional id's
//     partition (group.PartitionFor, Kafka's mapping), creating the topic on first use.
//   - A broker runs one txn.Coordinator per __transaction_state partition it leads
//     (coordinator_leads.go), loaded from the partition's local log and closed when the
//     lead ends; requests for ids of a partition not led here get NOT_COORDINATOR,
//     COORDINATOR_LOAD_IN_PROGRESS while it loads.
//   - State changes are written through the partition's LeaderPartition (acks=all) with the
//     group package's journal (group.LogJournal: append, durability callback, replay); a
//     request is answered once its record is committed.
//   - Markers go to the partitions' leaders as WriteTxnMarkers requests (txn_markers.go).
//   - A partition's leader verifies a transactional produce with the coordinator (KIP-890
//     part 1): a direct call when it is this broker, else AddPartitionsToTxn VerifyOnly to
//     the coordinator's node (txn_verify.go), the produce parked meanwhile
//     (produce_verify.go).

// txnTopic is Kafka's internal topic of transaction states.
const txnTopic = "__transaction_state"

// txnTopicConfigs: compacted (Kafka's transaction.state.log settings), no time or size
// retention.
func (b *Broker) txnTopicConfigs() map[string]string {
	return map[string]string{
		"cleanup.policy":  "compact",
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"segment.bytes":   strconv.FormatInt(b.cfg.TransactionTopicSegmentBytes, 10),
	}
}

// leadTxns is the coordinator loaded for one lead of one __transaction_state partition.
type leadTxns struct {
	coord   *txn.Coordinator
	journal *group.LogJournal
	closed  atomic.Bool // its markers still being sent are abandoned
}

// leadershipChanged tells the coordinators that this broker's role for a partition of topic
// changed (Lead, Follow, Resign).
func (b *Broker) leadershipChanged(topic string) {
	switch topic {
	case offsetsTopic:
		b.groups.poke()
	case txnTopic:
		b.txns.poke()
	case shareStateTopic:
		b.shareStates.poke()
	}
}

// txnCoordinator is the coordinator of transactional id id: that of its __transaction_state
// partition while this broker leads it.
func (b *Broker) txnCoordinator(id string) (*txn.Coordinator, *kerr.Error) {
	lt, e := b.txns.get(b, id)
	if e != nil {
		return nil, e
	}
	return lt.coord, nil
}

// txnCoordinators is every coordinator of this broker (ListTransactions).
func (b *Broker) txnCoordinators() ([]*txn.Coordinator, *kerr.Error) {
	lts, e := b.txns.all(b)
	out := make([]*txn.Coordinator, len(lts))
	for i, lt := range lts {
		out[i] = lt.coord
	}
	return out, e
}

// loadTxns replays __transaction_state partition p and starts its coordinator, writing
// through lp. REQUIRES: b.txns.mu held.
func (b *Broker) loadTxns(p, partitions int32, lp *replication.LeaderPartition) (*leadTxns, error) {
	start := time.Now()
	j, rp, err := b.openLeadJournal(txnTopic, p, partitions, lp)
	if err != nil {
		return nil, err
	}
	lt := &leadTxns{journal: j}
	lt.coord = txn.New(txn.Config{
		Partition: p, CoordinatorEpoch: lp.LeaderEpoch(), MaxTimeout: b.cfg.TransactionMaxTimeout,
		NewProducerID: b.allocateProducerID, Logger: b.log,
		SendMarkers: func(m txn.Markers, done func(error)) { b.markers.send(m, &lt.closed, done) },
	}, j, rp.Records)
	b.log.Info("loaded transactions as leader", "partition", txnTopic+"-"+strconv.Itoa(int(p)), "leader_epoch", lp.LeaderEpoch(),
		"took", time.Since(start).Round(time.Millisecond).String())
	return lt, nil
}

// unloadTxns closes a coordinator: later requests get NOT_COORDINATOR, its markers still
// being sent are abandoned (the next coordinator sends them again).
func (b *Broker) unloadTxns(lt *leadTxns) {
	lt.closed.Store(true)
	lt.coord.Close()
	lt.journal.Close()
}

// txnCoordinatorNode answers FindCoordinator for a transactional id.
func (b *Broker) txnCoordinatorNode(id string) (node int32, host string, port int32, code int16, msg *string) {
	if id == "" {
		m := "the transactional id is empty"
		return -1, "", -1, kerr.InvalidRequest.Code, &m
	}
	return b.coordinatorNode(txnTopic, b.cfg.TransactionTopicPartitions, b.txnTopicConfigs(), id)
}

// txnError maps a coordinator's error: its own errors to their codes (errors.go), a failed
// journal write as the group coordinator's (journalError: NOT_COORDINATOR once the lead
// ended, else COORDINATOR_NOT_AVAILABLE, which clients retry), as Kafka maps append errors
// for the transaction log.
func txnError(err error) int16 {
	if err == nil {
		return 0
	}
	for _, m := range txnErrorCodes {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	return journalError(err).Code
}
