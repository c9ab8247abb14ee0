//go:build compat

package compat

// A share partition whose __share_group_state partition another broker leads, on a
// three-node cluster (internal/testcluster: real processes, real sockets): a member joins
// with ShareGroupHeartbeat and reads with raw ShareFetch and ShareAcknowledge requests (kmsg,
// sent to the partition's leader, as KafkaShareConsumer does), while the state partition's
// leader and then the share partition's leader are killed with SIGKILL. Records whose
// ShareAcknowledge was answered without error are never delivered again; released ones are;
// no record's delivery count goes down; every record not acknowledged is delivered again
// by the new partition leader.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testcluster"
)

// Kafka's acknowledge types.
const (
	ackAccept  = 1
	ackRelease = 2
)

// crossShare is the member's view of one share partition across the cluster.
type crossShare struct {
	s      *S
	c      *testcluster.Cluster
	cl     *kgo.Client
	topic  string
	id     [16]byte
	group  string
	member string

	node  int32 // the broker the share session is open on
	epoch int32 // the session's next epoch

	acked       map[int64]bool  // offsets whose acceptance was answered without error
	released    map[int64]bool  // offsets released (answered without error)
	deliveries  map[int64]int16 // the highest delivery count seen per offset
	redelivered map[int64]bool  // released offsets delivered again after their release
}

// request sends req to broker node, retrying while the client does not know it yet.
func (x *crossShare) request(node int32, req kmsg.Request) (kmsg.Response, error) {
	var err error
	for x.s.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(x.s.ctx, 45*time.Second)
		var resp kmsg.Response
		resp, err = x.cl.Broker(int(node)).Request(ctx, req)
		cancel()
		if err == nil {
			return resp, nil
		}
		x.cl.ForceMetadataRefresh()
		time.Sleep(200 * time.Millisecond)
	}
	return nil, err
}

