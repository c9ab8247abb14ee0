//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcluster"
)

// Durations of every scenario: the workload runs warmup before the fault and recovery after it
// is healed; a killed node stays down faultFor; pauses and partitions last pauseFor, longer
// than the broker session timeout (1s in logd, 9s in Kafka), so that the node is fenced.
const (
	warmup    = 5 * time.Second
	faultFor  = 8 * time.Second
	pauseFor  = 15 * time.Second
	recovery  = 8 * time.Second
	settleFor = time.Minute
)

// scenario is one fault, injected and healed within the call.
type scenario struct {
	name  string
	nodes int // the fewest nodes it needs
	fault func(ctx context.Context, e *env) error
}

var scenarios = []scenario{
	{"kill-leader", 1, func(ctx context.Context, e *env) error {
		n, err := e.leaderNotController(ctx)
		if err != nil {
			return err
		}
		return killRestart(ctx, e, n)
	}},
	{"kill-controller", 3, func(ctx context.Context, e *env) error {
		n, err := e.controller(ctx)
		if err != nil {
			return err
		}
		return killRestart(ctx, e, n)
	}},
	{"pause-leader", 3, func(ctx context.Context, e *env) error {
		n, err := e.leader(ctx, 0)
		if err != nil {
			return err
		}
		e.t.Logf("SIGSTOP node %d for %v", n.ID, pauseFor)
		if err := n.Pause(); err != nil {
			return err
		}
		time.Sleep(pauseFor)
		e.t.Logf("during pause: %s", e.describe(ctx))
		return n.Resume()
	}},
	{"partition-leader", 3, func(ctx context.Context, e *env) error {
		n, err := e.leader(ctx, 0)
		if err != nil {
			return err
		}
		e.t.Logf("isolate node %d for %v", n.ID, pauseFor)
		if err := n.Isolate(); err != nil {
			return err
		}
		time.Sleep(pauseFor)
		e.t.Logf("during partition: %s", e.describe(ctx))
		return n.Heal()
	}},
	{"partition-leader-from-peers", 3, func(ctx context.Context, e *env) error {
		n, err := e.leaderNotController(ctx)
		if err != nil {
			return err
		}
		return isolateFromPeers(ctx, e, n)
	}},
	{"partition-controller-from-peers", 3, func(ctx context.Context, e *env) error {
		n, err := e.controller(ctx)
		if err != nil {
			return err
		}
		return isolateFromPeers(ctx, e, n)
	}},
	{"rolling-restart", 3, func(ctx context.Context, e *env) error {
		for _, n := range e.c.Nodes {
			e.t.Logf("SIGTERM node %d", n.ID)
			if err := n.Stop(); err != nil {
				return err
			}
			if err := n.Restart(ctx); err != nil {
				return err
			}
			if err := e.waitISR(ctx); err != nil {
				return fmt.Errorf("after restarting node %d: %w", n.ID, err)
			}
		}
		return nil
	}},
}

func (s scenario) id() string { return s.name }
func (s scenario) needs() int { return s.nodes }

// runScenarios runs each of list the cluster size allows as a subtest and returns the names
// and reports of those that ran to a report.
func runScenarios[S interface {
	id() string
	needs() int
}, R any](t *testing.T, nodes int, list []S, run func(*testing.T, S) *R) (names []string, reports []*R) {
	for _, s := range list {
		if nodes < s.needs() {
			t.Logf("%s: skipped, needs %d nodes", s.id(), s.needs())
			continue
		}
		t.Run(s.id(), func(t *testing.T) {
			if r := run(t, s); r != nil {
				names, reports = append(names, s.id()), append(reports, r)
			}
		})
	}
	return names, reports
}

// isolateFromPeers cuts n off the other nodes, but not off the clients, for pauseFor.
func isolateFromPeers(ctx context.Context, e *env, n *testcluster.Node) error {
	e.t.Logf("isolate node %d from its peers for %v (clients still reach it)", n.ID, pauseFor)
	if err := n.IsolateFromPeers(); err != nil {
		return err
	}
	time.Sleep(pauseFor)
	e.t.Logf("during partition: %s", e.describe(ctx))
	return n.Heal()
}

