//go:build compat

package compat

// kafka-configs (ConfigCommand from Kafka's tools jar) on broker configs against logd:
// `--describe --all` on a broker lists every setting with its source; `--alter` on the cluster
// default (--entity-default) and on one broker changes the dynamic ones, which every node
// then shows and which hold after a restart; a read-only one is refused, named.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/testcluster"
)

// brokerConfigLine finds `name=value sensitive=… synonyms={SOURCE:…` in kafka-configs'
// describe output and returns the value and the first synonym's source.
func brokerConfigLine(out, name string) (value, source string, ok bool) {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `=(\S*) sensitive=\S+ synonyms=\{([A-Z_]+):`)
	m := re.FindStringSubmatch(out)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// wantBrokerConfigAt checks `kafka-configs --describe --all` of broker id at addr for name.
func wantBrokerConfigAt(s *S, addr, id, name, value, source string) {
	s.Helper()
	out := kafkaToolAt(s, addr, "kafka-configs", "kafka.admin.ConfigCommand", "--describe", "--all", "--entity-type", "brokers", "--entity-name", id)
	v, src, ok := brokerConfigLine(out, name)
	if !ok || v != value || src != source {
		s.Fatalf("broker %s via %s: %s=%s (%s), want %s (%s); output: %s", id, addr, name, v, src, value, source, lastLines(out, 5))
	}
}

// kafkaToolFails runs a Kafka tool that must fail against addr and returns its output.
func kafkaToolFails(s *S, addr, name, mainClass string, args ...string) string {
	s.Helper()
	lib := filepath.Join(repoRoot, "tools", "kafka", "lib")
	argv := append([]string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", lib + "/*",
		mainClass, "--bootstrap-server", addr}, args...)
	cmd := exec.CommandContext(s.ctx, "java", argv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		s.Fatalf("%s %s succeeded; it should have been refused: %s", name, strings.Join(args, " "), lastLines(out.String(), 5))
	}
	return out.String()
}

// TestBrokerConfigs: go test -tags compat -run TestBrokerConfigs ./compat
func TestBrokerConfigs(t *testing.T) {
	scenario(t, "java", "kafka-configs-brokers-single", 2*time.Minute, func(s *S) {
		out := kafkaToolAt(s, bootAddr, "kafka-configs", "kafka.admin.ConfigCommand", "--describe", "--all", "--entity-type", "brokers", "--entity-name", "1")
		if n := strings.Count(out, " sensitive="); n < 70 {
			s.Fatalf("--describe --all lists %d broker configs, want every setting (70 or more): %s", n, lastLines(out, 5))
		}
		for _, name := range []string{"node.id", "log.dirs", "log.retention.ms", "log.cleaner.threads", "logd.fsync.acks.all", "group.share.delivery.count.limit"} {
			if _, _, ok := brokerConfigLine(out, name); !ok {
				s.Errorf("--describe --all does not list %s", name)
			}
		}
		kafkaToolAt(s, bootAddr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.cleaner.delete.retention.ms=3600000")
		def := kafkaToolAt(s, bootAddr, "kafka-configs", "kafka.admin.ConfigCommand", "--describe", "--entity-type", "brokers", "--entity-default")
		if v, src, ok := brokerConfigLine(def, "log.cleaner.delete.retention.ms"); !ok || v != "3600000" || src != "DYNAMIC_DEFAULT_BROKER_CONFIG" {
			s.Errorf("--entity-default: %s", lastLines(def, 5))
		}
		wantBrokerConfigAt(s, bootAddr, "1", "log.cleaner.delete.retention.ms", "3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
		kafkaToolAt(s, bootAddr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "brokers", "--entity-default", "--delete-config", "log.cleaner.delete.retention.ms")
		wantBrokerConfigAt(s, bootAddr, "1", "log.cleaner.delete.retention.ms", "86400000", "DEFAULT_CONFIG")
	})
	scenario(t, "java", "kafka-configs-brokers-three-nodes", 4*time.Minute, func(s *S) {
		dir, err := os.MkdirTemp(tmpDir, "brokercfg-")
		if err != nil {
			s.Fatalf("%v", err)
		}
		logf, err := os.Create(filepath.Join(repoRoot, "compat", ".logs", "broker-configs-cluster.log"))
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer logf.Close()
		c, err := testcluster.Start(s.ctx, testcluster.Config{Binary: logdBin, Nodes: 3, Dir: dir, Log: logf})
		if err != nil {
			s.Fatalf("three-node cluster: %v", err)
		}
		defer c.Close()
		// Altered through node 1: the default on every node, broker 2's own value on node 2.
		kafkaToolAt(s, c.Nodes[0].Addr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=7200000")
		kafkaToolAt(s, c.Nodes[0].Addr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "brokers", "--entity-name", "2", "--add-config", "log.retention.ms=3600000")
		wantBrokerConfigAt(s, c.Nodes[2].Addr, "3", "log.retention.ms", "7200000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
		wantBrokerConfigAt(s, c.Nodes[1].Addr, "2", "log.retention.ms", "3600000", "DYNAMIC_BROKER_CONFIG")
		if err := c.Nodes[1].Stop(); err != nil {
			s.Fatalf("stop node 2: %v", err)
		}
		if err := c.Nodes[1].Restart(s.ctx); err != nil {
			s.Fatalf("restart node 2: %v", err)
		}
		wantBrokerConfigAt(s, c.Nodes[1].Addr, "2", "log.retention.ms", "3600000", "DYNAMIC_BROKER_CONFIG")
		// A read-only setting is refused, named.
		out := kafkaToolFails(s, c.Nodes[2].Addr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "brokers", "--entity-name", "3", "--add-config", "num.partitions=6")
		if !strings.Contains(out, "InvalidRequestException") || !strings.Contains(out, "num.partitions") {
			s.Errorf("altering num.partitions: %s", lastLines(out, 5))
		}
	})
}
