package restproxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/testbroker"
)

// rest is a client of the proxy under test.
type rest struct {
	t    *testing.T
	base string
	cid  string
}

func startProxy(t *testing.T, cfg Config) (*rest, string) {
	addr := testbroker.Start(t)
	cfg.Bootstrap = []string{addr}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	t.Cleanup(func() { hs.Close(); p.Close() })
	rc := &rest{t: t, base: hs.URL}
	var clusters struct {
		Kind string `json:"kind"`
		Data []struct {
			ClusterID string `json:"cluster_id"`
			Metadata  struct {
				Self string `json:"self"`
			} `json:"metadata"`
		} `json:"data"`
	}
	rc.do("GET", "/v3/clusters", "", 200, &clusters)
	if clusters.Kind != "KafkaClusterList" || len(clusters.Data) != 1 || clusters.Data[0].ClusterID == "" {
		t.Fatalf("clusters: %+v", clusters)
	}
	rc.cid = clusters.Data[0].ClusterID
	if want := hs.URL + "/v3/clusters/" + rc.cid; clusters.Data[0].Metadata.Self != want {
		t.Fatalf("self %q, want %q", clusters.Data[0].Metadata.Self, want)
	}
	return rc, addr
}

// do sends a request to path (below /v3/clusters/{id} when it starts with "/topics" or
// "/consumer-groups" or "/brokers") and decodes the answer into out if it is not nil.
func (r *rest) do(method, path, body string, wantStatus int, out any) []byte {
	r.t.Helper()
	if !strings.HasPrefix(path, "/v3/") {
		path = "/v3/clusters/" + r.cid + path
	}
	req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		r.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return b
}

// wantError checks an error answer's status and Confluent code.
func (r *rest) wantError(method, path, body string, status, code int, msgPart string) {
	r.t.Helper()
	var e errorBody
	r.do(method, path, body, status, &e)
	if e.ErrorCode != code || !strings.Contains(e.Message, msgPart) {
		r.t.Fatalf("%s %s: error %+v, want code %d with %q", method, path, e, code, msgPart)
	}
}

func TestTopicsAndConfigs(t *testing.T) {
	r, _ := startProxy(t, Config{})
	var cl clusterData
	r.do("GET", "/v3/clusters/"+r.cid, "", 200, &cl)
	if cl.Kind != "KafkaCluster" || cl.Topics.Related != r.base+"/v3/clusters/"+r.cid+"/topics" || cl.Controller == nil {
		t.Fatalf("cluster %+v", cl)
	}
	r.wantError("GET", "/v3/clusters/nope/topics", "", 404, 404, "Cluster nope cannot be found.")

	var brokers list[brokerData]
	r.do("GET", "/brokers", "", 200, &brokers)
	if len(brokers.Data) != 1 || brokers.Data[0].Port == nil || *brokers.Data[0].Port == 0 {
		t.Fatalf("brokers %+v", brokers)
	}
	r.do("GET", fmt.Sprintf("/brokers/%d", brokers.Data[0].BrokerID), "", 200, nil)
	r.wantError("GET", "/brokers/99", "", 404, 404, "Broker 99 cannot be found.")

	var td topicData
	r.do("POST", "/topics", `{"topic_name":"orders","partitions_count":3,"replication_factor":1,"configs":[{"name":"cleanup.policy","value":"compact"}]}`, 201, &td)
	if td.TopicName != "orders" || td.PartitionsCount != 3 || td.ReplicationFactor != 1 || td.Metadata.ResourceName != "crn:///kafka="+r.cid+"/topic=orders" {
		t.Fatalf("created %+v", td)
	}
	r.wantError("POST", "/topics", `{"topic_name":"orders","partitions_count":3}`, 400, codeKafkaBadRequest, "")
	r.wantError("POST", "/topics", `{"topic_name":`, 400, 400, "malformed JSON")
	r.wantError("POST", "/topics", `{"partitions_count":3}`, 400, 400, "topic_name is required")
	r.do("POST", "/topics", `{"topic_name":"defaults"}`, 201, &td)
	if td.PartitionsCount < 1 {
		t.Fatalf("broker defaults: %+v", td)
	}

	var topics list[topicData]
	r.do("GET", "/topics", "", 200, &topics)
	names := map[string]bool{}
	for _, d := range topics.Data {
		names[d.TopicName] = true
	}
	if !names["orders"] || !names["defaults"] || topics.Kind != "KafkaTopicList" {
		t.Fatalf("topics %+v", topics)
	}
	r.do("GET", "/topics/orders", "", 200, &td)
	if td.PartitionsCount != 3 {
		t.Fatalf("topic %+v", td)
	}
	r.wantError("GET", "/topics/missing", "", 404, codeUnknownTopicPart, "does not host this topic-partition")

	var parts list[partitionData]
	r.do("GET", "/topics/orders/partitions", "", 200, &parts)
	if len(parts.Data) != 3 || parts.Data[2].PartitionID != 2 || parts.Data[0].Leader == nil {
		t.Fatalf("partitions %+v", parts)
	}
	r.do("GET", "/topics/orders/partitions/1", "", 200, nil)
	r.wantError("GET", "/topics/orders/partitions/7", "", 404, codePartitionNotFound, "Partition not found.")
	r.wantError("GET", "/topics/orders/partitions/x", "", 400, 400, "not a number")

	var cfg topicConfigData
	r.do("GET", "/topics/orders/configs/cleanup.policy", "", 200, &cfg)
	if cfg.Value == nil || *cfg.Value != "compact" || cfg.Source != "DYNAMIC_TOPIC_CONFIG" || cfg.IsDefault {
		t.Fatalf("cleanup.policy %+v", cfg)
	}
	r.do("PUT", "/topics/orders/configs/retention.ms", `{"value":"3600000"}`, 204, nil)
	r.do("GET", "/topics/orders/configs/retention.ms", "", 200, &cfg)
	if cfg.Value == nil || *cfg.Value != "3600000" {
		t.Fatalf("retention.ms after PUT %+v", cfg)
	}
	r.do("POST", "/topics/orders/configs:alter", `{"data":[{"name":"retention.ms","operation":"DELETE"},{"name":"max.message.bytes","value":"200000"}]}`, 204, nil)
	var cfgs list[topicConfigData]
	r.do("GET", "/topics/orders/configs", "", 200, &cfgs)
	got := map[string]topicConfigData{}
	for _, c := range cfgs.Data {
		got[c.Name] = c
	}
	if c := got["max.message.bytes"]; c.Value == nil || *c.Value != "200000" {
		t.Fatalf("max.message.bytes %+v", c)
	}
	if c := got["retention.ms"]; c.Source == "DYNAMIC_TOPIC_CONFIG" {
		t.Fatalf("retention.ms not reset: %+v", c)
	}
	r.do("DELETE", "/topics/orders/configs/max.message.bytes", "", 204, nil)
	r.wantError("POST", "/topics/orders/configs:alter", `{"data":[{"name":"retention.ms","operation":"FROB"}]}`, 400, 400, "want SET or DELETE")
	r.wantError("PUT", "/topics/orders/configs/no.such.config", `{"value":"1"}`, 400, codeKafkaBadRequest, "")

	r.do("DELETE", "/topics/defaults", "", 204, nil)
	r.wantError("DELETE", "/topics/defaults", "", 404, codeUnknownTopicPart, "")
	r.wantError("GET", "/nothing/here", "", 404, 404, "Not Found")
}

