// Package eoscheck checks the output of an exactly-once consume-transform-produce pipeline
// as a read_committed consumer sees it. Tests only (broker and compat): nothing shipped
// imports it.
package eoscheck

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// quietPolls is how many empty one-second polls in a row end the read.
const quietPolls = 3

// ExactlyOnce reads topic from its start through seed with a read_committed franz-go
// consumer until it has been quiet for quietPolls polls, and describes each way the values
// read differ from want read exactly once each: a value missing or repeated, or a record
// that is not in want (an aborted or duplicated copy). No problem: nil.
func ExactlyOnce(ctx context.Context, seed, topic string, want []string) ([]string, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	seen := map[string]int{}
	total := 0
	for quiet := 0; quiet < quietPolls; {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := fs.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("read %s: %w", topic, err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fs.NumRecords() == 0 {
			quiet++
			continue
		}
		quiet = 0
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++; total++ })
	}
	var problems []string
	for _, v := range want {
		if c := seen[v]; c != 1 {
			problems = append(problems, fmt.Sprintf("%s read %d times", v, c))
		}
	}
	if total != len(want) {
		problems = append(problems, fmt.Sprintf("%d records read, want %d", total, len(want)))
	}
	return problems, nil
}
