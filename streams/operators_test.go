package streams_test

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/logd/logd/streams"
)

func int64s(b []byte) string { return strconv.FormatInt(int64(binary.BigEndian.Uint64(b)), 10) }

// TestOperators runs every stateless operator in one topology and checks each output
// topic exactly.
func TestOperators(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, in2 := p+"-in", p+"-in2"
	outs := map[string]string{}
	for _, o := range []string{"filter", "mapvalues", "map", "flatmap", "even", "odd", "merge"} {
		outs[o] = p + "-" + o
		createTopic(t, outs[o], 1)
	}
	createTopic(t, in, 2)
	createTopic(t, in2, 2)

	b := streams.NewBuilder()
	s := streams.From(b, in, streams.String(), streams.String())
	var mu sync.Mutex
	var peeked, foreach []string
	s = s.Peek(func(k, v string) { mu.Lock(); peeked = append(peeked, k+"="+v); mu.Unlock() })
	s.Filter(func(_, v string) bool { return strings.HasPrefix(v, "a") }).To(outs["filter"], streams.String(), streams.String())
	streams.MapValues(s, func(k, v string) int64 { return int64(len(v)) }).To(outs["mapvalues"], streams.String(), streams.Int64())
	streams.Map(s, func(k, v string) (string, string) { return v, k }).To(outs["map"], streams.String(), streams.String())
	streams.FlatMap(s, func(k, v string) []streams.KeyValue[string, string] {
		var out []streams.KeyValue[string, string]
		for i, c := range v {
			out = append(out, streams.KeyValue[string, string]{Key: fmt.Sprintf("%s.%d", k, i), Value: string(c)})
		}
		return out
	}).To(outs["flatmap"], streams.String(), streams.String())
	br := s.Branch(
		func(_, v string) bool { return len(v)%2 == 0 },
		func(_, v string) bool { return len(v)%2 == 1 },
	)
	br[0].To(outs["even"], streams.String(), streams.String())
	br[1].To(outs["odd"], streams.String(), streams.String())
	s2 := streams.From(b, in2, streams.String(), streams.String())
	s.Merge(s2).To(outs["merge"], streams.String(), streams.String())
	s2.Foreach(func(k, v string) { mu.Lock(); foreach = append(foreach, k+"="+v); mu.Unlock() })
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	start(t, topo, streams.Config{ApplicationID: p})
	produce(t, in, rec{Key: "k1", Value: "abc"}, rec{Key: "k2", Value: "bb"}, rec{Key: "k3", Value: "a"})
	produce(t, in2, rec{Key: "x", Value: "zz"})

	want := map[string][]string{
		"filter":    {"k1=abc", "k3=a"},
		"mapvalues": {"k1=3", "k2=2", "k3=1"},
		"map":       {"a=k3", "abc=k1", "bb=k2"},
		"flatmap":   {"k1.0=a", "k1.1=b", "k1.2=c", "k2.0=b", "k2.1=b", "k3.0=a"},
		"even":      {"k2=bb"},
		"odd":       {"k1=abc", "k3=a"},
		"merge":     {"k1=abc", "k2=bb", "k3=a", "x=zz"},
	}
	for name, w := range want {
		render := plain
		if name == "mapvalues" {
			render = int64s
		}
		if got := strs(consume(t, outs[name], len(w)), render); !reflect.DeepEqual(got, w) {
			t.Errorf("%s: got %v, want %v", name, got, w)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(peeked) != 3 || len(foreach) != 1 || foreach[0] != "x=zz" {
		t.Errorf("peek saw %v, foreach %v", peeked, foreach)
	}
}

// TestAggregations checks Count, Reduce and Aggregate, GroupBy through a repartition
// topic named as Kafka Streams names it, and the final value per key.
func TestAggregations(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, counts, sums, longest := p+"-in", p+"-counts", p+"-sums", p+"-longest"
	createTopic(t, in, 3)
	for _, o := range []string{counts, sums, longest} {
		createTopic(t, o, 1)
	}
	b := streams.NewBuilder()
	s := streams.From(b, in, streams.String(), streams.String())
	// Regroup "user" → "team" (the value's part before ':').
	byTeam := streams.GroupBy(s, func(_, v string) string { return strings.SplitN(v, ":", 2)[0] },
		streams.Grouped[string, string]{Name: "by-team", Keys: streams.String(), Values: streams.String()})
	byTeam.Count("team-counts").ToStream().To(counts, streams.String(), streams.Int64())
	streams.Aggregate(byTeam, "team-sums", func() int64 { return 0 }, func(_ string, v string, agg int64) int64 {
		n, _ := strconv.Atoi(strings.SplitN(v, ":", 2)[1])
		return agg + int64(n)
	}, streams.Int64()).ToStream().To(sums, streams.String(), streams.Int64())
	streams.GroupByKey(s, streams.Grouped[string, string]{Name: "by-user", Keys: streams.String(), Values: streams.String()}).
		Reduce("user-longest", func(agg, v string) string {
			if len(v) > len(agg) {
				return v
			}
			return agg
		}).ToStream().To(longest, streams.String(), streams.String())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	produce(t, in,
		rec{Key: "ann", Value: "red:5"}, rec{Key: "bob", Value: "blue:7"}, rec{Key: "ann", Value: "red:10"},
		rec{Key: "cat", Value: "red:1"}, rec{Key: "bob", Value: "blue:3"})

	last := func(topic string, want int, render func([]byte) string) map[string]string {
		m := map[string]string{}
		for _, r := range consume(t, topic, want) {
			m[string(r.Key)] = render(r.Value)
		}
		return m
	}
	if got, want := last(counts, 5, int64s), map[string]string{"red": "3", "blue": "2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("counts: got %v, want %v", got, want)
	}
	if got, want := last(sums, 5, int64s), map[string]string{"red": "16", "blue": "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sums: got %v, want %v", got, want)
	}
	if got, want := last(longest, 5, plain), map[string]string{"ann": "red:10", "bob": "blue:7", "cat": "red:1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("reduce: got %v, want %v", got, want)
	}
	// The internal topics are Kafka Streams' names, with the source's partition count.
	topics := listTopics(t)
	for _, name := range []string{p + "-by-team-repartition", p + "-team-counts-changelog", p + "-team-sums-changelog", p + "-user-longest-changelog"} {
		if n, ok := topics[name]; !ok || n != 3 {
			t.Errorf("internal topic %s: exists %v, %d partitions, want 3", name, ok, n)
		}
	}
	if _, ok := topics[p+"-by-user-repartition"]; ok {
		t.Errorf("GroupByKey without a key change made a repartition topic")
	}
}
