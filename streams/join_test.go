package streams_test

import (
	"reflect"
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
