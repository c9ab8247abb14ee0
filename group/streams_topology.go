package group

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// StreamsConfig is one topic config of an internal topic (key and value).
type StreamsConfig struct{ Key, Value string }

// StreamsTopicInfo is an internal topic of a streams topology: a repartition topic or a
// state changelog topic.
type StreamsTopicInfo struct {
	Name string
	// Partitions is fixed by the topology, or 0: decided by the coordinator (always 0 for
	// changelog topics).
	Partitions int32
	// ReplicationFactor is 0 (or -1 when the coordinator asks for a topic): the broker's
	// default.
	ReplicationFactor int16
	Configs           []StreamsConfig
}

// StreamsSubtopology is one subtopology of a Kafka Streams topology; its tasks are
// numbered by the partitions of its input topics.
type StreamsSubtopology struct {
	ID                      string
	SourceTopics            []string
	RepartitionSinkTopics   []string
	RepartitionSourceTopics []StreamsTopicInfo
	ChangelogTopics         []StreamsTopicInfo
	// CopartitionGroups are sets of input topics (source and repartition source topics, by
	// name) that must have the same partition count.
	CopartitionGroups [][]string
}

// StreamsTopology is the topology a streams group runs, registered by its first member.
type StreamsTopology struct {
	Epoch         int32
	Subtopologies []StreamsSubtopology
}

// normalized returns a copy with every list sorted, so that two descriptions of the same
// topology compare equal whatever order the client listed things in.
func (t *StreamsTopology) normalized() StreamsTopology {
	out := StreamsTopology{Epoch: t.Epoch, Subtopologies: make([]StreamsSubtopology, len(t.Subtopologies))}
	sortedStrings := func(s []string) []string {
		c := slices.Clone(s)
		if c == nil {
			c = []string{}
		}
		slices.Sort(c)
		return c
	}
	sortedInfos := func(ts []StreamsTopicInfo) []StreamsTopicInfo {
		c := make([]StreamsTopicInfo, len(ts))
		for i, ti := range ts {
			c[i] = ti
			c[i].Configs = slices.Clone(ti.Configs)
			if c[i].Configs == nil {
				c[i].Configs = []StreamsConfig{}
			}
			sort.Slice(c[i].Configs, func(a, b int) bool { return c[i].Configs[a].Key < c[i].Configs[b].Key })
		}
		sort.Slice(c, func(a, b int) bool { return c[a].Name < c[b].Name })
		return c
	}
	for i, s := range t.Subtopologies {
		n := StreamsSubtopology{ID: s.ID, SourceTopics: sortedStrings(s.SourceTopics),
			RepartitionSinkTopics: sortedStrings(s.RepartitionSinkTopics), RepartitionSourceTopics: sortedInfos(s.RepartitionSourceTopics),
			ChangelogTopics: sortedInfos(s.ChangelogTopics), CopartitionGroups: [][]string{}}
		for _, g := range s.CopartitionGroups {
			n.CopartitionGroups = append(n.CopartitionGroups, sortedStrings(g))
		}
		sort.Slice(n.CopartitionGroups, func(a, b int) bool {
			return strings.Join(n.CopartitionGroups[a], ",") < strings.Join(n.CopartitionGroups[b], ",")
		})
		out.Subtopologies[i] = n
	}
	sort.Slice(out.Subtopologies, func(a, b int) bool { return out.Subtopologies[a].ID < out.Subtopologies[b].ID })
	return out
}

func (t *StreamsTopology) equal(o *StreamsTopology) bool {
	a, b := t.normalized(), o.normalized()
	return reflect.DeepEqual(a, b)
}

