package streams

import (
	"sort"

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
	endpoint string // this member's Config.Endpoint, announced in its subscription's user data
}

// taskProtocol is the group protocol name; every member of an application uses it.
const taskProtocol = "logd-streams-task"

func (taskBalancer) ProtocolName() string { return taskProtocol }
func (taskBalancer) IsCooperative() bool  { return true }

// JoinGroupMetadata is the cooperative-sticky subscription (owned partitions and
// generation in their KIP-429/KIP-792 fields) with the user data replaced by the
// member's endpoint (endpointUserData), which the task assignment does not read.
func (tb taskBalancer) JoinGroupMetadata(topics []string, owned map[string][]int32, generation int32) []byte {
	b := kgo.CooperativeStickyBalancer().JoinGroupMetadata(topics, owned, generation)
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(b); err != nil {
		return b // kgo's own encoding; cannot fail to parse
	}
	meta.UserData = endpointUserData(tb.endpoint)
	return meta.AppendTo(nil)
}

// endpointMagic starts the subscription user data of a member with an endpoint.
const endpointMagic = "logd-streams-endpoint:"

// endpointUserData is the subscription user data announcing endpoint; nil if none.
func endpointUserData(endpoint string) []byte {
	if endpoint == "" {
		return nil
	}
	return []byte(endpointMagic + endpoint)
}

func (taskBalancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

func (tb taskBalancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	b, err := kgo.NewConsumerBalancer(tb, members)
	if err != nil {
		return nil, nil, err
	}
	return b, b.MemberTopics(), nil
}

// Balance deals the tasks 0..N-1 (N the largest partition count) to the members.
func (taskBalancer) Balance(b *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	var n int32
	for _, c := range topics {
		n = max(n, c)
	}
	type member struct {
		m     *kmsg.JoinGroupResponseMember
		owned []int32
		tasks []int32
	}
	var ms []*member
	b.EachMember(func(m *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		seen := map[int32]bool{}
		mem := &member{m: m}
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
	return plan
}
