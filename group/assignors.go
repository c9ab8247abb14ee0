package group

import (
	"slices"
	"sort"
)

// assign computes a target assignment with the named server-side assignor. prev is the
// previous target; the uniform assignor keeps as much of it as balance allows.
func assign(assignor string, members map[string]*cmember, topics map[string]TopicInfo, prev map[string]partitionSet) map[string]partitionSet {
	out := make(map[string]partitionSet, len(members))
	ids := make([]string, 0, len(members))
	for id := range members {
		out[id] = partitionSet{}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t := topics[name]
		var subs []string // subscribers, sorted by member id
		for _, id := range ids {
			if members[id].subscribes(name) {
				subs = append(subs, id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		if assignor == RangeAssignor {
			assignRange(t, subs, out)
		} else {
			assignUniform(t, subs, out, prev)
		}
	}
	return out
}

// assignRange is the range assignor: each subscriber, in member id order, gets a contiguous
// range of the topic's partitions, the first Partitions%subscribers one more. Members with
// the same subscriptions thus get the same partition numbers of every topic (co-partitioning).
func assignRange(t TopicInfo, subs []string, out map[string]partitionSet) {
	n := int32(len(subs))
	base, extra := t.Partitions/n, t.Partitions%n
	p := int32(0)
	for i, id := range subs {
		k := base
		if int32(i) < extra {
			k++
		}
		for end := p + k; p < end; p++ {
			out[id].add(t.ID, p)
		}
	}
}

// assignUniform is the uniform assignor for one topic: every subscriber gets
// Partitions/subscribers partitions or one more, sticky (a member keeps what it had in the
// previous target up to its quota), and the extra partitions go to the subscribers holding
// the fewest partitions overall, so many small topics still spread evenly.
func assignUniform(t TopicInfo, subs []string, out map[string]partitionSet, prev map[string]partitionSet) {
	n := int32(len(subs))
	base, extra := t.Partitions/n, t.Partitions%n
	count := make(map[string]int32, len(subs))
	taken := make([]bool, t.Partitions)
	// Keep phase: previous owners keep up to base, then up to base+1 while extras remain.
	for pass := 0; pass < 2; pass++ {
		for _, id := range subs {
			var had []int32
			for p := range prev[id][t.ID] {
				if p < t.Partitions && !taken[p] {
					had = append(had, p)
				}
			}
			slices.Sort(had)
			for _, p := range had {
				limit := base
				if pass == 1 {
					if extra == 0 {
						break
					}
					limit = base + 1
				}
				if count[id] >= limit {
					break
				}
				taken[p] = true
				out[id].add(t.ID, p)
				count[id]++
				if pass == 1 {
					extra--
				}
			}
		}
	}
	// Fill phase: members below base first, then the extras to the least loaded overall.
	var free []int32
	for p := int32(0); p < t.Partitions; p++ {
		if !taken[p] {
			free = append(free, p)
		}
	}
	for _, id := range subs {
		for count[id] < base && len(free) > 0 {
			out[id].add(t.ID, free[0])
			free = free[1:]
			count[id]++
		}
	}
	if len(free) == 0 {
		return
	}
	cands := make([]string, 0, len(subs))
	for _, id := range subs {
		if count[id] == base {
			cands = append(cands, id)
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return out[cands[i]].size() < out[cands[j]].size() })
	for i, p := range free {
		out[cands[i]].add(t.ID, p)
	}
}
