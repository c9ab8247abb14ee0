package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/net/server"
)

// eventually polls cond for up to 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// clients are a test's clients, all closed before the broker restarts: a client left open
// across testBroker.restart reconnects at once, racing the harness's setting of the
// advertised address.
type clients struct {
	t    *testing.T
	tb   *testBroker
	open []*kgo.Client
}

func newClients(t *testing.T, tb *testBroker) *clients {
	c := &clients{t: t, tb: tb}
	t.Cleanup(c.closeAll)
	return c
}

func (c *clients) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.tb.addr)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.open = append(c.open, cl)
	return cl
}

func (c *clients) admin() *kadm.Client { return kadm.NewClient(c.client()) }

func (c *clients) closeAll() {
	for _, cl := range c.open {
		cl.Close()
	}
	c.open = nil
}

// restart closes the clients and restarts the broker.
func (c *clients) restart() {
	c.closeAll()
	c.tb.restart()
}

// produceN writes n uncompressed records of size bytes each to a topic partition, one batch
// per record.
func produceN(t *testing.T, c *clients, topic string, partition int32, n, size int) {
	t.Helper()
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	val := []byte(strings.Repeat("x", size))
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: partition, Value: val}
		if err := cl.ProduceSync(testCtx(t), r).FirstErr(); err != nil {
			t.Fatalf("produce to %s-%d: %v", topic, partition, err)
		}
	}
}

func wantCode(t *testing.T, what string, got error, want *kerr.Error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("%s: got error %v, want %s", what, got, want.Message)
	}
}

// createTopicsRaw sends CreateTopics at a version (kgo picks the highest both sides know
// unless its maximum is pinned).
func createTopicsRaw(t *testing.T, c *clients, version int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
	t.Helper()
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(int16(kmsg.CreateTopics), version)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly, req.Topics, req.TimeoutMillis = validateOnly, topics, 5000
	resp, err := req.RequestWith(testCtx(t), c.client(kgo.MaxVersions(vs)))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func newTopic(name string, partitions int32, rf int16) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	return rt
}

