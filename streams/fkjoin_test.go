package streams_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/streams"
	"github.com/twmb/franz-go/pkg/kgo"
)

var fkSeed = flag.Uint64("fkseed", 0, "seed of TestForeignKeyJoin (0: from the clock)")

// TestForeignKeyJoin joins a table of orders ("customer:item", keyed by order) with a
// table of customers by the order's customer, inner and left, over two partitions (so
// subscriptions and answers cross tasks), through random updates, foreign-key changes
// and deletions on both sides; the joined tables written with Table.To, tombstones
// included, must end equal to a model's join of the two tables' final states. Halfway
// the application restarts with an empty state directory. The seed is printed; -fkseed
// replays one.
func TestForeignKeyJoin(t *testing.T) {
	t.Parallel()
	seed := *fkSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -fkseed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	p := names(t)
	orders, customers, inner, left := p+"-orders", p+"-customers", p+"-inner", p+"-left"
	for _, topic := range []string{orders, customers, inner, left} {
		createTopic(t, topic, 2)
	}
	b := streams.NewBuilder()
	o := streams.TableFrom(b, orders, "orders", streams.String(), streams.String())
	c := streams.TableFrom(b, customers, "customers", streams.String(), streams.String())
	customer := func(_, order string) string { return strings.SplitN(order, ":", 2)[0] }
	streams.JoinForeignKey(o, c, "inner", customer, func(_, order, cust string) string { return order + "+" + cust }, streams.String()).
		To(inner, streams.String(), streams.String())
	streams.LeftJoinForeignKey(o, c, "left", customer, func(_, order string, cust *string) string { return order + "+" + orNull(cust) }, streams.String()).
		To(left, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	app := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})

	model := map[string]map[string]string{orders: {}, customers: {}}
	for i := range 300 {
		if i == 150 {
			// Restart with the state directory gone: the tables, the subscription store
			// and the join's progress come back from the changelogs and the subscription
			// topics, and the second half joins against what was restored.
			app.stop(t)
			app = start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
		}
		topic, key := orders, fmt.Sprintf("o%d", rng.IntN(20))
		value := fmt.Sprintf("c%d:item%d", rng.IntN(6), i)
		if rng.IntN(3) == 0 {
			topic, key, value = customers, fmt.Sprintf("c%d", rng.IntN(6)), fmt.Sprintf("name%d", i)
		}
		if rng.IntN(8) == 0 {
			delete(model[topic], key)
			produce(t, topic, rec{Key: key, Tomb: true})
			continue
		}
		model[topic][key] = value
		produce(t, topic, rec{Key: key, Value: value})
	}
	wantInner, wantLeft := map[string]string{}, map[string]string{}
	for k, order := range model[orders] {
		cust, ok := model[customers][customer(k, order)]
		if ok {
			wantInner[k] = order + "+" + cust
			wantLeft[k] = order + "+" + cust
		} else {
			wantLeft[k] = order + "+null"
		}
	}
	for topic, want := range map[string]map[string]string{inner: wantInner, left: wantLeft} {
		got := readTable(t, topic, want)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %v\nwant %v", topic, got, want)
		}
	}
	t.Logf("stale answers dropped: %d", app.app.Metrics().StaleForeignKeyResponses.Load())
	topics := listTopics(t)
	for _, suffix := range []string{"-inner-subscription-registration-topic", "-inner-subscription-response-topic", "-left-subscription-store-changelog"} {
		if _, ok := topics[p+suffix]; !ok {
			t.Errorf("no internal topic %s%s", p, suffix)
		}
	}
}

// readTable reads topic from the start as a table (the last value per key, a tombstone
// deleting it) until it equals want or 60 s passed; it returns the table last read.
func readTable(t *testing.T, topic string, want map[string]string) map[string]string {
	t.Helper()
	cl := client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]string{}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && !reflect.DeepEqual(got, want); {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value == nil {
				delete(got, string(r.Key))
			} else {
				got[string(r.Key)] = string(r.Value)
			}
		})
	}
	return got
}
