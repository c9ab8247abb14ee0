package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestStickyAssignBalancedStickyProcessAware: every active task once, members within one
// task of each other, a standby never in its active task's process, and a new member takes
// tasks only from others (everyone else keeps a subset of what it had).
func TestStickyAssignBalancedStickyProcessAware(t *testing.T) {
	tasks := map[string]int32{"0": 6, "1": 6}
	stateful := map[string]bool{"1": true}
	members := []assignerMember{
		{id: "m1", process: "p1", prev: emptyStreamsTasks()},
		{id: "m2", process: "p1", prev: emptyStreamsTasks()},
		{id: "m3", process: "p2", prev: emptyStreamsTasks()},
	}
	check := func(out map[string]streamsTasks, ms []assignerMember) {
		t.Helper()
		owner := map[taskID]string{}
		lo, hi := 1<<30, 0
		proc := map[string]string{}
		for _, m := range ms {
			proc[m.id] = m.process
			a := out[m.id]
			a.active.each(func(tk taskID, _ int32) {
				if o, dup := owner[tk]; dup {
					t.Fatalf("task %v active on %s and %s", tk, o, m.id)
				}
				owner[tk] = m.id
			})
			lo, hi = min(lo, a.active.size()), max(hi, a.active.size())
		}
		if len(owner) != 12 || hi-lo > 1 {
			t.Fatalf("%d active tasks, per member between %d and %d: %v", len(owner), lo, hi, out)
		}
		standbys := 0
		for _, m := range ms {
			out[m.id].standby.each(func(tk taskID, _ int32) {
				standbys++
				if tk.subtopology != "1" || proc[owner[tk]] == m.process {
					t.Fatalf("standby %v on %s (process %s), active on %s", tk, m.id, m.process, owner[tk])
				}
			})
		}
		if standbys != 6 {
			t.Fatalf("%d standbys, want one per stateful task (6)", standbys)
		}
	}
	first := stickyAssign(members, tasks, stateful, 1)
	check(first, members)
	for i := range members {
		members[i].prev = first[members[i].id]
	}
	members = append(members, assignerMember{id: "m4", process: "p3", prev: emptyStreamsTasks()})
	second := stickyAssign(members, tasks, stateful, 1)
	check(second, members)
	for _, m := range members[:3] {
		second[m.id].active.each(func(tk taskID, _ int32) {
			if !first[m.id].active.has(tk) {
				t.Fatalf("%s got %v, which it did not have, while a new member joined", m.id, tk)
			}
		})
	}
}

// TestStreamsGroupRestartKeepsEpoch: the group epoch is persisted; after a restart the
// member is unknown, rejoins, and gets an epoch above every earlier one, so that an offset
// commit of a pre-restart epoch is refused.
func TestStreamsGroupRestartKeepsEpoch(t *testing.T) {
	k := newKIP848(t)
	k.topics["in"] = TopicInfo{Name: "in", Partitions: 2}
	cfg := func(c *Config) { k.configure(c); c.StreamsInitialRebalanceDelay = -1 }
	k.c.Close()
	k.c = New(k.config(cfg), k.j, k.j.live)
	join := func(member string) StreamsHeartbeatResult {
		t.Helper()
		pid := "p-" + member
		res := k.c.StreamsHeartbeat(StreamsHeartbeatRequest{Group: "app", MemberID: member, RebalanceTimeout: time.Minute,
			Topology:  &StreamsTopology{Subtopologies: []StreamsSubtopology{{ID: "0", SourceTopics: []string{"in"}}}},
			ProcessID: &pid, Active: []TaskIDs{}, Standby: []TaskIDs{}, Warmup: []TaskIDs{}})
		if res.Err != nil {
			t.Fatalf("join: %v %s", res.Err, res.ErrMessage)
		}
		return res
	}
	before := join("a")
	if len(before.Active) != 1 || len(before.Active[0].Partitions) != 2 {
		t.Fatalf("first member's tasks %+v", before.Active)
	}
	k.c.Close()
	k.c = New(k.config(cfg), k.j, k.j.live)
	d, err, _ := k.c.DescribeStreams("app")
	if err != nil || d.State != Empty || d.Topology == nil || len(d.Topology.Subtopologies) != 1 || d.Topology.Subtopologies[0].SourceTopics[0] != "in" {
		t.Fatalf("describe after the restart: %+v %v", d, err)
	}
	res := k.c.StreamsHeartbeat(StreamsHeartbeatRequest{Group: "app", MemberID: "a", MemberEpoch: before.MemberEpoch})
	mustErr(t, res.Err, kerr.UnknownMemberID)
	errs, _ := k.c.Commit(CommitRequest{Group: "app", MemberID: "a", Generation: before.MemberEpoch, MemberEpochAPI: true,
		Offsets: []CommitOffset{{Topic: "in", Partition: 0, Offset: 1}}})
	mustErr(t, errs[0], kerr.UnknownMemberID)
	after := join("a")
	if after.MemberEpoch <= before.MemberEpoch {
		t.Fatalf("epoch %d after the restart, %d before", after.MemberEpoch, before.MemberEpoch)
	}
	d, err, _ = k.c.DescribeStreams("app")
	if err != nil || d.State != Stable || d.Epoch != after.MemberEpoch {
		t.Fatalf("describe after rejoin: %+v %v", d, err)
	}
}