func TestCreateTopics(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.NumPartitions = 2 })
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)

	resp, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kmsg.StringPtr("60000")}, "orders")
	if err != nil {
		t.Fatal(err)
	}
	r := resp["orders"]
	if r.Err != nil || r.ID == (kadm.TopicID{}) || r.NumPartitions != 3 || r.ReplicationFactor != 1 {
		t.Fatalf("create: %+v", r)
	}
	if c := r.Configs["retention.ms"]; c.Value == nil || *c.Value != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms in the response: %+v", c)
	}
	if c := r.Configs["segment.bytes"]; c.Value == nil || *c.Value != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("segment.bytes in the response: %+v", c)
	}

	// -1/-1 takes the broker defaults; every version from 2 to 7 works.
	for v := int16(2); v <= 7; v++ {
		name := "defaults-v" + string(rune('0'+v))
		cr := createTopicsRaw(t, cs, v, false, newTopic(name, -1, -1))
		st := cr.Topics[0]
		if st.ErrorCode != 0 {
			t.Fatalf("v%d: %+v", v, st)
		}
		if v >= 5 && (st.NumPartitions != 2 || st.ReplicationFactor != 1 || len(st.Configs) != len(topicConfigs)) {
			t.Fatalf("v%d: %+v", v, st)
		}
		if (v >= 7) != (st.TopicID != [16]byte{}) {
			t.Fatalf("v%d topic id %v", v, st.TopicID)
		}
	}

	// Validate-only creates nothing.
	vr, err := adm.ValidateCreateTopics(ctx, 1, 1, nil, "dry")
	if err != nil || vr["dry"].Err != nil {
		t.Fatalf("validate only: %+v %v", vr, err)
	}
	vr, _ = adm.ValidateCreateTopics(ctx, 1, 1, map[string]*string{"nope": kmsg.StringPtr("1")}, "dry")
	wantCode(t, "validate-only bad config", vr["dry"].Err, kerr.InvalidConfig)

	for _, c := range []struct {
		name    string
		p       int32
		rf      int16
		configs map[string]*string
		want    *kerr.Error
		msg     string
	}{
		{name: "bad name", p: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: "..", p: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: strings.Repeat("a", 250), p: 1, rf: 1, want: kerr.InvalidTopicException},
		{name: "orders", p: 1, rf: 1, want: kerr.TopicAlreadyExists},
		{name: "zero", p: 0, rf: 1, want: kerr.InvalidPartitions},
		{name: "rf3", p: 1, rf: 3, want: kerr.InvalidReplicationFactor, msg: "invalid replication factor: 3, with 1 eligible brokers"},
		{name: "rf0", p: 1, rf: 0, want: kerr.InvalidReplicationFactor},
		{name: "unknown-config", p: 1, rf: 1, configs: map[string]*string{"no.such.config": kmsg.StringPtr("1")}, want: kerr.InvalidConfig, msg: `"no.such.config"`},
		{name: "bad-value", p: 1, rf: 1, configs: map[string]*string{"retention.ms": kmsg.StringPtr("soon")}, want: kerr.InvalidConfig, msg: "retention.ms"},
		{name: "compact", p: 1, rf: 1, configs: map[string]*string{"cleanup.policy": kmsg.StringPtr("compaction")}, want: kerr.InvalidConfig, msg: "cleanup.policy"},
		{name: "null-config", p: 1, rf: 1, configs: map[string]*string{"retention.ms": nil}, want: kerr.InvalidConfig, msg: "retention.ms"},
		{name: "tiny-segment", p: 1, rf: 1, configs: map[string]*string{"segment.bytes": kmsg.StringPtr("10")}, want: kerr.InvalidConfig, msg: "segment.bytes"},
	} {
		resp, err := adm.CreateTopics(ctx, c.p, c.rf, c.configs, c.name)
		if err != nil {
			t.Fatal(err)
		}
		r := resp[c.name]
		wantCode(t, c.name, r.Err, c.want)
		if !strings.Contains(r.ErrMessage, c.msg) {
			t.Fatalf("%s: message %q does not contain %q", c.name, r.ErrMessage, c.msg)
		}
	}

	// A topic named twice in one request is refused once, and not created.
	cr := createTopicsRaw(t, cs, 7, false, newTopic("twice", 1, 1), newTopic("once", 1, 1), newTopic("twice", 1, 1))
	if len(cr.Topics) != 2 || cr.Topics[0].Topic != "twice" || cr.Topics[0].ErrorCode != kerr.InvalidRequest.Code || cr.Topics[1].ErrorCode != 0 {
		t.Fatalf("duplicates: %+v", cr.Topics)
	}

	// More than 10,000 metadata records in one request (Kafka's limit per operation) fails
	// every topic of it with POLICY_VIOLATION, and creates nothing; an existing topic named in
	// it does not count. Validate-only requests are held to the same limit.
	for _, validate := range []bool{false, true} {
		cr = createTopicsRaw(t, cs, 7, validate, newTopic("big-a", 6000, 1), newTopic("big-b", 4000, 1), newTopic("orders", 5000, 1))
		if len(cr.Topics) != 3 {
			t.Fatalf("too large: %+v", cr.Topics)
		}
		for _, st := range cr.Topics {
			if st.ErrorCode != kerr.PolicyViolation.Code || st.ErrorMessage == nil || !strings.Contains(*st.ErrorMessage, "10002 metadata records") {
				t.Fatalf("too large (validate only %v): %s: code %d %v", validate, st.Topic, st.ErrorCode, st.ErrorMessage)
			}
		}
	}
	cr = createTopicsRaw(t, cs, 7, true, newTopic("big-a", 5998, 1), newTopic("big-b", 4000, 1), newTopic("orders", 5000, 1))
	if cr.Topics[0].ErrorCode != 0 || cr.Topics[1].ErrorCode != 0 || cr.Topics[2].ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("10,000 records exactly: %+v", cr.Topics)
	}

	// Names that collide in metrics ('.' vs '_') are refused, as Kafka does.
	resp, _ = adm.CreateTopics(ctx, 1, 1, nil, "a.b")
	if resp["a.b"].Err != nil {
		t.Fatal(resp["a.b"].Err)
	}
	resp, _ = adm.CreateTopics(ctx, 1, 1, nil, "a_b")
	wantCode(t, "collision", resp["a_b"].Err, kerr.InvalidTopicException)

	// Replica assignments: only [this node] per partition.
	good := newTopic("assigned", -1, -1)
	for p := int32(0); p < 2; p++ {
		good.ReplicaAssignment = append(good.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: p, Replicas: []int32{1}})
	}
	bad := newTopic("assigned-elsewhere", -1, -1)
	bad.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1, 2}}}
	both := newTopic("assigned-and-counted", 2, -1)
	both.ReplicaAssignment = good.ReplicaAssignment
	cr = createTopicsRaw(t, cs, 7, false, good, bad, both)
	if cr.Topics[0].ErrorCode != 0 || cr.Topics[0].NumPartitions != 2 ||
		cr.Topics[1].ErrorCode != kerr.InvalidReplicaAssignment.Code || cr.Topics[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("assignments: %+v", cr.Topics)
	}

	// Listed through Metadata; partitions' logs exist at once.
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := topics["orders"]; d.Err != nil || len(d.Partitions) != 3 || d.ID != r.ID {
		t.Fatalf("listed: %+v", d)
	}
	for _, n := range []string{"dry", "twice", "rf3", "compact", "a_b"} {
		if topics.Has(n) {
			t.Fatalf("%s exists", n)
		}
	}
	for p := 0; p < 3; p++ { // created in the background
		eventually(t, "orders partition directory", func() bool {
			_, err := os.Stat(filepath.Join(tb.dir, "orders-"+string(rune('0'+p))))
			return err == nil
		})
	}

	// State survives a restart.
	cs.restart()
	topics, err = cs.admin().ListTopics(testCtx(t))
	if err != nil || topics["orders"].ID != r.ID || len(topics["orders"].Partitions) != 3 {
		t.Fatalf("after restart: %+v %v", topics["orders"], err)
	}
	rc, err := cs.admin().DescribeTopicConfigs(testCtx(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := rc[0].Configs[indexConfig(rc[0].Configs, "retention.ms")].Value, 0; v == nil || *v != "60000" {
		t.Fatalf("retention.ms after restart: %v", v)
	}
}

// indexConfig finds a config by name in a kadm list, or fails the lookup with -1.
func indexConfig(cs []kadm.Config, name string) int {
	for i, c := range cs {
		if c.Key == name {
			return i
		}
	}
	return -1
}

func TestDeleteTopics(t *testing.T) {
	tb := startBroker(t, nil)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	created, _ := adm.CreateTopics(ctx, 2, 1, nil, "gone", "parked")
	oldID := created["gone"].ID
	produceN(t, cs, "gone", 0, 5, 100)
	produceN(t, cs, "gone", 1, 5, 100)

	dr, err := adm.DeleteTopics(ctx, "gone", "never-was")
	if err != nil {
		t.Fatal(err)
	}
	if dr["gone"].Err != nil {
		t.Fatal(dr["gone"].Err)
	}
	wantCode(t, "unknown topic", dr["never-was"].Err, kerr.UnknownTopicOrPartition)
	for _, p := range []string{"gone-0", "gone-1"} {
		if _, err := os.Stat(filepath.Join(tb.dir, p)); !os.IsNotExist(err) {
			t.Fatalf("%s still on disk: %v", p, err)
		}
	}
	if tb.b.Engine().Log(engine.TopicPartition{Topic: "gone", Partition: 0}) != nil {
		t.Fatal("log still open")
	}
	entries, _ := os.ReadDir(tb.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "gone-") {
			t.Fatalf("left behind: %s", e.Name())
		}
	}

	// Re-creating it gives a new id and an empty log.
	created, _ = adm.CreateTopics(ctx, 2, 1, nil, "gone")
	if created["gone"].Err != nil || created["gone"].ID == oldID {
		t.Fatalf("re-created: %+v", created["gone"])
	}
	ends, err := adm.ListEndOffsets(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("gone", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("end offset after re-create: %+v", o)
	}

	// By id (v6), and unknown ids; names and ids together are refused.
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version = 6
	req.Topics = []kmsg.DeleteTopicsRequestTopic{
		{TopicID: created["gone"].ID},
		{TopicID: [16]byte{1, 2, 3}},
		{Topic: kmsg.StringPtr("parked"), TopicID: [16]byte{9}},
	}
	resp, err := req.RequestWith(ctx, cs.client())
	if err != nil {
		t.Fatal(err)
	}
	if st := resp.Topics[0]; st.ErrorCode != 0 || st.Topic == nil || *st.Topic != "gone" {
		t.Fatalf("delete by id: %+v", st)
	}
	if resp.Topics[1].ErrorCode != kerr.UnknownTopicID.Code || resp.Topics[2].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("bad deletes: %+v", resp.Topics)
	}

	// Partitions not opened since a restart are deleted from disk as well.
	produceN(t, cs, "parked", 1, 3, 10)
	cs.restart()
	adm = cs.admin()
	dr, err = adm.DeleteTopics(testCtx(t), "parked")
	if err != nil || dr["parked"].Err != nil {
		t.Fatalf("delete after restart: %+v %v", dr, err)
	}
	for _, p := range []string{"parked-0", "parked-1"} {
		if _, err := os.Stat(filepath.Join(tb.dir, p)); !os.IsNotExist(err) {
			t.Fatalf("%s still on disk: %v", p, err)
		}
	}
	cs.restart()
	topics, err := cs.admin().ListTopics(testCtx(t))
	if err != nil || len(topics) != 0 {
		t.Fatalf("topics after restart: %v %v", topics.Names(), err)
	}
}

