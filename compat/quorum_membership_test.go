//go:build compat

package compat

// Growing and shrinking logd's metadata quorum with Kafka's own kafka-metadata-quorum
// (KIP-853): a single logd node with a controller listener, two more started from
// Kafka-style server.properties files that join it as observers
// (controller.quorum.bootstrap.servers: in logd, a broker's Kafka address), then
// `add-controller` with each file as --command-config (the tool reads node.id, the
// controller listener and the metadata directory's meta.properties directory.id from it),
// `describe --status` / `--replication` showing voters and observers, and
// `remove-controller --controller-id --controller-directory-id`.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// quorumNode is one logd process of the scenario with its Kafka-style properties file.
type quorumNode struct {
	id        int
	addr      string // Kafka listener
	ctrl      string // controller (Raft) listener
	dir       string
	propsPath string
	proc      *brokerProc
}

// directoryID reads directory.id from the node's meta.properties.
func (n *quorumNode) directoryID(s *S) string {
	s.Helper()
	b, err := os.ReadFile(filepath.Join(n.dir, "meta.properties"))
	if err != nil {
		s.Fatalf("node %d: %v", n.id, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "directory.id="); ok {
			return strings.TrimSpace(v)
		}
	}
	s.Fatalf("node %d: no directory.id in %q", n.id, b)
	return ""
}

func TestMetadataQuorumGrowShrink(t *testing.T) {
	scenario(t, "java", "kafka-metadata-quorum-add-remove-controller", 4*time.Minute, func(s *S) {
		base, err := os.MkdirTemp(tmpDir, "membership-")
		if err != nil {
			s.Fatalf("%v", err)
		}
		nodes := make([]*quorumNode, 3)
		for i := range nodes {
			p1, err1 := freePort()
			p2, err2 := freePort()
			if err1 != nil || err2 != nil {
				s.Fatalf("free ports: %v %v", err1, err2)
			}
			nodes[i] = &quorumNode{id: i + 1, addr: fmt.Sprintf("127.0.0.1:%d", p1), ctrl: fmt.Sprintf("127.0.0.1:%d", p2),
				dir: filepath.Join(base, fmt.Sprintf("n%d", i+1))}
		}
		defer func() {
			for _, n := range nodes {
				if n.proc != nil {
					n.proc.stop()
				}
			}
		}()
		// Node 1: a single node whose quorum can grow (it has a controller listener).
		n1 := nodes[0]
		if n1.proc, err = startBrokerArgs(n1.dir, n1.addr, "membership-n1.log", "--node-id", "1", "--controller-listen", n1.ctrl); err != nil {
			s.Fatalf("node 1: %v", err)
		}
		kafkaToolAt(s, n1.addr, "kafka-topics", "org.apache.kafka.tools.TopicCommand", "--create", "--topic", "grow", "--partitions", "1", "--replication-factor", "1")
		clusterID := quorumStatus(s, n1.addr)["ClusterId"]

		// Nodes 2 and 3 from server.properties files, as a Kafka controller would start.
		for _, n := range nodes[1:] {
			n.propsPath = filepath.Join(base, fmt.Sprintf("n%d.properties", n.id))
			props := fmt.Sprintf("node.id=%d\nprocess.roles=broker,controller\nlog.dirs=%s\n"+
				"listeners=PLAINTEXT://%s,CONTROLLER://%s\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"+
				"controller.listener.names=CONTROLLER\ncontroller.quorum.bootstrap.servers=%s\n", n.id, n.dir, n.addr, n.ctrl, n1.addr)
			if err := os.WriteFile(n.propsPath, []byte(props), 0o644); err != nil {
				s.Fatalf("%v", err)
			}
			// startBrokerArgs passes --listen, which overrides the file's listeners: the same.
			listeners := fmt.Sprintf("PLAINTEXT://%s,CONTROLLER://%s", n.addr, n.ctrl)
			if n.proc, err = startBrokerArgs(n.dir, listeners, fmt.Sprintf("membership-n%d.log", n.id), "--config", n.propsPath); err != nil {
				s.Fatalf("node %d: %v", n.id, err)
			}
		}
		// Kafka's meta.properties v1 requires cluster.id (kafka-storage format writes it);
		// each node writes it once it has joined the cluster and learned its id.
		for _, n := range nodes[1:] {
			waitUntil(s, time.Minute, func() (bool, string) {
				b, _ := os.ReadFile(filepath.Join(n.dir, "meta.properties"))
				return strings.Contains(string(b), "cluster.id="+clusterID+"\n"), fmt.Sprintf("node %d's meta.properties with cluster.id=%s: %q", n.id, clusterID, b)
			})
		}
		waitUntil(s, time.Minute, func() (bool, string) {
			st := quorumStatus(s, n1.addr)
			ok := strings.Contains(st["CurrentObservers"], `"id": 2`) && strings.Contains(st["CurrentObservers"], `"id": 3`)
			return ok, "nodes 2 and 3 observing the quorum: CurrentObservers " + st["CurrentObservers"]
		})

		for _, n := range nodes[1:] {
			out := kafkaToolAt(s, nodes[n.id-2].addr, "kafka-metadata-quorum", "org.apache.kafka.tools.MetadataQuorumCommand",
				"--command-config", n.propsPath, "add-controller")
			if want := fmt.Sprintf("Added controller %d with directory id %s", n.id, n.directoryID(s)); !strings.Contains(out, want) {
				s.Fatalf("add-controller %d: %q, want %q", n.id, lastLines(out, 3), want)
			}
		}
		for _, n := range nodes {
			checkQuorum(s, n.addr, 3, 0)
		}
		st := quorumStatus(s, nodes[2].addr)
		for _, n := range nodes[1:] {
			if want := fmt.Sprintf(`"id": %d, "directoryId": "%s"`, n.id, n.directoryID(s)); !strings.Contains(st["CurrentVoters"], want) {
				s.Errorf("CurrentVoters %s lacks %s", st["CurrentVoters"], want)
			}
		}

		// Shrink: node 3 out (by its directory id), then it shows as an observer.
		n3 := nodes[2]
		out := kafkaToolAt(s, nodes[1].addr, "kafka-metadata-quorum", "org.apache.kafka.tools.MetadataQuorumCommand",
			"remove-controller", "--controller-id", "3", "--controller-directory-id", n3.directoryID(s))
		// Kafka's tool prints "Removed  KRaft controller …" (two spaces).
		if !strings.Contains(strings.Join(strings.Fields(out), " "), "Removed KRaft controller 3 with directory id "+n3.directoryID(s)) {
			s.Fatalf("remove-controller 3: %q", lastLines(out, 3))
		}
		st = quorumStatus(s, n1.addr)
		if strings.Count(st["CurrentVoters"], `"id"`) != 2 || strings.Contains(st["CurrentVoters"], `"id": 3`) {
			s.Errorf("after remove-controller 3: CurrentVoters %s, want 1 and 2", st["CurrentVoters"])
		}
		rows := quorumReplication(s, nodes[1].addr)
		status := map[string]string{}
		for _, r := range rows {
			status[r["NodeId"]] = r["Status"]
		}
		if status["3"] != "Observer" || len(rows) != 3 {
			s.Errorf("after remove-controller 3: --replication rows %v, want voters 1 and 2 and node 3 as an Observer", rows)
		}
		kafkaToolAt(s, nodes[1].addr, "kafka-topics", "org.apache.kafka.tools.TopicCommand", "--create", "--topic", "shrunk", "--partitions", "1", "--replication-factor", "2")
	})
}
