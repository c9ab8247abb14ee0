//go:build compat

package compat

// kafka-features (FeatureCommand from Kafka's tools jar) against logd: describe, downgrade and
// upgrade of transaction.version, the level surviving a restart. On a broker of its own: the
// shared one's clients rely on transaction version 2.

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var featureLine = regexp.MustCompile(`Feature: transaction.version\s+SupportedMinVersion: 0\s+SupportedMaxVersion: 2\s+FinalizedVersionLevel: (\d+)\s+Epoch: (\d+)`)

// finalizedLevel runs `kafka-features describe` and returns transaction.version's finalized level.
func finalizedLevel(s *S, addr string) string {
	s.Helper()
	out := kafkaToolAt(s, addr, "kafka-features", "org.apache.kafka.tools.FeatureCommand", "describe")
	m := featureLine.FindStringSubmatch(out)
	if m == nil {
		s.Fatalf("kafka-features describe: no transaction.version line in %q", out)
	}
	return m[1]
}

// TestKafkaFeatures: kafka-features describe/upgrade/downgrade
// (go test -tags compat -run TestKafkaFeatures ./compat).
func TestKafkaFeatures(t *testing.T) {
	scenario(t, "java", "kafka-features", 3*time.Minute, func(s *S) {
		dir := filepath.Join(tmpDir, "features")
		b, err := startBroker(dir, "", "broker-features.log")
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer func() { b.stop() }()
		if l := finalizedLevel(s, b.addr); l != "2" {
			s.Fatalf("transaction.version finalized at %s, want 2 (the default)", l)
		}
		out := kafkaToolAt(s, b.addr, "kafka-features", "org.apache.kafka.tools.FeatureCommand", "downgrade", "--feature", "transaction.version=1")
		if !strings.Contains(out, "transaction.version was downgraded to 1.") {
			s.Errorf("downgrade: %s", out)
		}
		if l := finalizedLevel(s, b.addr); l != "1" {
			s.Fatalf("after the downgrade: level %s, want 1", l)
		}
		if err := b.stop(); err != nil {
			s.Fatalf("stop: %v", err)
		}
		if b, err = startBrokerArgs(dir, b.addr, "broker-features.log"); err != nil {
			s.Fatalf("restart: %v", err)
		}
		if l := finalizedLevel(s, b.addr); l != "1" {
			s.Fatalf("after a restart: level %s, want 1 (kept in the metadata log)", l)
		}
		out = kafkaToolAt(s, b.addr, "kafka-features", "org.apache.kafka.tools.FeatureCommand", "upgrade", "--feature", "transaction.version=2")
		if !strings.Contains(out, "transaction.version was upgraded to 2.") {
			s.Errorf("upgrade: %s", out)
		}
		if l := finalizedLevel(s, b.addr); l != "2" {
			s.Errorf("after the upgrade: level %s, want 2", l)
		}
		// An upgrade to a lower level is refused, with the reason.
		lib := filepath.Join(repoRoot, "tools", "kafka", "lib")
		refused, err := exec.CommandContext(s.ctx, "java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", lib+"/*",
			"org.apache.kafka.tools.FeatureCommand", "--bootstrap-server", b.addr, "upgrade", "--feature", "transaction.version=1").CombinedOutput()
		if err == nil || !strings.Contains(string(refused), "can't downgrade from level 2 to 1") {
			s.Errorf("upgrade to a lower level: %v: %s", err, refused)
		}
	})
}