// TestDeleteTopicsDeletesCommittedOffsets: deleting a topic deletes every group's committed
// offsets of it (Kafka's onPartitionsDeleted), durably, and no other offsets. Kafka Streams'
// application reset deletes the repartition topic, the app creates it again, and offsets kept
// from the old one made the app skip the new one's records.
func TestDeleteTopicsDeletesCommittedOffsets(t *testing.T) {
	tb := startBroker(t, nil)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	for _, topic := range []string{"reborn", "kept"} {
		if r, err := adm.CreateTopics(ctx, 2, 1, nil, topic); err != nil || r[topic].Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, r[topic].Err)
		}
	}
	var commit kadm.Offsets
	for _, topic := range []string{"reborn", "kept"} {
		for p := int32(0); p < 2; p++ {
			commit.AddOffset(topic, p, 40+int64(p), -1)
		}
	}
	for _, g := range []string{"g1", "g2"} {
		if r, err := adm.CommitOffsets(ctx, g, commit); err != nil || r.Error() != nil {
			t.Fatalf("commit %s: %v %v", g, err, r.Error())
		}
	}
	if r, err := adm.DeleteTopics(ctx, "reborn"); err != nil || r["reborn"].Err != nil {
		t.Fatalf("delete: %v %v", err, r["reborn"].Err)
	}
	if r, err := adm.CreateTopics(ctx, 2, 1, nil, "reborn"); err != nil || r["reborn"].Err != nil {
		t.Fatalf("re-create: %v %v", err, r["reborn"].Err)
	}
	check := func(adm *kadm.Client, when string) {
		t.Helper()
		for _, g := range []string{"g1", "g2"} {
			got, err := adm.FetchOffsets(testCtx(t), g)
			if err != nil {
				t.Fatalf("%s: fetch offsets of %s: %v", when, g, err)
			}
			for p := int32(0); p < 2; p++ {
				if o, ok := got.Lookup("reborn", p); ok && o.At >= 0 {
					t.Errorf("%s: %s still has reborn/%d at %d", when, g, p, o.At)
				}
				if o, ok := got.Lookup("kept", p); !ok || o.Err != nil || o.At != 40+int64(p) {
					t.Errorf("%s: %s has kept/%d at %+v, want %d", when, g, p, o, 40+int64(p))
				}
			}
		}
	}
	check(adm, "after the deletion")
	cs.closeAll()
	tb.restart()
	check(newClients(t, tb).admin(), "after a restart")
}

