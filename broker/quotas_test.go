package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
	"github.com/logd/logd/net/server"
	"github.com/logd/logd/quota"
)

// throttleHook counts the throttles a client was told about.
type throttleHook struct{ n atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// TestProduceQuota: AlterClientQuotas sets producer_byte_rate for a client id, which
// DescribeClientQuotas then shows; a producer with that client id is throttled
// (throttle_time_ms, its connection muted) once over it, while another client id is not.
func TestProduceQuota(t *testing.T) {
	tb := startBroker(t, nil)
	adm := tb.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "q"); err != nil {
		t.Fatal(err)
	}
	const rate = 10_000 // bytes/s
	slow := "slow"
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: metadata.QuotaClientID, Name: &slow}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: metadata.ProducerByteRate, Value: rate}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("alter quotas: %+v %v", res, err)
	}
	desc, err := adm.DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{{Type: metadata.QuotaClientID, MatchType: 2}})
	if err != nil || len(desc) != 1 || len(desc[0].Values) != 1 || desc[0].Values[0].Value != rate {
		t.Fatalf("describe quotas: %+v %v", desc, err)
	}

	produce := func(client string, hook *throttleHook, d time.Duration) int {
		cl := tb.client(kgo.ClientID(client), kgo.WithHooks(hook), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
		value := make([]byte, 1000)
		sent := 0
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithDeadline(ctx, deadline)
			err := cl.ProduceSync(ctx, &kgo.Record{Topic: "q", Value: value}).FirstErr()
			cancel()
			if err != nil {
				break
			}
			sent += len(value)
		}
		return sent
	}
	var slowHook, fastHook throttleHook
	// A new sensor measures over at least 10 windows (Kafka's Rate): about 10 s of the quota
	// pass at once, then the producer is held back.
	sent := produce(slow, &slowHook, 2*time.Second)
	if limit := 10 * rate * 13 / 10; sent > limit || slowHook.n.Load() == 0 {
		t.Fatalf("client %s sent %d bytes in 2 s (limit ~%d) and was throttled %d times", slow, sent, limit, slowHook.n.Load())
	}
	if fast := produce("fast", &fastHook, time.Second); fast <= sent/2 || fastHook.n.Load() != 0 {
		t.Fatalf("an unlimited client sent %d bytes in 1 s and was throttled %d times", fast, fastHook.n.Load())
	}
	if st := tb.srv.Stats(); st.Mutes == 0 {
		t.Fatal("no connection was muted")
	}
}

// TestFetchQuota: a consumer over its consumer_byte_rate is told to back off
// (throttle_time_ms in the Fetch response) and its connection is muted.
func TestFetchQuota(t *testing.T) {
	tb := startBroker(t, nil)
	adm := tb.admin()
	ctx := context.Background()
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, "fq"); err != nil {
		t.Fatal(err)
	}
	pr := tb.client(kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DefaultProduceTopic("fq"))
	value := make([]byte, 10_000)
	for range 30 {
		if err := pr.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	slow := "slow-consumer"
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: metadata.QuotaClientID, Name: &slow}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: metadata.ConsumerByteRate, Value: 10_000}},
	}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("alter quotas: %+v %v", res, err)
	}
	var hook throttleHook
	cl := tb.client(kgo.ClientID(slow), kgo.WithHooks(&hook), kgo.ConsumeTopics("fq"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50_000), kgo.FetchMaxPartitionBytes(50_000))
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got := 0
	for hook.n.Load() == 0 && pctx.Err() == nil {
		got += cl.PollFetches(pctx).NumRecords()
	}
	if hook.n.Load() == 0 {
		t.Fatalf("consumed %d records without a throttle", got)
	}
	if st := tb.srv.Stats(); st.Mutes == 0 {
		t.Fatal("no connection was muted")
	}
}

