package streams_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/logd/logd/streams"
	"github.com/twmb/franz-go/pkg/kgo"
)

// windowStrs renders windowed count records as "key[start,end]=count", times in
// seconds after t0 (to the millisecond), sorted.
func windowStrs(t *testing.T, rs []*kgo.Record, ser streams.Serde[streams.Windowed[string]], t0 int64) []string {
	t.Helper()
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		w, err := ser.Decode(r.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, windowStr(w.Key, w.Start-t0, w.End-t0, int64s(r.Value)))
	}
	sort.Strings(out)
	return out
}

// windowStr renders one window, times in ms after t0.
func windowStr(key string, start, end int64, count any) string {
	return fmt.Sprintf("%s[%g,%g]=%v", key, float64(start)/1000, float64(end)/1000, count)
}

// TestSessionWindows counts per key in sessions with a 10 s inactivity gap and 5 s of
// grace, suppressed and not, over records that start sessions, grow them, arrive out
// of order, bridge two sessions into one, and arrive late (dropped and counted).
func TestSessionWindows(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, final, updates := p+"-in", p+"-final", p+"-updates"
	createTopic(t, in, 1)
	createTopic(t, final, 1)
	createTopic(t, updates, 1)

	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	ser := streams.SessionWindowedSerde(streams.String())
	sessions := streams.Sessions(10*time.Second, 5*time.Second)
	streams.SuppressUntilWindowClose(g.WindowedBySession(sessions).Count("final")).ToStream().To(final, ser, streams.Int64())
	g.WindowedBySession(sessions).Count("updates").ToStream().To(updates, ser, streams.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	r := start(t, topo, streams.Config{ApplicationID: p, StateDir: t.TempDir()})
	const t0 = 1_700_000_000_000
	at := func(key string, sec int64) rec { return rec{Key: key, Value: "x", TS: t0 + sec*1000} }
	produce(t, in,
		at("k1", 0), at("k1", 5), // one session [0,5]
		at("k1", 30),  // a new one; stream time 30 closes [0,5] (5 + 10 + 5 < 30)
		at("k1", 22),  // out of order: grows [30,30] to [22,30]
		at("k2", 18),  // on time for its own key (18 ≥ 30 − 15)
		at("k1", 3),   // late: its session would end at 3 < 15
		at("k1", 16),  // grows [22,30] to [16,30]
		at("k1", 45),  // a new session [45,45] (45 − 30 > gap); closes k2[18,18]
		at("k1", 38),  // bridges [16,30] and [45,45] into [16,45]
		at("k2", 40),  // k2's second session
		at("k3", 100), // closes everything else
	)
	if got, want := windowStrs(t, consume(t, final, 4), ser, t0), []string{
		"k1[0,5]=2", "k1[16,45]=5", "k2[18,18]=1", "k2[40,40]=1",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("suppressed sessions: got %v, want %v", got, want)
	}
	if got, want := windowStrs(t, consume(t, updates, 10), ser, t0), []string{
		"k1[0,0]=1", "k1[0,5]=2", "k1[16,30]=3", "k1[16,45]=5", "k1[22,30]=2", "k1[30,30]=1", "k1[45,45]=1",
		"k2[18,18]=1", "k2[40,40]=1", "k3[100,100]=1",
	}; !reflect.DeepEqual(got, want) {
		t.Errorf("session updates: got %v, want %v", got, want)
	}
	if got := r.app.Metrics().LateRecordsDropped.Load(); got != 2 {
		t.Errorf("late records dropped: %d, want 2 (one per aggregation)", got)
	}
	if got := topicConfig(t, p+"-final-changelog", "cleanup.policy"); got != "compact,delete" {
		t.Errorf("session changelog cleanup.policy %q, want compact,delete", got)
	}
}

// TestWindowsRestoreModel counts random records (three keys, some out of order within
// grace) in sessions and in sliding windows, suppressed, and compares every final
// window with a model. Halfway the application stops, its state directory is deleted
// and a new instance restores both stores — windows and their time indexes — from the
// changelogs before going on.
func TestWindowsRestoreModel(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, sess, slide := p+"-in", p+"-sessions", p+"-sliding"
	createTopic(t, in, 1)
	createTopic(t, sess, 1)
	createTopic(t, slide, 1)

	const (
		t0   = 1_700_000_000_000
		gap  = 10 // s, sessions
		diff = 10 // s, sliding windows
	)
	b := streams.NewBuilder()
	g := streams.GroupByKey(streams.From(b, in, streams.String(), streams.String()),
		streams.Grouped[string, string]{Name: "by-key", Keys: streams.String(), Values: streams.String()})
	sser, wser := streams.SessionWindowedSerde(streams.String()), streams.WindowedSerde(streams.String(), diff*1000)
	streams.SuppressUntilWindowClose(g.WindowedBySession(streams.Sessions(gap*time.Second, 30*time.Second)).Count("sessions")).
		ToStream().To(sess, sser, streams.Int64())
	streams.SuppressUntilWindowClose(g.WindowedBySliding(streams.Sliding(diff*time.Second, 3*diff*time.Second)).Count("sliding")).
		ToStream().To(slide, wser, streams.Int64())
	topo, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}

	// Timestamps (s after t0) mostly rising by 0–5 s, sometimes up to diff − 1 s
	// before the stream time (within both grace periods, so no window a record belongs
	// to has closed).
	rng := rand.New(rand.NewPCG(7, 8))
	keys := []string{"a", "b", "c"}
	var recs []rec
	byKey := map[string][]int64{}
	var now int64
	for range 120 {
		k := keys[rng.IntN(len(keys))]
		ts := now + rng.Int64N(6)
		if rng.IntN(5) == 0 {
			ts = max(0, now-rng.Int64N(diff))
		}
		now = max(now, ts)
		recs = append(recs, rec{Key: k, Value: "x", TS: t0 + ts*1000})
		byKey[k] = append(byKey[k], ts*1000)
	}
	// A record far ahead closes every window.
	recs = append(recs, rec{Key: "z", Value: "x", TS: t0 + 100_000*1000})

	state := t.TempDir()
	cfg := streams.Config{ApplicationID: p, StateDir: state}
	r := start(t, topo, cfg)
	half := len(recs) / 2
	produce(t, in, recs[:half]...)
	waitProcessed(t, r.app, int64(half))
	r.stop(t)
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	r = start(t, topo, cfg)
	produce(t, in, recs[half:]...)

	wantSess, wantSlide := sessionModel(byKey, gap*1000), slidingModel(byKey, diff*1000)
	if got := windowStrs(t, consume(t, sess, len(wantSess)), sser, t0); !reflect.DeepEqual(got, wantSess) {
		t.Errorf("sessions:\n got %v\nwant %v", got, wantSess)
	}
	if got := windowStrs(t, consume(t, slide, len(wantSlide)), wser, t0); !reflect.DeepEqual(got, wantSlide) {
		t.Errorf("sliding windows:\n got %v\nwant %v", got, wantSlide)
	}
	if r.app.Metrics().RestoredRecords.Load() == 0 {
		t.Error("the second instance restored nothing after the state directory was deleted")
	}
	if n := r.app.Metrics().LateRecordsDropped.Load(); n != 0 {
		t.Errorf("%d late records dropped, want none", n)
	}
}

