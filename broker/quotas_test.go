package broker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/metadata"
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
