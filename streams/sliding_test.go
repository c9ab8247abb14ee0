package streams_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/logd/logd/streams"
)

// TestSlidingWindows counts per key in sliding windows of 10 s with 10 s of grace,
// suppressed, over records in order, out of order (creating the windows it would have
// in order) and late.
func TestSlidingWindows(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, out := p+"-in", p+"-out"
	createTopic(t, in, 1)
	createTopic(t, out, 1)

	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	ser := streams.WindowedSerde(streams.String(), 10_000)
	streams.SuppressUntilWindowClose(g.WindowedBySliding(streams.Sliding(10*time.Second, 10*time.Second)).Count("sliding")).
		ToStream().To(out, ser, streams.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	const t0 = 1_700_000_000_000
	at := func(key string, sec int64) rec { return rec{Key: key, Value: "x", TS: t0 + sec*1000} }
	produce(t, in,
		at("k", 100), at("k", 112),
		at("k", 105), // out of order: creates [95,105], [100.001,110.001] and [105.001,115.001]; grows [102,112]
		at("k", 130), // closes every window ending before 120
		at("k", 103), // late: its windows end by 113 < 120
		at("j", 200), // closes [120,130]
	)
	if got, want := windowStrs(t, consume(t, out, 6), ser, t0), []string{
		"k[100.001,110.001]=1", "k[102,112]=2", "k[105.001,115.001]=1", "k[120,130]=1", "k[90,100]=1", "k[95,105]=2",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("sliding windows: got %v, want %v", got, want)
	}
	if got := r.app.Metrics().LateRecordsDropped.Load(); got != 1 {
		t.Errorf("late records dropped: %d, want 1", got)
	}
}
