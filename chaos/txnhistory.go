package chaos

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TxnOutcome is what the client knows of how a transaction ended.
type TxnOutcome int

const (
	// TxnAborted: the client never asked to commit it (it aborted on purpose, or something
	// failed before the commit), so no read_committed consumer may ever see it.
	TxnAborted TxnOutcome = iota
	// TxnCommitted: EndTxn with commit succeeded; all of it must be visible.
	TxnCommitted
	// TxnUnknown: the client asked to commit and got an error; all of it or none may be
	// visible.
	TxnUnknown
)

func (o TxnOutcome) String() string {
	switch o {
	case TxnAborted:
		return "aborted"
	case TxnCommitted:
		return "committed"
	case TxnUnknown:
		return "unknown"
	}
	return fmt.Sprintf("TxnOutcome(%d)", int(o))
}

// TxnRecord is one record a transaction produced (or tried to).
type TxnRecord struct {
	Partition int32
	Value     string
	Offset    int64 // where the produce was acknowledged; -1 if it was not
}

// Txn is one transaction of a transactional producer. Record k of n carries
// TxnValue(ID, k, n, payload); a worker's payload is the input value it transformed.
type Txn struct {
	ID       string      // unique in the history
	Records  []TxnRecord // every record it meant to produce, in order
	Outcome  TxnOutcome
	CommitAt time.Time // when the client asked to commit; zero if it never did
	Err      string    // why it aborted or why its commit's outcome is unknown
}

// TxnHistory is everything a transactional workload saw.
type TxnHistory struct {
	// Input is the input topic's history: idempotent producers and the final read.
	Input *History
	// Output is the output topic's history: no acks (transactions carry their own outcome),
	// read_committed polls during the run and the final read_committed read.
	Output *History
	// Uncommitted is the output topic read with read_uncommitted at the end: aborted records
	// are in it, so it shows the checker had aborts to catch.
	Uncommitted map[int32][]Record
	// Txns is every transaction of the workers and of the direct producers.
	Txns []Txn
	// Drained: the workers' group committed offsets up to the input's end before they
	// stopped, so every input value must be in the output exactly once.
	Drained bool
}

// Transaction ids start with workerPrefix (consume-transform-produce workers) or directPrefix
// (producers writing transactions of their own), then the producer's number and the
// transaction's: w1.17.
const (
	workerPrefix = "w"
	directPrefix = "d"
)

// sentinelPrefix starts the non-transactional record written to every output partition after
// the writers stopped; a read_committed read that returns it has passed every transaction.
const sentinelPrefix = "end-of-run "

// TxnValue is the value of record k of a transaction of n records: the transaction's id, the
// record's place in it and its payload, separated by spaces.
func TxnValue(id string, k, n int, payload string) string {
	return fmt.Sprintf("%s %d/%d %s", id, k, n, payload)
}

// parseTxnValue splits a TxnValue.
func parseTxnValue(v string) (id string, k, n int, payload string, err error) {
	parts := strings.SplitN(v, " ", 3)
	if len(parts) != 3 {
		return "", 0, 0, "", fmt.Errorf("%q: not <id> <k>/<n> <payload>", v)
	}
	ks, ns, ok := strings.Cut(parts[1], "/")
	if !ok {
		return "", 0, 0, "", fmt.Errorf("%q: no <k>/<n>", v)
	}
	if k, err = strconv.Atoi(ks); err == nil {
		n, err = strconv.Atoi(ns)
	}
	if err != nil || k < 0 || k >= n {
		return "", 0, 0, "", fmt.Errorf("%q: bad <k>/<n>", v)
	}
	return parts[0], k, n, parts[2], nil
}
