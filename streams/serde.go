package streams

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Serde turns values of type T into record bytes and back. Serdes are given wherever
// records become bytes: sources, sinks, repartition topics and state stores.
type Serde[T any] interface {
	// Encode returns the bytes of v.
	Encode(v T) ([]byte, error)
	// Decode returns the value encoded in b; b is not retained.
	Decode(b []byte) (T, error)
}

// String returns the serde of UTF-8 strings (the bytes as they are).
func String() Serde[string] { return stringSerde{} }

type stringSerde struct{}

func (stringSerde) Encode(v string) ([]byte, error) { return []byte(v), nil }
func (stringSerde) Decode(b []byte) (string, error) { return string(b), nil }

// Bytes returns the serde of raw bytes; Decode copies.
func Bytes() Serde[[]byte] { return bytesSerde{} }

type bytesSerde struct{}

func (bytesSerde) Encode(v []byte) ([]byte, error) { return v, nil }
func (bytesSerde) Decode(b []byte) ([]byte, error) { return append([]byte(nil), b...), nil }

// Int64 returns the serde of int64 as 8 big-endian bytes, the format of Kafka's LongSerde.
func Int64() Serde[int64] { return int64Serde{} }

type int64Serde struct{}

func (int64Serde) Encode(v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(nil, uint64(v)), nil
}

func (int64Serde) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("streams: an int64 is 8 bytes, got %d", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// JSON returns a serde that encodes T with encoding/json.
func JSON[T any]() Serde[T] { return jsonSerde[T]{} }

type jsonSerde[T any] struct{}

func (jsonSerde[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }
func (jsonSerde[T]) Decode(b []byte) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}

// Windowed is the key of a windowed aggregate: the record key and its window in
// event-time milliseconds. As in Kafka Streams, a tumbling or hopping window is
// [Start, End), a sliding window [Start, End] (End = Start + the time difference) and a
// session [Start, End], from its first record's timestamp to its last's.
type Windowed[K any] struct {
	Key   K
	Start int64 // first millisecond in the window
	End   int64 // first millisecond after it (tumbling, hopping), or its last (sliding, session)
}

// WindowedSerde returns the serde of Windowed[K] in Kafka's TimeWindowedSerde format:
// the key's bytes followed by the window start as 8 big-endian bytes. As in Kafka, the end
// is not encoded: Decode sets End to Start+size.
func WindowedSerde[K any](keys Serde[K], size int64) Serde[Windowed[K]] {
	return windowedSerde[K]{keys: keys, size: size}
}

type windowedSerde[K any] struct {
	keys Serde[K]
	size int64
}

func (s windowedSerde[K]) Encode(w Windowed[K]) ([]byte, error) {
	kb, err := s.keys.Encode(w.Key)
	if err != nil {
		return nil, err
	}
	return windowKey(kb, w.Start), nil
}

func (s windowedSerde[K]) Decode(b []byte) (Windowed[K], error) {
	kb, start, err := splitWindowKey(b)
	if err != nil {
		return Windowed[K]{}, err
	}
	k, err := s.keys.Decode(kb)
	return Windowed[K]{Key: k, Start: start, End: start + s.size}, err
}

// windowKey is key ‖ start (8 bytes, big endian): Kafka's TimeWindowedSerde format, the
// key of a windowed aggregation's output records.
func windowKey(key []byte, start int64) []byte {
	out := make([]byte, 0, len(key)+8)
	return binary.BigEndian.AppendUint64(append(out, key...), uint64(start))
}

// splitWindowKey undoes windowKey.
func splitWindowKey(b []byte) (key []byte, start int64, err error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("streams: a windowed key is at least 8 bytes, got %d", len(b))
	}
	n := len(b) - 8
	return b[:n], int64(binary.BigEndian.Uint64(b[n:])), nil
}

// windowChangelogKey is Kafka's WindowKeySchema store key, the key of a window store's
// changelog records:
//
//	key ‖ timestamp (8 bytes, big endian, signed) ‖ seqnum (4 bytes, big endian)
//
// The timestamp is the window start (the record timestamp in a join buffer); seqnum is
// 0 except in stores that retain duplicates, where each write takes the next one.
func windowChangelogKey(key []byte, ts int64, seq uint32) []byte {
	out := make([]byte, 0, len(key)+12)
	out = binary.BigEndian.AppendUint64(append(out, key...), uint64(ts))
	return binary.BigEndian.AppendUint32(out, seq)
}

// splitWindowChangelogKey undoes windowChangelogKey.
func splitWindowChangelogKey(b []byte) (key []byte, ts int64, seq uint32, err error) {
	if len(b) < 12 {
		return nil, 0, 0, fmt.Errorf("streams: a window store changelog key is at least 12 bytes (key, timestamp, seqnum), got %d", len(b))
	}
	n := len(b) - 12
	return b[:n], int64(binary.BigEndian.Uint64(b[n:])), binary.BigEndian.Uint32(b[n+8:]), nil
}

// SessionWindowedSerde returns the serde of session-windowed keys in Kafka's
// SessionWindowedSerde format: the key's bytes, the session end and the session start,
// each 8 bytes big endian.
func SessionWindowedSerde[K any](keys Serde[K]) Serde[Windowed[K]] {
	return sessionWindowedSerde[K]{keys: keys}
}

type sessionWindowedSerde[K any] struct {
	keys Serde[K]
}

func (s sessionWindowedSerde[K]) Encode(w Windowed[K]) ([]byte, error) {
	kb, err := s.keys.Encode(w.Key)
	if err != nil {
		return nil, err
	}
	return sessionKey(kb, w.End, w.Start), nil
}

func (s sessionWindowedSerde[K]) Decode(b []byte) (Windowed[K], error) {
	kb, end, start, err := splitSessionKey(b)
	if err != nil {
		return Windowed[K]{}, err
	}
	k, err := s.keys.Decode(kb)
	return Windowed[K]{Key: k, Start: start, End: end}, err
}

// sessionKey is key ‖ end ‖ start (8 bytes each, big endian): Kafka's session key schema,
// the format of its session stores' changelogs.
func sessionKey(key []byte, end, start int64) []byte {
	out := make([]byte, 0, len(key)+16)
	out = binary.BigEndian.AppendUint64(append(out, key...), uint64(end))
	return binary.BigEndian.AppendUint64(out, uint64(start))
}

// splitSessionKey undoes sessionKey.
func splitSessionKey(b []byte) (key []byte, end, start int64, err error) {
	if len(b) < 16 {
		return nil, 0, 0, fmt.Errorf("streams: a session key is at least 16 bytes, got %d", len(b))
	}
	n := len(b) - 16
	return b[:n], int64(binary.BigEndian.Uint64(b[n:])), int64(binary.BigEndian.Uint64(b[n+8:])), nil
}
