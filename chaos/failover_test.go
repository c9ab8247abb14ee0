//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/testcluster"
)

// Failover measurement: failoverRuns leader kills, each timed from the SIGKILL to the first
// acknowledgement of a record produced after it; the median must be within failoverTarget.
const (
	failoverRuns   = 5
	failoverTarget = 2 * time.Second
	failoverWait   = 30 * time.Second // give up on one run after this
	produceEvery   = 2 * time.Millisecond
)

// ackLog is the acknowledgement times of records by the time they were produced.
type ackLog struct {
	mu   sync.Mutex
	acks []ackTimes // guarded by mu
}

type ackTimes struct{ produced, acked time.Time }

// firstAfter returns the first acknowledgement of a record produced after t.
func (l *ackLog) firstAfter(t time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		if a.produced.After(t) {
			return a.acked, true
		}
	}
	return time.Time{}, false
}

// TestFailoverTime kills the leader of a replicated partition under a steady acks=all producer
// failoverRuns times (restarting it in between) and prints each failover time and the median.
func TestFailoverTime(t *testing.T) {
	measureFailover(t, "failover", func(ctx context.Context, e *env) (*testcluster.Node, error) {
		return e.leader(ctx, 0)
	})
}

// TestFollowerLossTime is TestFailoverTime with a follower (not the controller) killed
// instead of the leader: acks=all writes must resume once the controller drops it from the
// ISR, one broker session later, whether or not it comes back.
func TestFollowerLossTime(t *testing.T) {
	measureFailover(t, "follower-loss", func(ctx context.Context, e *env) (*testcluster.Node, error) {
		leader, err := e.leader(ctx, 0)
		if err != nil {
			return nil, err
		}
		ctrl, err := e.controller(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range e.c.Nodes {
			if n != leader && n != ctrl {
				return n, nil
			}
		}
		for _, n := range e.c.Nodes {
			if n != leader {
				return n, nil
			}
		}
		return nil, errors.New("no follower")
	})
}

// measureFailover runs a steady acks=all producer on a one-partition topic of a 3-node
// cluster, kills the node pick chooses failoverRuns times, and prints each time from the kill
// to the first acknowledgement of a record produced after it, and the median.
func measureFailover(t *testing.T, name string, pick func(context.Context, *env) (*testcluster.Node, error)) {
	if nodes := clusterNodes(t, logdBinary(t)); nodes < 3 {
		t.Skipf("needs 3 nodes, the binary runs %d", nodes)
	}
	e := startEnv(t, name, 3, name, 1)
	cl, err := kgo.NewClient(ProducerOpts(e.c.Bootstrap())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var log ackLog
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(produceEvery)
		defer tick.Stop()
		for ctx.Err() == nil {
			<-tick.C
			// kgo stamps Timestamp with the time of Produce.
			cl.Produce(context.Background(), &kgo.Record{Topic: e.topic, Value: []byte("x")}, func(r *kgo.Record, err error) {
				if err == nil {
					log.mu.Lock()
					log.acks = append(log.acks, ackTimes{r.Timestamp, time.Now()})
					log.mu.Unlock()
				}
			})
		}
	})
	defer func() { stop(); wg.Wait() }()

	var times []time.Duration
	for run := 1; run <= failoverRuns; run++ {
		d, err := failoverOnce(t, e, &log, pick)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		t.Logf("run %d: %v", run, d.Round(time.Millisecond))
		times = append(times, d)
	}
	slices.Sort(times)
	median := times[len(times)/2]
	t.Logf("%s times (sorted) %v; median %v (target ≤ %v)", name, times, median.Round(time.Millisecond), failoverTarget)
	if median > failoverTarget {
		t.Errorf("median %s time %v exceeds the %v target", name, median.Round(time.Millisecond), failoverTarget)
	}
}

// failoverOnce waits for steady acks, kills the node pick chooses, measures until the first
// acknowledgement of a record produced after the kill, then restarts the node and waits for
// the ISR to be full again.
func failoverOnce(t *testing.T, e *env, log *ackLog, pick func(context.Context, *env) (*testcluster.Node, error)) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.waitISR(ctx); err != nil {
		return 0, err
	}
	if _, ok := waitAck(ctx, log, time.Now()); !ok {
		return 0, errors.New("no acknowledgements before the kill")
	}
	n, err := pick(ctx, e)
	if err != nil {
		return 0, err
	}
	leader, err := e.leader(ctx, 0)
	if err != nil {
		return 0, err
	}
	killed := time.Now()
	if err := n.Kill(); err != nil {
		return 0, err
	}
	elected := make(chan time.Duration, 1)
	go func() { elected <- waitNewLeader(ctx, e, leader.ID, killed) }()
	acked, ok := waitAck(ctx, log, killed)
	if !ok {
		return 0, fmt.Errorf("killed node %d at %s: no acknowledgement within %v; %s", n.ID,
			killed.UTC().Format("15:04:05.000"), failoverWait, e.describe(ctx))
	}
	if n == leader {
		t.Logf("killed leader %d at %s; Metadata named another leader after %v; now %s", n.ID,
			killed.UTC().Format("15:04:05.000"), (<-elected).Round(time.Millisecond), e.describe(ctx))
	} else {
		t.Logf("killed follower %d at %s; now %s", n.ID, killed.UTC().Format("15:04:05.000"), e.describe(ctx))
	}
	return acked.Sub(killed), n.Restart(ctx)
}

// waitNewLeader polls Metadata until partition 0 is led by a node other than old and returns
// how long after killed that was (failoverWait if never).
func waitNewLeader(ctx context.Context, e *env, old int32, killed time.Time) time.Duration {
	for time.Since(killed) < failoverWait && ctx.Err() == nil {
		mctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		_, ps, err := e.partitions(mctx)
		cancel()
		if err == nil && ps[0].Leader >= 0 && ps[0].Leader != old {
			return time.Since(killed)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return failoverWait
}

// waitAck waits up to failoverWait for the first acknowledgement of a record produced after t.
func waitAck(ctx context.Context, log *ackLog, t time.Time) (time.Time, bool) {
	deadline := time.Now().Add(failoverWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if at, ok := log.firstAfter(t); ok {
			return at, true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, false
}