// setQuota sets one quota value for an entity and waits until this broker enforces it.
func setQuota(t *testing.T, tb *testBroker, ent kadm.ClientQuotaEntity, key string, v float64) {
	t.Helper()
	res, err := tb.admin().AlterClientQuotas(context.Background(), []kadm.AlterClientQuotaEntry{{
		Entity: ent, Ops: []kadm.AlterClientQuotaOp{{Key: key, Value: v}}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("alter quotas: %+v %v", res, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, q := range tb.b.Quotas().Quotas() {
			if got, ok := q.Values[key]; ok && got == v {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("quota %s=%v not installed on the broker", key, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dialAs is dialDP with its own client id.
func dialAs(t *testing.T, tb *testBroker, clientID string) *rawConnDP {
	rc := dialDP(t, tb)
	rc.f = kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))
	return rc
}

// TestRequestQuota: a client over its request_percentage is answered with throttle_time_ms
// capped at one quota window (quota.window.size.seconds, here 2 s) and its connection is
// muted that long; another client id is not throttled.
func TestRequestQuota(t *testing.T) {
	const window = 2 * time.Second
	tb := startBroker(t, func(c *Config) { c.Quota = quota.Config{Samples: 2, Window: window} })
	busy := "busy"
	// A billionth of a percent of one worker: any request is far over it.
	setQuota(t, tb, kadm.ClientQuotaEntity{{Type: metadata.QuotaClientID, Name: &busy}}, metadata.RequestPercentage, 1e-9)

	rc := dialAs(t, tb, busy)
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	resp := rc.request(req).(*kmsg.MetadataResponse)
	answered := time.Now()
	if got := time.Duration(resp.ThrottleMillis) * time.Millisecond; got != window {
		t.Fatalf("throttle_time_ms %d, want the window's %v (the cap, far over the quota)", resp.ThrottleMillis, window)
	}
	// The connection is muted: the next request is read only once the throttle time is over.
	resp = rc.request(req).(*kmsg.MetadataResponse)
	if waited := time.Since(answered); waited < window/2 {
		t.Fatalf("the next request on the throttled connection was answered after %v, within the %v mute", waited, window)
	}
	if resp.ThrottleMillis <= 0 || resp.ThrottleMillis > int32(window/time.Millisecond) {
		t.Fatalf("second throttle_time_ms %d, want (0, %d]", resp.ThrottleMillis, window/time.Millisecond)
	}
	if tb.srv.Stats().Mutes == 0 {
		t.Fatal("no connection was muted")
	}
	if resp := dialAs(t, tb, "idle").request(req).(*kmsg.MetadataResponse); resp.ThrottleMillis != 0 {
		t.Fatalf("a client without a quota was told throttle_time_ms %d", resp.ThrottleMillis)
	}
}

// TestControllerMutationQuota: CreateTopics, DeleteTopics and CreatePartitions take their
// partitions from the client's controller_mutation_rate token bucket (rate 1/s, burst
// 2 windows × 1 s × 1 = 2). A request that takes the bucket below zero is done; after it,
// strict versions (CreateTopics v6+, DeleteTopics v5+, CreatePartitions v3+) refuse with
// THROTTLING_QUOTA_EXCEEDED and the time to refill, older versions succeed, throttled.
func TestControllerMutationQuota(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Quota = quota.Config{Samples: 2, Window: time.Second} })
	mut := "mutator"
	setQuota(t, tb, kadm.ClientQuotaEntity{{Type: metadata.QuotaClientID, Name: &mut}}, metadata.ControllerMutationRate, 1)

	create := func(version int16, topic string, partitions int32) kmsg.CreateTopicsResponse {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.SetVersion(version)
		req.TimeoutMillis = 30_000
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		// A new connection each time: a throttled one stays muted for the throttle time.
		resp := dialAs(t, tb, mut).request(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreateTopics v%d: %d topics answered", version, len(resp.Topics))
		}
		return *resp
	}
	// 20 partitions from a bucket of 2: done (strict only refuses once below zero), 18 short.
	took := time.Now() // the bucket is taken from between this and the answer
	resp := create(7, "m-big", 20)
	if resp.Topics[0].ErrorCode != 0 || resp.ThrottleMillis != 0 {
		t.Fatalf("CreateTopics v7 of 20 partitions: error %d, throttle %d; want done, unthrottled", resp.Topics[0].ErrorCode, resp.ThrottleMillis)
	}
	inRange := func(what string, ms int32, debt float64) {
		t.Helper()
		// debt tokens short at 1/s: the throttle is the time left until the bucket is back at zero.
		hi := int32(debt * 1000)
		lo := hi - int32(time.Since(took)/time.Millisecond) - 100
		if ms <= 0 || ms > hi || ms < lo {
			t.Fatalf("%s: throttle_time_ms %d, want within [%d, %d]", what, ms, lo, hi)
		}
	}
	resp = create(6, "m-strict", 1)
	if resp.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("CreateTopics v6 over the quota: error %d, want THROTTLING_QUOTA_EXCEEDED", resp.Topics[0].ErrorCode)
	}
	inRange("CreateTopics v6", resp.ThrottleMillis, 18)
	resp = create(5, "m-permissive", 1)
	if resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreateTopics v5 over the quota: error %d, want done (permissive)", resp.Topics[0].ErrorCode)
	}
	inRange("CreateTopics v5", resp.ThrottleMillis, 19)

	del := func(version int16, topic string) *kmsg.DeleteTopicsResponse {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.SetVersion(version)
		req.TimeoutMillis = 30_000
		req.TopicNames = []string{topic}
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp := dialAs(t, tb, mut).request(req).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("DeleteTopics v%d: %d topics answered", version, len(resp.Topics))
		}
		return resp
	}
	if r := del(5, "m-big"); r.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("DeleteTopics v5 over the quota: error %d, want THROTTLING_QUOTA_EXCEEDED", r.Topics[0].ErrorCode)
	} else {
		inRange("DeleteTopics v5", r.ThrottleMillis, 19)
	}
	if _, ok := tb.b.cluster.Topic("m-big"); !ok {
		t.Fatal("a refused DeleteTopics deleted the topic")
	}
	if r := del(4, "m-permissive"); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("DeleteTopics v4 over the quota: error %d, want done (permissive)", r.Topics[0].ErrorCode)
	} else {
		inRange("DeleteTopics v4", r.ThrottleMillis, 20)
	}

	grow := func(version int16) *kmsg.CreatePartitionsResponse {
		req := kmsg.NewPtrCreatePartitionsRequest()
		req.SetVersion(version)
		req.TimeoutMillis = 30_000
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = "m-big", 21
		req.Topics = append(req.Topics, rt)
		resp := dialAs(t, tb, mut).request(req).(*kmsg.CreatePartitionsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("CreatePartitions v%d: %d topics answered", version, len(resp.Topics))
		}
		return resp
	}
	if r := grow(3); r.Topics[0].ErrorCode != kerr.ThrottlingQuotaExceeded.Code {
		t.Fatalf("CreatePartitions v3 over the quota: error %d, want THROTTLING_QUOTA_EXCEEDED", r.Topics[0].ErrorCode)
	} else {
		inRange("CreatePartitions v3", r.ThrottleMillis, 20)
	}
	if r := grow(2); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("CreatePartitions v2 over the quota: error %d, want done (permissive)", r.Topics[0].ErrorCode)
	} else {
		inRange("CreatePartitions v2", r.ThrottleMillis, 21)
	}
	// Another client id has no quota.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "m-free", 3, 1
	req.Topics = append(req.Topics, rt)
	if r := dialAs(t, tb, "free").request(req).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 || r.ThrottleMillis != 0 {
		t.Fatalf("a client without a quota: error %d, throttle %d", r.Topics[0].ErrorCode, r.ThrottleMillis)
	}
}

