package connect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Kafka Connect's group protocol (ConnectProtocol, the eager "default" protocol, version 0):
// workers join a group of protocol type "connect"; each member's metadata says where its REST
// API is and how far it read the config topic; the leader's assignment gives each member its
// connectors and tasks. Both are Kafka's schema encoding, big-endian:
//
//	metadata:   version int16 (0) | url string | config_offset int64
//	assignment: version int16 (0) | error int16 | leader string | leader_url string |
//	            config_offset int64 | [connector string | [task int32]]
//
// string is an int16 length and the bytes; [x] is an int32 count and the elements. The
// connector itself is task -1 (CONNECTOR_TASK).
const (
	connectProtocolType = "connect"
	connectProtocolName = "default"
	connectorTask       = -1
)

// workerMetadata is a member's ConnectProtocol.WorkerState.
type workerMetadata struct {
	URL          string
	ConfigOffset int64
}

// assignment is a member's ConnectProtocol.Assignment.
type assignment struct {
	Error        int16
	Leader       string
	LeaderURL    string
	ConfigOffset int64
	Connectors   []string         // connectors to run here
	Tasks        map[string][]int // tasks to run here, by connector
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func (m workerMetadata) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = appendString(b, m.URL)
	return binary.BigEndian.AppendUint64(b, uint64(m.ConfigOffset))
}

func (a *assignment) encode() []byte {
	b := binary.BigEndian.AppendUint16(nil, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(a.Error))
	b = appendString(b, a.Leader)
	b = appendString(b, a.LeaderURL)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ConfigOffset))
	names := slices.Clone(a.Connectors)
	for n := range a.Tasks {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, n := range names {
		b = appendString(b, n)
		var ids []int
		if slices.Contains(a.Connectors, n) {
			ids = append(ids, connectorTask)
		}
		ids = append(ids, a.Tasks[n]...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
		for _, id := range ids {
			b = binary.BigEndian.AppendUint32(b, uint32(int32(id)))
		}
	}
	return b
}

// reader reads Kafka's schema encoding with every length checked against what is left.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *reader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *reader) int64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *reader) string() string {
	n := r.int16()
	return string(r.take(int(n)))
}

// count reads an array length, refusing one that cannot fit in what is left (each element
// takes at least min bytes).
func (r *reader) count(min int) int {
	n := r.int32()
	if r.err == nil && (n < 0 || int(n)*min > len(r.b)) {
		r.err = fmt.Errorf("array of %d elements in %d bytes", n, len(r.b))
		return 0
	}
	return int(n)
}

func decodeWorkerMetadata(b []byte) (workerMetadata, error) {
	r := &reader{b: b}
	if v := r.int16(); r.err == nil && v < 0 {
		return workerMetadata{}, fmt.Errorf("connect protocol: metadata version %d", v)
	}
	m := workerMetadata{URL: r.string(), ConfigOffset: r.int64()}
	if r.err != nil {
		return workerMetadata{}, fmt.Errorf("connect protocol: worker metadata: %w", r.err)
	}
	return m, nil
}

func decodeAssignment(b []byte) (*assignment, error) {
	r := &reader{b: b}
	if v := r.int16(); r.err == nil && v < 0 {
		return nil, fmt.Errorf("connect protocol: assignment version %d", v)
	}
	a := &assignment{Error: r.int16(), Leader: r.string(), LeaderURL: r.string(), ConfigOffset: r.int64(), Tasks: make(map[string][]int)}
	n := r.count(6)
	for range n {
		name := r.string()
		ids := r.count(4)
		for range ids {
			id := int(r.int32())
			if id == connectorTask {
				a.Connectors = append(a.Connectors, name)
			} else {
				a.Tasks[name] = append(a.Tasks[name], id)
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("connect protocol: assignment: %w", r.err)
	}
	return a, nil
}
