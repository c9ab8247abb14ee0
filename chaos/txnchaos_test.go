//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcluster"
)

// endTxnHold is how long the EndTxn delayer holds a request: longer than the client waits for
// the answer (ClientOpts' 3s request timeout overhead), so that the client retries it on a new
// connection and moves on to its next transaction before the held one arrives.
const endTxnHold = 8 * time.Second

// txnScenario is one fault against the transactional workload, injected and healed within the
// call; delay is set when the scenario routes direct producer 0 through an EndTxnDelayer.
type txnScenario struct {
	name  string
	nodes int
	delay bool
	fault func(ctx context.Context, e *env, cfg TxnWorkloadConfig, d *EndTxnDelayer) error
}

var txnScenarios = []txnScenario{
	{"coordinator-kill", 3, false, func(ctx context.Context, e *env, cfg TxnWorkloadConfig, _ *EndTxnDelayer) error {
		n, err := e.txnCoordinator(ctx, cfg.TxnIDs())
		if err != nil {
			return err
		}
		return killRestart(ctx, e, n)
	}},
	{"leader-kill", 3, false, func(ctx context.Context, e *env, cfg TxnWorkloadConfig, _ *EndTxnDelayer) error {
		n, err := e.outputLeader(ctx, cfg.TxnIDs())
		if err != nil {
			return err
		}
		return killRestart(ctx, e, n)
	}},
	{"coordinator-partition", 3, false, func(ctx context.Context, e *env, cfg TxnWorkloadConfig, _ *EndTxnDelayer) error {
		n, err := e.txnCoordinator(ctx, cfg.TxnIDs())
		if err != nil {
			return err
		}
		e.t.Logf("isolate node %d for %v", n.ID, pauseFor)
		if err := n.Isolate(); err != nil {
			return err
		}
		time.Sleep(pauseFor)
		e.t.Logf("during partition: %s; coordinators %s", e.describe(ctx), e.coordinators(ctx, cfg.TxnIDs()))
		return n.Heal()
	}},
	{"endtxn-delay", 1, true, func(ctx context.Context, e *env, cfg TxnWorkloadConfig, d *EndTxnDelayer) error {
		for i := range 3 {
			if i > 0 {
				time.Sleep(endTxnHold + 4*time.Second)
			}
			e.t.Logf("hold the next EndTxn of %s for %v", cfg.TxnIDs()[cfg.Workers], endTxnHold)
			d.Arm(endTxnHold)
		}
		time.Sleep(endTxnHold + 2*time.Second)
		return nil
	}},
}

// coordinators describes which node coordinates each transactional id.
func (e *env) coordinators(ctx context.Context, ids []string) string {
	var parts []string
	for _, id := range ids {
		r := e.adm.FindTxnCoordinators(ctx, id)[id]
		parts = append(parts, fmt.Sprintf("%s→%d", id, r.NodeID))
	}
	return strings.Join(parts, " ")
}

// coordinatorCounts is how many of ids each node coordinates (FindCoordinator key type 1).
func (e *env) coordinatorCounts(ctx context.Context, ids []string) (map[int32]int, error) {
	counts := map[int32]int{}
	err := retry(ctx, func() error {
		clear(counts)
		rs := e.adm.FindTxnCoordinators(ctx, ids...)
		if err := rs.Error(); err != nil {
			return err
		}
		for _, r := range rs {
			counts[r.NodeID]++
		}
		return nil
	})
	return counts, err
}

// txnCoordinator is the node coordinating the most of ids.
func (e *env) txnCoordinator(ctx context.Context, ids []string) (*testcluster.Node, error) {
	counts, err := e.coordinatorCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	e.t.Logf("coordinators: %s", e.coordinators(ctx, ids))
	var best int32
	for id, c := range counts {
		if c > counts[best] || c == counts[best] && id < best {
			best = id
		}
	}
	return e.c.Node(best), nil
}

// outputLeader is the leader of an output partition that coordinates none of ids and is not
// the controller, if there is one; else the leader of partition 0.
func (e *env) outputLeader(ctx context.Context, ids []string) (*testcluster.Node, error) {
	counts, err := e.coordinatorCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	ctrl, err := e.controller(ctx)
	if err != nil {
		return nil, err
	}
	e.t.Logf("coordinators: %s", e.coordinators(ctx, ids))
	for p := range e.parts {
		n, err := e.leader(ctx, p)
		if err != nil {
			return nil, err
		}
		if counts[n.ID] == 0 && n != ctrl {
			return n, nil
		}
	}
	return e.leader(ctx, 0)
}

