package streams

import (
	"bytes"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// taskBalancer assigns whole tasks: partition p of every input topic goes to one member,
// so co-partitioned inputs (a stream and the table it joins, a repartition topic and
// its source) meet in one task. It is cooperative (KIP-429) and sticky: members keep the
// tasks they own up to their fair share, the rest are dealt to the least loaded, and a
// task moving between members is first revoked (kgo's AdjustCooperative), then assigned
// in the follow-up rebalance. Members announce what they own in the cooperative-sticky
// subscription format.
type taskBalancer struct {
	instance  string         // this member's instance (Config.InstanceID), announced in its subscription's user data
	endpoint  string         // this member's Config.Endpoint, announced likewise
	standbys  int            // Config.StandbyReplicas: standby copies of each task, on other members
	onStandby func([]int32)  // receives this member's standby tasks at each assignment
	held      func() []int32 // this member's standby tasks now, announced so that they stay (nil: none)
}

// taskProtocol is the group protocol name; every member of an application uses it.
const taskProtocol = "logd-streams-task"

func (taskBalancer) ProtocolName() string { return taskProtocol }
func (taskBalancer) IsCooperative() bool  { return true }

// JoinGroupMetadata is the cooperative-sticky subscription (owned partitions and
// generation in their KIP-429/KIP-792 fields) with the user data replaced by the
// member's instance, endpoint and standby tasks (memberUserData), which the active
// task assignment does not read.
func (tb taskBalancer) JoinGroupMetadata(topics []string, owned map[string][]int32, generation int32) []byte {
	b := kgo.CooperativeStickyBalancer().JoinGroupMetadata(topics, owned, generation)
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(b); err != nil {
		return b // kgo's own encoding; cannot fail to parse
	}
	var held []int32
	if tb.held != nil {
		held = tb.held()
	}
	meta.UserData = memberUserData(tb.instance, tb.endpoint, held)
	return meta.AppendTo(nil)
}

// memberMagic starts the subscription user data of a member:
//
//	"logd-streams-member:" ‖ instance ‖ "\n" ‖ endpoint [‖ "\n" ‖ standby tasks, comma-separated]
const memberMagic = "logd-streams-member:"

// memberUserData is the subscription user data announcing a member's instance (the
// threads of one instance share it), endpoint and the standby tasks it holds.
func memberUserData(instance, endpoint string, standbys []int32) []byte {
	out := []byte(memberMagic + instance + "\n" + endpoint)
	for i, p := range standbys {
		if i == 0 {
			out = append(out, '\n')
		} else {
			out = append(out, ',')
		}
		out = strconv.AppendInt(out, int64(p), 10)
	}
	return out
}

// memberStandbys returns the standby tasks a member's user data announces.
func memberStandbys(b []byte) []int32 {
	rest, ok := strings.CutPrefix(string(b), memberMagic)
	if !ok {
		return nil
	}
	parts := strings.SplitN(rest, "\n", 3)
	if len(parts) < 3 {
		return nil
	}
	var out []int32
	for _, f := range strings.Split(parts[2], ",") {
		if p, err := strconv.ParseInt(f, 10, 32); err == nil {
			out = append(out, int32(p))
		}
	}
	return out
}

// parseMemberUserData undoes memberUserData; ok is false for user data of another form.
func parseMemberUserData(b []byte) (instance, endpoint string, ok bool) {
	rest, ok := strings.CutPrefix(string(b), memberMagic)
	if !ok {
		return "", "", false
	}
	instance, endpoint, ok = strings.Cut(rest, "\n")
	endpoint, _, _ = strings.Cut(endpoint, "\n") // the standby tasks follow
	return instance, endpoint, ok
}

// ParseSyncAssignment hands the standby tasks in the assignment's user data to
// onStandby and returns the active partitions.
func (tb taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	if tb.onStandby != nil {
		var a kmsg.ConsumerMemberAssignment
		var standby []int32
		if err := a.ReadFrom(assignment); err == nil {
			standby = decodeStandby(a.UserData)
		}
		tb.onStandby(standby)
	}
	return kgo.ParseConsumerSyncAssignment(assignment)
}

// standbyMagic starts the assignment user data listing a member's standby tasks, each
// then 4 bytes big endian.
const standbyMagic = "logd-streams-standby:"

// encodeStandby is the assignment user data of standby tasks; nil if none.
func encodeStandby(tasks []int32) []byte {
	if len(tasks) == 0 {
		return nil
	}
	out := []byte(standbyMagic)
	for _, p := range tasks {
		out = binary.BigEndian.AppendUint32(out, uint32(p))
	}
	return out
}

// decodeStandby undoes encodeStandby; user data of another form lists none.
func decodeStandby(b []byte) []int32 {
	rest, ok := bytes.CutPrefix(b, []byte(standbyMagic))
	if !ok || len(rest)%4 != 0 {
		return nil
	}
	out := make([]int32, 0, len(rest)/4)
	for ; len(rest) > 0; rest = rest[4:] {
		out = append(out, int32(binary.BigEndian.Uint32(rest)))
	}
	return out
}

// standbyPlan is a balance plan whose assignments carry each member's standby tasks.
type standbyPlan struct {
	plan    *kgo.BalancePlan
	standby map[string][]int32 // member id → standby tasks
}

func (sp standbyPlan) IntoSyncAssignment() []kmsg.SyncGroupRequestGroupAssignment {
	out := sp.plan.IntoSyncAssignment()
	for i := range out {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(out[i].MemberAssignment); err != nil {
			continue // kgo's own encoding; cannot fail to parse
		}
		a.UserData = encodeStandby(sp.standby[out[i].MemberID])
		out[i].MemberAssignment = a.AppendTo(nil)
	}
	return out
}

func (tb taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(tb, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

// Balance deals the tasks 0..N-1 (N the largest partition count) to the members, and
// each task's standby copies to other instances: stickily, first to members that have
// the task's state (its standby until now, or its previous active owner) while they hold
// fewer than their fair share of standbys (⌈N·R / members⌉), then to the least loaded.
func (tb taskBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var n int32
	for _, c := range topics {
		n = max(n, c)
	}
	type member struct {
		m        *kmsg.JoinGroupResponseMember
		instance string // its instance: standbys go to other instances than the active
		owned    []int32
		held     []int32 // standby tasks it announces
		tasks    []int32
	}
	var ms []*member
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		seen := map[int32]bool{}
		mem := &member{m: m, instance: m.MemberID}
		if inst, _, ok := parseMemberUserData(meta.UserData); ok {
			mem.instance = inst
		}
		mem.held = memberStandbys(meta.UserData)
		for _, o := range meta.OwnedPartitions {
			for _, p := range o.Partitions {
				if p < n && !seen[p] {
					seen[p] = true
					mem.owned = append(mem.owned, p)
				}
			}
		}
		sort.Slice(mem.owned, func(i, j int) bool { return mem.owned[i] < mem.owned[j] })
		ms = append(ms, mem)
	})
	plan := b.NewPlan()
	if len(ms) == 0 {
		return plan
	}
	floor, extra := int(n)/len(ms), int(n)%len(ms)
	taken := make([]bool, n)
	// Keep owned tasks up to the fair share: first floor each, then the extras.
	for pass := range 2 {
		for _, m := range ms {
			for _, p := range m.owned {
				if taken[p] {
					continue
				}
				limit := floor
				if pass == 1 {
					if extra == 0 || len(m.tasks) > floor {
						break
					}
					limit = floor + 1
				}
				if len(m.tasks) >= limit {
					break
				}
				if pass == 1 {
					extra--
				}
				taken[p] = true
				m.tasks = append(m.tasks, p)
			}
		}
	}
	// Deal the rest to the least loaded members: the loads end at most one apart.
	for p := range n {
		if taken[p] {
			continue
		}
		least := ms[0]
		for _, m := range ms[1:] {
			if len(m.tasks) < len(least.tasks) {
				least = m
			}
		}
		least.tasks = append(least.tasks, p)
	}
	for _, m := range ms {
		for _, p := range m.tasks {
			for topic, count := range topics {
				if p < count {
					plan.AddPartition(m.m, topic, p)
				}
			}
		}
	}
	plan.AdjustCooperative(b)
	if tb.standbys == 0 {
		return plan
	}
	sp := standbyPlan{plan: plan, standby: map[string][]int32{}}
	fair := (int(n)*tb.standbys + len(ms) - 1) / len(ms)
	for p := range n {
		// One standby per instance, never on the active's instance: the threads of an
		// instance share its state directory.
		used := map[string]bool{}
		for _, m := range ms {
			if slices.Contains(m.tasks, p) {
				used[m.instance] = true
			}
		}
		load := func(m *member) int { return len(sp.standby[m.m.MemberID]) }
		sticky := func(m *member) bool {
			return load(m) < fair && (slices.Contains(m.held, p) || slices.Contains(m.owned, p))
		}
		others := slices.Clone(ms)
		sort.SliceStable(others, func(i, j int) bool {
			if si, sj := sticky(others[i]), sticky(others[j]); si != sj {
				return si
			}
			return load(others[i]) < load(others[j])
		})
		given := 0
		for _, m := range others {
			if given == tb.standbys {
				break
			}
			if !used[m.instance] {
				used[m.instance] = true
				given++
				sp.standby[m.m.MemberID] = append(sp.standby[m.m.MemberID], p)
			}
		}
	}
	return sp
}
