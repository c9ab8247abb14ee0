//go:build chaos

package testcluster

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dialFromNode reports whether a TCP connection from inside node from's namespace to addr
// opens within two seconds.
func dialFromNode(c *Cluster, from *Node, addr string) bool {
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ip", "netns", "exec", c.fab.netns(from.index),
		"bash", "-c", "exec 3<>/dev/tcp/"+host+"/"+port).Run() == nil
}

// dialFromCaller reports whether the caller reaches addr within two seconds.
func dialFromCaller(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
	}
	return err == nil
}

// TestPartitions checks who reaches whom under Isolate and IsolateFromPeers.
func TestPartitions(t *testing.T) {
	bin := binary(t)
	if out, _ := exec.Command(bin, "serve", "--help").CombinedOutput(); !strings.Contains(string(out), "--controller-quorum-voters") {
		t.Skip("the binary has no cluster mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Config{Binary: bin, Nodes: 3, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.fab == nil {
		t.Skip("no network namespaces here")
	}
	n1, n2 := c.Nodes[0], c.Nodes[1]
	check := func(state string, peer, caller bool) {
		t.Helper()
		if got := dialFromNode(c, n2, n1.Addr); got != peer {
			t.Errorf("%s: node 2 reaches node 1: %v, want %v", state, got, peer)
		}
		if got := dialFromNode(c, n2, n1.ControllerAddr); got != peer {
			t.Errorf("%s: node 2 reaches node 1's controller: %v, want %v", state, got, peer)
		}
		if got := dialFromCaller(n1.Addr); got != caller {
			t.Errorf("%s: caller reaches node 1: %v, want %v", state, got, caller)
		}
		if !dialFromCaller(n2.Addr) || !dialFromNode(c, n2, c.Nodes[2].Addr) {
			t.Errorf("%s: nodes 2 and 3 must stay connected", state)
		}
	}
	check("healthy", true, true)
	if err := n1.IsolateFromPeers(); err != nil {
		t.Fatal(err)
	}
	check("isolated from peers", false, true)
	if err := n1.Heal(); err != nil {
		t.Fatal(err)
	}
	check("healed", true, true)
	if err := n1.Isolate(); err != nil {
		t.Fatal(err)
	}
	check("isolated", false, false)
	if err := n1.Heal(); err != nil {
		t.Fatal(err)
	}
	check("healed again", true, true)
}