// TestTxnChaos runs the transactional workload through each fault on a fresh cluster, checks
// each history for the transaction anomalies and prints a summary table.
func TestTxnChaos(t *testing.T) {
	nodes := clusterNodes(t, logdBinary(t))
	var names []string
	var reports []*TxnReport
	for _, s := range txnScenarios {
		if nodes < s.nodes {
			t.Logf("%s: skipped, needs %d nodes", s.name, s.nodes)
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			if r := runTxnScenario(t, s, nodes); r != nil {
				names, reports = append(names, s.name), append(reports, r)
			}
		})
	}
	fmt.Fprintf(os.Stdout, "\ntransaction chaos summary (%d nodes)\n", nodes)
	WriteTxnSummary(os.Stdout, names, reports)
}

// runTxnScenario runs the transactional workload through one fault and checks its history.
func runTxnScenario(t *testing.T, s txnScenario, nodes int) *TxnReport {
	name := "txn-" + s.name
	e := startEnv(t, name, nodes, "txn-out", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	in := *e
	in.topic = "txn-in"
	if err := in.createTopic(ctx); err != nil {
		t.Fatalf("create %s: %v", in.topic, err)
	}
	if err := in.waitISR(ctx); err != nil {
		t.Fatalf("%s never fully in sync: %v", in.topic, err)
	}
	cfg := TxnWorkloadConfig{Bootstrap: e.c.Bootstrap(), Input: in.topic, Output: e.topic, Partitions: e.parts,
		InputRate: 50, Workers: 3, Direct: 2, Consumers: 2, AbortRatio: 0.2, RecordGap: 100 * time.Millisecond}
	var d *EndTxnDelayer
	if s.delay {
		d = &EndTxnDelayer{}
		cfg.Dial = d.Dial
	}
	t.Logf("%d nodes: %s", nodes, e.describe(ctx))
	w, err := StartTxnWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(warmup)
	faultStart := time.Now()
	if err := s.fault(ctx, e, cfg, d); err != nil {
		t.Errorf("fault: %v", err)
	}
	t.Logf("fault healed after %v", time.Since(faultStart).Round(time.Millisecond))
	time.Sleep(recovery)
	stop, cancelStop := context.WithTimeout(ctx, 30*time.Second)
	w.StopWriters(stop)
	cancelStop()
	settle, cancelSettle := context.WithTimeout(ctx, settleFor)
	if err := e.c.WaitReady(settle); err != nil {
		t.Errorf("cluster not ready after healing: %v", err)
	}
	for _, topic := range []*env{e, &in} {
		if err := topic.waitISR(settle); err != nil {
			t.Errorf("%s: ISR not full after healing: %v", topic.topic, err)
		}
	}
	cancelSettle()
	t.Logf("settled: %s; coordinators %s", e.describe(ctx), e.coordinators(ctx, cfg.TxnIDs()))
	drain, cancelDrain := context.WithTimeout(ctx, time.Minute)
	drained, err := w.Drain(drain)
	cancelDrain()
	if !drained {
		t.Errorf("the workers did not consume the whole input: %v", err)
	}
	read, cancelRead := context.WithTimeout(ctx, time.Minute)
	h, err := w.Finish(read, drained)
	cancelRead()
	if err != nil {
		t.Errorf("%v", err)
	}
	if d != nil {
		d.Wait()
		held := d.HeldRequests()
		for _, r := range held {
			t.Logf("delayer: %s", r)
		}
		if len(held) == 0 {
			t.Errorf("the delayer held no EndTxn")
		}
	}
	logTxnErrors(t, h.Txns)
	r := CheckTxn(h)
	r.WriteTable(os.Stdout, s.name)
	switch {
	case r.Anomalies() != 0:
		t.Errorf("%d anomalies (node logs: chaos/.logs/%s.log)", r.Anomalies(), name)
	case r.Committed == 0:
		t.Errorf("no transaction committed")
	case r.AbortedInLog == 0:
		t.Errorf("no aborted record in the log: the checker had no aborted read to catch")
	}
	return r
}

// logTxnErrors logs how many transactions ended with each error (aborts on purpose aside).
func logTxnErrors(t *testing.T, txns []Txn) {
	counts := map[string]int{}
	for _, tx := range txns {
		if tx.Err != "" && tx.Err != "on purpose" {
			counts[fmt.Sprintf("%s: %s", tx.Outcome, tx.Err)]++
		}
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		t.Logf("%d× %s", counts[k], k)
	}
}