// leader waits until the metadata names a live leader of the topic's partition 0 other than
// not (-1: any).
func (x *crossShare) leader(topic string, not int32) int32 {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && x.s.ctx.Err() == nil {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(x.s.ctx, 10*time.Second)
		kr, err := req.RequestWith(ctx, x.cl)
		cancel()
		if err == nil && len(kr.Topics) == 1 && len(kr.Topics[0].Partitions) > 0 {
			if l := kr.Topics[0].Partitions[0].Leader; l >= 0 && l != not {
				x.id = kr.Topics[0].TopicID
				return l
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	x.s.Fatalf("no leader of %s other than %d", topic, not)
	return -1
}

// stateKey is Kafka's share coordinator key of group g's partition 0.
func (x *crossShare) stateKey(g string) string {
	return g + ":" + base64.RawURLEncoding.EncodeToString(x.id[:]) + ":0"
}

// coordinator asks FindCoordinator (key type kt) for key's broker, retrying while the
// coordinator topic is being created or loaded.
func (x *crossShare) coordinator(kt int8, key string) int32 {
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && x.s.ctx.Err() == nil {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKeys = kt, []string{key}
		ctx, cancel := context.WithTimeout(x.s.ctx, 10*time.Second)
		kr, err := req.RequestWith(ctx, x.cl)
		cancel()
		if err == nil && len(kr.Coordinators) == 1 && kr.Coordinators[0].ErrorCode == 0 {
			return kr.Coordinators[0].NodeID
		}
		time.Sleep(200 * time.Millisecond)
	}
	x.s.Fatalf("FindCoordinator type %d %q: no coordinator", kt, key)
	return -1
}

// fetch sends one ShareFetch to x.node (epoch 0 opens the session) and checks what it
// acquires: nothing acknowledged, no delivery count below one seen before.
func (x *crossShare) fetch() []int64 {
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID = kmsg.StringPtr(x.group), kmsg.StringPtr(x.member)
	req.ShareSessionEpoch, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = x.epoch, 1000, 1, 1<<20, 500, 500
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = x.id
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kr, err := x.request(x.node, req)
	if err != nil {
		x.s.Fatalf("ShareFetch to %d: %v", x.node, err)
	}
	resp := kr.(*kmsg.ShareFetchResponse)
	if resp.ErrorCode != 0 {
		x.s.Fatalf("ShareFetch to %d (epoch %d): %v %v", x.node, x.epoch, kerr.ErrorForCode(resp.ErrorCode), resp.ErrorMessage)
	}
	x.epoch++
	var got []int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 { // a new leader not serving yet: look again shortly
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for _, a := range p.AcquiredRecords {
				for o := a.FirstOffset; o <= a.LastOffset; o++ {
					if x.acked[o] {
						x.s.Errorf("offset %d delivered again (count %d) after its acknowledgement was answered", o, a.DeliveryCount)
					}
					if a.DeliveryCount < x.deliveries[o] {
						x.s.Errorf("offset %d delivered with count %d after count %d", o, a.DeliveryCount, x.deliveries[o])
					}
					if x.released[o] {
						x.redelivered[o] = true
					}
					x.deliveries[o] = max(x.deliveries[o], a.DeliveryCount)
					got = append(got, o)
				}
			}
		}
	}
	return got
}

// fetchUntil fetches until every offset of want was acquired (bounded).
func (x *crossShare) fetchUntil(want []int64) {
	missing := map[int64]bool{}
	for _, o := range want {
		missing[o] = true
	}
	deadline := time.Now().Add(90 * time.Second)
	for len(missing) > 0 && time.Now().Before(deadline) && x.s.ctx.Err() == nil {
		for _, o := range x.fetch() {
			delete(missing, o)
		}
	}
	if len(missing) > 0 {
		x.s.Fatalf("offsets never delivered by broker %d: %v", x.node, missing)
	}
}

// acknowledge sends one ShareAcknowledge of offsets with type typ; it reports whether the
// broker answered without error (then the acknowledgement is durable).
func (x *crossShare) acknowledge(typ int8, offsets []int64) bool {
	return x.ackCode(typ, offsets) == 0
}

// ackCode sends one ShareAcknowledge of offsets with type typ and returns its error code
// (the request's, else the partition's); offsets answered without error are counted.
func (x *crossShare) ackCode(typ int8, offsets []int64) int16 {
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(x.group), kmsg.StringPtr(x.member), x.epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = x.id
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	for _, o := range offsets {
		ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
		ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = o, o, []int8{typ}
		rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, ab)
	}
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kr, err := x.request(x.node, req)
	if err != nil {
		x.s.Fatalf("ShareAcknowledge to %d: %v", x.node, err)
	}
	x.epoch++
	resp := kr.(*kmsg.ShareAcknowledgeResponse)
	code := resp.ErrorCode
	if code == 0 && (len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1) {
		x.s.Fatalf("ShareAcknowledge answer without the partition: %+v", resp)
	}
	if code == 0 {
		code = resp.Topics[0].Partitions[0].ErrorCode
	}
	if code != 0 {
		x.s.Logf("ShareAcknowledge (type %d) of %v answered %v: not counted", typ, offsets, kerr.ErrorForCode(code))
		return code
	}
	for _, o := range offsets {
		if typ == ackAccept {
			x.acked[o] = true
		} else {
			x.released[o] = true
		}
	}
	return 0
}

func span(first, last int64) []int64 {
	var out []int64
	for o := first; o <= last; o++ {
		out = append(out, o)
	}
	return out
}

// crossShareCluster starts three logd processes (share partitions start at the log start),
// creates a one-partition topic (replication factor 3) holding n records, picks a group
// whose share partition's leader, __share_group_state partition's leader and coordinator
// are three different brokers (sameState: the share partition's leader also leads its state
// partition, the coordinator is another broker), and joins it. It returns the member's
// view, its session to be opened on the share partition's leader, the state partition's
// leader and the cleanup.
func crossShareCluster(s *S, name string, n int, sameState bool) (x *crossShare, stateLead int32, cleanup func()) {
	dir, err := os.MkdirTemp(tmpDir, name+"-")
	if err != nil {
		s.Fatalf("%v", err)
	}
	props := filepath.Join(dir, "share.properties")
	if err := os.WriteFile(props, []byte("logd.share.auto.offset.reset=earliest\n"), 0o644); err != nil {
		s.Fatalf("%v", err)
	}
	logf, err := os.Create(filepath.Join(repoRoot, "compat", ".logs", name+".log"))
	if err != nil {
		s.Fatalf("%v", err)
	}
	c, err := testcluster.Start(s.ctx, testcluster.Config{Binary: logdBin, Nodes: 3, Dir: dir, Log: logf, ExtraArgs: []string{"--config", props}})
	if err != nil {
		logf.Close()
		s.Fatalf("three-node cluster: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RequestRetries(20), kgo.RetryTimeout(90*time.Second))
	if err != nil {
		s.Fatalf("%v", err)
	}
	cleanup = func() { cl.Close(); c.Close(); logf.Close() }
	raw := make([]byte, 16)
	rand.Read(raw)
	x = &crossShare{s: s, c: c, cl: cl, topic: topicName("franz-go", name), member: base64.RawURLEncoding.EncodeToString(raw),
		acked: map[int64]bool{}, released: map[int64]bool{}, deliveries: map[int64]int16{}, redelivered: map[int64]bool{}}

	if _, err := kadm.NewClient(cl).CreateTopic(s.ctx, 1, 3, nil, x.topic); err != nil {
		s.Fatalf("create %s: %v", x.topic, err)
	}
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: x.topic, Value: []byte("v" + strconv.Itoa(i))}).FirstErr(); err != nil {
			s.Fatalf("produce: %v", err)
		}
	}
	lead := x.leader(x.topic, -1)
	stateLead = -1
	for i := 0; i < 100 && stateLead < 0; i++ {
		g := fmt.Sprintf("%s-g%d", x.topic, i)
		if node, coord := x.coordinator(2, x.stateKey(g)), x.coordinator(0, g); (node != lead) != sameState && coord != lead && coord != node {
			x.group, stateLead = g, node
		}
	}
	if stateLead < 0 {
		s.Fatalf("no group has its coordinator apart from broker %d (the share partition's leader) and its state partition's leader (on %d too: %v)", lead, lead, sameState)
	}
	s.Logf("share partition led by %d, its state partition by %d, the group coordinated by %d", lead, stateLead, x.coordinator(0, x.group))

	// Join (the group coordinator assigns the partition), then read it from its leader.
	hb := kmsg.NewPtrShareGroupHeartbeatRequest()
	hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = x.group, x.member, 0, []string{x.topic}
	for deadline := time.Now().Add(60 * time.Second); ; {
		kr, err := x.request(x.coordinator(0, x.group), hb)
		if err == nil && kr.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			s.Fatalf("ShareGroupHeartbeat: %v %+v", err, kr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	x.node, x.epoch = lead, 0
	return x, stateLead, cleanup
}

func testShareStateCrossBroker(s *S) {
	const n = 30
	x, stateLead, cleanup := crossShareCluster(s, "share-cross", n, false)
	defer cleanup()
	c, lead := x.c, x.node
	x.fetchUntil(span(0, n-1))
	if !x.acknowledge(ackAccept, span(0, 9)) || !x.acknowledge(ackRelease, span(10, 14)) {
		s.Fatalf("acknowledgements refused before any failure")
	}

	// SIGKILL the state partition's leader: the share partition's next writes go to the new
	// one; an acknowledgement is answered once its state is durable there.
	if err := c.Node(stateLead).Kill(); err != nil {
		s.Fatalf("kill %d: %v", stateLead, err)
	}
	x.fetchUntil(span(10, 14)) // released: delivered again
	x.acknowledge(ackAccept, span(10, 12))
	if err := c.Node(stateLead).Restart(s.ctx); err != nil {
		s.Fatalf("restart %d: %v", stateLead, err)
	}

	// SIGKILL the share partition's leader: the new leader reads the state from the state
	// partition's leader and delivers exactly what was not acknowledged.
	if err := c.Node(lead).Kill(); err != nil {
		s.Fatalf("kill %d: %v", lead, err)
	}
	x.node, x.epoch = x.leader(x.topic, lead), 0
	var rest []int64
	for o := int64(0); o < n; o++ {
		if !x.acked[o] {
			rest = append(rest, o)
		}
	}
	x.fetchUntil(rest)
	if !x.acknowledge(ackAccept, rest) {
		s.Fatalf("the new leader %d refused the acknowledgement of %v", x.node, rest)
	}
	if got := x.fetch(); len(got) > 0 {
		s.Errorf("delivered after every record was acknowledged: %v", got)
	}
	for o := int64(10); o <= 14; o++ {
		if !x.redelivered[o] {
			s.Errorf("released offset %d was never delivered again", o)
		}
	}
	if len(x.acked) != n {
		s.Errorf("%d of %d offsets acknowledged", len(x.acked), n)
	}
}

// TestShareStateCrossBroker: go test -tags compat -run TestShareStateCrossBroker ./compat.
func TestShareStateCrossBroker(t *testing.T) {
	scenario(t, "franz-go", "share-state-cross-broker-kill9", 5*time.Minute, testShareStateCrossBroker)
}

// stateSummary asks the state partition's leader for the share partition's state epoch and
// start offset (ReadShareGroupStateSummary, as a group coordinator does).
func (x *crossShare) stateSummary(node int32) (epoch int32, start int64) {
	req := kmsg.NewPtrReadShareGroupStateSummaryRequest()
	req.GroupID = x.group
	rt := kmsg.NewReadShareGroupStateSummaryRequestTopic()
	rt.TopicID = x.id
	rt.Partitions = append(rt.Partitions, kmsg.NewReadShareGroupStateSummaryRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	kr, err := x.request(node, req)
	if err != nil {
		x.s.Fatalf("ReadShareGroupStateSummary to %d: %v", node, err)
	}
	resp := kr.(*kmsg.ReadShareGroupStateSummaryResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		x.s.Fatalf("ReadShareGroupStateSummary to %d: %+v", node, resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.StateEpoch, p.StartOffset
}

// describedStart waits until DescribeShareGroupOffsets v1, sent to the group's coordinator
// (which neither leads the share partition nor holds its state), describes partition 0
// with start offset start and lag lag.
func (x *crossShare) describedStart(start, lag int64) {
	coord := x.coordinator(0, x.group)
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && x.s.ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
		rg := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
		rg.GroupID = x.group // Topics null: every share partition of the group
		req.Groups = append(req.Groups, rg)
		kr, err := x.request(coord, req)
		if err != nil {
			x.s.Fatalf("DescribeShareGroupOffsets to %d: %v", coord, err)
		}
		resp := kr.(*kmsg.DescribeShareGroupOffsetsResponse)
		last = fmt.Sprintf("%+v", resp.Groups)
		if len(resp.Groups) == 1 && len(resp.Groups[0].Topics) == 1 && len(resp.Groups[0].Topics[0].Partitions) == 1 {
			p := resp.Groups[0].Topics[0].Partitions[0]
			if p.ErrorCode == 0 && p.StartOffset == start && p.Lag == lag {
				return
			}
		}
	}
	x.s.Errorf("DescribeShareGroupOffsets to the group coordinator %d never showed start offset %d lag %d; last: %s", coord, start, lag, last)
}

// testShareStateFenced: another writer initializes the share partition's state with a newer
// state epoch and start offset 20 (as a group coordinator does for AlterShareGroupOffsets);
// the share partition leader's next write is refused with FENCED_STATE_EPOCH, and the
// acknowledgement it carried is answered NOT_LEADER_OR_FOLLOWER, as Kafka 4.3's
// SharePartition maps a fenced state write (fetchPersisterError). The share partition then
// reads the state again and goes on from offset 20: records 20-29 are delivered again,
// nothing below 20, and their acknowledgement is durable. DescribeShareGroupOffsets to the
// group coordinator answers from the state partition's leader throughout, and
// kafka-share-groups --describe --offsets shows the same. sameState: the share partition's
// leader holds its state too (its writes are local appends, fenced all the same).
func testShareStateFenced(s *S, name string, sameState bool) {
	const n = 30
	x, stateLead, cleanup := crossShareCluster(s, name, n, sameState)
	defer cleanup()
	x.fetchUntil(span(0, n-1))
	if !x.acknowledge(ackAccept, span(0, 9)) {
		s.Fatalf("acknowledgement refused before the fencing")
	}
	x.describedStart(10, 20)
	epoch, start := x.stateSummary(stateLead)
	if start != 10 {
		s.Fatalf("state start offset %d after acknowledging 0-9, want 10", start)
	}

	init := kmsg.NewPtrInitializeShareGroupStateRequest()
	init.GroupID = x.group
	it := kmsg.NewInitializeShareGroupStateRequestTopic()
	it.TopicID = x.id
	ip := kmsg.NewInitializeShareGroupStateRequestTopicPartition()
	ip.StateEpoch, ip.StartOffset = epoch+1, 20
	it.Partitions = append(it.Partitions, ip)
	init.Topics = append(init.Topics, it)
	kr, err := x.request(stateLead, init)
	if err != nil {
		s.Fatalf("InitializeShareGroupState: %v", err)
	}
	if code := kr.(*kmsg.InitializeShareGroupStateResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		s.Fatalf("InitializeShareGroupState: %v", kerr.ErrorForCode(code))
	}

	if code := x.ackCode(ackAccept, span(10, 14)); code != kerr.NotLeaderForPartition.Code {
		s.Fatalf("an acknowledgement written with the old state epoch was answered %v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(code))
	}
	// The share partition reads its state again: 20-29 come again, nothing below 20.
	missing := map[int64]bool{}
	for _, o := range span(20, n-1) {
		missing[o] = true
	}
	for deadline := time.Now().Add(90 * time.Second); len(missing) > 0 && time.Now().Before(deadline) && s.ctx.Err() == nil; {
		for _, o := range x.fetch() {
			if o < 20 {
				s.Errorf("offset %d delivered after the state was initialized at 20", o)
			}
			delete(missing, o)
		}
	}
	if len(missing) > 0 {
		s.Fatalf("offsets never delivered after the fencing: %v", missing)
	}
	if !x.acknowledge(ackAccept, span(20, n-1)) {
		s.Fatalf("the acknowledgement after the state was read again was refused")
	}
	if e, st := x.stateSummary(stateLead); e != epoch+1 || st != n {
		s.Errorf("state after the fencing: epoch %d start %d, want %d and %d", e, st, epoch+1, n)
	}
	x.describedStart(n, 0)
	out := kafkaToolAt(s, x.c.Bootstrap()[0], "kafka-share-groups", "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
		"--describe", "--offsets", "--group", x.group)
	checkShareDescribe(s, out, x.group, x.topic, strconv.Itoa(n), "0")
}

// TestShareStateFenced: go test -tags compat -run TestShareStateFenced ./compat.
func TestShareStateFenced(t *testing.T) {
	scenario(t, "franz-go", "share-state-fenced-reread", 5*time.Minute, func(s *S) { testShareStateFenced(s, "share-fenced", false) })
}

// TestShareStateFencedLocal: go test -tags compat -run TestShareStateFencedLocal ./compat.
func TestShareStateFencedLocal(t *testing.T) {
	scenario(t, "franz-go", "share-state-fenced-local-reread", 5*time.Minute, func(s *S) { testShareStateFenced(s, "share-fenced-local", true) })
}
