//go:build chaos

package testcluster

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// binary is $CHAOS_LOGD, else bin/logd.
func binary(t *testing.T) string {
	bin := os.Getenv("CHAOS_LOGD")
	if bin == "" {
		bin = filepath.Join("..", "..", "bin", "logd")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("no logd binary: %v", err)
	}
	return bin
}

// reachable reports whether node n answers Metadata within two seconds.
func reachable(c *Cluster, n *Node) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.DialTimeout(time.Second), kgo.RequestRetries(0),
		kgo.RequestTimeoutOverhead(time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.metadataComplete(ctx, cl.SeedBrokers()[0]) == nil
}

// TestLifecycle drives one node through every fault and checks that it comes back each time
// and that Close leaves no process and no network behind.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Binary: binary(t), Nodes: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Nodes[0]
	if !reachable(c, n) {
		t.Fatal("not reachable after Start")
	}
	if c.fab != nil {
		if err := n.Isolate(); err != nil {
			t.Fatal(err)
		}
		if reachable(c, n) {
			t.Error("reachable while isolated")
		}
		if err := n.Heal(); err != nil {
			t.Fatal(err)
		}
		if !reachable(c, n) {
			t.Error("not reachable after Heal")
		}
	}
	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	if reachable(c, n) {
		t.Error("reachable while paused")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	pid := n.Pid()
	n.Pause() // Close must stop a paused node too
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(pid, 0) != syscall.ESRCH {
		t.Errorf("pid %d still exists after Close", pid)
	}
	if _, err := os.Stat("/sys/class/net/" + bridgePrefix + "1"); c.fab != nil && err == nil {
		t.Error("bridge left behind")
	}
}
