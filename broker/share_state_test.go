package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/share"
)

// stateClient sends the share coordinator APIs (83-87) for one share partition as raw kmsg
// requests over a real socket.
type stateClient struct {
	t     *testing.T
	cl    *kgo.Client
	group string
}

func (s stateClient) init(ctx context.Context, id [16]byte, p, stateEpoch int32, start int64) int16 {
	s.t.Helper()
	req := kmsg.NewPtrInitializeShareGroupStateRequest()
	req.GroupID = s.group
	req.Topics = []kmsg.InitializeShareGroupStateRequestTopic{{TopicID: id, Partitions: []kmsg.InitializeShareGroupStateRequestTopicPartition{{Partition: p, StateEpoch: stateEpoch, StartOffset: start}}}}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (s stateClient) read(ctx context.Context, id [16]byte, p, leaderEpoch int32) kmsg.ReadShareGroupStateResponseTopicPartition {
	s.t.Helper()
	req := kmsg.NewPtrReadShareGroupStateRequest()
	req.GroupID = s.group
	req.Topics = []kmsg.ReadShareGroupStateRequestTopic{{TopicID: id, Partitions: []kmsg.ReadShareGroupStateRequestTopicPartition{{Partition: p, LeaderEpoch: leaderEpoch}}}}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// findCoordinator asks FindCoordinator (key type SHARE, which creates __share_group_state)
// for the share coordinator of the group's partition 0 of topic id, as Kafka's persister
// does before its first request, and checks that it is tb.
func (s stateClient) findCoordinator(ctx context.Context, tb *testBroker, id [16]byte) {
	s.t.Helper()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.Version, fc.CoordinatorType, fc.CoordinatorKeys = 6, 2, []string{share.StateKeyString(s.group, shareTP(id))}
	var fr *kmsg.FindCoordinatorResponse
	eventually(s.t, "a share coordinator", func() bool {
		var err error
		if fr, err = fc.RequestWith(ctx, s.cl); err != nil {
			s.t.Fatal(err)
		}
		return fr.Coordinators[0].ErrorCode == 0
	})
	if fr.Coordinators[0].NodeID != tb.b.cfg.NodeID {
		s.t.Fatalf("share coordinator %+v", fr.Coordinators[0])
	}
	fc.CoordinatorKeys = []string{s.group + ":not-a-topic-id:0"}
	fr, err := fc.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	wantStateCode(s.t, "a malformed share key", fr.Coordinators[0].ErrorCode, kerr.InvalidRequest)
}

// batch is a WriteShareGroupState state batch: offsets, delivery state id and count.
type batch struct {
	first, last int64
	state       int8
	count       int16
}

func (s stateClient) write(ctx context.Context, id [16]byte, p, stateEpoch, leaderEpoch int32, start int64, bs ...batch) int16 {
	s.t.Helper()
	req := kmsg.NewPtrWriteShareGroupStateRequest()
	req.Version = 1
	req.GroupID = s.group
	rp := kmsg.WriteShareGroupStateRequestTopicPartition{Partition: p, StateEpoch: stateEpoch, LeaderEpoch: leaderEpoch, StartOffset: start, DeliveryCompleteCount: -1}
	for _, b := range bs {
		rp.StateBatches = append(rp.StateBatches, kmsg.WriteShareGroupStateRequestTopicPartitionStateBatch{FirstOffset: b.first, LastOffset: b.last, DeliveryState: b.state, DeliveryCount: b.count})
	}
	req.Topics = []kmsg.WriteShareGroupStateRequestTopic{{TopicID: id, Partitions: []kmsg.WriteShareGroupStateRequestTopicPartition{rp}}}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (s stateClient) delete(ctx context.Context, id [16]byte, p int32) int16 {
	s.t.Helper()
	req := kmsg.NewPtrDeleteShareGroupStateRequest()
	req.GroupID = s.group
	req.Topics = []kmsg.DeleteShareGroupStateRequestTopic{{TopicID: id, Partitions: []kmsg.DeleteShareGroupStateRequestTopicPartition{{Partition: p}}}}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (s stateClient) summary(ctx context.Context, id [16]byte, p int32) kmsg.ReadShareGroupStateSummaryResponseTopicPartition {
	s.t.Helper()
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.Version = 1
	req.GroupID = s.group
	req.Topics = []kmsg.ReadShareGroupStateSummaryRequestTopic{{TopicID: id, Partitions: []kmsg.ReadShareGroupStateSummaryRequestTopicPartition{{Partition: p, LeaderEpoch: -1}}}}
	resp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// wantStateCode fails the test unless code is want.
func wantStateCode(t *testing.T, what string, code int16, want *kerr.Error) {
	t.Helper()
	var wc int16
	if want != nil {
		wc = want.Code
	}
	if code != wc {
		t.Fatalf("%s: error %d (%v), want %d (%v)", what, code, kerr.ErrorForCode(code), wc, want)
	}
}

// The share coordinator APIs over a real socket: FindCoordinator key type SHARE, an
// uninitialized read, initialize with state epoch fencing, writes merged into the state
// with start offset pruning and epoch fencing, malformed input, the summary, delete, and
// state that survives a restart.
func TestShareCoordinatorStateAPIs(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	id := shareTopic(t, tb, "sc", 10)
	s := stateClient{t: t, cl: tb.client(), group: "sg"}

	s.findCoordinator(ctx, tb, id)

	var r kmsg.ReadShareGroupStateResponseTopicPartition
	eventually(t, "the state partition loaded", func() bool {
		r = s.read(ctx, id, 0, -1)
		return r.ErrorCode != kerr.CoordinatorLoadInProgress.Code && r.ErrorCode != kerr.NotCoordinator.Code
	})
	wantStateCode(t, "read uninitialized", r.ErrorCode, nil)
	if r.StartOffset != -1 || r.StateEpoch != 0 || len(r.StateBatches) != 0 {
		t.Fatalf("uninitialized state %+v", r)
	}
	wantStateCode(t, "write uninitialized", s.write(ctx, id, 0, 0, 0, 0), kerr.InvalidRequest)
	wantStateCode(t, "initialize", s.init(ctx, id, 0, 1, 0), nil)
	wantStateCode(t, "initialize with an older state epoch", s.init(ctx, id, 0, 0, 0), kerr.FencedStateEpoch)

	wantStateCode(t, "write", s.write(ctx, id, 0, 1, 3, 0, batch{0, 4, 2, 1}, batch{5, 9, 0, 1}), nil)
	wantStateCode(t, "write merged", s.write(ctx, id, 0, 1, 3, 3, batch{7, 7, 4, 2}), nil)
	wantStateCode(t, "write with an older leader epoch", s.write(ctx, id, 0, 1, 2, 3), kerr.FencedLeaderEpoch)
	wantStateCode(t, "write with an older state epoch", s.write(ctx, id, 0, 0, 3, 3), kerr.FencedStateEpoch)
	wantStateCode(t, "write a batch ending before it starts", s.write(ctx, id, 0, 1, 3, 3, batch{6, 5, 0, 1}), kerr.InvalidRequest)
	wantStateCode(t, "write an acquired delivery state", s.write(ctx, id, 0, 1, 3, 3, batch{5, 5, 1, 1}), kerr.InvalidRequest)
	wantStateCode(t, "read with an older leader epoch", s.read(ctx, id, 0, 2).ErrorCode, kerr.FencedLeaderEpoch)

	wantState := func(r kmsg.ReadShareGroupStateResponseTopicPartition) {
		t.Helper()
		wantStateCode(t, "read", r.ErrorCode, nil)
		want := []batch{{3, 4, 2, 1}, {5, 6, 0, 1}, {7, 7, 4, 2}, {8, 9, 0, 1}}
		ok := r.StartOffset == 3 && r.StateEpoch == 1 && len(r.StateBatches) == len(want)
		for i := 0; ok && i < len(want); i++ {
			b := r.StateBatches[i]
			ok = batch{b.FirstOffset, b.LastOffset, b.DeliveryState, b.DeliveryCount} == want[i]
		}
		if !ok {
			t.Fatalf("state %+v, want start 3, state epoch 1, batches %v", r, want)
		}
	}
	wantState(s.read(ctx, id, 0, 5)) // moves the leader epoch to 5
	wantStateCode(t, "write with the leader epoch read moved past", s.write(ctx, id, 0, 1, 4, 3), kerr.FencedLeaderEpoch)
	sum := s.summary(ctx, id, 0)
	wantStateCode(t, "summary", sum.ErrorCode, nil)
	if sum.StartOffset != 3 || sum.StateEpoch != 1 || sum.LeaderEpoch != 5 || sum.DeliveryCompleteCount != 3 {
		t.Fatalf("summary %+v", sum)
	}

	wantStateCode(t, "no topic id", s.read(ctx, [16]byte{}, 0, -1).ErrorCode, kerr.InvalidRequest)
	wantStateCode(t, "negative partition", s.init(ctx, id, -1, 1, 0), kerr.InvalidRequest)
	// These keys live in other state partitions, which may still be loading.
	var code int16
	eventually(t, "an unknown topic's state partition loaded", func() bool {
		code = s.write(ctx, [16]byte{1}, 0, 1, 3, 3)
		return code != kerr.CoordinatorLoadInProgress.Code
	})
	wantStateCode(t, "unknown topic", code, kerr.UnknownTopicOrPartition)
	eventually(t, "an unknown partition's state partition loaded", func() bool {
		code = s.summary(ctx, id, 7).ErrorCode
		return code != kerr.CoordinatorLoadInProgress.Code
	})
	wantStateCode(t, "unknown partition", code, kerr.UnknownTopicOrPartition)
	wantStateCode(t, "empty group", stateClient{t: t, cl: s.cl}.delete(ctx, id, 0), kerr.InvalidRequest)

	tb.restart()
	ctx = testCtx(t)
	s.cl = tb.client()
	eventually(t, "the state partition loaded again", func() bool {
		r = s.read(ctx, id, 0, -1)
		return r.ErrorCode != kerr.CoordinatorLoadInProgress.Code && r.ErrorCode != kerr.NotCoordinator.Code
	})
	wantState(r)

	wantStateCode(t, "delete", s.delete(ctx, id, 0), nil)
	if r := s.read(ctx, id, 0, -1); r.ErrorCode != 0 || r.StartOffset != -1 || len(r.StateBatches) != 0 {
		t.Fatalf("state after delete %+v", r)
	}
	wantStateCode(t, "delete a missing state", s.delete(ctx, id, 0), nil)
}

// A share partition led here starts from the state InitializeShareGroupState and
// WriteShareGroupState left: the share coordinator APIs and the local share partitions use
// one state.
func TestSharePartitionStartsFromCoordinatorState(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Share.AutoOffsetReset = "earliest" })
	ctx := testCtx(t)
	id := shareTopic(t, tb, "scl", 10)
	s := stateClient{t: t, cl: tb.client(), group: "lg"}
	s.findCoordinator(ctx, tb, id)
	eventually(t, "the state partition loaded", func() bool {
		c := s.init(ctx, id, 0, 1, 4)
		return c != kerr.CoordinatorLoadInProgress.Code && c != kerr.NotCoordinator.Code
	})
	wantStateCode(t, "write", s.write(ctx, id, 0, 1, -1, -1, batch{4, 5, 2, 1}, batch{6, 6, 0, 3}), nil)
	m := joinShare(ctx, t, tb, "lg", "m-1", "scl", id)
	var got []kmsg.ShareFetchResponseTopicPartitionAcquiredRecord
	eventually(t, "records acquired", func() bool {
		m.session = 0
		got = acquired(t, m.fetch(ctx, 0, 100, 200*time.Millisecond))
		return len(got) > 0
	})
	if count(got) != 4 || got[0].FirstOffset != 6 || got[0].DeliveryCount != 4 {
		t.Fatalf("acquired %+v, want 6-9 with offset 6 delivered a fourth time", got)
	}
}
