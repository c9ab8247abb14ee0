package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// pinned returns a client that sends API key at exactly version v (kgo uses the highest
// version both sides support, capped here).
func pinned(cs *clients, key kmsg.Key, v int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(key), v)
	return cs.client(kgo.MaxVersions(vs))
}

func rawReq[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	resp, err := cl.Request(testCtx(t), req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

func code(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if want == nil && got != 0 || want != nil && got != want.Code {
		t.Fatalf("%s: error code %d (%v), want %v", what, got, kerr.ErrorForCode(got), want)
	}
}

func TestFindCoordinatorVersions(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	for v := int16(0); v <= 6; v++ {
		cl := pinned(cs, kmsg.FindCoordinator, v)
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKey, req.CoordinatorKeys = "g", []string{"g"}
		resp := rawReq[*kmsg.FindCoordinatorResponse](t, cl, req)
		if v < 4 {
			code(t, "find group", resp.ErrorCode, nil)
			if resp.NodeID != tb.b.cfg.NodeID || resp.Port != tb.b.cfg.AdvertisedPort {
				t.Fatalf("v%d: %+v", v, resp)
			}
		} else if len(resp.Coordinators) != 1 || resp.Coordinators[0].ErrorCode != 0 || resp.Coordinators[0].NodeID != tb.b.cfg.NodeID {
			t.Fatalf("v%d: %+v", v, resp)
		}
		if v == 0 {
			continue // v0 has no key type
		}
		req.CoordinatorType = 1 // transaction
		resp = rawReq[*kmsg.FindCoordinatorResponse](t, cl, req)
		errCode, node := resp.ErrorCode, resp.NodeID
		if v >= 4 {
			errCode, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
		}
		code(t, "find txn", errCode, nil)
		if node != tb.b.cfg.NodeID {
			t.Fatalf("v%d: transaction coordinator %d, want %d", v, node, tb.b.cfg.NodeID)
		}
		req.CoordinatorType = 3 // not a coordinator type
		resp = rawReq[*kmsg.FindCoordinatorResponse](t, cl, req)
		errCode, msg := resp.ErrorCode, resp.ErrorMessage
		if v >= 4 {
			errCode, msg = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].ErrorMessage
		}
		code(t, "find unknown type", errCode, kerr.InvalidRequest)
		if msg == nil || *msg == "" {
			t.Fatalf("v%d: no message for an unknown key type", v)
		}
	}
}

func joinRaw(group, member string, instance *string, protocol string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.InstanceID, req.ProtocolType = group, member, instance, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 10_000
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{"t"}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: protocol, Metadata: meta.AppendTo(nil)}}
	return req
}

