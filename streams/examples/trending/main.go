// Command trending is the seeds' Kafka Streams example: keep only tweets with 10 or more
// likes, count tweets per hashtag every minute, and put the two together into trending
// topics — each hashtag with at least -min-count popular tweets in a minute, with that
// minute's most-liked tweet of it — written once per minute when the minute closes.
//
//	trending -brokers 127.0.0.1:9092 -input tweets -output trending -state-dir /tmp/trending
//
// Tweets are JSON values ({"id": "t1", "text": "… #go …", "likes": 12}) whose record
// timestamp is the tweet's time. Trending topics are JSON values keyed by hashtag
// ({"hashtag": "go", "start": …, "end": …, "count": 4, "top_id": "t7", "top_likes": 31}).
//
// The count and the top tweet meet in one windowed aggregate per (hashtag, minute):
// both are functions of the same popular tweets of the same window, so the join is the
// aggregate (a windowed stream-stream join is a later increment of the library).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/logd/logd/streams"
)

// Tweet is an input record's value.
type Tweet struct {
	ID    string `json:"id"`
	Text  string `json:"text"`
	Likes int    `json:"likes"`
}

// Trend is an output record's value: one hashtag's minute.
type Trend struct {
	Hashtag  string `json:"hashtag"`
	Start    int64  `json:"start"` // window start, ms
	End      int64  `json:"end"`
	Count    int64  `json:"count"`
	TopID    string `json:"top_id"`
	TopLikes int    `json:"top_likes"`
}

// minute is the aggregate of one hashtag's popular tweets in one minute.
type minute struct {
	Count    int64  `json:"count"`
	TopID    string `json:"top_id"`
	TopLikes int    `json:"top_likes"`
}

// hashtags returns the distinct hashtags of text, lowercased, without '#'.
func hashtags(text string) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range strings.Fields(text) {
		if h, ok := strings.CutPrefix(w, "#"); ok && h != "" && !seen[strings.ToLower(h)] {
			seen[strings.ToLower(h)] = true
			out = append(out, strings.ToLower(h))
		}
	}
	return out
}

// better reports whether a tweet with likes and id beats the current top (more likes,
// then the smaller id: the same answer whatever the order tweets arrive in).
func better(likes int, id string, topLikes int, topID string) bool {
	return topID == "" || likes > topLikes || (likes == topLikes && id < topID)
}

func topology(input, output string, minLikes int, minCount int64, grace time.Duration) (*streams.Topology, error) {
	b := streams.NewBuilder()
	tweets := streams.From(b, input, streams.String(), streams.JSON[Tweet]())
	popular := tweets.Filter(func(_ string, t Tweet) bool { return t.Likes >= minLikes })
	byTag := streams.FlatMap(popular, func(_ string, t Tweet) []streams.KeyValue[string, Tweet] {
		var out []streams.KeyValue[string, Tweet]
		for _, h := range hashtags(t.Text) {
			out = append(out, streams.KeyValue[string, Tweet]{Key: h, Value: t})
		}
		return out
	})
	perMinute := streams.AggregateWindowed(
		streams.GroupByKey(byTag, streams.Grouped[string, Tweet]{Name: "hashtags", Keys: streams.String(), Values: streams.JSON[Tweet]()}).
			WindowedBy(streams.Tumbling(time.Minute, grace)),
		"hashtag-minutes",
		func() minute { return minute{} },
		func(_ string, t Tweet, m minute) minute {
			m.Count++
			if better(t.Likes, t.ID, m.TopLikes, m.TopID) {
				m.TopID, m.TopLikes = t.ID, t.Likes
			}
			return m
		},
		streams.JSON[minute]())
	closed := streams.SuppressUntilWindowClose(perMinute).ToStream()
	trends := streams.Map(closed, func(w streams.Windowed[string], m minute) (string, Trend) {
		return w.Key, Trend{Hashtag: w.Key, Start: w.Start, End: w.End, Count: m.Count, TopID: m.TopID, TopLikes: m.TopLikes}
	})
	trends.Filter(func(_ string, t Trend) bool { return t.Count >= minCount }).
		To(output, streams.String(), streams.JSON[Trend]())
	return b.Build()
}

func main() {
	var (
		brokers  = flag.String("brokers", "127.0.0.1:9092", "seed brokers, comma-separated")
		app      = flag.String("app", "trending", "application id")
		input    = flag.String("input", "tweets", "input topic")
		output   = flag.String("output", "trending", "output topic")
		stateDir = flag.String("state-dir", "trending-state", "state directory")
		minLikes = flag.Int("min-likes", 10, "likes a tweet needs to count")
		minCount = flag.Int64("min-count", 3, "popular tweets a hashtag needs in a minute to trend")
		grace    = flag.Duration("grace", 10*time.Second, "how late a tweet may arrive")
		eos      = flag.Bool("eos", false, "exactly once (exactly_once_v2)")
		commit   = flag.Duration("commit-interval", 0, "commit interval (default 30s, 100ms with -eos)")
	)
	flag.Parse()
	cfg := streams.Config{
		ApplicationID:  *app,
		Brokers:        strings.Split(*brokers, ","),
		StateDir:       *stateDir,
		CommitInterval: *commit,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if *eos {
		cfg.ProcessingGuarantee = streams.ExactlyOnceV2
	}
	topo, err := topology(*input, *output, *minLikes, *minCount, *grace)
	if err == nil {
		var a *streams.App
		if a, err = streams.New(topo, cfg); err == nil {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			err = a.Run(ctx)
			stop()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trending:", err)
		os.Exit(1)
	}
}
