package main

import (
	"strings"
	"testing"
	"time"
)

// TestConfigProperties: a Kafka-style server.properties sets the same settings as YAML, with
// every separator, a continuation line and escapes; keys logd has no use for are warnings
// that name them and their line.
func TestConfigProperties(t *testing.T) {
	p := writeConfigAs(t, "server.properties", `# a Kafka broker's file
! Java's other comment
node.id=7
log.dirs : /var/lib/logd
num.partitions 3
num.network.threads=3
socket.send.buffer.bytes=102400
log.retention.ms = \
    60000
log.cleanup.policy=compact\,delete
logd.fsync.acks.all=fals\u0065
log.roll.hours=2
log.retention.bytes=1
log.retention.bytes=2
`)
	s, err := loadServeSettings(p, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != 7 || s.DataDir != "/var/lib/logd" || s.NumPartitions != 3 ||
		s.LogDefaults.RetentionMs != time.Minute || s.LogDefaults.SegmentMs != 2*time.Hour ||
		s.LogDefaults.CleanupPolicy.String() != "compact,delete" || s.FsyncAcksAll ||
		s.LogDefaults.RetentionBytes != 2 {
		t.Fatalf("settings %+v", s)
	}
	want := []string{
		p + ` line 6: unknown key "num.network.threads": ignored`,
		p + ` line 7: unknown key "socket.send.buffer.bytes": ignored`,
	}
	if strings.Join(s.Warnings, "\n") != strings.Join(want, "\n") {
		t.Fatalf("warnings\n%s\nwant\n%s", strings.Join(s.Warnings, "\n"), strings.Join(want, "\n"))
	}
}

// TestConfigPropertiesRefused: a Kafka key logd does not implement is refused, in one line
// saying why, when its value asks for behaviour logd does not have, and accepted (ignored,
// with a warning) when its value is what logd does anyway.
func TestConfigPropertiesRefused(t *testing.T) {
	for _, tc := range []struct{ file, want string }{
		{"node.id=1\nauthorizer.class.name=kafka.security.authorizer.AclAuthorizer\n",
			`line 2: authorizer.class.name: "kafka.security.authorizer.AclAuthorizer" is not an authorizer logd has`},
		{"super.users=alice\n", `super.users: invalid ACL: principal "alice" is not of the form Type:name`},
		{"process.roles=controller\n", "line 1: process.roles=controller is not supported: every logd node is a broker"},
		{"min.insync.replicas=2\n", "line 1: min.insync.replicas=2 is not supported: the broker-wide default is 1 in logd"},
		{"unclean.leader.election.enable=true\n", "unclean.leader.election.enable=true is not supported"},
		{"compression.type=zstd\n", "compression.type=zstd is not supported: logd stores batches as the producer compressed them"},
		{"num.partitions=x\n", `line 1: num.partitions: "x" is not a whole number`},
		{"a=\\u00g1\n", `line 1: malformed \uxxxx escape`},
	} {
		_, err := loadServeSettings(writeConfigAs(t, "server.properties", tc.file), envOf(nil), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.file, err, tc.want)
		}
	}
	s, err := loadServeSettings(writeConfigAs(t, "server.properties",
		"process.roles=broker,controller\nmin.insync.replicas=1\ncompression.type=producer\ndelete.topic.enable=true\n"), envOf(nil), nil)
	if err != nil || len(s.Warnings) != 4 {
		t.Fatalf("defaults logd has: err %v, warnings %q", err, s.Warnings)
	}
}

func TestConfigFormatSniff(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"server.properties", "a: 1\n", "properties"},
		{"cfg", "# x\nlog.dirs=/tmp/kafka-logs\n", "properties"},
		{"cfg", "node.id=1\nlog.dirs=/tmp/x\n", "properties"},
		{"cfg", "! comment\nnode.id=1\n", "properties"},
		{"cfg", "node.id = 1\nlog.dirs = \"/x\"\n", "toml"},
		{"cfg", "[log]\ndirs = \"/x\"\n", "toml"},
		{"cfg", "node.id: 1\n", "yaml"},
	} {
		if got := configFormat(tc.name, []byte(tc.text)); got != tc.want {
			t.Errorf("configFormat(%q, %q) = %s, want %s", tc.name, tc.text, got, tc.want)
		}
	}
}
