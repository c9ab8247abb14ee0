package streams_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTrendingExample runs the seeds' example (streams/examples/trending) over random
// tweets and compares its output with a model: per hashtag and minute, the popular
// (≥ 10 likes) tweets' count and most-liked tweet, for minutes with at least 3.
func TestTrendingExample(t *testing.T) {
	t.Parallel()
	p := names(t)
	in, out := p+"-tweets", p+"-trending"
	createTopic(t, in, 1) // one partition: event time advances in one order
	createTopic(t, out, 1)

	const base = 28333334 * 60000 // a minute boundary
	const grace = 10_000
	type tweet struct {
		ID    string `json:"id"`
		Text  string `json:"text"`
		Likes int    `json:"likes"`
		ts    int64
	}
	tags := []string{"go", "kafka", "rust", "streams", "logd"}
	rng := rand.New(rand.NewPCG(11, 12))
	var tweets []tweet
	for i := range 200 {
		var words []string
		for range 1 + rng.IntN(2) {
			words = append(words, "#"+tags[rng.IntN(len(tags))])
		}
		words = append(words, fmt.Sprintf("word%d", i))
		rng.Shuffle(len(words), func(a, b int) { words[a], words[b] = words[b], words[a] })
		tweets = append(tweets, tweet{ID: fmt.Sprintf("t%03d", i), Text: strings.Join(words, " "), Likes: rng.IntN(30),
			ts: base + int64(i)*1200 + rng.Int64N(8000) - 4000})
	}
	// Close every minute: one popular tweet per hashtag far later.
	for i, tag := range tags {
		tweets = append(tweets, tweet{ID: fmt.Sprintf("z%d", i), Text: "#" + tag, Likes: 99, ts: base + 10*60000})
	}

	// The model: stream time over the tweets reaching the windows, late ones dropped.
	type win struct {
		tag   string
		start int64
	}
	type agg struct {
		count    int64
		topID    string
		topLikes int
	}
	model := map[win]*agg{}
	streamTime := int64(-1 << 62)
	for _, tw := range tweets {
		if tw.Likes < 10 {
			continue
		}
		seen := map[string]bool{}
		for _, w := range strings.Fields(tw.Text) {
			tag, ok := strings.CutPrefix(w, "#")
			if !ok || seen[tag] {
				continue
			}
			seen[tag] = true
			streamTime = max(streamTime, tw.ts)
			start := tw.ts - tw.ts%60000
			if start+60000+grace <= streamTime {
				continue // late
			}
			a := model[win{tag, start}]
			if a == nil {
				a = &agg{}
				model[win{tag, start}] = a
			}
			a.count++
			if a.topID == "" || tw.Likes > a.topLikes || (tw.Likes == a.topLikes && tw.ID < a.topID) {
				a.topID, a.topLikes = tw.ID, tw.Likes
			}
		}
	}
	var want []string
	for w, a := range model {
		if w.start+60000+grace <= streamTime && a.count >= 3 {
			want = append(want, fmt.Sprintf("%s@%d count=%d top=%s/%d", w.tag, (w.start-base)/60000, a.count, a.topID, a.topLikes))
		}
	}
	sort.Strings(want)
	if len(want) < 5 {
		t.Fatalf("the model expects only %d trends; the data is too thin to test anything", len(want))
	}

	cl := client(t)
	var rs []*kgo.Record
	for _, tw := range tweets {
		v, _ := json.Marshal(tw)
		rs = append(rs, &kgo.Record{Topic: in, Key: []byte(tw.ID), Value: v, Timestamp: time.UnixMilli(tw.ts)})
	}
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	proc := startProc(t, "trending", "-brokers", strings.Join(brokers, ","), "-app", p, "-input", in, "-output", out,
		"-state-dir", t.TempDir(), "-commit-interval", "200ms")

	var got []string
	for _, r := range consume(t, out, len(want)) {
		var tr struct {
			Hashtag  string `json:"hashtag"`
			Start    int64  `json:"start"`
			End      int64  `json:"end"`
			Count    int64  `json:"count"`
			TopID    string `json:"top_id"`
			TopLikes int    `json:"top_likes"`
		}
		if err := json.Unmarshal(r.Value, &tr); err != nil {
			t.Fatalf("output %q: %v", r.Value, err)
		}
		if string(r.Key) != tr.Hashtag || tr.End-tr.Start != 60000 {
			t.Errorf("output key %q value %s", r.Key, r.Value)
		}
		got = append(got, fmt.Sprintf("%s@%d count=%d top=%s/%d", tr.Hashtag, (tr.Start-base)/60000, tr.Count, tr.TopID, tr.TopLikes))
	}
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trending topics:\n got  %v\n want %v", got, want)
	}
	proc.term(t)
}
