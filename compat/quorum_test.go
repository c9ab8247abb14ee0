//go:build compat

package compat

// kafka-metadata-quorum (MetadataQuorumCommand from Kafka's tools jar) against logd:
// `describe --status` and `describe --replication` on the shared single node and on a
// three-node cluster (internal/testcluster), asked of every node, followers included; on the
// cluster, kafka-features changes through two different nodes too.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcluster"
)

// quorumStatus runs `kafka-metadata-quorum describe --status` against addr and returns its
// "Key: value" lines.
func quorumStatus(s *S, addr string) map[string]string {
	s.Helper()
	out := kafkaToolAt(s, addr, "kafka-metadata-quorum", "org.apache.kafka.tools.MetadataQuorumCommand", "describe", "--status")
	fields := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.Contains(k, " ") {
			fields[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"ClusterId", "LeaderId", "LeaderEpoch", "HighWatermark", "MaxFollowerLag", "CurrentVoters"} {
		if fields[k] == "" {
			s.Fatalf("describe --status against %s: no %s in %q", addr, k, out)
		}
	}
	return fields
}

// quorumReplication runs `kafka-metadata-quorum describe --replication` against addr and
// returns its rows by column name.
func quorumReplication(s *S, addr string) []map[string]string {
	s.Helper()
	out := kafkaToolAt(s, addr, "kafka-metadata-quorum", "org.apache.kafka.tools.MetadataQuorumCommand", "describe", "--replication")
	var cols []string
	var rows []map[string]string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "NodeId" {
			cols = f
			continue
		}
		if _, err := strconv.Atoi(f[0]); cols != nil && len(f) == len(cols) && err == nil {
			row := map[string]string{}
			for i, c := range cols {
				row[c] = f[i]
			}
			rows = append(rows, row)
		}
	}
	if len(rows) == 0 {
		s.Fatalf("describe --replication against %s: no rows in %q", addr, out)
	}
	return rows
}

// checkQuorum checks one node's answers for a quorum of voters voters, all caught up within
// a few entries and heard from since since (ms).
func checkQuorum(s *S, addr string, voters int, since int64) {
	s.Helper()
	st := quorumStatus(s, addr)
	if n := strings.Count(st["CurrentVoters"], `"id"`); n != voters {
		s.Errorf("%s: CurrentVoters %s, want %d voters", addr, st["CurrentVoters"], voters)
	}
	if lag, err := strconv.Atoi(st["MaxFollowerLag"]); err != nil || lag > 10 {
		s.Errorf("%s: MaxFollowerLag %q", addr, st["MaxFollowerLag"])
	}
	if epoch, err := strconv.Atoi(st["LeaderEpoch"]); err != nil || epoch < 1 {
		s.Errorf("%s: LeaderEpoch %q", addr, st["LeaderEpoch"])
	}
	if voters > 1 && !strings.Contains(st["CurrentVoters"], "CONTROLLER://") {
		s.Errorf("%s: CurrentVoters %s without controller endpoints", addr, st["CurrentVoters"])
	}
	leaders := 0
	rows := quorumReplication(s, addr)
	for _, r := range rows {
		if r["Status"] == "Leader" {
			leaders++
			if r["NodeId"] != st["LeaderId"] {
				s.Errorf("%s: leader row %v, LeaderId %s", addr, r, st["LeaderId"])
			}
		}
		if ts, err := strconv.ParseInt(r["LastFetchTimestamp"], 10, 64); err != nil || ts < since {
			s.Errorf("%s: row %v: LastFetchTimestamp before the cluster started", addr, r)
		}
		if leo, err := strconv.ParseInt(r["LogEndOffset"], 10, 64); err != nil || leo < 1 {
			s.Errorf("%s: row %v: LogEndOffset", addr, r)
		}
	}
	if len(rows) != voters || leaders != 1 {
		s.Errorf("%s: --replication rows %v, want %d voters, one leader", addr, rows, voters)
	}
}

// TestMetadataQuorum: kafka-metadata-quorum describe --status and --replication
// (go test -tags compat -run TestMetadataQuorum ./compat).
func TestMetadataQuorum(t *testing.T) {
	scenario(t, "java", "kafka-metadata-quorum-single", 90*time.Second, func(s *S) {
		checkQuorum(s, bootAddr, 1, 0)
	})
	scenario(t, "java", "kafka-metadata-quorum-three-nodes", 3*time.Minute, func(s *S) {
		since := time.Now().Add(-time.Second).UnixMilli()
		dir, err := os.MkdirTemp(tmpDir, "quorum-")
		if err != nil {
			s.Fatalf("%v", err)
		}
		logf, err := os.Create(filepath.Join(repoRoot, "compat", ".logs", "quorum-cluster.log"))
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer logf.Close()
		c, err := testcluster.Start(s.ctx, testcluster.Config{Binary: logdBin, Nodes: 3, Dir: dir, Log: logf})
		if err != nil {
			s.Fatalf("three-node cluster: %v", err)
		}
		defer c.Close()
		// Every node answers, the followers by asking the leader.
		for _, n := range c.Nodes {
			checkQuorum(s, n.Addr, 3, since)
		}
		// Finalized features are cluster-wide: a change through one node (forwarded to the
		// controller unless it is the one) shows on every node.
		for _, level := range []string{"1", "2"} {
			verb := map[string]string{"1": "downgrade", "2": "upgrade"}[level]
			kafkaToolAt(s, c.Nodes[int(level[0]-'1')].Addr, "kafka-features", "org.apache.kafka.tools.FeatureCommand", verb, "--feature", "transaction.version="+level)
			for _, n := range c.Nodes {
				if l := finalizedLevel(s, n.Addr); l != level {
					s.Errorf("node %d: transaction.version at %s after the %s to %s", n.ID, l, verb, level)
				}
			}
		}
	})
}
