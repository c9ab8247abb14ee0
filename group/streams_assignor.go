package group

import (
	"maps"
	"slices"
	"sort"
)

// taskID names one task: a subtopology and a partition of its inputs.
type taskID struct {
	subtopology string
	partition   int32
}

// taskSet is a set of tasks by subtopology and partition; for active tasks the value is the
// epoch the task was assigned at (it bounds the member epochs an offset commit of the task
// may carry), 0 otherwise.
type taskSet map[string]map[int32]int32

func (s taskSet) add(t taskID, epoch int32) {
	ps := s[t.subtopology]
	if ps == nil {
		ps = map[int32]int32{}
		s[t.subtopology] = ps
	}
	ps[t.partition] = epoch
}

func (s taskSet) has(t taskID) bool {
	_, ok := s[t.subtopology][t.partition]
	return ok
}

func (s taskSet) size() int {
	n := 0
	for _, ps := range s {
		n += len(ps)
	}
	return n
}

// each calls fn for every task, in subtopology and partition order.
func (s taskSet) each(fn func(t taskID, epoch int32)) {
	for _, sub := range slices.Sorted(maps.Keys(s)) {
		for _, p := range slices.Sorted(maps.Keys(s[sub])) {
			fn(taskID{sub, p}, s[sub][p])
		}
	}
}

// sameTasks reports whether two sets hold the same tasks (epochs aside).
func (s taskSet) sameTasks(o taskSet) bool {
	if s.size() != o.size() {
		return false
	}
	same := true
	s.each(func(t taskID, _ int32) { same = same && o.has(t) })
	return same
}

func (s taskSet) containsAny(o taskSet) bool {
	any := false
	o.each(func(t taskID, _ int32) { any = any || s.has(t) })
	return any
}

// list is the set in wire form, sorted.
func (s taskSet) list() []TaskIDs {
	out := make([]TaskIDs, 0, len(s))
	for _, sub := range slices.Sorted(maps.Keys(s)) {
		out = append(out, TaskIDs{Subtopology: sub, Partitions: slices.Sorted(maps.Keys(s[sub]))})
	}
	return out
}

func tasksOf(ids []TaskIDs) taskSet {
	s := taskSet{}
	for _, t := range ids {
		for _, p := range t.Partitions {
			s.add(taskID{t.Subtopology, p}, 0)
		}
	}
	return s
}

// streamsTasks is an assignment: active, standby and warm-up tasks.
type streamsTasks struct{ active, standby, warmup taskSet }

func emptyStreamsTasks() streamsTasks {
	return streamsTasks{active: taskSet{}, standby: taskSet{}, warmup: taskSet{}}
}

func (a streamsTasks) empty() bool {
	return a.active.size()+a.standby.size()+a.warmup.size() == 0
}

func (a streamsTasks) sameTasks(o streamsTasks) bool {
	return a.active.sameTasks(o.active) && a.standby.sameTasks(o.standby) && a.warmup.sameTasks(o.warmup)
}

func (a streamsTasks) containsAny(o streamsTasks) bool {
	return a.active.containsAny(o.active) || a.standby.containsAny(o.standby) || a.warmup.containsAny(o.warmup)
}

// assignerMember is what the sticky assignor knows of a member: its process and its
// previous target assignment.
type assignerMember struct {
	id, process string
	prev        streamsTasks
}

// processLoad is one process (a Kafka Streams instance, several members: its threads) in
// the sticky assignor, Kafka's ProcessState.
type processLoad struct {
	id       string
	members  map[string]int // tasks given to each member
	active   map[string]taskSet
	standby  map[string]taskSet
	tasks    map[taskID]bool
	assigned int
}

func (p *processLoad) load() float64 { return float64(p.assigned) / float64(len(p.members)) }

func (p *processLoad) add(member string, t taskID, active bool) int {
	p.assigned++
	p.tasks[t] = true
	dst := p.standby
	if active {
		dst = p.active
	}
	if dst[member] == nil {
		dst[member] = taskSet{}
	}
	dst[member].add(t, 0)
	p.members[member]++
	return p.members[member]
}

// leastLoadedMember is the member of the process with the fewest tasks (ties by id).
func (p *processLoad) leastLoadedMember() string {
	best := ""
	for _, id := range slices.Sorted(maps.Keys(p.members)) {
		if best == "" || p.members[id] < p.members[best] {
			best = id
		}
	}
	return best
}

