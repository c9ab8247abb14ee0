package cluster

import (
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
)

// newJoinTestNode is a node started without a voter set, over dir: with joinVia empty it
// bootstraps a one-voter quorum on its controller listener (a cluster that can grow), else it
// joins the cluster of the brokers joinVia names.
func newJoinTestNode(t *testing.T, id int32, dir string, joinVia ...string) *testNode {
	t.Helper()
	tn := &testNode{id: id, addr: freeAddr(t), dir: dir}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	bc := broker.DefaultConfig()
	host, port, _ := net.SplitHostPort(tn.addr)
	p, _ := strconv.Atoi(port)
	bc.NodeID, bc.DataDir, bc.AdvertisedHost, bc.AdvertisedPort = id, tn.dir, host, int32(p)
	bc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("node", id)
	tn.cfg = Config{Broker: bc, ControllerListen: freeAddr(t), JoinVia: joinVia}
	tn.start(t)
	return tn
}

// quorumOf asks the cluster (kgo sends DescribeQuorum to the controller) to describe the
// metadata quorum: voter ids with their directory ids, and observer ids.
func quorumOf(ctx context.Context, cl *kgo.Client) (voters map[int32][16]byte, observers []int32, err error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, nil, err
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, nil, err
	}
	voters = map[int32][16]byte{}
	for _, v := range p.CurrentVoters {
		voters[v.ReplicaID] = v.ReplicaDirectoryID
	}
	for _, o := range p.Observers {
		observers = append(observers, o.ReplicaID)
	}
	return voters, observers, nil
}