// TestStreamsGroupRevocationTimeout: a member that never confirms its revocation is removed
// after its rebalance timeout, and the task goes to the member waiting for it.
func TestStreamsGroupRevocationTimeout(t *testing.T) {
	k := newKIP848(t)
	k.topics["in"] = TopicInfo{Name: "in", Partitions: 2}
	cfg := func(c *Config) { k.configure(c); c.StreamsInitialRebalanceDelay = -1 }
	k.c.Close()
	k.c = New(k.config(cfg), k.j, k.j.live)
	hb := func(member string, epoch int32, active []TaskIDs, join bool) StreamsHeartbeatResult {
		t.Helper()
		req := StreamsHeartbeatRequest{Group: "g", MemberID: member, MemberEpoch: epoch, RebalanceTimeout: -1,
			Active: active, Standby: []TaskIDs{}, Warmup: []TaskIDs{}}
		if join {
			pid := "p-" + member
			req.RebalanceTimeout, req.ProcessID = 10*time.Second, &pid
			req.Topology = &StreamsTopology{Subtopologies: []StreamsSubtopology{{ID: "0", SourceTopics: []string{"in"}}}}
		}
		res := k.c.StreamsHeartbeat(req)
		if res.Err != nil {
			t.Fatalf("%s heartbeat: %v %s", member, res.Err, res.ErrMessage)
		}
		return res
	}
	a := hb("a", 0, []TaskIDs{}, true)
	b := hb("b", 0, []TaskIDs{}, true)
	if len(b.Active) != 0 {
		t.Fatalf("b got %v while a holds everything", b.Active)
	}
	a2 := hb("a", a.MemberEpoch, a.Active, false) // a is told to revoke one task, and never confirms
	if len(a2.Active) != 1 || len(a2.Active[0].Partitions) != 1 {
		t.Fatalf("a after the rebalance: %+v", a2.Active)
	}
	k.clock.Advance(11 * time.Second)
	b2 := hb("b", b.MemberEpoch, []TaskIDs{}, false)
	if n := len(b2.Active); n != 1 || len(b2.Active[0].Partitions) != 2 {
		t.Fatalf("b after a's revocation timed out: %+v", b2.Active)
	}
}

// TestStreamsTopologyRecord: the topology record round-trips, and every truncation of it is
// refused without a panic.
func TestStreamsTopologyRecord(t *testing.T) {
	topo := &StreamsTopology{Epoch: 3, Subtopologies: []StreamsSubtopology{
		{ID: "0", SourceTopics: []string{"a", "b"}, RepartitionSinkTopics: []string{"app-rep"},
			ChangelogTopics:   []StreamsTopicInfo{{Name: "app-store-changelog", Configs: []StreamsConfig{{"cleanup.policy", "compact"}}}},
			CopartitionGroups: [][]string{{"a", "b"}}},
		{ID: "1", RepartitionSourceTopics: []StreamsTopicInfo{{Name: "app-rep", Partitions: 4, ReplicationFactor: 1}}},
	}}
	key, value := streamsTopologyKey("grp"), streamsTopologyValue(topo)
	id, got, err := parseStreamsTopology(key, value)
	if err != nil || id != "grp" || !got.equal(topo) {
		t.Fatalf("round trip: %q %+v %v", id, got, err)
	}
	for n := 0; n < len(value); n++ {
		if _, _, err := parseStreamsTopology(key, value[:n]); err == nil {
			t.Fatalf("a value cut to %d of %d bytes parsed", n, len(value))
		}
	}
}

// TestStreamsGroupInitialDelay: as observed on Kafka 4.3.1, the first member of a new group
// gets epoch 1, no tasks and ASSIGNMENT_DELAYED during streams.initial.rebalance.delay.ms;
// members joining meanwhile wait too, and once it ends the tasks are shared.
func TestStreamsGroupInitialDelay(t *testing.T) {
	k := newKIP848(t)
	k.topics["in"] = TopicInfo{Name: "in", Partitions: 4}
	hb := func(member string, epoch int32, join bool) StreamsHeartbeatResult {
		t.Helper()
		req := StreamsHeartbeatRequest{Group: "d", MemberID: member, MemberEpoch: epoch, RebalanceTimeout: -1,
			Active: []TaskIDs{}, Standby: []TaskIDs{}, Warmup: []TaskIDs{}}
		if join {
			pid := "p-" + member
			req.RebalanceTimeout, req.ProcessID = time.Minute, &pid
			req.Topology = &StreamsTopology{Subtopologies: []StreamsSubtopology{{ID: "0", SourceTopics: []string{"in"}}}}
		}
		res := k.c.StreamsHeartbeat(req)
		if res.Err != nil {
			t.Fatalf("%s: %v %s", member, res.Err, res.ErrMessage)
		}
		return res
	}
	delayed := func(r StreamsHeartbeatResult) bool {
		for _, s := range r.Status {
			if s.Code == StreamsAssignmentDelayed {
				return true
			}
		}
		return false
	}
	a := hb("a", 0, true)
	if a.MemberEpoch != 1 || len(a.Active) != 0 || !delayed(a) {
		t.Fatalf("first member during the delay: %+v", a)
	}
	b := hb("b", 0, true)
	if len(b.Active) != 0 || !delayed(b) {
		t.Fatalf("second member during the delay: %+v", b)
	}
	k.clock.Advance(3 * time.Second)
	a = hb("a", a.MemberEpoch, false)
	b = hb("b", b.MemberEpoch, false)
	if delayed(a) || len(a.Active) != 1 || len(b.Active) != 1 || len(a.Active[0].Partitions)+len(b.Active[0].Partitions) != 4 {
		t.Fatalf("after the delay: a %+v, b %+v", a.Active, b.Active)
	}
}
