package connect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logd/logd/connect"
	_ "github.com/logd/logd/connect/httpsink"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// httpRequest is what the test endpoint saw of one request.
type httpRequest struct {
	at        time.Time
	method    string
	header    http.Header
	body      string
	status    int   // what the endpoint answered
	committed int64 // the sink group's committed offset when the request arrived (-1: none)
}

// endpoint is a real HTTP server standing in for the sink's target: answer decides each
// request's status; accepted collects the values of the requests answered 2xx.
type endpoint struct {
	t        *testing.T
	adm      *kadm.Client
	group    string
	topic    string
	answer   func(n int, path string) int // n counts requests from 0
	mu       sync.Mutex
	reqs     []httpRequest
	accepted []string
}

func newEndpoint(t *testing.T, group, topic string, answer func(n int, path string) int) (*endpoint, *httptest.Server) {
	e := &endpoint{t: t, adm: kadm.NewClient(client(t)), group: group, topic: topic, answer: answer}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	committed := e.committed()
	e.mu.Lock()
	status := e.answer(len(e.reqs), r.URL.Path)
	e.reqs = append(e.reqs, httpRequest{at: time.Now(), method: r.Method, header: r.Header.Clone(), body: string(body), status: status, committed: committed})
	if status/100 == 2 {
		var values []json.RawMessage
		if err := json.Unmarshal(body, &values); err != nil {
			e.t.Errorf("body is not a JSON array: %v: %s", err, body)
		}
		for _, v := range values {
			e.accepted = append(e.accepted, string(v))
		}
	}
	e.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "answered %d", status)
}

// committed returns the group's committed offset of partition 0, -1 if none.
func (e *endpoint) committed() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := e.adm.FetchOffsets(ctx, e.group)
	if err != nil {
		e.t.Errorf("fetching %s's offsets: %v", e.group, err)
		return -1
	}
	if o, ok := offs.Lookup(e.topic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}

func (e *endpoint) snapshot() ([]httpRequest, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]httpRequest(nil), e.reqs...), append([]string(nil), e.accepted...)
}

