package streams_test

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/logd/logd/streams"
)

// TestWindowedCounts counts per key in 1-minute tumbling and in 1-minute windows hopping
// by 30 s, both with 10 s of grace and suppressed until their windows close, over events
// out of order (within grace) and late (beyond it: dropped and counted).
func TestWindowedCounts(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, tumbling, hopping := p+"-in", p+"-tumbling", p+"-hopping"
	createTopic(t, in, 1)
	createTopic(t, tumbling, 1)
	createTopic(t, hopping, 1)

	const t0 = 28333334 * 60000 // a minute boundary
	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	wser := streams.WindowedSerde(streams.String(), time.Minute.Milliseconds())
	streams.SuppressUntilWindowClose(g.WindowedBy(streams.Tumbling(time.Minute, 10*time.Second)).Count("tumbling")).
		ToStream().To(tumbling, wser, streams.Int64())
	streams.SuppressUntilWindowClose(g.WindowedBy(streams.Hopping(time.Minute, 30*time.Second, 10*time.Second)).Count("hopping")).
		ToStream().To(hopping, wser, streams.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	at := func(key string, sec int64) rec { return rec{Key: key, Value: "x", TS: t0 + sec*1000} }
	produce(t, in,
		at("k1", 5), at("k1", 30), at("k2", 50),
		at("k1", 65),  // stream time 65 s: [0,60) stays open until 70 s
		at("k1", 20),  // out of order, within grace: counts in [0,60)
		at("k2", 75),  // stream time 75 s: [0,60) closes
		at("k1", 40),  // late for [0,60) (dropped by the tumbling count), on time for [30,90)
		at("k1", 130), // stream time 130 s: [60,120) and [30,90) close
	)
	if got, want := read(t, tumbling, wser, t0), []string{"k1[0,60)=3", "k1[60,120)=1", "k2[0,60)=1", "k2[60,120)=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tumbling: got %v, want %v", got, want)
	}
	if got, want := read(t, hopping, wser, t0), []string{"k1[-30,30)=1", "k1[0,60)=3", "k1[30,90)=3", "k1[60,120)=1", "k2[0,60)=1", "k2[30,90)=2", "k2[60,120)=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("hopping: got %v, want %v", got, want)
	}
	got := map[string]float64{}
	for name, m := range gather(t, r.app, p) {
		got[name] = m.GetCounter().GetValue()
	}
	if got["logd_streams_late_records_dropped_total"] != 1 || got["logd_streams_records_processed_total"] != 8 {
		t.Errorf("metrics: %v, want 1 late record dropped of 8 processed", got)
	}
	if got := topicConfig(t, p+"-tumbling-changelog", "cleanup.policy"); got != "compact,delete" {
		t.Errorf("windowed changelog cleanup.policy %q, want compact,delete", got)
	}
	// The changelog keys are Kafka's WindowKeySchema: key ‖ start ‖ seqnum 0.
	for _, rec := range consume(t, p+"-tumbling-changelog", 1) {
		key, start, seq, ok := splitKafkaWindowKey(rec.Key)
		if !ok || (key != "k1" && key != "k2") || (start-t0)%60_000 != 0 || seq != 0 {
			t.Errorf("tumbling changelog key %x: want k1 or k2, a minute start, seqnum 0", rec.Key)
		}
	}
}

// splitKafkaWindowKey splits Kafka's WindowKeySchema changelog key: key ‖ timestamp
// (8 bytes BE) ‖ seqnum (4 bytes BE).
func splitKafkaWindowKey(b []byte) (key string, ts int64, seq uint32, ok bool) {
	if len(b) < 12 {
		return "", 0, 0, false
	}
	n := len(b) - 12
	return string(b[:n]), int64(binary.BigEndian.Uint64(b[n:])), binary.BigEndian.Uint32(b[n+8:]), true
}

