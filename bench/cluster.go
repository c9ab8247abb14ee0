package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/perf/loadgen"
)

// clusterNodes is the size of the logd-rf3 cluster, and the replication factor of the topics
// a run creates on it.
const clusterNodes = 3

// errNoClusterMode says the logd binary cannot form a cluster.
var errNoClusterMode = errors.New("this logd binary has no cluster mode (`logd serve --help` lists no --controller-quorum-voters)")

// startLogdCluster runs nodes `logd serve` processes on loopback, each a broker and a voter of
// the controller quorum, with logd's defaults (fsync before acks=all), node N in DIR/nodeN
// logging to logPath with "-nodeN" before its extension. It returns node 1, whose peers are
// the others, once every node serves and Metadata lists all of them; topics a run creates on
// it get replication factor nodes.
func startLogdCluster(bin, dir, logPath string, nodes int) (*process, error) {
	help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	if !bytes.Contains(help, []byte("--controller-quorum-voters")) {
		return nil, fmt.Errorf("%s: %w", bin, errNoClusterMode)
	}
	addrs, caddrs, haddrs := make([]string, nodes), make([]string, nodes), make([]string, nodes)
	var voters, urls []string
	for i := range nodes {
		var err error
		if addrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
		if caddrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
		// Every node serves /metrics: the latency breakdown (stages.go) sums their histograms,
		// leaders' and followers' alike.
		if haddrs[i], err = freeAddr(); err != nil {
			return nil, err
		}
		urls = append(urls, "http://"+haddrs[i]+"/metrics")
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, caddrs[i]))
	}
	config := []string{fmt.Sprintf("%d-node logd cluster on loopback, every node a broker and a voter of the controller quorum:", nodes)}
	var ps []*process
	fail := func(err error) (*process, error) {
		for _, p := range ps {
			p.stop()
		}
		return nil, err
	}
	ext := filepath.Ext(logPath)
	for i := range nodes {
		ndir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		args := []string{"serve", "--node-id", strconv.Itoa(i + 1), "--listen", addrs[i], "--controller-listen", caddrs[i],
			"--controller-quorum-voters", strings.Join(voters, ","), "--data-dir", ndir, "--http", haddrs[i]}
		config = append(config, "logd "+strings.Join(args, " "))
		p, err := spawn(BrokerLogdRF3, addrs[i], ndir, fmt.Sprintf("%s-node%d%s", strings.TrimSuffix(logPath, ext), i+1, ext), nil, exec.Command(bin, args...))
		if err != nil {
			return fail(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		if err := p.waitReady(60 * time.Second); err != nil {
			return fail(err)
		}
	}
	if err := waitBrokers(addrs[0], nodes, 60*time.Second); err != nil {
		return fail(err)
	}
	config = append(config,
		fmt.Sprintf("topics: replication factor %d (every node holds every partition), leaders as the controller places them", nodes),
		"durability: logd's defaults on every node (logd.fsync.acks.all=true); acks=all answered once the in-sync replicas have the batch (high watermark)",
		"topic defaults: flush.messages and flush.ms unset (no periodic fsync), segment.bytes 1 GiB")
	p := ps[0]
	p.config, p.peers, p.replication = config, ps[1:], nodes
	p.metricsURL = strings.Join(urls, ",")
	return p, nil
}

// waitBrokers waits until Metadata from addr lists n brokers.
func waitBrokers(addr string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := brokerCount(addr)
		if err == nil && got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster at %s lists %d of %d brokers after %v (%v)", addr, got, n, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// brokerCount is how many brokers Metadata from addr lists.
func brokerCount(addr string) (int, error) {
	c, err := loadgen.Dial(addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none: brokers only
	resp, err := c.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	return len(resp.(*kmsg.MetadataResponse).Brokers), nil
}
