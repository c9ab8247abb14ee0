package streams

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// balance runs taskBalancer over members named m0, m1, … owning the given partition
// numbers of every topic, and returns each member's tasks per topic.
func balance(t *testing.T, topics map[string]int32, owned ...[]int32) []map[string][]int32 {
	t.Helper()
	var names []string
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	var members []kmsg.JoinGroupResponseMember
	for i, own := range owned {
		cur := map[string][]int32{}
		for _, name := range names {
			if len(own) > 0 {
				cur[name] = own
			}
		}
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = fmt.Sprintf("m%d", i)
		m.ProtocolMetadata = taskBalancer{}.JoinGroupMetadata(names, cur, 1)
		members = append(members, m)
	}
	b, err := kgo.NewConsumerBalancer(taskBalancer{}, members)
	if err != nil {
		t.Fatal(err)
	}
	plan := taskBalancer{}.Balance(b, topics).(*kgo.BalancePlan).AsMemberIDMap()
	out := make([]map[string][]int32, len(owned))
	for i := range owned {
		out[i] = map[string][]int32{}
		for topic, ps := range plan[fmt.Sprintf("m%d", i)] {
			sort.Slice(ps, func(a, b int) bool { return ps[a] < ps[b] })
			out[i][topic] = ps
		}
	}
	return out
}

// TestTaskBalancer checks that tasks stay whole (partition p of every topic together),
// loads differ by at most one, owners keep their tasks, and a moving task is first only
// revoked (cooperative), then assigned in the next round.
func TestTaskBalancer(t *testing.T) {
	topics := map[string]int32{"in": 4, "app-x-repartition": 4}
	both := func(ps ...int32) map[string][]int32 {
		if len(ps) == 0 {
			return map[string][]int32{}
		}
		return map[string][]int32{"in": ps, "app-x-repartition": ps}
	}
	cases := []struct {
		name  string
		owned [][]int32
		want  []map[string][]int32
	}{
		{"fresh group of two", [][]int32{nil, nil}, []map[string][]int32{both(0, 2), both(1, 3)}},
		{"a second member joins: the first keeps half, the rest is only revoked",
			[][]int32{{0, 1, 2, 3}, nil}, []map[string][]int32{both(0, 1), both()}},
		{"the follow-up round assigns the revoked tasks", [][]int32{{0, 1}, nil}, []map[string][]int32{both(0, 1), both(2, 3)}},
		{"three members, four tasks, owners kept", [][]int32{{0, 1}, {2, 3}, nil}, []map[string][]int32{both(0, 1), both(2), both()}},
		{"a member leaves: its tasks go to the others", [][]int32{{0}, {1}}, []map[string][]int32{both(0, 2), both(1, 3)}},
	}
	for _, c := range cases {
		if got := balance(t, topics, c.owned...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

// TestStandbyPlacement: with one standby replica, two instances of two threads each
// over four tasks, every task gets exactly one standby, on the other instance than its
// active task (the threads of an instance share its state directory), spread evenly;
// the assignment's user data carries each member's standbys back to it.
func TestStandbyPlacement(t *testing.T) {
	topics := map[string]int32{"in": 4}
	instances := []string{"a", "a", "b", "b"}
	var members []kmsg.JoinGroupResponseMember
	for i, inst := range instances {
		m := kmsg.NewJoinGroupResponseMember()
		m.MemberID = fmt.Sprintf("m%d", i)
		m.ProtocolMetadata = taskBalancer{instance: inst, endpoint: inst + ":1"}.JoinGroupMetadata([]string{"in"}, nil, 1)
		members = append(members, m)
	}
	activeOf, standbyOf, held, _ := standbyRound(t, topics, members)
	for i, got := range held {
		if len(got) != 1 {
			t.Errorf("member m%d has standbys %v, want one", i, got)
		}
	}
	for p := range int32(4) {
		s := standbyOf[p]
		if len(s) != 1 || instances[s[0]] == instances[activeOf[p]] {
			t.Errorf("task %d: active on m%d (instance %s), standbys on %v: want one on the other instance", p, activeOf[p], instances[activeOf[p]], s)
		}
	}
	if _, ep, ok := parseMemberUserData(memberUserData("a", "a:1", []int32{3, 1})); !ok || ep != "a:1" {
		t.Errorf("member user data round trip: endpoint %q, %v", ep, ok)
	}
}

// TestStickyStandbys: three single-thread instances over six tasks with one standby
// each; then a fourth instance joins, the others announcing the standbys they hold and
// the tasks they own. Every standby stays where it was (its state is there), none goes
// to the newcomer, and each task's standby is still on another instance than its
// active.
func TestStickyStandbys(t *testing.T) {
	topics := map[string]int32{"in": 6}
	type state struct{ owned, held []int32 }
	round := func(states []state) (map[int32]int, map[int32][]int, [][]int32, [][]int32) {
		t.Helper()
		var members []kmsg.JoinGroupResponseMember
		for i, s := range states {
			m := kmsg.NewJoinGroupResponseMember()
			m.MemberID = fmt.Sprintf("m%d", i)
			cur := map[string][]int32{}
			if len(s.owned) > 0 {
				cur["in"] = s.owned
			}
			m.ProtocolMetadata = taskBalancer{instance: fmt.Sprintf("i%d", i), held: func() []int32 { return s.held }}.JoinGroupMetadata([]string{"in"}, cur, 1)
			members = append(members, m)
		}
		return standbyRound(t, topics, members)
	}
	_, before, held, owned := round([]state{{}, {}, {}})
	states := []state{{owned[0], held[0]}, {owned[1], held[1]}, {owned[2], held[2]}, {}}
	active, after, _, _ := round(states)
	for p := range int32(6) {
		if len(after[p]) != 1 || after[p][0] == active[p] {
			t.Errorf("task %d: active on m%d, standbys on %v: want one on another instance", p, active[p], after[p])
		}
		if !reflect.DeepEqual(after[p], before[p]) {
			t.Errorf("task %d: standby moved from %v to %v though its state stayed", p, before[p], after[p])
		}
	}
}

// standbyRound balances one standby replica over members and returns each task's
// active member and standby members, and each member's standby and active tasks
// (members named m0, m1, …).
func standbyRound(t *testing.T, topics map[string]int32, members []kmsg.JoinGroupResponseMember) (active map[int32]int, standby map[int32][]int, held, owned [][]int32) {
	t.Helper()
	tb := taskBalancer{standbys: 1}
	b, err := kgo.NewConsumerBalancer(tb, members)
	if err != nil {
		t.Fatal(err)
	}
	active, standby = map[int32]int{}, map[int32][]int{}
	held, owned = make([][]int32, len(members)), make([][]int32, len(members))
	for _, a := range tb.Balance(b, topics).IntoSyncAssignment() {
		i := int(a.MemberID[1] - '0')
		ps, err := taskBalancer{onStandby: func(s []int32) { held[i] = s }}.ParseSyncAssignment(a.MemberAssignment)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps["in"] {
			active[p] = i
		}
		owned[i] = ps["in"]
		for _, p := range held[i] {
			standby[p] = append(standby[p], i)
		}
	}
	return active, standby, held, owned
}
