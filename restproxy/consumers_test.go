package restproxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// v2 sends a request of the v2 API with the given Accept header.
func (r *rest) v2(method, path, accept, body string, wantStatus int, out any) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.kafka.v2+json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
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
}

// readV2 reads records of an instance until n arrived (bounded).
func (r *rest) readV2(inst, accept string, n int, query string) []v2Record {
	r.t.Helper()
	var out []v2Record
	deadline := time.Now().Add(20 * time.Second)
	for len(out) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("read %d of %d records", len(out), n)
		}
		var got []v2Record
		r.v2("GET", inst+"/records?timeout=500"+query, accept, "", 200, &got)
		out = append(out, got...)
	}
	return out
}

func TestV2Consumers(t *testing.T) {
	r, _ := startProxy(t, Config{})
	r.do("POST", "/topics", `{"topic_name":"jobs","partitions_count":2}`, 201, nil)
	var body bytes.Buffer
	for i := range 6 {
		fmt.Fprintf(&body, `{"partition_id":%d,"key":{"type":"STRING","data":"k%d"},"value":{"type":"JSON","data":{"n":%d}}}`, i%2, i, i)
	}
	r.do("POST", "/topics/jobs/records", body.String(), 200, nil)

	var created struct {
		InstanceID string `json:"instance_id"`
		BaseURI    string `json:"base_uri"`
	}
	r.v2("POST", "/consumers/g1", "", `{"name":"c1","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false"}`, 200, &created)
	inst := "/consumers/g1/instances/c1"
	if created.InstanceID != "c1" || created.BaseURI != r.base+inst {
		t.Fatalf("created %+v", created)
	}
	var e errorBody
	r.v2("POST", "/consumers/g1", "", `{"name":"c1"}`, 409, &e)
	if e.ErrorCode != codeConsumerExists {
		t.Fatalf("duplicate: %+v", e)
	}
	r.v2("POST", "/consumers/g1", "", `{"name":"c9","format":"avro"}`, 422, &e)
	r.v2("GET", "/consumers/g1/instances/nobody/records", "", "", 404, &e)
	if e.ErrorCode != codeConsumerNotFound || e.Message != "Consumer instance not found." {
		t.Fatalf("unknown instance: %+v", e)
	}
	r.v2("GET", inst+"/records", "application/vnd.kafka.binary.v2+json", "", 409, &e) // not subscribed

	r.v2("POST", inst+"/subscription", "", `{"topics":["jobs"]}`, 204, nil)
	var sub struct{ Topics []string }
	r.v2("GET", inst+"/subscription", "", "", 200, &sub)
	if fmt.Sprint(sub.Topics) != "[jobs]" {
		t.Fatalf("subscription %+v", sub)
	}
	r.v2("GET", inst+"/records", "application/vnd.kafka.json.v2+json", "", 406, &e)
	if e.ErrorCode != codeConsumerFormatMismatch {
		t.Fatalf("format mismatch: %+v", e)
	}
	// max_bytes small: one record per read, none lost between reads.
	recs := r.readV2(inst, "application/vnd.kafka.binary.v2+json", 6, "&max_bytes=10")
	seen := map[string]bool{}
	for _, rec := range recs {
		key, _ := rec.Key.(string) // base64 in binary format
		seen[key] = true
	}
	if len(recs) != 6 || len(seen) != 6 || !seen["azA="] { // base64("k0")
		t.Fatalf("records %+v", recs)
	}
	var assigned struct{ Partitions []topicPartition }
	r.v2("GET", inst+"/assignments", "", "", 200, &assigned)
	if len(assigned.Partitions) != 2 {
		t.Fatalf("assignments %+v", assigned)
	}
	// Commit what was returned; the group's committed offsets are the log ends.
	r.v2("POST", inst+"/offsets", "", "", 200, nil)
	var committed struct {
		Offsets []struct {
			Topic     string
			Partition int32
			Offset    int64
		}
	}
	r.v2("GET", inst+"/offsets", "", `{"partitions":[{"topic":"jobs","partition":0},{"topic":"jobs","partition":1}]}`, 200, &committed)
	if len(committed.Offsets) != 2 || committed.Offsets[0].Offset != 3 || committed.Offsets[1].Offset != 3 {
		t.Fatalf("committed %+v", committed)
	}
	// An explicit commit, then seek back to the beginning of partition 0: its records again.
	r.v2("POST", inst+"/offsets", "", `{"offsets":[{"topic":"jobs","partition":1,"offset":1}]}`, 200, nil)
	r.v2("GET", inst+"/offsets", "", `{"partitions":[{"topic":"jobs","partition":1}]}`, 200, &committed)
	if committed.Offsets[0].Offset != 1 {
		t.Fatalf("explicit commit %+v", committed)
	}
	r.v2("POST", inst+"/positions/beginning", "", `{"partitions":[{"topic":"jobs","partition":0}]}`, 204, nil)
	again := r.readV2(inst, "", 3, "")
	for _, rec := range again {
		if rec.Partition != 0 {
			t.Fatalf("after seeking partition 0 to its beginning: %+v", again)
		}
	}
	r.v2("DELETE", inst, "", "", 204, nil)
	r.v2("DELETE", inst, "", "", 404, nil)

	// A json-format instance with a manual assignment and a seek to an offset.
	r.do("POST", "/topics", `{"topic_name":"docs","partitions_count":1}`, 201, nil)
	r.do("POST", "/topics/docs/records", `{"key":{"data":"a"},"value":{"data":{"n":0}}}{"value":{"data":{"n":1}}}{"value":{"data":[1,2]}}`, 200, nil)
	r.v2("POST", "/consumers/g2", "", `{"name":"j","format":"json","auto.offset.reset":"earliest"}`, 200, nil)
	inst = "/consumers/g2/instances/j"
	r.v2("POST", inst+"/assignments", "", `{"partitions":[{"topic":"docs","partition":0}]}`, 204, nil)
	r.v2("POST", inst+"/subscription", "", `{"topics":["docs"]}`, 409, nil)
	r.v2("POST", inst+"/positions", "", `{"offsets":[{"topic":"docs","partition":0,"offset":1}]}`, 204, nil)
	js := r.readV2(inst, "application/vnd.kafka.json.v2+json", 2, "")
	if len(js) != 2 || js[0].Offset != 1 || js[0].Key != nil {
		t.Fatalf("json records %+v", js)
	}
	if v, _ := json.Marshal(js[1].Value); string(v) != `[1,2]` {
		t.Fatalf("json value %s", v)
	}
	// Commits of an assigned instance go to its group directly.
	r.v2("POST", inst+"/offsets", "", "", 200, nil)
	r.v2("GET", inst+"/offsets", "", `{"partitions":[{"topic":"docs","partition":0}]}`, 200, &committed)
	if len(committed.Offsets) != 1 || committed.Offsets[0].Offset != 3 {
		t.Fatalf("committed by the assigned instance: %+v", committed)
	}
}
