package streams

import "sync/atomic"

// Metrics are an application's counters, safe to read at any time.
type Metrics struct {
	RecordsProcessed   atomic.Int64 // input records run through the topology
	LateRecordsDropped atomic.Int64 // records that fell in no open window (later than grace)
	RestoredRecords    atomic.Int64 // changelog records applied while restoring stores
	Commits            atomic.Int64 // successful commits (offsets, or transactions)
	Aborts             atomic.Int64 // aborted transactions (ExactlyOnceV2)
}