// produceJSON writes n records {"n":i} to partition 0 of topic.
func produceJSON(t *testing.T, topic string, n int) []string {
	t.Helper()
	cl := client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []string
	var recs []*kgo.Record
	for i := range n {
		v := fmt.Sprintf(`{"n":%d}`, i)
		want = append(want, v)
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestHTTPSinkRetriesThenDelivers: the endpoint answers 503 three times, then 2xx. The sink
// retries the same batch after retry.backoff.ms each time, commits nothing while the batch is
// not accepted, and in the end every record arrived once, in order, in JSON-array batches of
// at most batch.max.size, with the configured method and headers; the group's offset then
// covers them all.
func TestHTTPSinkRetriesThenDelivers(t *testing.T) {
	const n, failures, backoff = 250, 3, 300 * time.Millisecond
	prefix := names(t)
	topic := prefix + "-t"
	createTopic(t, topic, 1)
	want := produceJSON(t, topic, n)
	e, srv := newEndpoint(t, connect.SinkGroup(prefix), topic, func(i int, _ string) int {
		if i < failures {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	w := startWorker(t, t.TempDir(), nil)
	c := map[string]any{"name": prefix, "config": map[string]string{
		"connector.class": "io.confluent.connect.http.HttpSinkConnector", "topics": topic,
		"http.api.url": srv.URL + "/ingest", "request.method": "PUT", "headers": "X-Test:yes|Authorization:Bearer abc",
		"batch.max.size": "100", "max.retries": "5", "retry.backoff.ms": "300", "retry.backoff.policy": "CONSTANT_VALUE"}}
	if code, body := call(t, w, "POST", "/connectors", c); code != 201 {
		t.Fatalf("creating the connector: %d %s", code, body)
	}
	waitFor(t, defaultWait, "every record accepted and committed", func() (bool, string) {
		_, got := e.snapshot()
		c := e.committed()
		return len(got) >= n && c == n, fmt.Sprintf("%d accepted, committed %d", len(got), c)
	})
	reqs, got := e.snapshot()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("accepted %d values, want %d in order; first %q", len(got), n, got[:min(5, len(got))])
	}
	for i, r := range reqs {
		if r.method != http.MethodPut || r.header.Get("X-Test") != "yes" || r.header.Get("Authorization") != "Bearer abc" ||
			r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %s with headers %v", i, r.method, r.header)
		}
		var values []json.RawMessage
		if err := json.Unmarshal([]byte(r.body), &values); err != nil || len(values) == 0 || len(values) > 100 {
			t.Fatalf("request %d: %d values (err %v), want 1 to 100", i, len(values), err)
		}
	}
	if len(reqs) < failures+1 {
		t.Fatalf("%d requests, want the %d failures and their retry", len(reqs), failures)
	}
	for i := 1; i <= failures; i++ {
		if reqs[i].body != reqs[0].body {
			t.Fatalf("retry %d sent a different batch than the first attempt", i)
		}
		if gap := reqs[i].at.Sub(reqs[i-1].at); gap < backoff {
			t.Fatalf("retry %d came %v after the failure, before retry.backoff.ms=%v", i, gap, backoff)
		}
	}
	for i := range failures + 1 {
		if reqs[i].committed != -1 {
			t.Fatalf("request %d (before the first 2xx): the group had already committed offset %d", i, reqs[i].committed)
		}
	}
}

// TestHTTPSinkClientErrors: a 400 is not retried. With behavior.on.error=fail (the default)
// the task fails after the one request and commits nothing; with behavior.on.error=log the
// batch is given up on, every batch is sent exactly once, and the offsets move past them.
func TestHTTPSinkClientErrors(t *testing.T) {
	const n = 30
	prefix := names(t)
	topic := prefix + "-t"
	createTopic(t, topic, 1)
	produceJSON(t, topic, n)
	w := startWorker(t, t.TempDir(), nil)

	failing, fsrv := newEndpoint(t, connect.SinkGroup(prefix+"-fail"), topic, func(int, string) int { return http.StatusBadRequest })
	c := map[string]any{"name": prefix + "-fail", "config": map[string]string{
		"connector.class": "http-sink", "topics": topic, "http.api.url": fsrv.URL, "batch.max.size": "10",
		"max.retries": "5", "retry.backoff.ms": "10"}}
	if code, body := call(t, w, "POST", "/connectors", c); code != 201 {
		t.Fatalf("creating the connector: %d %s", code, body)
	}
	waitFor(t, defaultWait, "the task FAILED", func() (bool, string) {
		st, err := w.Herder.Status(prefix + "-fail")
		if err != nil {
			return false, err.Error()
		}
		return len(st.Tasks) == 1 && st.Tasks[0].State == connect.StateFailed, fmt.Sprintf("%+v", st)
	})
	st, _ := w.Herder.Status(prefix + "-fail")
	if !strings.Contains(st.Tasks[0].Trace, "400 Bad Request") {
		t.Fatalf("the task's trace does not say what the endpoint answered: %s", st.Tasks[0].Trace)
	}
	if reqs, _ := failing.snapshot(); len(reqs) != 1 {
		t.Fatalf("%d requests, want 1: a 400 is not retried", len(reqs))
	}
	if c := failing.committed(); c != -1 {
		t.Fatalf("the failed task committed offset %d", c)
	}

	logging, lsrv := newEndpoint(t, connect.SinkGroup(prefix+"-log"), topic, func(int, string) int { return http.StatusUnprocessableEntity })
	c = map[string]any{"name": prefix + "-log", "config": map[string]string{
		"connector.class": "http-sink", "topics": topic, "http.api.url": lsrv.URL, "batch.max.size": "10",
		"behavior.on.error": "log", "retry.backoff.ms": "10"}}
	if code, body := call(t, w, "POST", "/connectors", c); code != 201 {
		t.Fatalf("creating the connector: %d %s", code, body)
	}
	waitFor(t, defaultWait, "the offsets past every given-up batch", func() (bool, string) {
		c := logging.committed()
		return c == n, fmt.Sprintf("committed %d", c)
	})
	reqs, _ := logging.snapshot()
	seen, values := map[string]bool{}, 0
	for _, r := range reqs {
		if seen[r.body] {
			t.Fatalf("a 422'd batch was sent twice: %s", r.body)
		}
		seen[r.body] = true
		var vs []json.RawMessage
		json.Unmarshal([]byte(r.body), &vs)
		values += len(vs)
	}
	if values != n {
		t.Fatalf("the requests held %d values, want each of the %d once", values, n)
	}
}

// TestHTTPSinkValidate: the REST API's validation names each bad property.
func TestHTTPSinkValidate(t *testing.T) {
	w := startWorker(t, t.TempDir(), nil)
	code, body := call(t, w, "PUT", "/connector-plugins/HttpSink/config/validate", map[string]string{
		"name": "v", "connector.class": "HttpSink", "topics": "x", "http.api.url": "ftp://h/", "request.method": "GET",
		"batch.max.size": "0", "retry.on.status.codes": "500-400", "headers": "NoColon"})
	if code != 200 {
		t.Fatalf("validate: %d %s", code, body)
	}
	var res struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	bad := map[string]bool{}
	for _, c := range res.Configs {
		if len(c.Value.Errors) > 0 {
			bad[c.Value.Name] = true
		}
	}
	for _, p := range []string{"http.api.url", "request.method", "batch.max.size", "retry.on.status.codes", "headers"} {
		if !bad[p] {
			t.Errorf("%s: no error reported (errors on %v)", p, bad)
		}
	}
	if res.ErrorCount != 5 {
		t.Errorf("error_count %d, want 5: %s", res.ErrorCount, body)
	}
}