// consume reads n records of topic from the start.
func consume(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestProduce(t *testing.T) {
	r, addr := startProxy(t, Config{MaxRecordBytes: 64 << 10})
	r.do("POST", "/topics", `{"topic_name":"events","partitions_count":2}`, 201, nil)

	var rep produceResponse
	r.do("POST", "/topics/events/records", `{"partition_id":1,"headers":[{"name":"h1","value":"`+base64.StdEncoding.EncodeToString([]byte("hv"))+`"}],"key":{"type":"BINARY","data":"`+base64.StdEncoding.EncodeToString([]byte{0, 1, 2})+`"},"value":{"type":"JSON","data":{"a": 1, "b": [true, null]}},"timestamp":"2026-12-07T10:00:00.123Z"}`, 200, &rep)
	if rep.ErrorCode != 200 || rep.PartitionID == nil || *rep.PartitionID != 1 || rep.Offset == nil || *rep.Offset != 0 ||
		rep.Key == nil || rep.Key.Type != "BINARY" || rep.Key.Size != 3 || rep.Value == nil || rep.Value.Size != len(`{"a":1,"b":[true,null]}`) ||
		rep.Timestamp == nil || *rep.Timestamp != "2026-12-07T10:00:00.123Z" || rep.ClusterID != r.cid || rep.TopicName != "events" {
		b, _ := json.Marshal(rep)
		t.Fatalf("report %s", b)
	}

	// A stream of records in one request: one report each, in order.
	var body bytes.Buffer
	const n = 200
	for i := range n {
		fmt.Fprintf(&body, `{"key":{"type":"STRING","data":"k%d"},"value":{"type":"STRING","data":"v%d"}}`, i%7, i)
	}
	raw := r.do("POST", "/topics/events/records", body.String(), 200, nil)
	dec := json.NewDecoder(bytes.NewReader(raw))
	last := map[int32]int64{0: -1, 1: 0}
	for i := range n {
		var rep produceResponse
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if rep.ErrorCode != 200 || *rep.Offset <= last[*rep.PartitionID] {
			t.Fatalf("report %d: %+v (last offsets %v)", i, rep, last)
		}
		last[*rep.PartitionID] = *rep.Offset
	}
	if dec.More() {
		t.Fatal("more reports than records")
	}

	recs := consume(t, addr, "events", n+1)
	byValue := map[string]*kgo.Record{}
	for _, rec := range recs {
		byValue[string(rec.Value)] = rec
	}
	first := byValue[`{"a":1,"b":[true,null]}`]
	if first == nil || !bytes.Equal(first.Key, []byte{0, 1, 2}) || first.Partition != 1 || len(first.Headers) != 1 ||
		first.Headers[0].Key != "h1" || string(first.Headers[0].Value) != "hv" || first.Timestamp.UnixMilli() != time.Date(2026, 12, 7, 10, 0, 0, 123e6, time.UTC).UnixMilli() {
		t.Fatalf("first record %+v", first)
	}
	// Equal keys land on one partition (the Java client's murmur2 hashing).
	part := map[string]int32{}
	for i := range n {
		rec := byValue[fmt.Sprintf("v%d", i)]
		if rec == nil {
			t.Fatalf("v%d missing", i)
		}
		if p, ok := part[string(rec.Key)]; ok && p != rec.Partition {
			t.Fatalf("key %s on partitions %d and %d", rec.Key, p, rec.Partition)
		}
		part[string(rec.Key)] = rec.Partition
	}

	// Bad input: the whole request, or one record's report.
	r.wantError("POST", "/topics/missing/records", `{"value":{"data":1}}`, 404, codeUnknownTopicPart, "")
	r.wantError("POST", "/topics/events/records", ``, 422, codePayloadError, "Request body is empty")
	r.wantError("POST", "/topics/events/records", `{"value":`, 400, 400, "malformed JSON")
	r.wantError("POST", "/topics/events/records", `{"value":{"data":"`+strings.Repeat("x", 100<<10)+`"}}`, 413, 413, "over 65536 bytes")
	for _, tc := range []struct{ body, want string }{
		{`{"partition_id":5,"value":{"data":1}}`, "Partition not found."},
		{`{"value":{"type":"AVRO","data":1}}`, "schema registry"},
		{`{"value":{"type":"BINARY","data":"!!"}}`, "not base64"},
		{`{"value":{"type":"STRING","data":5}}`, "must be a JSON string"},
		{`{"value":{"type":"XML","data":"<a/>"}}`, "unknown type"},
		{`{"value":{"data":1},"timestamp":"yesterday"}`, "RFC 3339"},
	} {
		var rep produceResponse
		r.do("POST", "/topics/events/records", tc.body, 200, &rep)
		if rep.ErrorCode == 200 || !strings.Contains(rep.Message, tc.want) {
			t.Errorf("%s: report %+v, want an error with %q", tc.body, rep, tc.want)
		}
	}
	// Bad JSON mid-stream: the records before it are produced and reported, then the error.
	raw = r.do("POST", "/topics/events/records", `{"value":{"data":1}}{"value":{"data":2}}{"value":`, 200, nil)
	dec = json.NewDecoder(bytes.NewReader(raw))
	var codes []int
	for dec.More() {
		var rep produceResponse
		if err := dec.Decode(&rep); err != nil {
			t.Fatal(err)
		}
		codes = append(codes, rep.ErrorCode)
	}
	if fmt.Sprint(codes) != "[200 200 400]" {
		t.Fatalf("mid-stream error: codes %v: %s", codes, raw)
	}
}

func TestConsumerGroups(t *testing.T) {
	r, addr := startProxy(t, Config{})
	r.do("POST", "/topics", `{"topic_name":"work","partitions_count":2}`, 201, nil)
	var body bytes.Buffer
	for i := range 10 {
		fmt.Fprintf(&body, `{"partition_id":%d,"value":{"type":"STRING","data":"%d"}}`, i%2, i)
	}
	r.do("POST", "/topics/work/records", body.String(), 200, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("workers"), kgo.ConsumeTopics("work"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ClientID("worker-1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Consume and commit 3 records of partition 0 and none of partition 1's past offset 1.
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("consume timed out")
		}
		got += fs.NumRecords()
	}
	var commitErr error
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"work": {0: {Epoch: -1, Offset: 3}, 1: {Epoch: -1, Offset: 1}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
		})
	if commitErr != nil {
		t.Fatal(commitErr)
	}

	var groups list[consumerGroupData]
	r.do("GET", "/consumer-groups", "", 200, &groups)
	if len(groups.Data) != 1 || groups.Data[0].ConsumerGroupID != "workers" || groups.Data[0].State != "STABLE" {
		t.Fatalf("groups %+v", groups)
	}
	var g consumerGroupData
	r.do("GET", "/consumer-groups/workers", "", 200, &g)
	if g.Coordinator == nil || g.IsSimple {
		t.Fatalf("group %+v", g)
	}
	var consumers list[consumerData]
	r.do("GET", "/consumer-groups/workers/consumers", "", 200, &consumers)
	if len(consumers.Data) != 1 || consumers.Data[0].ClientID != "worker-1" {
		t.Fatalf("consumers %+v", consumers)
	}
	r.do("GET", "/consumer-groups/workers/consumers/"+consumers.Data[0].ConsumerID, "", 200, nil)

	var lags list[consumerLagData]
	r.do("GET", "/consumer-groups/workers/lags", "", 200, &lags)
	if len(lags.Data) != 2 || lags.Data[0].Lag != 2 || lags.Data[1].Lag != 4 || lags.Data[1].CurrentOffset != 1 || lags.Data[1].LogEndOffset != 5 || lags.Data[0].ClientID != "worker-1" {
		t.Fatalf("lags %+v", lags)
	}
	var one consumerLagData
	r.do("GET", "/consumer-groups/workers/lags/work/partitions/1", "", 200, &one)
	if one.Lag != 4 {
		t.Fatalf("lag of partition 1: %+v", one)
	}
	var sum lagSummaryData
	r.do("GET", "/consumer-groups/workers/lag-summary", "", 200, &sum)
	if sum.TotalLag != 6 || sum.MaxLag != 4 || sum.MaxLagPartitionID != 1 || sum.MaxLagTopicName != "work" || sum.MaxLagClientID != "worker-1" {
		t.Fatalf("lag summary %+v", sum)
	}
	r.wantError("GET", "/consumer-groups/nobody", "", 404, codeGroupNotFound, "Consumer group id not found.")
	r.wantError("GET", "/consumer-groups/workers/consumers/ghost", "", 404, 404, "cannot be found")
}

// TestProduceStreaming: one long request, records written one at a time, each delivery
// report read before the next record is sent (a device's stream).
func TestProduceStreaming(t *testing.T) {
	r, _ := startProxy(t, Config{})
	r.do("POST", "/topics", `{"topic_name":"telemetry","partitions_count":1}`, 201, nil)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", r.base+"/v3/clusters/"+r.cid+"/topics/telemetry/records", pr)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Transfer-Encoding", "chunked")
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		done <- result{resp, err}
	}()
	var dec *json.Decoder
	var resp *http.Response
	for i := range 5 {
		if _, err := fmt.Fprintf(pw, `{"value":{"type":"STRING","data":"reading %d"}}`, i); err != nil {
			t.Fatal(err)
		}
		if dec == nil {
			res := <-done
			if res.err != nil {
				t.Fatal(res.err)
			}
			resp = res.resp
			defer resp.Body.Close()
			dec = json.NewDecoder(resp.Body)
		}
		var rep produceResponse
		if err := dec.Decode(&rep); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		if rep.ErrorCode != 200 || *rep.Offset != int64(i) {
			t.Fatalf("report %d: %+v", i, rep)
		}
	}
	pw.Close()
	var rep produceResponse
	if err := dec.Decode(&rep); err != io.EOF {
		t.Fatalf("after the stream ended: %+v %v", rep, err)
	}
}