// TestClassicGroupOldVersions drives a group with the oldest versions (v0: no KIP-394 member
// id round trip, no rebalance timeout), as kafka-python and old sarama configurations do.
func TestClassicGroupOldVersions(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	vs := kversion.Stable()
	for _, k := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.DescribeGroups, kmsg.ListGroups} {
		vs.SetMaxKeyVersion(int16(k), 0)
	}
	vs.SetMaxKeyVersion(int16(kmsg.OffsetCommit), 2)
	vs.SetMaxKeyVersion(int16(kmsg.OffsetFetch), 1)
	cl := cs.client(kgo.MaxVersions(vs))
	createTopic(t, cs, "t", 1)

	join := rawReq[*kmsg.JoinGroupResponse](t, cl, joinRaw("old", "", nil, "range"))
	code(t, "join v0", join.ErrorCode, nil)
	if join.Generation != 1 || join.LeaderID != join.MemberID || len(join.Members) != 1 || join.Protocol == nil || *join.Protocol != "range" {
		t.Fatalf("join v0: %+v", join)
	}
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "old", join.MemberID, 1
	sync.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: join.MemberID, MemberAssignment: []byte("A")}}
	sresp := rawReq[*kmsg.SyncGroupResponse](t, cl, sync)
	if sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != "A" {
		t.Fatalf("sync v0: %+v", sresp)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "old", join.MemberID, 1
	code(t, "heartbeat", rawReq[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, nil)
	hb.Generation = 7
	code(t, "heartbeat old generation", rawReq[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, kerr.IllegalGeneration)
	hb.Generation, hb.MemberID = 1, "nobody"
	code(t, "heartbeat unknown member", rawReq[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, kerr.UnknownMemberID)

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.MemberID, commit.Generation = "old", join.MemberID, 1
	md := "m"
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 42, Metadata: &md}, {Partition: 9, Offset: 1}}}}
	cresp := rawReq[*kmsg.OffsetCommitResponse](t, cl, commit)
	code(t, "commit", cresp.Topics[0].Partitions[0].ErrorCode, nil)
	code(t, "commit unknown partition", cresp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Group = "old"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	fresp := rawReq[*kmsg.OffsetFetchResponse](t, cl, fetch)
	if p := fresp.Topics[0].Partitions[0]; p.Offset != 42 || p.Metadata == nil || *p.Metadata != "m" {
		t.Fatalf("fetch v1: %+v", fresp)
	}
	desc := kmsg.NewPtrDescribeGroupsRequest()
	desc.Groups = []string{"old", "missing"}
	dresp := rawReq[*kmsg.DescribeGroupsResponse](t, cl, desc)
	if g := dresp.Groups[0]; g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 || string(g.Members[0].MemberAssignment) != "A" {
		t.Fatalf("describe: %+v", dresp.Groups[0])
	}
	if g := dresp.Groups[1]; g.State != "Dead" || g.ErrorCode != 0 {
		t.Fatalf("describe missing: %+v", g)
	}
	if l := rawReq[*kmsg.ListGroupsResponse](t, cl, kmsg.NewPtrListGroupsRequest()); len(l.Groups) != 1 || l.Groups[0].Group != "old" {
		t.Fatalf("list: %+v", l)
	}
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "old", join.MemberID
	code(t, "leave", rawReq[*kmsg.LeaveGroupResponse](t, cl, leave).ErrorCode, nil)
	code(t, "leave again", rawReq[*kmsg.LeaveGroupResponse](t, cl, leave).ErrorCode, kerr.UnknownMemberID)
}

