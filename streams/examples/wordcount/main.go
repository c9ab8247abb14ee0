// Command wordcount counts the words of the lines on an input topic and writes every
// new count to an output topic (key: the word, value: the count as 8 big-endian bytes,
// Kafka's LongSerde), as Kafka Streams' WordCountDemo does.
//
//	wordcount -brokers 127.0.0.1:9092 -input lines -output counts -state-dir /tmp/wc [-eos]
//
// It runs until SIGINT or SIGTERM, then commits and leaves the group. Run several with the
// same -app to share the work.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/logd/logd/streams"
	"github.com/logd/logd/streams/examples/internal/example"
)

func main() {
	var (
		brokers  = flag.String("brokers", "127.0.0.1:9092", "seed brokers, comma-separated")
		app      = flag.String("app", "wordcount", "application id")
		input    = flag.String("input", "lines", "input topic")
		output   = flag.String("output", "word-counts", "output topic")
		stateDir = flag.String("state-dir", "wordcount-state", "state directory")
		eos      = flag.Bool("eos", false, "exactly once (exactly_once_v2)")
		instance = flag.String("instance", "", "instance id (transactional ids); default random")
		threads  = flag.Int("threads", 1, "stream threads")
		commit   = flag.Duration("commit-interval", 0, "commit interval (default 30s, 100ms with -eos)")
	)
	flag.Parse()
	cfg := streams.Config{
		ApplicationID:  *app,
		Brokers:        strings.Split(*brokers, ","),
		StateDir:       *stateDir,
		InstanceID:     *instance,
		Threads:        *threads,
		CommitInterval: *commit,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if *eos {
		cfg.ProcessingGuarantee = streams.ExactlyOnceV2
	}
	if err := run(cfg, *input, *output); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}

func run(cfg streams.Config, input, output string) error {
	topo, err := topology(input, output)
	if err != nil {
		return err
	}
	return example.Run("wordcount", topo, cfg)
}

// topology: lines → words (lowercased) → grouped by word → count → output.
func topology(input, output string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	lines := streams.From(b, input, streams.String(), streams.String())
	words := streams.FlatMap(lines, func(_ string, line string) []streams.KeyValue[string, string] {
		var out []streams.KeyValue[string, string]
		for _, w := range strings.Fields(strings.ToLower(line)) {
			out = append(out, streams.KeyValue[string, string]{Key: w, Value: w})
		}
		return out
	})
	counts := streams.GroupByKey(words, streams.Grouped[string, string]{Name: "words", Keys: streams.String(), Values: streams.String()}).Count("counts")
	counts.ToStream().To(output, streams.String(), streams.Int64())
	return b.Build()
}
