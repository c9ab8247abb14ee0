package streams_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// TestStandbyFailover runs two instances with one standby replica over one task: the
// instance without the task keeps its store warm from the changelog; when the active
// instance stops, the standby takes the task over restoring (almost) nothing, with
// every count intact.
func TestStandbyFailover(t *testing.T) {
	t.Parallel()
	p := names(t)
	in := p + "-in"
	createTopic(t, in, 1)
	b := streams.NewBuilder()
	streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()}).Count("counts")
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]*running{}
	opened := map[*running]*atomic.Bool{} // the instance has restored its store (as a standby: before any record)
	for _, ep := range []string{"host-a:1", "host-b:2"} {
		done := &atomic.Bool{}
		runs[ep] = start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir(), Endpoint: ep, StandbyReplicas: 1,
			OnRestore: func(rp streams.RestoreProgress) {
				if rp.Done {
					done.Store(true)
				}
			}})
		opened[runs[ep]] = done
	}
	ctx := context.Background()
	var active, standby *running
	for deadline := time.Now().Add(30 * time.Second); active == nil; time.Sleep(100 * time.Millisecond) {
		if loc, err := streams.Locate(ctx, runs["host-a:1"].app, "k", streams.String()); err == nil && runs[loc.Endpoint] != nil {
			active = runs[loc.Endpoint]
			for _, r := range runs {
				if r != active {
					standby = r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no instance got the task")
		}
	}
	for deadline := time.Now().Add(30 * time.Second); !opened[standby].Load(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the standby task did not open")
		}
	}
	const n = 300
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{Key: fmt.Sprintf("k%03d", i), Value: "x"}
	}
	produce(t, in, recs...)
	waitProcessed(t, active.app, n)
	for deadline := time.Now().Add(30 * time.Second); standby.app.Metrics().StandbyRecords.Load() < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the standby applied %d of %d changelog records", standby.app.Metrics().StandbyRecords.Load(), n)
		}
	}
	restoredBefore := standby.app.Metrics().RestoredRecords.Load()
	active.stop(t)
	produce(t, in, rec{Key: "last", Value: "x"})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if v, ok, err := streams.QueryKey(standby.app, "counts", "last", streams.String(), streams.Int64()); err == nil && ok && v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby did not take the task over")
		}
	}
	for _, k := range []string{"k000", "k150", "k299"} {
		if v, ok, err := streams.QueryKey(standby.app, "counts", k, streams.String(), streams.Int64()); err != nil || !ok || v != 1 {
			t.Errorf("after failover, count of %s: %d %v %v, want 1", k, v, ok, err)
		}
	}
	if restored := standby.app.Metrics().RestoredRecords.Load() - restoredBefore; restored > 10 {
		t.Errorf("the failover restored %d changelog records; a warm standby should need (almost) none of the %d", restored, n)
	}
}