// killRestart kills n with SIGKILL and restarts it faultFor later.
func killRestart(ctx context.Context, e *env, n *testcluster.Node) error {
	e.t.Logf("SIGKILL node %d", n.ID)
	if err := n.Kill(); err != nil {
		return err
	}
	time.Sleep(faultFor)
	e.t.Logf("while node %d is down: %s", n.ID, e.describe(ctx))
	return n.Restart(ctx)
}

// TestChaos runs every scenario the cluster size allows against a fresh cluster and topic,
// checks each history and prints a summary table.
func TestChaos(t *testing.T) {
	nodes := clusterNodes(t, logdBinary(t))
	names, reports := runScenarios(t, nodes, scenarios, func(t *testing.T, s scenario) *Report {
		return runScenario(t, s, nodes)
	})
	fmt.Fprintf(os.Stdout, "\nchaos summary (%d nodes)\n", nodes)
	WriteSummary(os.Stdout, names, reports)
}

// TestNegativeControl shows that the checker catches real loss: producers with acks=1 and no
// idempotence keep writing to a leader cut off from its peers, which acknowledges writes its
// successor never has; they must be reported lost.
func TestNegativeControl(t *testing.T) {
	if nodes := clusterNodes(t, logdBinary(t)); nodes < 3 {
		t.Skipf("needs 3 nodes, the binary runs %d", nodes)
	}
	s := scenarioNamed("partition-leader-from-peers")
	r, _ := runWorkload(t, s, 3, true)
	if r.Lost == 0 {
		t.Errorf("acks=1 across a partition lost nothing: the checker or the fault has no teeth")
	}
}

func scenarioNamed(name string) scenario {
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	panic("no scenario " + name)
}

// runScenario runs the workload through one fault and checks the history: zero anomalies.
func runScenario(t *testing.T, s scenario, nodes int) *Report {
	r, name := runWorkload(t, s, nodes, false)
	if r.Anomalies() != 0 {
		t.Errorf("%d anomalies (node logs: chaos/.logs/%s.log)", r.Anomalies(), name)
	}
	return r
}

// runWorkload runs the workload (acks=1 if leaderAck) through one fault, prints and returns
// its report and the name of its log.
func runWorkload(t *testing.T, s scenario, nodes int, leaderAck bool) (*Report, string) {
	name := s.name
	if leaderAck {
		name += "-acks1"
	}
	e := startEnv(t, name, nodes, "chaos", 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	t.Logf("%d nodes: %s", nodes, e.describe(ctx))
	w, err := StartWorkload(WorkloadConfig{Bootstrap: e.c.Bootstrap(), Topic: e.topic, Partitions: e.parts,
		Producers: 3, Consumers: 2, Rate: 100, LeaderAck: leaderAck})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(warmup)
	faultStart := time.Now()
	if err := s.fault(ctx, e); err != nil {
		t.Errorf("fault: %v", err)
	}
	t.Logf("fault healed after %v", time.Since(faultStart).Round(time.Millisecond))
	time.Sleep(recovery)
	flush, cancelFlush := context.WithTimeout(ctx, 30*time.Second)
	w.StopProducers(flush)
	cancelFlush()
	settle, cancelSettle := context.WithTimeout(ctx, settleFor)
	if err := e.c.WaitReady(settle); err != nil {
		t.Errorf("cluster not ready after healing: %v", err)
	}
	if err := e.waitISR(settle); err != nil {
		t.Errorf("ISR not full after healing: %v", err)
	}
	cancelSettle()
	t.Logf("settled: %s", e.describe(ctx))
	read, cancelRead := context.WithTimeout(ctx, time.Minute)
	h, err := w.Finish(read)
	cancelRead()
	if err != nil {
		t.Errorf("%v", err)
	}
	r := Check(h)
	r.WriteTable(os.Stdout, name)
	if r.Acked == 0 {
		t.Errorf("nothing was acknowledged")
	}
	return r, name
}