// TestReadOnly: a read-only proxy answers reads and refuses every change with 403, while a v2
// instance can still read records (and not commit).
func TestReadOnly(t *testing.T) {
	addr := testbroker.Start(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("seen"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Bootstrap: []string{addr}, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(p.Handler())
	defer func() { hs.Close(); p.Close() }()
	r := &rest{t: t, base: hs.URL}
	var clusters list[clusterData]
	r.do("GET", "/v3/clusters", "", 200, &clusters)
	r.cid = clusters.Data[0].ClusterID
	r.do("GET", "/topics/seen", "", 200, nil)
	r.wantError("POST", "/topics", `{"topic_name":"x"}`, 403, codeKafkaAuthorization, "read-only")
	r.wantError("DELETE", "/topics/seen", "", 403, codeKafkaAuthorization, "read-only")
	r.wantError("POST", "/topics/seen/records", `{"value":{"data":1}}`, 403, codeKafkaAuthorization, "read-only")
	r.wantError("PUT", "/topics/seen/configs/retention.ms", `{"value":"1"}`, 403, codeKafkaAuthorization, "read-only")
	r.v2("POST", "/consumers/ro", "", `{"name":"c","auto.offset.reset":"earliest"}`, 200, nil)
	r.v2("POST", "/consumers/ro/instances/c/assignments", "", `{"partitions":[{"topic":"seen","partition":0}]}`, 204, nil)
	if recs := r.readV2("/consumers/ro/instances/c", "", 1, ""); len(recs) != 1 {
		t.Fatalf("read-only read: %+v", recs)
	}
	r.v2("POST", "/consumers/ro/instances/c/offsets", "", "", 403, nil)
	r.v2("DELETE", "/consumers/ro/instances/c", "", "", 204, nil)
}