// TestClassicGroupFencing covers KIP-394, static member fencing, protocol checks, the
// multi-group OffsetFetch, ListGroups filters, and a parked JoinGroup not holding up other
// connections.
func TestClassicGroupFencing(t *testing.T) {
	tb := startBroker(t, groupConfig)
	cs := newClients(t, tb)
	createTopic(t, cs, "t", 1)
	cl := cs.client()
	ctx := testCtx(t)

	first := rawReq[*kmsg.JoinGroupResponse](t, cl, joinRaw("g", "", nil, "range"))
	code(t, "KIP-394", first.ErrorCode, kerr.MemberIDRequired)
	if first.MemberID == "" {
		t.Fatal("no member id handed out")
	}
	dyn := rawReq[*kmsg.JoinGroupResponse](t, cl, joinRaw("g", first.MemberID, nil, "range"))
	code(t, "join", dyn.ErrorCode, nil)
	code(t, "wrong protocol", rawReq[*kmsg.JoinGroupResponse](t, cl, joinRaw("g", "", nil, "sticky")).ErrorCode, kerr.InconsistentGroupProtocol)

	sync := kmsg.NewPtrSyncGroupRequest()
	sync.Group, sync.MemberID, sync.Generation = "g", dyn.MemberID, dyn.Generation
	other := "roundrobin"
	sync.Protocol = &other
	code(t, "sync protocol mismatch", rawReq[*kmsg.SyncGroupResponse](t, cl, sync).ErrorCode, kerr.InconsistentGroupProtocol)
	sync.Protocol = nil
	code(t, "sync", rawReq[*kmsg.SyncGroupResponse](t, cl, sync).ErrorCode, nil)

	// A static member joins: a rebalance. The dynamic member must rejoin; while the join is
	// parked, another connection is served.
	inst := "i-1"
	staticDone := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		resp, err := joinRaw("g", "", &inst, "range").RequestWith(context.Background(), cs.client())
		if err != nil {
			t.Error(err)
		}
		staticDone <- resp
	}()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", dyn.MemberID, dyn.Generation
	eventually(t, "rebalance", func() bool {
		resp, err := hb.RequestWith(ctx, cl)
		return err == nil && resp.ErrorCode == kerr.RebalanceInProgress.Code
	})
	select {
	case <-staticDone:
		t.Fatal("join answered before the other member rejoined")
	case <-time.After(50 * time.Millisecond):
	}
	rejoin := rawReq[*kmsg.JoinGroupResponse](t, cl, joinRaw("g", dyn.MemberID, nil, "range"))
	static := <-staticDone
	code(t, "static join", static.ErrorCode, nil)
	if rejoin.Generation != 2 || static.Generation != 2 {
		t.Fatalf("generations %d %d", rejoin.Generation, static.Generation)
	}
	sync.MemberID, sync.Generation = rejoin.MemberID, 2
	code(t, "leader sync", rawReq[*kmsg.SyncGroupResponse](t, cl, sync).ErrorCode, nil)
	// The same instance id again, in Stable: no rebalance, the first member id is fenced.
	again := rawReq[*kmsg.JoinGroupResponse](t, cs.client(), joinRaw("g", "", &inst, "range"))
	hb.MemberID, hb.InstanceID, hb.Generation = static.MemberID, &inst, 2
	code(t, "fenced instance", rawReq[*kmsg.HeartbeatResponse](t, cl, hb).ErrorCode, kerr.FencedInstanceID)
	if again.ErrorCode != 0 || again.Generation != 2 || again.MemberID == static.MemberID {
		t.Fatalf("static rejoin: %+v", again)
	}

	// Multi-group OffsetFetch (v8+) after a standalone commit into an empty group.
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "solo", -1
	commit.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 7, LeaderEpoch: 3}}}}
	// By name: v9, the newest before topic ids (v10 is TestOffsetCommitFetchTopicIDs).
	code(t, "standalone commit", rawReq[*kmsg.OffsetCommitResponse](t, pinned(cs, kmsg.OffsetCommit, 9), commit).Topics[0].Partitions[0].ErrorCode, nil)
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "solo"}, {Group: "none", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	fresp := rawReq[*kmsg.OffsetFetchResponse](t, cl, fetch)
	if len(fresp.Groups) != 2 || fresp.Groups[0].Topics[0].Partitions[0].Offset != 7 || fresp.Groups[0].Topics[0].Partitions[0].LeaderEpoch != 3 ||
		fresp.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("multi-group fetch: %+v", fresp)
	}
	// A standalone commit into a group with members is refused.
	commit.Group = "g"
	code(t, "standalone into live group", rawReq[*kmsg.OffsetCommitResponse](t, pinned(cs, kmsg.OffsetCommit, 9), commit).Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)

	list := kmsg.NewPtrListGroupsRequest()
	list.StatesFilter = []string{"empty"}
	if l := rawReq[*kmsg.ListGroupsResponse](t, cl, list); len(l.Groups) != 1 || l.Groups[0].Group != "solo" || l.Groups[0].GroupState != "Empty" {
		t.Fatalf("list empty: %+v", l)
	}
	list.StatesFilter, list.TypesFilter = nil, []string{"consumer"}
	if l := rawReq[*kmsg.ListGroupsResponse](t, cl, list); len(l.Groups) != 0 {
		t.Fatalf("list KIP-848 groups: %+v", l)
	}
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g", "solo", "missing"}
	dresp := rawReq[*kmsg.DeleteGroupsResponse](t, cl, del)
	code(t, "delete live", dresp.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	code(t, "delete solo", dresp.Groups[1].ErrorCode, nil)
	code(t, "delete missing", dresp.Groups[2].ErrorCode, kerr.GroupIDNotFound)
}
