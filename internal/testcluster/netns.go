package testcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoPartition is returned by Isolate and Heal when the cluster runs on plain loopback
// (not root, or no `ip` command), where a node cannot be cut off.
var ErrNoPartition = errors.New("testcluster: network partitions need network namespaces (root and the ip command)")

// bridgePrefix names the bridges (and, with a suffix, the namespaces and veths) of this
// package; names must stay within the kernel's 15 bytes.
const bridgePrefix = "ldtc"

// fabric is the bridges and per-node namespaces of one cluster (see the package comment).
// Node i has two veths: eth0 on the client bridge ldtc<k>, holding its address 10.213.k.i/24
// (the caller's side holds .254), and eth1 on the peer bridge ldtc<k>p, with a /32 route to
// every other node, so that nodes reach each other only through the peer bridge.
type fabric struct {
	k     int // the subnet 10.213.k.0/24 and the bridges ldtc<k> and ldtc<k>p
	nodes int
}

func (f *fabric) bridge() string          { return fmt.Sprintf("%s%d", bridgePrefix, f.k) }
func (f *fabric) peerBridge() string      { return f.bridge() + "p" }
func (f *fabric) netns(i int) string      { return fmt.Sprintf("%s%d-n%d", bridgePrefix, f.k, i) }
func (f *fabric) clientVeth(i int) string { return fmt.Sprintf("%s%dh%d", bridgePrefix, f.k, i) }
func (f *fabric) peerVeth(i int) string   { return fmt.Sprintf("%s%dg%d", bridgePrefix, f.k, i) }
func (f *fabric) nodeIP(i int) string     { return fmt.Sprintf("10.213.%d.%d", f.k, i) }

// ip runs the ip command, bounded.
func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// canUseNetns reports whether namespaces can be made here.
func canUseNetns() bool {
	if os.Geteuid() != 0 {
		return false
	}
	_, err := exec.LookPath("ip")
	return err == nil
}

// newFabric claims a free subnet and builds the bridges and a namespace per node (1..nodes).
// A subnet whose devices are still being torn down is skipped, up to three times.
func newFabric(nodes int) (*fabric, error) {
	removeStaleFabrics()
	var errs []error
	for k := 1; k < 255 && len(errs) < 3; k++ {
		f := &fabric{k: k, nodes: nodes}
		if ip("link", "add", f.bridge(), "type", "bridge") != nil {
			continue // taken
		}
		err := f.build()
		if err == nil {
			return f, nil
		}
		f.close()
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("testcluster: no network: %w", errors.Join(errs...))
}

func (f *fabric) build() error {
	br, pbr := f.bridge(), f.peerBridge()
	steps := [][]string{
		{"link", "set", "dev", br, "alias", "pid=" + strconv.Itoa(os.Getpid())},
		{"addr", "add", fmt.Sprintf("10.213.%d.254/24", f.k), "dev", br},
		{"link", "set", br, "up"},
		{"link", "add", pbr, "type", "bridge"},
		{"link", "set", pbr, "up"},
	}
	for i := 1; i <= f.nodes; i++ {
		ns := f.netns(i)
		steps = append(steps, []string{"netns", "add", ns}, []string{"-n", ns, "link", "set", "lo", "up"})
		for _, v := range []struct{ host, dev, bridge string }{{f.clientVeth(i), "eth0", br}, {f.peerVeth(i), "eth1", pbr}} {
			tmp := v.host + "x" // the node's end, renamed once inside the namespace
			steps = append(steps,
				[]string{"link", "add", v.host, "type", "veth", "peer", "name", tmp},
				[]string{"link", "set", tmp, "netns", ns},
				[]string{"link", "set", v.host, "master", v.bridge, "up"},
				[]string{"-n", ns, "link", "set", tmp, "name", v.dev},
				[]string{"-n", ns, "link", "set", v.dev, "up"},
			)
		}
		steps = append(steps, []string{"-n", ns, "addr", "add", f.nodeIP(i) + "/24", "dev", "eth0"})
		for j := 1; j <= f.nodes; j++ {
			if j != i {
				steps = append(steps, []string{"-n", ns, "route", "add", f.nodeIP(j) + "/32", "dev", "eth1"})
			}
		}
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// isolate detaches node i from both bridges; isolatePeers from the peer bridge only; heal
// plugs both back.
func (f *fabric) isolate(i int) error {
	return errors.Join(ip("link", "set", f.clientVeth(i), "nomaster"), f.isolatePeers(i))
}

func (f *fabric) isolatePeers(i int) error { return ip("link", "set", f.peerVeth(i), "nomaster") }

func (f *fabric) heal(i int) error {
	return errors.Join(ip("link", "set", f.clientVeth(i), "master", f.bridge()),
		ip("link", "set", f.peerVeth(i), "master", f.peerBridge()))
}

// close removes the veths, the namespaces and the bridges. The veths go first and
// explicitly: a deleted namespace frees its devices asynchronously, and the next cluster may
// want the same names at once.
func (f *fabric) close() error {
	var errs []error
	for i := 1; i <= f.nodes; i++ {
		for _, v := range []string{f.clientVeth(i), f.peerVeth(i)} {
			if _, err := os.Stat("/sys/class/net/" + v); err == nil {
				errs = append(errs, ip("link", "del", v))
			}
		}
		errs = append(errs, ip("netns", "del", f.netns(i)))
	}
	errs = append(errs, ip("link", "del", f.peerBridge()), ip("link", "del", f.bridge()))
	return errors.Join(errs...)
}

// removeStaleFabrics deletes the bridges and namespaces of callers that died without Close.
func removeStaleFabrics() {
	links, _ := filepath.Glob("/sys/class/net/" + bridgePrefix + "*")
	for _, l := range links {
		name := filepath.Base(l)
		k, err := strconv.Atoi(strings.TrimPrefix(name, bridgePrefix))
		if err != nil {
			continue
		}
		alias, err := os.ReadFile(filepath.Join(l, "ifalias"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(alias)), "pid="))
		if err != nil || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		nss, _ := filepath.Glob(fmt.Sprintf("/var/run/netns/%s%d-n*", bridgePrefix, k))
		(&fabric{k: k, nodes: len(nss)}).close()
	}
}