// stickyAssign is Kafka's StickyTaskAssignor: active tasks stay with their previous owner
// while it is under its balanced quota, then go to a member that had them as standby, then
// to the least loaded process (its least loaded member); standby replicas (for stateful
// subtopologies) never share a process with the active task or another replica of it, and
// prefer their previous owners. tasks is each subtopology's task count; stateful names the
// subtopologies with state stores.
func stickyAssign(members []assignerMember, tasks map[string]int32, stateful map[string]bool, standbyReplicas int) map[string]streamsTasks {
	procs := map[string]*processLoad{}
	prevActive := map[taskID]assignerMember{}
	prevStandby := map[taskID][]assignerMember{}
	for _, m := range members {
		p := procs[m.process]
		if p == nil {
			p = &processLoad{id: m.process, members: map[string]int{}, active: map[string]taskSet{},
				standby: map[string]taskSet{}, tasks: map[taskID]bool{}}
			procs[m.process] = p
		}
		p.members[m.id] = 0
		m.prev.active.each(func(t taskID, _ int32) { prevActive[t] = m })
		m.prev.standby.each(func(t taskID, _ int32) { prevStandby[t] = append(prevStandby[t], m) })
	}
	var active, standby []taskID
	totalActive, total := 0, 0
	for _, sub := range slices.Sorted(maps.Keys(tasks)) {
		for p := int32(0); p < tasks[sub]; p++ {
			active = append(active, taskID{sub, p})
			if stateful[sub] && standbyReplicas > 0 {
				standby = append(standby, taskID{sub, p})
			}
		}
		totalActive += int(tasks[sub])
		total += int(tasks[sub])
		if stateful[sub] {
			total += int(tasks[sub]) * standbyReplicas
		}
	}
	perMember := func(n, m int) int {
		if m == 0 {
			return 0
		}
		return (n + m - 1) / m
	}
	activeCap, totalCap := len(members), len(members)
	activeQuota, totalQuota := perMember(totalActive, activeCap), perMember(total, totalCap)
	counted := func(n int) {
		if n == activeQuota {
			activeCap--
			totalActive -= n
			activeQuota = perMember(totalActive, activeCap)
		}
	}
	countedTotal := func(n int) {
		if n == totalQuota {
			totalCap--
			total -= n
			totalQuota = perMember(total, totalCap)
		}
	}
	byPartition := func(ts []taskID) {
		sort.SliceStable(ts, func(i, j int) bool {
			if ts[i].partition != ts[j].partition {
				return ts[i].partition < ts[j].partition
			}
			return ts[i].subtopology < ts[j].subtopology
		})
	}
	byProcessLoad := func() []*processLoad {
		ps := slices.Collect(maps.Values(procs))
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].load() != ps[j].load() {
				return ps[i].load() < ps[j].load()
			}
			return ps[i].id < ps[j].id
		})
		return ps
	}
	// Active tasks: sticky to the previous owner, then to a previous standby, then balanced.
	byPartition(active)
	var rest []taskID
	for _, t := range active {
		if m, ok := prevActive[t]; ok && procs[m.process].members[m.id] < activeQuota {
			n := procs[m.process].add(m.id, t, true)
			counted(n)
			countedTotal(n)
			continue
		}
		rest = append(rest, t)
	}
	var rest2 []taskID
	for _, t := range rest {
		if m, ok := leastLoadedPrev(procs, prevStandby[t], nil); ok && procs[m.process].members[m.id] < activeQuota {
			n := procs[m.process].add(m.id, t, true)
			counted(n)
			countedTotal(n)
			continue
		}
		rest2 = append(rest2, t)
	}
	for _, t := range rest2 { // subtopology, then partition order
		p := byProcessLoad()[0]
		n := p.add(p.leastLoadedMember(), t, true)
		counted(n)
		countedTotal(n)
	}
	// Standby replicas.
	type toAssign struct {
		t         taskID
		remaining int
	}
	var leftover []toAssign
	byPartition(standby)
	slices.Reverse(standby)
	for _, t := range standby {
		for i := 0; i < standbyReplicas; i++ {
			if m, ok := prevActive[t]; ok {
				p := procs[m.process]
				if !p.tasks[t] && p.members[m.id] < totalQuota {
					countedTotal(p.add(m.id, t, false))
					continue
				}
			}
			if m, ok := leastLoadedPrev(procs, prevStandby[t], &t); ok {
				p := procs[m.process]
				if p.members[m.id] < totalQuota {
					countedTotal(p.add(m.id, t, false))
					continue
				}
			}
			leftover = append(leftover, toAssign{t, standbyReplicas - i})
			break
		}
	}
	for _, a := range leftover {
		for i := 0; i < a.remaining; i++ {
			placed := false
			for _, p := range byProcessLoad() {
				if !p.tasks[a.t] {
					countedTotal(p.add(p.leastLoadedMember(), a.t, false))
					placed = true
					break
				}
			}
			if !placed {
				break // fewer processes than replicas: Kafka logs and assigns what it can
			}
		}
	}
	out := make(map[string]streamsTasks, len(members))
	for _, m := range members {
		a := emptyStreamsTasks()
		p := procs[m.process]
		if s := p.active[m.id]; s != nil {
			a.active = s
		}
		if s := p.standby[m.id]; s != nil {
			a.standby = s
		}
		out[m.id] = a
	}
	return out
}

// leastLoadedPrev picks, among a task's previous standby owners, the one on the least loaded
// process (Kafka's findPrevMemberWithLeastLoad); with t set, a process already holding t
// is passed over.
func leastLoadedPrev(procs map[string]*processLoad, prev []assignerMember, t *taskID) (assignerMember, bool) {
	if len(prev) == 0 {
		return assignerMember{}, false
	}
	cand := prev[0]
	for _, m := range prev[1:] {
		p, cp := procs[m.process], procs[cand.process]
		if p.load() < cp.load() && (t == nil || !p.tasks[*t]) && p.members[m.id] < cp.members[cand.id] {
			cand = m
		}
	}
	if t != nil && procs[cand.process].tasks[*t] {
		return assignerMember{}, false
	}
	return cand, true
}
