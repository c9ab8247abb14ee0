// Command payments keeps account balances from a topic of transfers, exactly once: each
// transfer (key: its id, value: {"from":…,"to":…,"amount":…} in JSON) becomes a debit of
// one account and a credit of another, repartitioned by account and summed, and every
// new balance is written to the output topic (key: the account, value: the balance as 8
// big-endian bytes, Kafka's LongSerde). Both legs of a transfer commit in one
// transaction with the input offset, so a crash never applies half a transfer, nor one
// twice: the balances always sum to zero.
//
//	payments -brokers 127.0.0.1:9092 -input transfers -output balances -state-dir /tmp/pay
//
// It runs until SIGINT or SIGTERM, then commits and leaves the group.
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

// Transfer moves Amount from one account to another.
type Transfer struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
}

func main() {
	var (
		brokers  = flag.String("brokers", "127.0.0.1:9092", "seed brokers, comma-separated")
		app      = flag.String("app", "payments", "application id")
		input    = flag.String("input", "transfers", "input topic")
		output   = flag.String("output", "balances", "output topic")
		stateDir = flag.String("state-dir", "payments-state", "state directory")
		instance = flag.String("instance", "", "instance id (transactional ids); default random")
		commit   = flag.Duration("commit-interval", 0, "commit interval (default 100ms)")
	)
	flag.Parse()
	cfg := streams.Config{
		ApplicationID:       *app,
		Brokers:             strings.Split(*brokers, ","),
		StateDir:            *stateDir,
		InstanceID:          *instance,
		CommitInterval:      *commit,
		ProcessingGuarantee: streams.ExactlyOnceV2,
		Logger:              slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if err := run(cfg, *input, *output); err != nil {
		fmt.Fprintln(os.Stderr, "payments:", err)
		os.Exit(1)
	}
}

func run(cfg streams.Config, input, output string) error {
	topo, err := topology(input, output)
	if err != nil {
		return err
	}
	return example.Run("payments", topo, cfg)
}

// topology: transfers → (from, −amount), (to, +amount) → grouped by account → sum → output.
func topology(input, output string) (*streams.Topology, error) {
	b := streams.NewBuilder()
	transfers := streams.From(b, input, streams.String(), streams.JSON[Transfer]())
	legs := streams.FlatMap(transfers, func(_ string, t Transfer) []streams.KeyValue[string, int64] {
		if t.From == "" || t.To == "" || t.Amount <= 0 {
			return nil // not a transfer: nothing moves
		}
		return []streams.KeyValue[string, int64]{{Key: t.From, Value: -t.Amount}, {Key: t.To, Value: t.Amount}}
	})
	balances := streams.GroupByKey(legs, streams.Grouped[string, int64]{Name: "accounts", Keys: streams.String(), Values: streams.Int64()}).
		Reduce("balances", func(balance, amount int64) int64 { return balance + amount })
	balances.ToStream().To(output, streams.String(), streams.Int64())
	return b.Build()
}
