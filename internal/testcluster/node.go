package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Bounds on waits for a process to exit.
const (
	killWait = 10 * time.Second // after SIGKILL
	stopWait = 30 * time.Second // after SIGTERM, before SIGKILL
)

// Node is one logd process of a cluster. Its methods are safe for concurrent use.
type Node struct {
	ID             int32  // --node-id
	Addr           string // Kafka listener, HOST:PORT, as clients reach it
	ControllerAddr string // controller (Raft) listener; empty for a single node without one
	DataDir        string // --data-dir, kept across restarts

	c     *Cluster
	index int      // 1-based position in the fabric
	argv  []string // the command line, the same at every start

	mu     sync.Mutex
	proc   *process // guarded by mu; nil when never started
	paused bool     // guarded by mu
}

// process is one run of a node.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // its exit status, set before done is closed
}

// startLocked launches the node's process. REQUIRES: n.mu held, no process running.
func (n *Node) startLocked() error {
	cmd := exec.Command(n.argv[0], n.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if n.c.cfg.Log != nil {
		w := &prefixWriter{mu: &n.c.logMu, w: n.c.cfg.Log, prefix: fmt.Sprintf("n%d ", n.ID)}
		cmd.Stdout, cmd.Stderr = w, w
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("node %d: %w", n.ID, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.proc, n.paused = p, false
	return nil
}

// Running reports whether the node's process is alive (possibly paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.runningLocked()
}

func (n *Node) runningLocked() bool {
	if n.proc == nil {
		return false
	}
	select {
	case <-n.proc.done:
		return false
	default:
		return true
	}
}

// Pid returns the process id of the node's current process, 0 if it is not running.
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return 0
	}
	return n.proc.cmd.Process.Pid
}

// exited returns a channel closed when the current process exits (nil if none).
func (n *Node) exited() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc == nil {
		return nil
	}
	return n.proc.done
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("node %d: not running", n.ID)
	}
	n.proc.cmd.Process.Signal(syscall.SIGKILL)
	return n.waitLocked(killWait)
}

// Stop sends SIGTERM (after SIGCONT if paused) and waits for a clean exit; after 30s it kills
// the process and returns an error. A non-zero exit status is returned as an error too.
func (n *Node) Stop() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("node %d: not running", n.ID)
	}
	return n.stopLocked()
}

// stopLocked is Stop. REQUIRES: n.mu held, process running.
func (n *Node) stopLocked() error {
	p := n.proc
	if n.paused {
		p.cmd.Process.Signal(syscall.SIGCONT)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		n.paused = false
		if p.err != nil {
			return fmt.Errorf("node %d: exit after SIGTERM: %w", n.ID, p.err)
		}
		return nil
	case <-time.After(stopWait):
		p.cmd.Process.Signal(syscall.SIGKILL)
		n.waitLocked(killWait)
		return fmt.Errorf("node %d: no exit within %v of SIGTERM; killed", n.ID, stopWait)
	}
}

// waitLocked waits up to d for the current process to exit. REQUIRES: n.mu held.
func (n *Node) waitLocked(d time.Duration) error {
	select {
	case <-n.proc.done:
		n.paused = false
		return nil
	case <-time.After(d):
		return fmt.Errorf("node %d: pid %d did not exit within %v", n.ID, n.proc.cmd.Process.Pid, d)
	}
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers nothing.
func (n *Node) Pause() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("node %d: not running", n.ID)
	}
	if err := n.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("node %d: %w", n.ID, err)
	}
	n.paused = true
	return nil
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.runningLocked() {
		return fmt.Errorf("node %d: not running", n.ID)
	}
	if err := n.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("node %d: %w", n.ID, err)
	}
	n.paused = false
	return nil
}

// Restart starts the node again with the same flags and data directory (after Kill or Stop)
// and waits, within ctx and at most a minute, until it answers Metadata listing every node of
// the cluster.
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	if n.runningLocked() {
		n.mu.Unlock()
		return fmt.Errorf("node %d: still running", n.ID)
	}
	err := n.startLocked()
	n.mu.Unlock()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	return n.c.waitReady(ctx, []*Node{n})
}

// Isolate cuts the node off the network: from the other nodes and from the caller, in both
// directions, including connections already open. It returns ErrNoPartition on plain loopback.
func (n *Node) Isolate() error {
	if n.c.fab == nil {
		return ErrNoPartition
	}
	return n.c.fab.isolate(n.index)
}

// IsolateFromPeers cuts the node off the other nodes only (both directions, connections
// already open included): the caller still reaches it, as a client on the minority side of a
// partition would. It returns ErrNoPartition on plain loopback.
func (n *Node) IsolateFromPeers() error {
	if n.c.fab == nil {
		return ErrNoPartition
	}
	return n.c.fab.isolatePeers(n.index)
}

// Heal undoes Isolate and IsolateFromPeers.
func (n *Node) Heal() error {
	if n.c.fab == nil {
		return ErrNoPartition
	}
	return n.c.fab.heal(n.index)
}

// errExited reports a process that exited while the caller waited for it to become ready.
var errExited = errors.New("process exited")
