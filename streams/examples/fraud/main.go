// Command fraud is the payments fraud check: it sums each account's spending per
// window of event time and raises an alert when the sum first passes the account's
// limit within a window.
//
//	fraud -brokers 127.0.0.1:9092 -payments payments -limits limits -alerts alerts -state-dir /tmp/fraud
//
// Payments are keyed by account with JSON values ({"amount": 120}) whose record
// timestamp is the payment's time; limits, a compacted topic keyed by account, hold each
// account's limit per window as 8 big-endian bytes (Kafka's LongSerde; a tombstone
// lifts it). Alerts are JSON values keyed by account ({"account": "ann", "start": …,
// "end": …, "spend": 620, "limit": 500}), one per account and window at most.
//
// Each payment is joined with its account's current limit (a stream–table join; the
// payments and limits topics must be co-partitioned, as Kafka Streams requires), then
// the joined payments are aggregated per account and window; the aggregate carries the
// limit, so the alert is decided where the sum changes. It runs until SIGINT or SIGTERM,
// then commits and leaves the group.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/logd/logd/streams"
	"github.com/logd/logd/streams/examples/internal/example"
)

// Payment is an input record's value.
type Payment struct {
	Amount int64 `json:"amount"`
}

// Alert is an output record's value: an account's spending passed its limit in a window.
type Alert struct {
	Account string `json:"account"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
	Spend   int64  `json:"spend"`
	Limit   int64  `json:"limit"`
}

// checked is a payment with its account's limit (−1: none).
type checked struct {
	Amount int64 `json:"amount"`
	Limit  int64 `json:"limit"`
}

// spend is the aggregate of one account and window.
type spend struct {
	Spend    int64 `json:"spend"`
	Limit    int64 `json:"limit"`     // of the last payment
	Alerted  bool  `json:"alerted"`   // an alert was raised for this window
	AlertNow bool  `json:"alert_now"` // the last payment raised it
}

func main() {
	var (
		brokers  = flag.String("brokers", "127.0.0.1:9092", "seed brokers, comma-separated")
		app      = flag.String("app", "fraud", "application id")
		payments = flag.String("payments", "payments", "payments topic")
		limits   = flag.String("limits", "limits", "limits topic (compacted)")
		alerts   = flag.String("alerts", "alerts", "alerts topic")
		stateDir = flag.String("state-dir", "fraud-state", "state directory")
		window   = flag.Duration("window", time.Minute, "window of spending")
		grace    = flag.Duration("grace", 10*time.Second, "grace period for late payments")
		eos      = flag.Bool("exactly-once", false, "process exactly once (no repeated alert after a crash)")
		commit   = flag.Duration("commit-interval", 0, "commit interval (default 30s, exactly once 100ms)")
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
	topo, err := topology(*payments, *limits, *alerts, streams.Tumbling(*window, *grace))
	if err == nil {
		err = example.Run("fraud", topo, cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fraud:", err)
		os.Exit(1)
	}
}

// topology: payments ⋈ limits → grouped by account → windowed sum → alerts.
func topology(paymentsTopic, limitsTopic, alertsTopic string, w streams.TimeWindows) (*streams.Topology, error) {
	b := streams.NewBuilder()
	payments := streams.From(b, paymentsTopic, streams.String(), streams.JSON[Payment]())
	limits := streams.TableFrom(b, limitsTopic, "limits", streams.String(), streams.Int64())
	withLimits := streams.LeftJoinTable(payments, limits, func(_ string, p Payment, limit *int64) checked {
		c := checked{Amount: p.Amount, Limit: -1}
		if limit != nil {
			c.Limit = *limit
		}
		return c
	})
	grouped := streams.GroupByKey(withLimits, streams.Grouped[string, checked]{Name: "accounts", Keys: streams.String(), Values: streams.JSON[checked]()})
	sums := streams.AggregateWindowed(grouped.WindowedBy(w), "spend", func() spend { return spend{} },
		func(_ string, c checked, s spend) spend {
			s.Spend += c.Amount
			s.Limit = c.Limit
			s.AlertNow = c.Limit >= 0 && s.Spend > c.Limit && !s.Alerted
			s.Alerted = s.Alerted || s.AlertNow
			return s
		}, streams.JSON[spend]())
	raised := sums.ToStream().Filter(func(_ streams.Windowed[string], s spend) bool { return s.AlertNow })
	streams.Map(raised, func(w streams.Windowed[string], s spend) (string, Alert) {
		return w.Key, Alert{Account: w.Key, Start: w.Start, End: w.End, Spend: s.Spend, Limit: s.Limit}
	}).To(alertsTopic, streams.String(), streams.JSON[Alert]())
	return b.Build()
}