func TestCreatePartitions(t *testing.T) {
	tb := startBroker(t, nil)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	adm.CreateTopics(ctx, 1, 1, nil, "grow")

	vr, err := adm.ValidateCreatePartitions(ctx, 2, "grow")
	if err != nil || vr["grow"].Err != nil {
		t.Fatalf("validate: %+v %v", vr, err)
	}
	cr, err := adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || cr["grow"].Err != nil {
		t.Fatalf("create partitions: %+v %v", cr, err)
	}
	topics, _ := adm.ListTopics(ctx, "grow")
	if n := len(topics["grow"].Partitions); n != 3 {
		t.Fatalf("%d partitions, want 3 (validate-only must not add)", n)
	}
	produceN(t, cs, "grow", 2, 3, 10)
	ends, _ := adm.ListEndOffsets(ctx, "grow")
	if o, _ := ends.Lookup("grow", 2); o.Offset != 3 {
		t.Fatalf("new partition end offset: %+v", o)
	}

	ur, _ := adm.UpdatePartitions(ctx, 3, "grow")
	wantCode(t, "same count", ur["grow"].Err, kerr.InvalidPartitions)
	ur, _ = adm.UpdatePartitions(ctx, 2, "grow")
	wantCode(t, "shrink", ur["grow"].Err, kerr.InvalidPartitions)

	// Adding more than 10,000 partitions in one request is refused as a whole, as Kafka does.
	adm.CreateTopics(ctx, 1, 1, nil, "grow-too")
	ur, _ = adm.UpdatePartitions(ctx, 6000, "grow", "grow-too")
	for _, topic := range []string{"grow", "grow-too"} {
		wantCode(t, "too large", ur[topic].Err, kerr.PolicyViolation)
		if !strings.Contains(ur[topic].ErrMessage, "11996 metadata records") {
			t.Fatalf("too large: %s: %q", topic, ur[topic].ErrMessage)
		}
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version = 3
	req.Topics = []kmsg.CreatePartitionsRequestTopic{
		{Topic: "grow", Count: 5, Assignment: []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1}}, {Replicas: []int32{2}}}},
		{Topic: "nope", Count: 2},
	}
	resp, err := req.RequestWith(ctx, cs.client())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.InvalidReplicaAssignment.Code || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("bad requests: %+v", resp.Topics)
	}
	req.Topics = req.Topics[:1]
	req.Topics[0].Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{{Replicas: []int32{1}}, {Replicas: []int32{1}}}
	resp, err = req.RequestWith(ctx, cs.client())
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("with assignment: %+v %v", resp, err)
	}

	cs.restart()
	topics, _ = cs.admin().ListTopics(testCtx(t), "grow")
	if n := len(topics["grow"].Partitions); n != 5 {
		t.Fatalf("%d partitions after restart, want 5", n)
	}
	ends, _ = cs.admin().ListEndOffsets(testCtx(t), "grow")
	if o, _ := ends.Lookup("grow", 2); o.Offset != 3 {
		t.Fatalf("new partition end offset after restart: %+v", o)
	}
}

