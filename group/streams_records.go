package group

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kbin"
)

// streamsTopologyKeyVersion is StreamsGroupTopologyKey's version (Kafka's record type 23).
const streamsTopologyKeyVersion = 23

// streamsTopologyKey is StreamsGroupTopologyKey: int16 version 23, string group (not flexible).
func streamsTopologyKey(group string) []byte { return groupIDKey(streamsTopologyKeyVersion, group) }

// streamsTopologyValue is StreamsGroupTopologyValue v0 (flexible: compact strings and
// arrays, empty tagged field sections):
//
//	int16 version 0 │ int32 epoch │ subtopologies: id, source topics, source topic regexes
//	(empty), changelog topics, repartition sink topics, repartition source topics,
//	co-partition groups (int16 indexes into the source, regex and repartition source lists)
//	topic info: name, int32 partitions, int16 replication factor, configs (key, value)
func streamsTopologyValue(t *StreamsTopology) []byte {
	b := kbin.AppendInt16(nil, 0)
	b = kbin.AppendInt32(b, t.Epoch)
	strs := func(b []byte, ss []string) []byte {
		b = kbin.AppendCompactArrayLen(b, len(ss))
		for _, s := range ss {
			b = kbin.AppendCompactString(b, s)
		}
		return b
	}
	infos := func(b []byte, ts []StreamsTopicInfo) []byte {
		b = kbin.AppendCompactArrayLen(b, len(ts))
		for _, ti := range ts {
			b = kbin.AppendCompactString(b, ti.Name)
			b = kbin.AppendInt32(b, ti.Partitions)
			b = kbin.AppendInt16(b, ti.ReplicationFactor)
			b = kbin.AppendCompactArrayLen(b, len(ti.Configs))
			for _, c := range ti.Configs {
				b = kbin.AppendCompactString(b, c.Key)
				b = kbin.AppendCompactString(b, c.Value)
				b = append(b, 0)
			}
			b = append(b, 0)
		}
		return b
	}
	indexes := func(b []byte, names []string, in []string) []byte {
		var idx []int16
		for _, n := range names {
			if i := slices.Index(in, n); i >= 0 {
				idx = append(idx, int16(i))
			}
		}
		b = kbin.AppendCompactArrayLen(b, len(idx))
		for _, i := range idx {
			b = kbin.AppendInt16(b, i)
		}
		return b
	}
	b = kbin.AppendCompactArrayLen(b, len(t.Subtopologies))
	for _, s := range t.Subtopologies {
		b = kbin.AppendCompactString(b, s.ID)
		b = strs(b, s.SourceTopics)
		b = strs(b, nil)
		b = infos(b, s.ChangelogTopics)
		b = strs(b, s.RepartitionSinkTopics)
		b = infos(b, s.RepartitionSourceTopics)
		var reps []string
		for _, ti := range s.RepartitionSourceTopics {
			reps = append(reps, ti.Name)
		}
		b = kbin.AppendCompactArrayLen(b, len(s.CopartitionGroups))
		for _, g := range s.CopartitionGroups {
			b = indexes(b, g, s.SourceTopics)
			b = indexes(b, nil, nil)
			b = indexes(b, g, reps)
			b = append(b, 0)
		}
		b = append(b, 0)
	}
	return append(b, 0)
}

var errMalformedTopology = errors.New("malformed streams group topology record")

// parseStreamsTopology decodes a StreamsGroupTopology key and value; every length is checked
// against the bytes left (kbin.Reader) and unknown tagged fields are skipped.
func parseStreamsTopology(key, value []byte) (string, *StreamsTopology, error) {
	if len(key) < 4 || len(key) != 4+int(binary.BigEndian.Uint16(key[2:])) {
		return "", nil, errMalformedTopology
	}
	r := &kbin.Reader{Src: value}
	if r.Int16() != 0 {
		return "", nil, errMalformedTopology
	}
	skipTags := func() {
		for n := r.Uvarint(); n > 0 && r.Ok(); n-- {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
	}
	strs := func() []string {
		n := r.CompactArrayLen()
		out := make([]string, 0, max(n, 0))
		for i := int32(0); i < n && r.Ok(); i++ {
			out = append(out, r.CompactString())
		}
		return out
	}
	infos := func() []StreamsTopicInfo {
		n := r.CompactArrayLen()
		out := make([]StreamsTopicInfo, 0, max(n, 0))
		for i := int32(0); i < n && r.Ok(); i++ {
			ti := StreamsTopicInfo{Name: r.CompactString(), Partitions: r.Int32(), ReplicationFactor: r.Int16()}
			for j, m := int32(0), r.CompactArrayLen(); j < m && r.Ok(); j++ {
				ti.Configs = append(ti.Configs, StreamsConfig{Key: r.CompactString(), Value: r.CompactString()})
				skipTags()
			}
			skipTags()
			out = append(out, ti)
		}
		return out
	}
	indexes := func(names []string) []string {
		var out []string
		for i, n := int32(0), r.CompactArrayLen(); i < n && r.Ok(); i++ {
			if x := int(r.Int16()); x >= 0 && x < len(names) {
				out = append(out, names[x])
			}
		}
		return out
	}
	t := &StreamsTopology{Epoch: r.Int32()}
	for i, n := int32(0), r.CompactArrayLen(); i < n && r.Ok(); i++ {
		s := StreamsSubtopology{ID: r.CompactString(), SourceTopics: strs()}
		strs() // source topic regexes: not supported, never written
		s.ChangelogTopics = infos()
		s.RepartitionSinkTopics = strs()
		s.RepartitionSourceTopics = infos()
		var reps []string
		for _, ti := range s.RepartitionSourceTopics {
			reps = append(reps, ti.Name)
		}
		for j, m := int32(0), r.CompactArrayLen(); j < m && r.Ok(); j++ {
			g := indexes(s.SourceTopics)
			indexes(nil)
			g = append(g, indexes(reps)...)
			skipTags()
			s.CopartitionGroups = append(s.CopartitionGroups, g)
		}
		skipTags()
		t.Subtopologies = append(t.Subtopologies, s)
	}
	skipTags()
	if !r.Ok() {
		return "", nil, errMalformedTopology
	}
	n := t.normalized()
	return string(key[4:]), &n, nil
}