// TestWindowRetention keeps 1-minute tumbling windows (no grace) for 5 minutes: a
// closed window is emitted once and still answers queries until stream time passes its
// start by 5 minutes; then queries leave it out and the store drops it (read from the
// stopped store's database), and a restore from the changelog into an empty state
// directory drops it again (a record after the restart opens the task). The changelog's retention.ms is the retention plus the
// additional retention configured.
func TestWindowRetention(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, out := p+"-in", p+"-out"
	createTopic(t, in, 1)
	createTopic(t, out, 1)
	// A minute boundary near now: the changelog's retention.ms applies to the records'
	// timestamps, and Apache Kafka deletes records older than it (rolling the active segment).
	t0 := time.Now().Truncate(time.Minute).UnixMilli()
	b := streams.NewBuilder()
	wser := streams.WindowedSerde(streams.String(), time.Minute.Milliseconds())
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	streams.SuppressUntilWindowClose(g.WindowedBy(streams.Tumbling(time.Minute, 0)).WithRetention(5*time.Minute).Count("kept")).
		ToStream().To(out, wser, streams.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	cfg := streams.Config{ApplicationID: p, StateDir: t.TempDir(), WindowChangelogAdditionalRetention: time.Hour}
	r := start(t, topo, cfg)
	at := func(sec int64) rec { return rec{Key: "k", Value: "x", TS: t0 + sec*1000} }
	// waitWindows waits until the committed store answers want for k's windows.
	waitWindows := func(app *streams.App, want []string) {
		t.Helper()
		var got []string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			got = nil
			err := streams.QueryWindows(app, "kept", "k", t0-3600_000, t0+3600_000, streams.String(), streams.Int64(), func(w streams.Windowed[string], n int64) bool {
				got = append(got, fmt.Sprintf("[%d,%d)=%d", (w.Start-t0)/1000, (w.End-t0)/1000, n))
				return true
			})
			if err == nil && reflect.DeepEqual(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("windows of k: got %v (error %v), want %v", got, err, want)
			}
		}
	}
	produce(t, in, at(0), at(10), at(70)) // stream time 70 s: [0,60) closed, still kept
	waitWindows(r.app, []string{"[0,60)=2", "[60,120)=1"})
	produce(t, in, at(400)) // stream time 400 s: [0,60) and [60,120) expired (start ≤ 100 s)
	waitWindows(r.app, []string{"[360,420)=1"})
	if got, want := read(t, out, wser, t0), []string{"k[0,60)=2", "k[60,120)=1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("suppressed output: got %v, want %v", got, want)
	}
	r.stop(t)
	if got := storedWindows(t, cfg, "kept"); got != 1 {
		t.Errorf("the store holds %d windows after expiry, want 1", got)
	}

	cfg.StateDir = t.TempDir()
	r = start(t, topo, cfg)
	produce(t, in, at(401)) // a task opens (and restores) on its first record
	waitWindows(r.app, []string{"[360,420)=2"})
	r.stop(t)
	if got := storedWindows(t, cfg, "kept"); got != 1 {
		t.Errorf("the restored store holds %d windows, want 1", got)
	}
	for key, want := range map[string]string{"cleanup.policy": "compact,delete", "retention.ms": "3900000"} {
		if got := topicConfig(t, p+"-kept-changelog", key); got != want {
			t.Errorf("changelog %s %q, want %q", key, got, want)
		}
	}
}

// read renders the windowed counts of topic as key[start,end)=count, seconds after t0.
func read(t *testing.T, topic string, wser streams.Serde[streams.Windowed[string]], t0 int64) []string {
	t.Helper()
	var out []string
	for _, rec := range consume(t, topic, 1) {
		w, err := wser.Decode(rec.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s[%d,%d)=%s", w.Key, (w.Start-t0)/1000, (w.End-t0)/1000, int64s(rec.Value)))
	}
	sort.Strings(out)
	return out
}

// storedWindows counts the data entries of task 0's store name in the state directory of
// a stopped application (the store's own database: 'd'-prefixed keys are its data).
func storedWindows(t *testing.T, cfg streams.Config, name string) int {
	t.Helper()
	db, err := pebble.Open(filepath.Join(cfg.StateDir, cfg.ApplicationID, "0", name), &pebble.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{'d'}, UpperBound: []byte{'e'}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