// topics lists every topic the topology reads or writes (source, repartition and
// changelog topics), sorted.
func (t *StreamsTopology) topics() []string {
	set := map[string]bool{}
	for _, s := range t.Subtopologies {
		for _, n := range s.SourceTopics {
			set[n] = true
		}
		for _, n := range s.RepartitionSinkTopics {
			set[n] = true
		}
		for _, ti := range s.RepartitionSourceTopics {
			set[ti.Name] = true
		}
		for _, ti := range s.ChangelogTopics {
			set[ti.Name] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// subtopology returns the subtopology of an id, or nil.
func (t *StreamsTopology) subtopology(id string) *StreamsSubtopology {
	for i := range t.Subtopologies {
		if t.Subtopologies[i].ID == id {
			return &t.Subtopologies[i]
		}
	}
	return nil
}

// inputTopics are a subtopology's source and repartition source topics: the partitions
// its tasks read.
func (s *StreamsSubtopology) inputTopics() []string {
	out := slices.Clone(s.SourceTopics)
	for _, ti := range s.RepartitionSourceTopics {
		out = append(out, ti.Name)
	}
	return out
}

// Streams heartbeat status codes (StreamsGroupHeartbeatResponse.Status).
const (
	StreamsStaleTopology              int8 = 0
	StreamsMissingSourceTopics        int8 = 1
	StreamsIncorrectlyPartitioned     int8 = 2
	StreamsMissingInternalTopics      int8 = 3
	StreamsShutdownApplication        int8 = 4
	StreamsAssignmentDelayed          int8 = 5
	streamsInvalidTopologyMaxMessages      = 3 // topics named in a status before "and N additional topics"
)

// StreamsStatus is one status of a StreamsGroupHeartbeat answer.
type StreamsStatus struct {
	Code   int8
	Detail string
}

// configuredTopology is a topology checked against the cluster's topics (Kafka's
// ConfiguredTopology, made by its InternalTopicManager).
type configuredTopology struct {
	// tasks is the number of tasks of each subtopology; nil unless the topology is ready
	// (every source and internal topic exists with the partitions it needs).
	tasks map[string]int32
	// status is why the topology is not ready (missing source or internal topics,
	// incorrectly partitioned topics); nil when ready.
	status *StreamsStatus
	// create are the internal topics to create, their partition counts decided.
	create []StreamsTopicInfo
}

// errInvalidTopology is a topology the coordinator cannot configure: STREAMS_INVALID_TOPOLOGY.
type errInvalidTopology struct{ msg string }

func (e errInvalidTopology) Error() string { return e.msg }

// summarizeTopics names at most three topics, as Kafka's InternalTopicManager does.
func summarizeTopics(topics []string) string {
	if len(topics) == 0 {
		return "<none>"
	}
	if len(topics) <= streamsInvalidTopologyMaxMessages {
		return strings.Join(topics, ", ")
	}
	return strings.Join(topics[:streamsInvalidTopologyMaxMessages], ", ") +
		fmt.Sprintf(" and %d additional topics", len(topics)-streamsInvalidTopologyMaxMessages)
}

// configureTopology checks a topology against the topics that exist (partitions looks a
// topic up: its partition count, or false) and decides the partition counts of its
// internal topics: repartition topics take the largest input of the subtopology writing
// them, co-partitioned topics must agree, changelog topics take their subtopology's task
// count. An impossible topology is an errInvalidTopology.
func configureTopology(t *StreamsTopology, partitions func(string) (int32, bool)) (configuredTopology, error) {
	var missing []string
	for _, s := range t.Subtopologies {
		for _, n := range s.SourceTopics {
			if _, ok := partitions(n); !ok && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return configuredTopology{status: &StreamsStatus{StreamsMissingSourceTopics,
			"Source topics " + summarizeTopics(missing) + " are missing."}}, nil
	}
	decided := map[string]int32{}
	count := func(n string) (int32, bool) {
		if p, ok := partitions(n); ok {
			return p, true
		}
		p, ok := decided[n]
		return p, ok
	}
	if err := decideRepartitionCounts(t, decided, partitions); err != nil {
		return configuredTopology{}, err
	}
	if st, err := enforceCopartitioning(t, decided, count); err != nil || st != nil {
		return configuredTopology{status: st}, err
	}
	ct := configuredTopology{tasks: map[string]int32{}}
	for _, s := range t.Subtopologies {
		var n int32
		for _, in := range s.inputTopics() {
			if p, ok := count(in); ok {
				n = max(n, p)
			}
		}
		if n == 0 {
			return configuredTopology{}, errInvalidTopology{"No source topics found for subtopology " + s.ID}
		}
		ct.tasks[s.ID] = n
		for _, ti := range s.ChangelogTopics {
			decided[ti.Name] = n
		}
	}
	// Internal topics that do not exist yet are created; existing ones must have the
	// partitions decided.
	want := map[string]StreamsTopicInfo{}
	for _, s := range t.Subtopologies {
		for _, ti := range append(slices.Clone(s.RepartitionSourceTopics), s.ChangelogTopics...) {
			if ti.Partitions == 0 {
				ti.Partitions = decided[ti.Name]
			}
			want[ti.Name] = ti
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		ti := want[name]
		if p, ok := partitions(name); ok {
			if p != ti.Partitions {
				return configuredTopology{status: &StreamsStatus{StreamsIncorrectlyPartitioned, fmt.Sprintf(
					"Existing topic %s has different number of partitions: expected %d, found %d", name, ti.Partitions, p)}}, nil
			}
			continue
		}
		if ti.ReplicationFactor == 0 {
			ti.ReplicationFactor = -1
		}
		ct.create = append(ct.create, ti)
	}
	if len(ct.create) > 0 {
		names := make([]string, len(ct.create))
		for i, ti := range ct.create {
			names[i] = ti.Name
		}
		ct.status = &StreamsStatus{StreamsMissingInternalTopics, "Internal topics are missing: " + summarizeTopics(names)}
		ct.tasks = nil
	}
	return ct, nil
}

// decideRepartitionCounts gives every repartition topic without a fixed partition count the
// largest input partition count of a subtopology writing it, iterating while counts are
// being found (Kafka's RepartitionTopics). REQUIRES: every source topic exists.
func decideRepartitionCounts(t *StreamsTopology, decided map[string]int32, partitions func(string) (int32, bool)) error {
	for _, s := range t.Subtopologies {
		for _, ti := range s.RepartitionSourceTopics {
			if ti.Partitions != 0 {
				decided[ti.Name] = ti.Partitions
			}
		}
	}
	for {
		needed, progress := false, false
		for _, s := range t.Subtopologies {
			for _, sink := range s.RepartitionSinkTopics {
				if _, ok := decided[sink]; ok {
					continue
				}
				var n int32
				for _, ti := range s.RepartitionSourceTopics {
					n = max(n, decided[ti.Name])
				}
				for _, src := range s.SourceTopics {
					if p, ok := partitions(src); ok {
						n = max(n, p)
					}
				}
				if n == 0 {
					needed = true
					continue
				}
				decided[sink], progress = n, true
			}
		}
		if !needed {
			break
		}
		if !progress {
			return errInvalidTopology{"Failed to compute number of partitions for all repartition topics. " +
				"There may be loops in the topology that cannot be resolved."}
		}
	}
	for _, s := range t.Subtopologies {
		for _, ti := range s.RepartitionSourceTopics {
			if _, ok := decided[ti.Name]; !ok {
				return errInvalidTopology{"Failed to compute number of partitions for all repartition topics, " +
					"because a repartition source topic is never used as a sink topic."}
			}
		}
	}
	return nil
}

// enforceCopartitioning makes each co-partition group agree (Kafka's
// CopartitionedTopicsEnforcer): repartition topics of a group take the partition count of
// its external topics, which must all be equal, or (a group of repartition topics only) the
// fixed count they must share, or their largest count. A disagreement is an
// INCORRECTLY_PARTITIONED_TOPICS status.
func enforceCopartitioning(t *StreamsTopology, decided map[string]int32, count func(string) (int32, bool)) (*StreamsStatus, error) {
	fixed, repartition := map[string]bool{}, map[string]bool{}
	for _, s := range t.Subtopologies {
		for _, ti := range s.RepartitionSourceTopics {
			repartition[ti.Name] = true
			if ti.Partitions != 0 {
				fixed[ti.Name] = true
			}
		}
	}
	incorrect := func(msg string) *StreamsStatus { return &StreamsStatus{StreamsIncorrectlyPartitioned, msg} }
	describe := func(ts map[string]int32) string {
		parts := make([]string, 0, len(ts))
		for _, n := range slices.Sorted(maps.Keys(ts)) {
			parts = append(parts, fmt.Sprintf("%s=%d", n, ts[n]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	for _, s := range t.Subtopologies {
		for _, group := range s.CopartitionGroups {
			reps, others := map[string]int32{}, map[string]int32{}
			for _, n := range group {
				p, _ := count(n)
				if repartition[n] {
					reps[n] = p
				} else {
					others[n] = p
				}
			}
			var n int32
			switch {
			case len(others) > 0:
				for _, name := range slices.Sorted(maps.Keys(others)) {
					if n == 0 {
						n = others[name]
					} else if others[name] != n {
						return incorrect("Following topics do not have the same number of partitions: [" + describe(others) + "]"), nil
					}
				}
			default:
				for _, name := range slices.Sorted(maps.Keys(reps)) {
					if fixed[name] {
						if n == 0 {
							n = reps[name]
						} else if reps[name] != n {
							return incorrect("Following topics do not have the same number of partitions: [" + describe(reps) + "]"), nil
						}
					}
				}
				if n == 0 {
					for _, p := range reps {
						n = max(n, p)
					}
				}
				if n == 0 {
					return nil, errInvalidTopology{"All topics in the copartition group had undefined partition number: " +
						strings.Join(slices.Sorted(maps.Keys(reps)), ", ")}
				}
			}
			for name, p := range reps {
				if fixed[name] && p != n {
					return incorrect(fmt.Sprintf("Number of partitions [%d] of repartition topic [%s] doesn't match number of partitions [%d] of the source topic.", p, name, n)), nil
				}
				decided[name] = n
			}
		}
	}
	return nil, nil
}