// quotaListener serves tb's broker on one more listener whose connections go through conns.
func quotaListener(t *testing.T, tb *testBroker, name string, conns *quota.Connections) (string, *server.Server) {
	t.Helper()
	srv := server.New(server.Config{HeaderVersion: HeaderVersion, Listener: name, Admit: conns, Logf: func(string, ...any) {}}, tb.b)
	if err := srv.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv.Addr().String(), srv
}

// dialFrom connects to addr from the local IP from ("": any) and reports whether the broker
// answers an ApiVersions on the connection (false: it closed it at accept). The connection
// stays open until the test ends or the caller closes it.
func dialFrom(t *testing.T, addr, from string) (net.Conn, bool) {
	t.Helper()
	d := net.Dialer{Timeout: 10 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "logd-test", "1"
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("conn-test"))
	if _, err := c.Write(f.AppendRequest(nil, req, 1)); err != nil {
		return c, false // closed before the write
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("no answer and no close from %s", addr)
		}
		return c, false
	}
	return c, true
}

// TestConnectionQuotas: max.connections.per.ip refuses the connection past the limit at
// accept and admits one again once another closes; max.connections spares the inter-broker
// listener; a connection_creation_rate quota of 127.0.0.2 (kafka-configs --entity-type ips)
// refuses its second connection in a window while 127.0.0.1, without one, connects freely.
func TestConnectionQuotas(t *testing.T) {
	tb := startBroker(t, func(c *Config) { c.Quota = quota.Config{Samples: 2, Window: time.Second} })

	perIP, err := quota.NewConnections(quota.ConnConfig{MaxPerIP: 2, PerIPOverrides: map[string]int{"127.0.0.3": 0}, Listeners: 1}, tb.b.Quotas())
	if err != nil {
		t.Fatal(err)
	}
	addr, srv := quotaListener(t, tb, "PLAINTEXT", perIP)
	first, ok1 := dialFrom(t, addr, "")
	_, ok2 := dialFrom(t, addr, "")
	if _, ok3 := dialFrom(t, addr, ""); !ok1 || !ok2 || ok3 {
		t.Fatalf("max.connections.per.ip=2: connections answered %v %v %v, want true true false", ok1, ok2, ok3)
	}
	if _, ok := dialFrom(t, addr, "127.0.0.3"); ok {
		t.Fatal("an override of 0 admitted 127.0.0.3")
	}
	first.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, ok := dialFrom(t, addr, ""); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection admitted again after one of the two closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := perIP.Refused(quota.TooManyFromIP); n < 2 {
		t.Fatalf("%d refusals counted for max.connections.per.ip, want ≥ 2", n)
	}
	if st := srv.Stats(); st.QuotaRefused < 2 || st.QuotaRefused > st.ConnsRefused {
		t.Fatalf("server stats: %d quota refusals of %d refusals", st.QuotaRefused, st.ConnsRefused)
	}

	// max.connections=1 with two listeners: the inter-broker one is exempt.
	broker1, err := quota.NewConnections(quota.ConnConfig{Max: 1, InterBroker: "INTERNAL", Listeners: 2}, tb.b.Quotas())
	if err != nil {
		t.Fatal(err)
	}
	external, _ := quotaListener(t, tb, "EXTERNAL", broker1)
	internal, _ := quotaListener(t, tb, "INTERNAL", broker1)
	_, ok1 = dialFrom(t, external, "")
	_, ok2 = dialFrom(t, external, "")
	if _, ok3 := dialFrom(t, internal, ""); !ok1 || ok2 || !ok3 {
		t.Fatalf("max.connections=1: external %v, external %v, inter-broker %v; want true false true", ok1, ok2, ok3)
	}

	rated, err := quota.NewConnections(quota.ConnConfig{Listeners: 1}, tb.b.Quotas())
	if err != nil {
		t.Fatal(err)
	}
	addr, _ = quotaListener(t, tb, "RATED", rated)
	ip := "127.0.0.2"
	setQuota(t, tb, kadm.ClientQuotaEntity{{Type: metadata.QuotaIP, Name: &ip}}, metadata.ConnectionCreationRate, 1)
	// Two windows of 1 s: a new sensor measures over at least one, so a second connection
	// within it is 2/s, over the quota of 1/s.
	_, ok1 = dialFrom(t, addr, ip)
	if _, ok2 = dialFrom(t, addr, ip); !ok1 || ok2 {
		t.Fatalf("connection_creation_rate=1 for %s: answered %v %v, want true false", ip, ok1, ok2)
	}
	for i := range 5 {
		if _, ok := dialFrom(t, addr, "127.0.0.1"); !ok {
			t.Fatalf("127.0.0.1 refused at its connection %d: the quota of %s applied to it", i+1, ip)
		}
	}
	if n := rated.Refused(quota.OverIPRate); n < 1 {
		t.Fatalf("%d refusals counted for connection_creation_rate", n)
	}
}
