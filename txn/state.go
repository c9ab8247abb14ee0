package txn

import (
	"errors"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// State is a transaction's state; the values are the codes __transaction_state stores
// (Kafka's TransactionState).
type State int8

// The states of a transactional id (see the diagram in doc.go).
const (
	Empty             State = 0
	Ongoing           State = 1
	PrepareCommit     State = 2
	PrepareAbort      State = 3
	CompleteCommit    State = 4
	CompleteAbort     State = 5
	Dead              State = 6
	PrepareEpochFence State = 7
)

// String is Kafka's name of the state (DescribeTransactions, ListTransactions).
func (s State) String() string { return kmsg.TransactionState(s).String() }

// ParseState parses a state name as ListTransactions filters give it.
func ParseState(name string) (State, bool) {
	for s := Empty; s <= PrepareEpochFence; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// Errors the coordinator answers with; the broker maps them to Kafka codes. Each is wrapped
// with what was wrong.
var (
	// ErrNotCoordinator: the coordinator was closed (its __transaction_state lead ended).
	ErrNotCoordinator = errors.New("not the transaction coordinator")
	// ErrInvalidRequest: a malformed request (an empty transactional id).
	ErrInvalidRequest = errors.New("invalid request")
	// ErrInvalidTimeout: transaction.timeout.ms out of range.
	ErrInvalidTimeout = errors.New("invalid transaction timeout")
	// ErrConcurrentTransactions: the id is completing a transaction or writing a change;
	// retriable.
	ErrConcurrentTransactions = errors.New("concurrent transactions")
	// ErrProducerFenced: a newer producer epoch exists for the id.
	ErrProducerFenced = errors.New("producer fenced")
	// ErrInvalidProducerIDMapping: the producer id is not the id's current one, or the id
	// has no state.
	ErrInvalidProducerIDMapping = errors.New("invalid producer id mapping")
	// ErrInvalidTxnState: the request does not fit the transaction's state.
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrNotInTransaction: a verified partition is not in the ongoing transaction
	// (AddPartitionsToTxn VerifyOnly; Kafka answers TRANSACTION_ABORTABLE).
	ErrNotInTransaction = errors.New("partition not in the transaction")
	// ErrUnknownTransactionalID: DescribeTransactions of an id this coordinator has no state
	// for.
	ErrUnknownTransactionalID = errors.New("unknown transactional id")
)

// noEpoch is RecordBatch.NO_PRODUCER_EPOCH.
const noEpoch = -1

// Version2 is transaction version 2 (KIP-890 part 2) as requests and records give it: the
// client's epoch is bumped by every EndTxn, partitions are added implicitly by Produce v12 and
// TxnOffsetCommit v5.
const Version2 = 2

// v2 reports whether the transaction speaks transaction version 2.
func (m meta) v2() bool { return m.clientVersion >= Version2 }

// epochExhausted is Kafka's TransactionMetadata.isEpochExhausted: the epoch cannot be bumped
// twice more (an InitProducerId bump and a fencing bump), so the next InitProducerId moves to a
// new producer id.
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// meta is a transactional id's persisted state (TransactionLogValue) plus the last epoch
// handed out before the current one (in memory only, as in Kafka: it lets a retried
// InitProducerId get the same answer).
type meta struct {
	pid       int64
	epoch     int16
	prevPID   int64 // the producer id before an epoch-exhaustion rotation, -1 if none
	nextPID   int64 // in a TV2 Prepare state: the producer id its completion moves to (the epoch was exhausted), else -1
	lastEpoch int16 // the epoch before the current one, noEpoch if none
	// clientVersion is the transaction version the client speaks in this transaction (0 or
	// 1: classic; 2: KIP-890 part 2, an epoch bump per EndTxn), from its last
	// AddPartitions or EndTxn.
	clientVersion int16
	timeout       time.Duration
	state         State
	parts         []engine.TopicPartition // sorted, unique
	start         time.Time               // the transaction's start; zero if none
	updated       time.Time
}

// with returns m with parts added (copied, sorted, unique).
func (m meta) with(parts []engine.TopicPartition) meta {
	all := make([]engine.TopicPartition, 0, len(m.parts)+len(parts))
	all = append(append(all, m.parts...), parts...)
	slices.SortFunc(all, compareTP)
	m.parts = slices.Compact(all)
	return m
}

// contains reports whether every partition of parts is in the transaction.
func (m meta) contains(parts []engine.TopicPartition) bool {
	for _, tp := range parts {
		if _, ok := slices.BinarySearchFunc(m.parts, tp, compareTP); !ok {
			return false
		}
	}
	return true
}

// Info describes a transactional id's state (DescribeTransactions, ListTransactions).
type Info struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	State           State
	Timeout         time.Duration
	Start           time.Time // zero: no transaction started yet
	Partitions      []engine.TopicPartition
}

// Markers is one WriteTxnMarkers job: a COMMIT or ABORT marker for each partition of a
// producer's transaction, stamped with the coordinator epoch (the leader epoch of the
// __transaction_state partition), which partition leaders use to refuse a stale
// coordinator's markers, and with the transaction's version, which WriteTxnMarkers v2
// carries (KIP-1228): at Version2 a leader refuses a marker whose epoch is not above the
// producer's while the producer's transaction is open there.
type Markers struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	TxnVersion       int8 // the transaction's client version: 0, or Version2
	Partitions       []engine.TopicPartition
}

// Filter selects transactions for ListTransactions; zero values select all.
type Filter struct {
	States      []State
	ProducerIDs []int64
	// MinDuration keeps the transactions started more than this long ago (KIP-994), and, as
	// in Kafka, the ids that never started one; zero or negative keeps all.
	MinDuration time.Duration
}

// ByTopic yields sorted partitions grouped by topic: each topic once with its partitions, as
// the wire and record formats list them.
func ByTopic(parts []engine.TopicPartition) iter.Seq2[string, []int32] {
	return func(yield func(string, []int32) bool) {
		for i := 0; i < len(parts); {
			j := i
			var ps []int32
			for ; j < len(parts) && parts[j].Topic == parts[i].Topic; j++ {
				ps = append(ps, parts[j].Partition)
			}
			if !yield(parts[i].Topic, ps) {
				return
			}
			i = j
		}
	}
}
