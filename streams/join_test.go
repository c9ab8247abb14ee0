package streams_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// TestStreamTableJoin joins payments with a table of account limits read from a
// compacted topic, inner and left, after the table saw an update and a delete.
func TestStreamTableJoin(t *testing.T) {
	t.Parallel()
	p := names(t)
	limits, payments, inner, left := p+"-limits", p+"-payments", p+"-inner", p+"-left"
	createTopic(t, limits, 2, "cleanup.policy", "compact")
	createTopic(t, payments, 2)
	createTopic(t, inner, 1)
	createTopic(t, left, 1)

	b := streams.NewBuilder()
	table := streams.TableFrom(b, limits, "limits", streams.String(), streams.String())
	pays := streams.From(b, payments, streams.String(), streams.String())
	streams.JoinTable(pays, table, func(acct, amount, limit string) string { return amount + "/" + limit }).
		To(inner, streams.String(), streams.String())
	streams.LeftJoinTable(pays, table, func(acct, amount string, limit *string) string {
		if limit == nil {
			return amount + "/none"
		}
		return amount + "/" + *limit
	}).To(left, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	produce(t, limits, rec{Key: "ann", Value: "100"}, rec{Key: "bob", Value: "50"}, rec{Key: "cat", Value: "10"},
		rec{Key: "bob", Value: "70"}, rec{Key: "cat", Tomb: true})
	r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	// The table is read before any payment exists: wait until all five updates are in.
	for deadline := time.Now().Add(20 * time.Second); r.app.Metrics().RecordsProcessed.Load() < 5; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the table's records were not processed: %d", r.app.Metrics().RecordsProcessed.Load())
		}
	}
	produce(t, payments, rec{Key: "ann", Value: "30"}, rec{Key: "bob", Value: "60"}, rec{Key: "cat", Value: "5"}, rec{Key: "dan", Value: "1"})

	if got, want := strs(consume(t, inner, 2), plain), []string{"ann=30/100", "bob=60/70"}; !reflect.DeepEqual(got, want) {
		t.Errorf("inner join: got %v, want %v", got, want)
	}
	if got, want := strs(consume(t, left, 4), plain), []string{"ann=30/100", "bob=60/70", "cat=5/none", "dan=1/none"}; !reflect.DeepEqual(got, want) {
		t.Errorf("left join: got %v, want %v", got, want)
	}
}

// TestTopicErrors: Run refuses, with a clear error, sources that are not co-partitioned
// and a missing sink; Build refuses a join after a key change.
func TestTopicErrors(t *testing.T) {
	t.Parallel()
	p := names(t)
	a, b2, out := p+"-a", p+"-b", p+"-out"
	createTopic(t, a, 2)
	createTopic(t, b2, 3)
	run := func(b *streams.Builder) error {
		topo, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		app, err := streams.New(topo, streams.Config{ApplicationID: p, Brokers: brokers, StateDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return app.Run(ctx)
	}

	b := streams.NewBuilder()
	tbl := streams.TableFrom(b, b2, "b-table", streams.String(), streams.String())
	streams.JoinTable(streams.From(b, a, streams.String(), streams.String()), tbl,
		func(_, v, w string) string { return v + w }).To(a, streams.String(), streams.String())
	if err := run(b); err == nil || !strings.Contains(err.Error(), "not co-partitioned") {
		t.Errorf("sources of 2 and 3 partitions: Run returned %v", err)
	}

	b = streams.NewBuilder()
	streams.From(b, a, streams.String(), streams.String()).To(out, streams.String(), streams.String())
	if err := run(b); err == nil || !strings.Contains(err.Error(), out+" does not exist") {
		t.Errorf("missing sink: Run returned %v", err)
	}

	b = streams.NewBuilder()
	tbl = streams.TableFrom(b, b2, "b-table", streams.String(), streams.String())
	rekeyed := streams.Map(streams.From(b, a, streams.String(), streams.String()), func(k, v string) (string, string) { return v, k })
	streams.JoinTable(rekeyed, tbl, func(_, v, w string) string { return v + w })
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "keys changed") {
		t.Errorf("join after Map: Build returned %v", err)
	}
}