func TestDescribeCluster(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.NodeID = 7 })
	cs := newClients(t, tb)
	for v := int16(0); v <= 2; v++ {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.Version = v
		resp, err := req.RequestWith(testCtx(t), cs.client())
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.ClusterID != tb.b.cluster.ClusterID() || resp.ControllerID != 7 || len(resp.Brokers) != 1 ||
			resp.Brokers[0].NodeID != 7 || resp.Brokers[0].Port != tb.b.cfg.AdvertisedPort || resp.ClusterAuthorizedOperations != -2147483648 {
			t.Fatalf("v%d: %+v", v, resp)
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp, err := req.RequestWith(testCtx(t), cs.client())
	if err != nil || resp.ErrorCode != kerr.UnsupportedEndpointType.Code {
		t.Fatalf("controllers endpoint: %+v %v", resp, err)
	}
}

func TestDescribeLogDirs(t *testing.T) {
	tb := startBroker(t, nil)
	cs := newClients(t, tb)
	adm := cs.admin()
	ctx := testCtx(t)
	adm.CreateTopics(ctx, 2, 1, nil, "sized", "other")

	describe := func(s kadm.TopicsSet) kadm.DescribedLogDir {
		t.Helper()
		dirs, err := cs.admin().DescribeBrokerLogDirs(testCtx(t), 1, s)
		if err != nil || len(dirs) != 1 {
			t.Fatalf("describe log dirs: %v %v", dirs, err)
		}
		for _, d := range dirs {
			if d.Err != nil || !filepath.IsAbs(d.Dir) || d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
				t.Fatalf("dir: %+v", d)
			}
			return d
		}
		panic("unreachable")
	}
	// New partitions' logs are created in the background and listed before first use.
	eventually(t, "partitions in DescribeLogDirs", func() bool {
		d := describe(nil)
		for _, topic := range []string{"sized", "other"} {
			for p := int32(0); p < 2; p++ {
				if dp, ok := d.Topics[topic][p]; !ok || dp.Size != 0 {
					return false
				}
			}
		}
		return true
	})
	produceN(t, cs, "sized", 1, 4, 1000)
	d := describe(kadm.TopicsSet{"sized": {1: {}}})
	if len(d.Topics) != 1 || len(d.Topics["sized"]) != 1 || d.Topics["sized"][1].Size < 4000 {
		t.Fatalf("filtered after produce: %+v", d.Topics)
	}
	size := d.Topics["sized"][1].Size

	// Partitions not opened are measured from their files, with the same answer.
	if got, ok := tb.b.partitionSizeOnDisk(tb.b.eng.Dirs()[0], engine.TopicPartition{Topic: "sized", Partition: 1}); !ok || got != size {
		t.Fatalf("size on disk %d, want %d", got, size)
	}
	cs.restart()
	d = describe(nil)
	if got := d.Topics["sized"][1].Size; got != size {
		t.Fatalf("size after restart %d, want %d", got, size)
	}
	if len(d.Topics["other"]) != 2 {
		t.Fatalf("other: %+v", d.Topics["other"])
	}
}