// addVoter sends AddRaftVoter for tn to the broker via.
func addVoter(ctx context.Context, via kmsg.Requestor, tn *testNode) error {
	req := kmsg.NewPtrAddRaftVoterRequest()
	req.TimeoutMillis, req.VoterID = 3000, tn.id
	req.VoterDirectoryID = tn.node.Broker().Engine().Dirs()[0].ID
	host, port, _ := splitHostPort(tn.cfg.ControllerListen)
	l := kmsg.NewAddRaftVoterRequestListener()
	l.Name, l.Host, l.Port = "CONTROLLER", host, port
	req.Listeners = append(req.Listeners, l)
	resp, err := req.RequestWith(ctx, via)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// removeVoter sends RemoveRaftVoter for voter id (directory dir) to the broker via.
func removeVoter(ctx context.Context, via kmsg.Requestor, id int32, dir [16]byte) error {
	req := kmsg.NewPtrRemoveRaftVoterRequest()
	req.VoterID, req.VoterDirectoryID = id, dir
	resp, err := req.RequestWith(ctx, via)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// clientOf is a client of one node only (requests go to it, not to a controller it picks).
func clientOf(t *testing.T, tn *testNode) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(tn.addr), kgo.RetryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestGrowAndShrinkQuorum grows a one-node cluster to three controllers and back (KIP-853):
// node 1 starts alone and takes a topic and records; nodes 2 and 3 join as observers and
// replicate the metadata; AddRaftVoter (sent to a follower, which hands it to the leader,
// and to the leader) makes them voters with their directory ids; node 1 is killed without a
// controlled shutdown and the other two elect a leader that creates topics; RemoveRaftVoter
// takes node 1 out, and the two-voter quorum survives a restart of node 3.
func TestGrowAndShrinkQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	var all []*testNode
	// Registered after the TempDirs, so the nodes stop before their directories go; together,
	// as the last one alone would wait out its controlled shutdown without a quorum.
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, tn := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tn.stop()
			}()
		}
		wg.Wait()
	})
	n1 := newJoinTestNode(t, 1, dirs[0])
	all = append(all, n1)
	nodes := []*testNode{n1}
	select {
	case <-n1.node.Ready():
	case <-ctx.Done():
		t.Fatal("node 1 never became ready")
	}
	c1 := clientOf(t, n1)
	if _, err := kadm.NewClient(c1).CreateTopic(ctx, 1, 1, nil, "before"); err != nil {
		t.Fatalf("create topic on the single node: %v", err)
	}
	if err := c1.ProduceSync(ctx, &kgo.Record{Topic: "before", Value: []byte("one node")}).FirstErr(); err != nil {
		t.Fatalf("produce on the single node: %v", err)
	}

	n2 := newJoinTestNode(t, 2, dirs[1], n1.addr)
	n3 := newJoinTestNode(t, 3, dirs[2], n1.addr)
	all = append(all, n2, n3)
	nodes = append(nodes, n2, n3)
	waitFor(t, "nodes 2 and 3 to observe the quorum and replicate the metadata", 30*time.Second, func() bool {
		voters, observers, err := quorumOf(ctx, c1)
		_, has2 := n2.node.Topic("before")
		_, has3 := n3.node.Topic("before")
		return err == nil && len(voters) == 1 && slices.Contains(observers, 2) && slices.Contains(observers, 3) && has2 && has3
	})
	waitLive(t, nodes, 3) // the joined brokers registered and unfenced: clients find them
	c2, c3 := clientOf(t, n2), clientOf(t, n3)

	if err := addVoter(ctx, c2.Broker(2), n2); err != nil { // through an observer: forwarded to the leader
		t.Fatalf("AddRaftVoter 2 via node 2: %v", err)
	}
	if err := addVoter(ctx, c1.Broker(1), n3); err != nil {
		t.Fatalf("AddRaftVoter 3 via node 1: %v", err)
	}
	if err := addVoter(ctx, c3.Broker(3), n3); !errorIs(err, kerr.DuplicateVoter) {
		t.Fatalf("AddRaftVoter of a voter: %v, want DUPLICATE_VOTER", err)
	}
	voters, observers, err := quorumOf(ctx, c3)
	if err != nil {
		t.Fatalf("DescribeQuorum via node 3: %v", err)
	}
	if len(voters) != 3 || len(observers) != 0 {
		t.Fatalf("after two AddRaftVoter: voters %v observers %v, want voters 1, 2, 3 and no observer", voters, observers)
	}
	for _, tn := range []*testNode{n2, n3} {
		if want := tn.node.Broker().Engine().Dirs()[0].ID; voters[tn.id] != [16]byte(want) {
			t.Errorf("voter %d: directory id %x, want %x", tn.id, voters[tn.id], want)
		}
	}

	n1.kill()
	nodes = nodes[1:]
	waitFor(t, "nodes 2 and 3 to elect a controller", 30*time.Second, func() bool {
		return controllerNode(nodes) != nil
	})
	if _, err := kadm.NewClient(c2).CreateTopic(ctx, 2, 2, nil, "after"); err != nil {
		t.Fatalf("create a topic after node 1 died: %v", err)
	}
	waitFor(t, "topic after on node 3", 10*time.Second, func() bool { _, ok := n3.node.Topic("after"); return ok })

	if err := removeVoter(ctx, c3.Broker(3), 2, [16]byte{1}); !errorIs(err, kerr.VoterNotFound) {
		t.Fatalf("RemoveRaftVoter 2 with a wrong directory id: %v, want VOTER_NOT_FOUND", err)
	}
	if err := removeVoter(ctx, c3.Broker(3), 1, [16]byte{}); err != nil {
		t.Fatalf("RemoveRaftVoter 1: %v", err)
	}
	if err := removeVoter(ctx, c2.Broker(2), 1, [16]byte{}); !errorIs(err, kerr.VoterNotFound) {
		t.Fatalf("RemoveRaftVoter of a removed voter: %v, want VOTER_NOT_FOUND", err)
	}
	if voters, _, err = quorumOf(ctx, c2); err != nil || len(voters) != 2 {
		t.Fatalf("after RemoveRaftVoter 1: voters %v (%v), want 2 and 3", voters, err)
	}

	// The voter set is in the Raft log: a restarted voter comes back into the same quorum.
	n3.stop()
	n3.start(t)
	waitFor(t, "the quorum of nodes 2 and 3 after node 3 restarted", 30*time.Second, func() bool {
		voters, _, err := quorumOf(ctx, c2)
		_, ok := n3.node.Topic("after")
		return err == nil && len(voters) == 2 && voters[2] != [16]byte{} && voters[3] != [16]byte{} && ok && controllerNode(nodes) != nil
	})
	// Node 3's new incarnation registers at once: its controlled shutdown fenced the old one.
	waitFor(t, "brokers 2 and 3 eligible again", 20*time.Second, func() bool {
		for _, tn := range nodes {
			st := tn.node.view.Load().st
			for _, id := range []int32{2, 3} {
				if b, ok := st.Brokers[id]; !ok || b.Fenced || b.ShuttingDown {
					return false
				}
			}
		}
		return true
	})
	if _, err := kadm.NewClient(c3).CreateTopic(ctx, 1, 2, nil, "restarted"); err != nil {
		t.Fatalf("create a topic after node 3 restarted: %v", err)
	}
}

