package streams_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// TestInteractiveQueries runs two instances, each announcing an endpoint, over two
// tasks: Locate names the instance that has each key's task; that instance answers
// key, window and session queries with the committed counts, the other says
// ErrNotLocal; the two instances' range queries split the keys between them.
func TestInteractiveQueries(t *testing.T) {
	t.Parallel()
	p := names(t)
	in := p + "-in"
	createTopic(t, in, 2)
	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	g.Count("counts")
	g.WindowedBy(streams.Tumbling(time.Minute, time.Hour)).Count("windows")
	g.WindowedBySession(streams.Sessions(10*time.Second, time.Hour)).Count("sessions")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]*streams.App{}
	for _, ep := range []string{"host-1:1", "host-2:2"} {
		apps[ep] = start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir(), Endpoint: ep}).app
	}
	keys := []string{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"}
	ctx := context.Background()
	// Wait for the group to give each instance a task.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		seen := map[string]bool{}
		for _, k := range keys {
			if loc, err := streams.Locate(ctx, apps["host-1:1"], k, streams.String()); err == nil {
				seen[loc.Endpoint] = true
			}
		}
		if seen["host-1:1"] && seen["host-2:2"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two instances did not both get a task: endpoints seen %v", seen)
		}
	}
	const t0 = 28333334 * 60000 // a minute boundary
	var recs []rec
	for i, k := range keys {
		for j := range i + 1 {
			recs = append(recs, rec{Key: k, Value: "x", TS: t0 + int64(j)*1000})
		}
	}
	produce(t, in, recs...)

	for i, k := range keys {
		want := int64(i + 1)
		loc, err := streams.Locate(ctx, apps["host-2:2"], k, streams.String())
		if err != nil {
			t.Fatal(err)
		}
		owner := apps[loc.Endpoint]
		if owner == nil {
			t.Fatalf("key %s: Locate gave endpoint %q", k, loc.Endpoint)
		}
		// Counts show once committed (CommitInterval 200 ms). A late rebalance (Apache Kafka's
		// coordinator may still settle the group) can move the task: locate it again.
		var got int64
		for deadline := time.Now().Add(20 * time.Second); got != want; time.Sleep(50 * time.Millisecond) {
			got, _, err = streams.QueryKey(owner, "counts", k, streams.String(), streams.Int64())
			if errors.Is(err, streams.ErrNotLocal) && time.Now().Before(deadline) {
				if loc, err = streams.Locate(ctx, apps["host-2:2"], k, streams.String()); err != nil {
					t.Fatal(err)
				}
				if owner = apps[loc.Endpoint]; owner == nil {
					t.Fatalf("key %s: Locate gave endpoint %q", k, loc.Endpoint)
				}
				continue
			}
			if err != nil {
				t.Fatalf("key %s on %s: %v", k, loc.Endpoint, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %s on %s: count %d, want %d", k, loc.Endpoint, got, want)
			}
		}
		// Locate again: a task that moved was not yet open on its new owner when located.
		if loc, err = streams.Locate(ctx, apps["host-2:2"], k, streams.String()); err != nil {
			t.Fatal(err)
		}
		if loc.Local != (owner == apps["host-2:2"]) {
			t.Errorf("key %s: Locate on host-2 says Local %v, but the task is on %s", k, loc.Local, loc.Endpoint)
		}
		for ep, other := range apps {
			if other != owner {
				if _, _, err := streams.QueryKey(other, "counts", k, streams.String(), streams.Int64()); !errors.Is(err, streams.ErrNotLocal) {
					t.Errorf("key %s queried on %s, which lacks its task: %v, want ErrNotLocal", k, ep, err)
				}
			}
		}
		var windows []string
		collect := func(w streams.Windowed[string], n int64) bool {
			windows = append(windows, fmt.Sprintf("%s[%d,%d]=%d", w.Key, (w.Start-t0)/1000, (w.End-t0)/1000, n))
			return true
		}
		if err := streams.QueryWindows(owner, "windows", k, t0, t0, streams.String(), streams.Int64(), collect); err != nil {
			t.Fatal(err)
		}
		if err := streams.QueryWindows(owner, "sessions", k, t0, t0+100_000, streams.String(), streams.Int64(), collect); err != nil {
			t.Fatal(err)
		}
		if want := []string{fmt.Sprintf("%s[0,60]=%d", k, want), fmt.Sprintf("%s[0,%d]=%d", k, i, want)}; !reflect.DeepEqual(windows, want) {
			t.Errorf("key %s windows and sessions: got %v, want %v", k, windows, want)
		}
	}
	var all []string
	for ep, app := range apps {
		var mine []string
		if err := streams.QueryRange(app, "counts", nil, nil, streams.String(), streams.Int64(), func(k string, _ int64) bool {
			mine = append(mine, k)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(mine) == 0 || len(mine) == len(keys) {
			t.Errorf("%s holds %v: want some keys, not all", ep, mine)
		}
		all = append(all, mine...)
	}
	sort.Strings(all)
	if !reflect.DeepEqual(all, keys) {
		t.Errorf("range queries on both instances: %v, want each of %v once", all, keys)
	}
}