// sessionModel returns the sessions of each key's timestamps (ms after t0): runs of
// records no more than gap (ms) apart, rendered as windowStrs does.
func sessionModel(byKey map[string][]int64, gap int64) []string {
	var out []string
	for k, tss := range byKey {
		ts := append([]int64(nil), tss...)
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		start, n := ts[0], 1
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] > gap {
				out = append(out, windowStr(k, start, ts[i-1], n))
				if i < len(ts) {
					start, n = ts[i], 0
				}
			}
			n++
		}
	}
	sort.Strings(out)
	return out
}

// slidingModel returns Kafka's sliding windows of each key's timestamps (ms): for every
// record r, the window [r−diff, r] (timestamps here are far from 0) and, if a later record is
// within diff+1 of it, the window [r+1, r+1+diff]; each with its count.
func slidingModel(byKey map[string][]int64, diff int64) []string {
	var out []string
	for k, ts := range byKey {
		count := func(from, to int64) (n int) {
			for _, t := range ts {
				if t >= from && t <= to {
					n++
				}
			}
			return n
		}
		starts := map[int64]bool{}
		for _, r := range ts {
			starts[r-diff] = true
			if count(r+1, r+1+diff) > 0 {
				starts[r+1] = true
			}
		}
		for s := range starts {
			out = append(out, windowStr(k, s, s+diff, count(s, s+diff)))
		}
	}
	sort.Strings(out)
	return out
}
