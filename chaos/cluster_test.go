//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/testcluster"
)

// logdBinary is the broker under test: $CHAOS_LOGD, else bin/logd (`make chaos` builds it).
func logdBinary(t testing.TB) string {
	bin := os.Getenv("CHAOS_LOGD")
	if bin == "" {
		bin = filepath.Join("..", "bin", "logd")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no logd binary (go build -o bin/logd ./cmd/logd): %v", err)
	}
	return bin
}

// clusterNodes is 3 if the binary knows the cluster flags, else 1; $CHAOS_NODES overrides.
func clusterNodes(t testing.TB, bin string) int {
	if s := os.Getenv("CHAOS_NODES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CHAOS_NODES=%q: %v", s, err)
		}
		return n
	}
	out, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	if strings.Contains(string(out), "--controller-quorum-voters") {
		return 3
	}
	return 1
}

// env is one scenario's cluster, admin client and topic.
type env struct {
	t     testing.TB
	c     *testcluster.Cluster
	cl    *kgo.Client
	adm   *kadm.Client
	topic string
	parts int32
	rf    int16
}

// startEnv starts a cluster of nodes, logging to chaos/.logs/<name>.log, and creates the topic.
func startEnv(t testing.TB, name string, nodes int, topic string, parts int32) *env {
	t.Helper()
	os.MkdirAll(".logs", 0o755)
	logf, err := os.Create(filepath.Join(".logs", name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcluster.Start(ctx, testcluster.Config{Binary: logdBinary(t), Nodes: nodes, Dir: t.TempDir(), Log: logf})
	if err != nil {
		t.Fatalf("start cluster: %v (log %s)", err, logf.Name())
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close cluster: %v", err)
		}
	})
	cl, err := kgo.NewClient(ClientOpts(c.Bootstrap())...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &env{t: t, c: c, cl: cl, adm: kadm.NewClient(cl), topic: topic, parts: parts, rf: int16(min(nodes, 3))}
	if err := e.createTopic(ctx); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if err := e.waitISR(ctx); err != nil {
		t.Fatalf("topic %s never fully in sync: %v", topic, err)
	}
	return e
}

func (e *env) createTopic(ctx context.Context) error {
	return retry(ctx, func() error {
		r, err := e.adm.CreateTopic(ctx, e.parts, e.rf, nil, e.topic)
		if err == nil {
			err = r.Err
		}
		if err != nil && strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
			return nil
		}
		return err
	})
}

// partitions returns the topic's partitions as Metadata describes them now.
func (e *env) partitions(ctx context.Context) (kadm.Metadata, kadm.PartitionDetails, error) {
	m, err := e.adm.Metadata(ctx, e.topic)
	if err != nil {
		return m, nil, err
	}
	td, ok := m.Topics[e.topic]
	if !ok || td.Err != nil {
		return m, nil, fmt.Errorf("topic %s: %v", e.topic, td.Err)
	}
	return m, td.Partitions, nil
}

// waitISR waits until every partition has a leader and an ISR of rf replicas.
func (e *env) waitISR(ctx context.Context) error {
	return retry(ctx, func() error {
		_, ps, err := e.partitions(ctx)
		if err != nil {
			return err
		}
		if int32(len(ps)) != e.parts {
			return fmt.Errorf("%d of %d partitions", len(ps), e.parts)
		}
		for _, p := range ps {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) < int(e.rf) {
				return fmt.Errorf("partition %d: leader %d isr %v err %v", p.Partition, p.Leader, p.ISR, p.Err)
			}
		}
		return nil
	})
}

// leader returns the node leading partition p.
func (e *env) leader(ctx context.Context, p int32) (*testcluster.Node, error) {
	var n *testcluster.Node
	err := retry(ctx, func() error {
		_, ps, err := e.partitions(ctx)
		if err != nil {
			return err
		}
		if n = e.c.Node(ps[p].Leader); n == nil {
			return fmt.Errorf("partition %d has no leader (%d)", p, ps[p].Leader)
		}
		return nil
	})
	return n, err
}

// leaderNotController returns the leader of a partition that is not the controller, so that
// killing it exercises partition failover alone; the leader of partition 0 if every leader
// is the controller (a single node).
func (e *env) leaderNotController(ctx context.Context) (*testcluster.Node, error) {
	ctrl, err := e.controller(ctx)
	if err != nil {
		return nil, err
	}
	for p := range e.parts {
		n, err := e.leader(ctx, p)
		if err != nil {
			return nil, err
		}
		if n != ctrl {
			return n, nil
		}
	}
	return e.leader(ctx, 0)
}

// controller returns the node Metadata names as the controller (the Raft leader).
func (e *env) controller(ctx context.Context) (*testcluster.Node, error) {
	var n *testcluster.Node
	err := retry(ctx, func() error {
		m, err := e.adm.BrokerMetadata(ctx)
		if err != nil {
			return err
		}
		if n = e.c.Node(m.Controller); n == nil {
			return fmt.Errorf("no controller (%d)", m.Controller)
		}
		return nil
	})
	return n, err
}

// describe is the topic's partitions in one line, for logs.
func (e *env) describe(ctx context.Context) string {
	m, ps, err := e.partitions(ctx)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "controller %d", m.Controller)
	for _, p := range slices.Sorted(maps.Keys(ps)) {
		d := ps[p]
		fmt.Fprintf(&b, "; p%d leader %d epoch %d isr %v", p, d.Leader, d.LeaderEpoch, d.ISR)
	}
	return b.String()
}
