package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readyWait bounds how long Start and Restart wait for nodes to answer Metadata.
const readyWait = time.Minute

// Ports of every node inside its own network namespace.
const (
	nsKafkaPort      = 9092
	nsControllerPort = 9093
)

// Config describes a cluster to start.
type Config struct {
	Binary    string    // the logd binary
	Nodes     int       // how many processes; 1 is a plain single-node `logd serve`
	Dir       string    // data directories go in Dir/n<ID>
	ExtraArgs []string  // appended to every node's `logd serve` command line
	Log       io.Writer // the processes' stdout and stderr, each line prefixed "n<ID> "; nil discards
}

// Cluster is a set of running logd processes.
type Cluster struct {
	Nodes []*Node // Nodes[i].ID is i+1

	cfg   Config
	fab   *fabric    // nil on plain loopback
	logMu sync.Mutex // serializes lines written to cfg.Log
}

// Start picks addresses, starts cfg.Nodes processes and waits (bounded by ctx and a minute)
// until every node answers Metadata listing all of them. With more than one node each gets
// --controller-listen and --controller-quorum-voters naming all nodes; a single node gets
// neither unless ExtraArgs adds them. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Nodes < 1 {
		return nil, fmt.Errorf("testcluster: %d nodes", cfg.Nodes)
	}
	bin, err := filepath.Abs(cfg.Binary)
	if err != nil {
		return nil, err
	}
	cfg.Binary = bin
	c := &Cluster{cfg: cfg}
	if canUseNetns() {
		if c.fab, err = newFabric(cfg.Nodes); err != nil {
			return nil, err
		}
	}
	if err := c.layout(); err != nil {
		c.Close()
		return nil, err
	}
	for _, n := range c.Nodes {
		n.mu.Lock()
		err := n.startLocked()
		n.mu.Unlock()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	if err := c.waitReady(ctx, c.Nodes); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// layout assigns every node its addresses, data directory and command line.
func (c *Cluster) layout() error {
	var voters []string
	for i := 1; i <= c.cfg.Nodes; i++ {
		n := &Node{ID: int32(i), c: c, index: i, DataDir: filepath.Join(c.cfg.Dir, fmt.Sprintf("n%d", i))}
		if c.fab != nil {
			host := c.fab.nodeIP(i)
			n.Addr = net.JoinHostPort(host, strconv.Itoa(nsKafkaPort))
			n.ControllerAddr = net.JoinHostPort(host, strconv.Itoa(nsControllerPort))
		} else {
			ports, err := freePorts(2)
			if err != nil {
				return err
			}
			n.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
			n.ControllerAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		}
		if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
			return err
		}
		voters = append(voters, fmt.Sprintf("%d@%s", n.ID, n.ControllerAddr))
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		args := []string{"serve", "--node-id", strconv.Itoa(int(n.ID)), "--listen", n.Addr, "--data-dir", n.DataDir}
		if c.cfg.Nodes > 1 {
			args = append(args, "--controller-listen", n.ControllerAddr,
				"--controller-quorum-voters", strings.Join(voters, ","))
		} else {
			n.ControllerAddr = ""
		}
		args = append(append([]string{c.cfg.Binary}, args...), c.cfg.ExtraArgs...)
		if c.fab != nil {
			args = append([]string{"ip", "netns", "exec", c.fab.netns(n.index)}, args...)
		}
		n.argv = args
	}
	return nil
}

// freePorts returns n loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Bootstrap returns every node's Kafka address, for kgo.SeedBrokers.
func (c *Cluster) Bootstrap() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr)
	}
	return out
}

// Node returns the node with the given id, nil if there is none.
func (c *Cluster) Node(id int32) *Node {
	if id < 1 || int(id) > len(c.Nodes) {
		return nil
	}
	return c.Nodes[id-1]
}

// WaitReady waits, within ctx, until every running node answers Metadata listing all nodes.
func (c *Cluster) WaitReady(ctx context.Context) error {
	var running []*Node
	for _, n := range c.Nodes {
		if n.Running() {
			running = append(running, n)
		}
	}
	return c.waitReady(ctx, running)
}

// waitReady polls each of nodes with a Metadata request sent to that node alone until its
// answer lists every node of the cluster.
func (c *Cluster) waitReady(ctx context.Context, nodes []*Node) error {
	for _, n := range nodes {
		if err := c.waitNodeReady(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) waitNodeReady(ctx context.Context, n *Node) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2*time.Second), kgo.RequestRetries(0))
	if err != nil {
		return err
	}
	defer cl.Close()
	exited := n.exited()
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		last = c.metadataComplete(rctx, cl.SeedBrokers()[0])
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("node %d (%s): %w while waiting for it to be ready", n.ID, n.Addr, errExited)
		case <-ctx.Done():
			return fmt.Errorf("node %d (%s) not ready: %v (last: %v)", n.ID, n.Addr, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// metadataComplete asks b for Metadata and checks that it lists every node.
func (c *Cluster) metadataComplete(ctx context.Context, b *kgo.Broker) error {
	resp, err := b.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return err
	}
	seen := map[int32]bool{}
	for _, br := range resp.(*kmsg.MetadataResponse).Brokers {
		seen[br.NodeID] = true
	}
	for _, n := range c.Nodes {
		if !seen[n.ID] {
			return fmt.Errorf("metadata lists %d of %d brokers", len(seen), len(c.Nodes))
		}
	}
	return nil
}

// Close stops every running node with SIGTERM (killing those that do not exit within 30s),
// heals and removes the network, and returns the first error: a node that had to be killed
// or exited non-zero, or a network that could not be removed.
func (c *Cluster) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Go(func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.runningLocked() {
				errs[i] = n.stopLocked()
			}
		})
	}
	wg.Wait()
	if c.fab != nil {
		errs = append(errs, c.fab.close())
		c.fab = nil
	}
	return errors.Join(errs...)
}

// prefixWriter writes whole lines, each prefixed, to a writer shared by several processes.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte // a partial line
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		// A failing log sink must not break the process's output pipe: errors are dropped.
		io.WriteString(p.w, p.prefix+string(p.buf[:i+1]))
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
}
