package chaos

import "time"

// Ack is a write the cluster acknowledged: Value is at Offset of Partition.
type Ack struct {
	Partition int32
	Offset    int64
	Value     string
	At        time.Time
}

// Failure is a write the client gave up on. A Definite failure was never appended (the client
// never sent it, or the broker refused it before appending); any other failure is
// indeterminate: the record may or may not be in the log.
type Failure struct {
	Partition int32
	Value     string
	Err       string
	Definite  bool
}

// Poll is one record a consumer received. A consumer numbers its sessions: a new session
// starts from the beginning after the client reset its position (OFFSET_OUT_OF_RANGE), so
// offsets need only increase within a session.
type Poll struct {
	Consumer  int
	Session   int
	Partition int32
	Offset    int64
	Value     string
	At        time.Time // when the poll that returned it came back
}

// Record is one record of a partition's final log.
type Record struct {
	Offset int64
	Value  string
}

// History is everything a workload saw.
type History struct {
	Start, End time.Time          // the producers' window
	Acks       []Ack              // every acknowledged write
	Failures   []Failure          // every write the client gave up on
	Polls      []Poll             // every record every consumer received, in order per consumer
	Final      map[int32][]Record // each partition read from its start to its end after healing
	LogStart   map[int32]int64    // each partition's log start offset at the final read
	Resets     int                // consumer sessions restarted after OFFSET_OUT_OF_RANGE
	DataLoss   int                // truncations below a consumer's position reported by the client
}