// TestCatalogTimeoutWhileQueued: a CreateTopics, DeleteTopics or CreatePartitions whose
// TimeoutMs passed while it waited in the catalog queue answers every topic
// REQUEST_TIMED_OUT and changes nothing.
func TestCatalogTimeoutWhileQueued(t *testing.T) {
	tb := startBroker(t, nil)
	createTopicDP(t, tb, "kept", 1, nil)
	queued := func(key kmsg.Key, version int16, kreq kmsg.Request) *call {
		req := server.NewRequest(server.Header{APIKey: int16(key), APIVersion: version}, nil, nil)
		return &call{req: req, kreq: kreq, parked: true, parkedAt: time.Now().Add(-time.Second)}
	}

	create := kmsg.NewPtrCreateTopicsRequest()
	create.Version, create.TimeoutMillis = 7, 100
	create.Topics = append(create.Topics, newTopic("late", 1, -1))
	resp, err := handleCreateTopics(tb.b, queued(kmsg.CreateTopics, 7, create))
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; e != kerr.RequestTimedOut.Code {
		t.Fatalf("create: error %d, want REQUEST_TIMED_OUT", e)
	}
	if _, ok := tb.b.cluster.Topic("late"); ok {
		t.Fatal("a timed-out CreateTopics created its topic")
	}

	grow := kmsg.NewPtrCreatePartitionsRequest()
	grow.Version, grow.TimeoutMillis = 3, 100
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "kept", 2
	grow.Topics = append(grow.Topics, rt)
	resp, err = handleCreatePartitions(tb.b, queued(kmsg.CreatePartitions, 3, grow))
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode; e != kerr.RequestTimedOut.Code {
		t.Fatalf("create partitions: error %d, want REQUEST_TIMED_OUT", e)
	}

	del := kmsg.NewPtrDeleteTopicsRequest()
	del.Version, del.TimeoutMillis, del.TopicNames = 5, 100, []string{"kept"}
	resp, err = handleDeleteTopics(tb.b, queued(kmsg.DeleteTopics, 5, del))
	if err != nil {
		t.Fatal(err)
	}
	if e := resp.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode; e != kerr.RequestTimedOut.Code {
		t.Fatalf("delete: error %d, want REQUEST_TIMED_OUT", e)
	}
	if kt, ok := tb.b.cluster.Topic("kept"); !ok || kt.Partitions != 1 {
		t.Fatalf("timed-out requests changed topic kept: %+v %v", kt, ok)
	}
}
