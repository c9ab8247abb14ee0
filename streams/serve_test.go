package streams_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// TestQueryServer runs three instances over three tasks, each serving queries over
// HTTP on its announced endpoint: every instance answers every key query (its own
// keys locally, the others' forwarded to the owner), a range query on any instance
// gathers all keys from all three, a window query is forwarded like a key query, an
// absent key, an unknown store and a malformed bound get 404, 404 and 400. Then one
// instance restarts with an empty state directory: after the restore every instance,
// the restarted one too, answers every key again with the counts of the records produced
// while it was down, and the restarted one holds keys of its own again.
func TestQueryServer(t *testing.T) {
	t.Parallel()
	p := names(t)
	in := p + "-in"
	createTopic(t, in, 3)
	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	g.Count("counts")
	g.WindowedBy(streams.Tumbling(time.Minute, time.Hour)).Count("windows")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) (string, error) { return s, nil }
	// launch starts an instance with an empty state directory serving on addr; stop ends
	// both the instance and its HTTP server.
	launch := func(addr string) (ep string, stop func()) {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		ep = l.Addr().String()
		r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir(), Endpoint: ep})
		qs := streams.NewQueryServer(r.app)
		streams.ServeKeyValueStore(qs, "counts", streams.String(), streams.Int64(), parse)
		streams.ServeWindowStore(qs, "windows", streams.String(), streams.Int64(), parse)
		srv := &http.Server{Handler: qs}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		return ep, func() { srv.Close(); r.stop(t) }
	}
	var endpoints []string
	var stops []func()
	for range 3 {
		ep, stop := launch("127.0.0.1:0")
		endpoints, stops = append(endpoints, ep), append(stops, stop)
	}
	get := func(ep, path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get("http://" + ep + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("GET %s%s: %s: not JSON: %q", ep, path, resp.Status, raw)
		}
		return resp.StatusCode, body
	}
	// A minute boundary near now: Apache Kafka deletes records older than a topic's
	// retention.ms (rolling the active segment), input and changelogs alike.
	t0 := time.Now().Truncate(time.Minute).UnixMilli()
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"}
	var recs []rec
	want := map[string]any{}
	for i, k := range keys {
		for range i + 1 {
			recs = append(recs, rec{Key: k, Value: "x", TS: t0})
		}
		want[k] = float64(i + 1) // JSON numbers
	}
	produce(t, in, recs...)

	// Every instance answers every key (once the group settled and the counts committed).
	answersAll := func(what string) {
		t.Helper()
		for _, k := range keys {
			for _, ep := range endpoints {
				var code int
				var body map[string]any
				for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					code, body = get(ep, "/stores/counts/keys/"+k)
					if code == http.StatusOK && body["value"] == want[k] {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: key %s on %s: %d %v, want the count %v", what, k, ep, code, body, want[k])
					}
				}
				if body["key"] != k {
					t.Errorf("%s: key %s on %s: answer for key %v", what, k, ep, body["key"])
				}
			}
		}
	}
	answersAll("first start")
	// The keys spread over the instances once the group has given each one a task: the
	// first instance to join holds all three tasks until the others' rebalance ends
	// (Kafka's group.initial.rebalance.delay.ms), answering the others' keys meanwhile.
	for _, ep := range endpoints {
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			_, local := get(ep, "/stores/counts/range?local=1")
			entries, _ := local["entries"].([]any)
			if n := len(entries); n > 0 && n < len(keys) {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("local range on %s: %d entries 60 s after the start, want some of the %d keys, not all", ep, n, len(keys))
			}
		}
	}
	// Every instance's range gathers all.
	for _, ep := range endpoints {
		code, body := get(ep, "/stores/counts/range")
		got := map[string]any{}
		entries, _ := body["entries"].([]any)
		for _, e := range entries {
			m := e.(map[string]any)
			got[fmt.Sprint(m["key"])] = m["value"]
		}
		if code != http.StatusOK || !reflect.DeepEqual(got, want) {
			t.Errorf("range on %s: %d %v, want %v", ep, code, got, want)
		}
	}
	for _, ep := range endpoints {
		code, body := get(ep, fmt.Sprintf("/stores/windows/windows/k4?from=%d&to=%d", t0, t0))
		ws, _ := body["windows"].([]any)
		if code != http.StatusOK || len(ws) != 1 || ws[0].(map[string]any)["value"] != float64(5) ||
			ws[0].(map[string]any)["start"] != float64(t0) {
			t.Errorf("windows of k4 on %s: %d %v, want one window at %d counting 5", ep, code, body, int64(t0))
		}
	}
	for path, want := range map[string]int{
		"/stores/counts/keys/absent":        http.StatusNotFound,
		"/stores/nope/keys/k1":              http.StatusNotFound,
		"/stores/windows/windows/k1?from=x": http.StatusBadRequest,
		"/stores/windows/keys/k1":           http.StatusNotFound,
	} {
		if code, body := get(endpoints[0], path); code != want || body["error"] == nil {
			t.Errorf("GET %s: %d %v, want %d with an error", path, code, body, want)
		}
	}

	// Restart: the first instance stops, and starts again on its endpoint with an empty state
	// directory; once its tasks are restored from the changelogs it answers again, its own
	// keys included, and counts the records produced while it was away.
	stops[0]()
	var more []rec
	for i, k := range keys {
		more = append(more, rec{Key: k, Value: "y", TS: t0})
		want[k] = float64(i + 2)
	}
	produce(t, in, more...)
	if ep, _ := launch(endpoints[0]); ep != endpoints[0] {
		t.Fatalf("restarted instance listens on %s, want %s", ep, endpoints[0])
	}
	answersAll("after the restart")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, local := get(endpoints[0], "/stores/counts/range?local=1")
		if entries, _ := local["entries"].([]any); len(entries) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted instance holds no keys 60 s after its restart: %v", local)
		}
	}
}