// errorIs reports whether err is the Kafka error want.
func errorIs(err error, want *kerr.Error) bool {
	ke, ok := err.(*kerr.Error)
	return ok && ke.Code == want.Code
}

// TestStoppedObserverLeavesQuorum: an observer that stops leaves the metadata quorum, as a
// Kafka leader forgets an observer that stopped fetching, and comes back when it restarts.
// Node 1 starts alone, node 2 joins and becomes a voter, node 3 joins as an observer; node 3
// is killed (no controlled shutdown): the controller fences its broker and the leader takes
// it out of the Raft configuration (DescribeQuorum lists the configuration's nonvoters as
// observers). Restarted without JoinVia, it announces itself to the brokers its metadata
// lists, is added again and its broker serves.
func TestStoppedObserverLeavesQuorum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	var all []*testNode
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, tn := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tn.stop()
			}()
		}
		wg.Wait()
	})
	n1 := newJoinTestNode(t, 1, dirs[0])
	all = append(all, n1)
	select {
	case <-n1.node.Ready():
	case <-ctx.Done():
		t.Fatal("node 1 never became ready")
	}
	n2 := newJoinTestNode(t, 2, dirs[1], n1.addr)
	n3 := newJoinTestNode(t, 3, dirs[2], n1.addr)
	all = append(all, n2, n3)
	nodes := []*testNode{n1, n2, n3}
	c1 := clientOf(t, n1)
	waitFor(t, "nodes 2 and 3 to observe the quorum", 30*time.Second, func() bool {
		_, observers, err := quorumOf(ctx, c1)
		return err == nil && slices.Contains(observers, 2) && slices.Contains(observers, 3)
	})
	waitLive(t, nodes, 3)
	if err := addVoter(ctx, c1.Broker(1), n2); err != nil {
		t.Fatalf("AddRaftVoter 2: %v", err)
	}

	n3.kill()
	waitFor(t, "the killed observer 3 to leave the quorum", 30*time.Second, func() bool {
		voters, observers, err := quorumOf(ctx, c1)
		return err == nil && len(voters) == 2 && len(observers) == 0
	})
	if voter, observer := n1.node.q.Member(); !voter || observer {
		t.Fatalf("node 1 voter %v observer %v after the expiry, want a voter", voter, observer)
	}

	n3.cfg.JoinVia = nil // the brokers its metadata lists are where it announces itself
	n3.start(t)
	waitFor(t, "the restarted observer 3 back in the quorum, serving", 30*time.Second, func() bool {
		voters, observers, err := quorumOf(ctx, c1)
		if err != nil || len(voters) != 2 || !slices.Equal(observers, []int32{3}) {
			return false
		}
		b, ok := n1.node.view.Load().st.Brokers[3]
		return ok && !b.Fenced
	})
	if _, err := kadm.NewClient(clientOf(t, n3)).CreateTopic(ctx, 1, 3, nil, "three"); err != nil {
		t.Fatalf("create a topic on all three brokers after observer 3 came back: %v", err)
	}
}
