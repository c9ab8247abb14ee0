package main

import (
	"bufio"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/engine"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// serveFlags builds the serve command's flag set and parses args into it.
func serveFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	f := serveCommand().Flags()
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigEveryKey(t *testing.T) {
	p := writeConfig(t, `# every key
node.id: 7
log.dirs: /var/lib/logd
listeners: PLAINTEXT://0.0.0.0:19092
advertised.listeners: broker7.example.com:19092
auto.create.topics.enable: false
num.partitions: 3
log.retention.ms: 60000
log.retention.bytes: 1048576
log.segment.bytes: 65536
log.roll.hours: 2
message.max.bytes: 2000000
log.index.interval.bytes: 1024
log.flush.interval.messages: 100
log.flush.interval.ms: 250
log.cleanup.policy: compact,delete
log.cleaner.min.cleanable.ratio: 0.25
log.cleaner.min.compaction.lag.ms: 1000
log.cleaner.max.compaction.lag.ms: 60000
log.cleaner.delete.retention.ms: 5000
log.cleaner.enable: false
log.cleaner.threads: 2
log.cleaner.dedupe.buffer.size: 1048576
log.cleaner.backoff.ms: 100
log.cleaner.io.max.bytes.per.second: 1e6
logd.http: 127.0.0.1:9644
logd.fsync.acks.all: "false"
logd.replica.fsync: true
transaction.partition.verification.enable: "false"
`)
	s, err := loadServeSettings(p, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := defaultServeSettings()
	want.NodeID, want.DataDir, want.Listen, want.Advertise, want.HTTP = 7, "/var/lib/logd", "PLAINTEXT://0.0.0.0:19092", "broker7.example.com:19092", "127.0.0.1:9644"
	want.AutoCreateTopics, want.NumPartitions, want.FsyncAcksAll, want.TxnVerification = false, 3, false, false
	want.ReplicaFsync = true
	l := &want.LogDefaults
	l.RetentionMs, l.RetentionBytes, l.SegmentBytes, l.SegmentMs = time.Minute, 1<<20, 65536, 2*time.Hour
	l.MaxMessageBytes, l.IndexIntervalBytes, l.FlushMessages, l.FlushMs = 2000000, 1024, 100, 250*time.Millisecond
	l.CleanupPolicy, l.MinCleanableDirtyRatio = engine.CleanupCompact|engine.CleanupDelete, 0.25
	l.MinCompactionLag, l.MaxCompactionLag, l.DeleteRetention = time.Second, time.Minute, 5*time.Second
	want.Cleaner = engine.CleanerConfig{Enable: false, Threads: 2, DedupeBufferSize: 1 << 20, Backoff: 100 * time.Millisecond, IOMaxBytesPerSecond: 1e6}
	if s.Given["node.id"] != "7" || s.Given["log.cleanup.policy"] != "compact,delete" || s.Given["num.partitions"] != "3" {
		t.Fatalf("given values (DescribeConfigs' STATIC_BROKER_CONFIG): %v", s.Given)
	}
	s.Given = nil // checked above; want is built from the defaults
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got  %+v\nwant %+v", s, want)
	}

	// hours forms, -1 for unlimited, and nested keys.
	p = writeConfig(t, "log:\n  retention:\n    hours: -1\n  roll.ms: 5000\n")
	if s, err = loadServeSettings(p, envOf(nil), nil); err != nil {
		t.Fatal(err)
	}
	if s.LogDefaults.RetentionMs >= 0 || s.LogDefaults.SegmentMs != 5*time.Second {
		t.Fatalf("retention %v roll %v", s.LogDefaults.RetentionMs, s.LogDefaults.SegmentMs)
	}
	// Within one source the ms form wins over hours, whatever the order in the file.
	p = writeConfig(t, "log.retention.ms: 1000\nlog.retention.hours: 5\n")
	if s, err = loadServeSettings(p, envOf(nil), nil); err != nil || s.LogDefaults.RetentionMs != time.Second {
		t.Fatalf("retention %v, %v", s.LogDefaults.RetentionMs, err)
	}
	// Empty file and no file: the embedded defaults.
	for _, path := range []string{writeConfig(t, ""), ""} {
		if s, err = loadServeSettings(path, envOf(nil), nil); err != nil || !reflect.DeepEqual(s, defaultServeSettings()) {
			t.Fatalf("%q: %+v, %v", path, s, err)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	p := writeConfig(t, "node.id: 2\nlog.dirs: /from/file\nlisteners: 127.0.0.1:1111\nnum.partitions: 4\nlog.retention.ms: 1000\n")
	env := map[string]string{
		"LOGD_LOG_DIRS":            "/from/env",
		"LOGD_LISTENERS":           "PLAINTEXT://127.0.0.1:2222",
		"LOGD_LOG_RETENTION_HOURS": "3", // a later source's hours beats an earlier ms
		"LOGD_HTTP":                "127.0.0.1:9644",
		"LOGD_KAFKA_CLASSPATH":     "ignored: not a setting",
	}
	s, err := loadServeSettings(p, envOf(env), serveFlags(t, "--listen", "127.0.0.1:3333"))
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeID != 2 || s.NumPartitions != 4 { // file only
		t.Errorf("file values: node %d partitions %d", s.NodeID, s.NumPartitions)
	}
	if s.DataDir != "/from/env" || s.LogDefaults.RetentionMs != 3*time.Hour || s.HTTP != "127.0.0.1:9644" { // env over file
		t.Errorf("env values: dir %q retention %v http %q", s.DataDir, s.LogDefaults.RetentionMs, s.HTTP)
	}
	if s.Listen != "127.0.0.1:3333" { // flag over env over file
		t.Errorf("listen %q", s.Listen)
	}
	// Flags left at their defaults do not override anything.
	if s, err = loadServeSettings(p, envOf(nil), serveFlags(t)); err != nil || s.DataDir != "/from/file" || s.Listen != "127.0.0.1:1111" {
		t.Errorf("unset flags overrode the file: %+v %v", s, err)
	}
	// The long logd.* env name works too.
	if s, _ = loadServeSettings("", envOf(map[string]string{"LOGD_LOGD_FSYNC_ACKS_ALL": "false"}), nil); s.FsyncAcksAll {
		t.Error("LOGD_LOGD_FSYNC_ACKS_ALL ignored")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		file string
		env  map[string]string
		args []string
		want string // the whole message after the file name, or the whole message
	}{
		{file: "node.id: 1\nlog.dirs: d\n\nnum.partitions: abc\n", want: `line 4: num.partitions: "abc" is not a whole number`},
		{file: "a: 1\n", want: `line 1: unknown key "a"`},
		{file: "node.id: 1\n\n\n\n\n\nlog.dis: /x\n", want: `line 7: unknown key "log.dis" (did you mean "log.dir"?)`},
		{file: "num.partition: 2\n", want: `line 1: unknown key "num.partition" (did you mean "num.partitions"?)`},
		{file: "node.id: 1\nnode.id: 2\n", want: `line 2: node.id is already set on line 1`},
		{file: "log.dirs: [a, b]\n", want: `line 1: log.dirs: want a single value, not a list`},
		{file: "log.dirs: \",\"\n", want: `line 1: log.dirs: "," names no directory`},
		{file: "node.id:\n", want: `line 1: node.id: has no value`},
		{file: "listeners: PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\n", want: `listener SASL_PLAINTEXT: PLAIN needs users: listener.name.sasl_plaintext.plain.sasl.jaas.config with user_NAME="password" options`},
		{file: "listeners: PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\nsasl.enabled.mechanisms: OAUTHBEARER\n", want: `OAUTHBEARER needs sasl.oauthbearer.jwks.endpoint.url (a file://, http:// or https:// JWKS)`},
		{file: "listeners: PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\nsasl.enabled.mechanisms: SCRAM-SHA-512\nlistener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class: com.example.Mine\n",
			want: `listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class: logd validates tokens as org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler does (sasl.oauthbearer.jwks.endpoint.url); it cannot run com.example.Mine`},
		{file: "listeners: PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\nsasl.enabled.mechanisms: SCRAM-SHA-512\nlistener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config: org.apache.kafka.common.security.plain.PlainLoginModule required;\n",
			want: `listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config: the login module must be org.apache.kafka.common.security.scram.ScramLoginModule, not org.apache.kafka.common.security.plain.PlainLoginModule`},
		{file: "listeners: PLAINTEXT://h:1,SASL_PLAINTEXT://h:2\nsasl.enabled.mechanisms: SCRAM-SHA-512\nlistener.name.sasl_plaintext.scram-sha-512.connections.max.reauth.ms: soon\n",
			want: `listener.name.sasl_plaintext.scram-sha-512.connections.max.reauth.ms: "soon" is not a whole number`},
		{file: "listeners: PLAINTEXT://h:1,SSL://h:2\n", want: `listener SSL: ssl.keystore.location (or ssl.keystore.certificate.chain and ssl.keystore.key) must hold a certificate chain and its private key, PEM`},
		{file: "listeners: nonsense\n", want: `line 1: listeners: "nonsense" is not NAME://HOST:PORT (for example PLAINTEXT://127.0.0.1:9092)`},
		{file: "advertised.listeners: 0.0.0.0:9092\n", want: `advertised.listeners: listener PLAINTEXT would advertise 0.0.0.0:9092, which no client can reach: advertise PLAINTEXT://HOST:PORT (--advertise HOST:PORT)`},
		{file: "auto.create.topics.enable: maybe\n", want: `line 1: auto.create.topics.enable: "maybe" is not true or false`},
		{file: "x: 1\n  y: 2\n", want: `line 2: mapping values are not allowed in this context`},
		{file: "- a\n", want: `line 1: want a mapping of setting names to values`},
		{file: "num.partitions: 0\n", want: `line 1: num.partitions: 0 is below the minimum 1`},
		{file: "log.segment.bytes: 3000000000\n", want: `line 1: log.segment.bytes: 3000000000 is above the maximum 2147483647`},
		{file: "node.id: 1\n", env: map[string]string{"LOGD_NODE_ID": "x"}, want: `LOGD_NODE_ID: "x" is not a whole number`},
		{file: "node.id: 1\n", env: map[string]string{"LOGD_NODE_ID": "2"}, args: []string{"--node-id", "-1"}, want: `--node-id: -1 is below the minimum 0`},
	} {
		p := writeConfig(t, c.file)
		var flags *pflag.FlagSet
		if c.args != nil {
			flags = serveFlags(t, c.args...)
		}
		_, err := loadServeSettings(p, envOf(c.env), flags)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", c.file, err)
			continue
		}
		want := c.want
		if strings.HasPrefix(want, "line ") {
			want = p + " " + want
		}
		if err.Error() != want {
			t.Errorf("%q:\n got  %s\n want %s", c.file, err, want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error spans lines: %q", c.file, err)
		}
	}
	_, err := loadServeSettings(filepath.Join(t.TempDir(), "missing.yaml"), envOf(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing file: %v", err)
	}
}

// TestServeConfigFile runs the binary with a config file, an environment override and a flag
// override, and with a bad config file.
func TestServeConfigFile(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	fileData, envData := filepath.Join(dir, "file-data"), filepath.Join(dir, "env-data")
	cfg := filepath.Join(dir, "config.yaml")
	os.WriteFile(cfg, []byte("# logd\nnode.id: 5\nlog.dirs: "+fileData+"\nlisteners: PLAINTEXT://127.0.0.1:1\nadvertised.listeners: broker5.example.com:9092\nnum.partitions: 2\n"), 0o644)

	cmd := exec.Command(bin, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LOGD_LOG_DIRS="+envData, "LOGD_NODE_ID=6")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		for _, want := range []string{"listen=127.0.0.1:", "advertise=broker5.example.com:9092", "data_dir=" + envData, "node_id=6"} {
			if !strings.Contains(line, want) {
				t.Errorf("ready line lacks %q: %s", want, line)
			}
		}
		if strings.Contains(line, "listen=127.0.0.1:1 ") {
			t.Errorf("--listen did not override the file: %s", line)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no ready line")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if _, err := os.Stat(fileData); err == nil {
		t.Error("the file's log.dirs was used despite LOGD_LOG_DIRS")
	}

	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("node.id: 1\nlog.dirs: "+fileData+"\n\nnum.partitions: abc\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--config", bad}, "logd: " + bad + ` line 4: num.partitions: "abc" is not a whole number`},
		{[]string{"serve", "--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
	} {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("%v: exit %v, output %q; want exit 2 and one line with %q", c.args, err, out, c.want)
		}
	}
}

func writeConfigAs(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigTOML: a TOML file sets the same Kafka property names as YAML, whether written as
// quoted flat keys, dotted keys, tables or inline tables, and is recognised by extension or,
// without one, by its content.
func TestConfigTOML(t *testing.T) {
	yamlPath := writeConfig(t, "node.id: 7\nlog.dirs: /var/lib/logd\nlisteners: PLAINTEXT://0.0.0.0:19092\n"+
		"num.partitions: 3\nlog.retention.ms: 60000\nlog.roll.hours: 2\nlogd.http: 127.0.0.1:9644\nlogd.fsync.acks.all: false\n"+
		"auto.create.topics.enable: false\nlog.flush.interval.ms: 250\n")
	want, err := loadServeSettings(yamlPath, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"flat.toml": `# quoted keys, exactly Kafka's names
"node.id" = 7
"log.dirs" = "/var/lib/logd"
"listeners" = "PLAINTEXT://0.0.0.0:19092"
"num.partitions" = 3
"log.retention.ms" = 60_000
"log.roll.hours" = 2
"logd.http" = "127.0.0.1:9644"
"logd.fsync.acks.all" = false
"auto.create.topics.enable" = false
"log.flush.interval.ms" = 250
`,
		"dotted.toml": `node.id = 7
log.dirs = "/var/lib/logd"
listeners = "PLAINTEXT://0.0.0.0:19092"
num.partitions = "3"
log.retention.ms = 60000
log.roll.hours = 2
logd.http = "127.0.0.1:9644"
logd.fsync.acks.all = false
auto.create.topics.enable = false
log.flush.interval.ms = 250
`,
		"tables.toml": `node.id = 7
listeners = "PLAINTEXT://0.0.0.0:19092"
num.partitions = 3
auto.create.topics.enable = false

[log]
dirs = "/var/lib/logd"
retention = { ms = 60000 }
roll.hours = 2
flush.interval.ms = 250

[logd]
http = "127.0.0.1:9644"
fsync.acks.all = false
`,
		"sniffed.conf": "# no extension to go by\n\nnode.id = 7\nlog.dirs = \"/var/lib/logd\"\nlisteners = \"PLAINTEXT://0.0.0.0:19092\"\n" +
			"num.partitions = 3\nlog.retention.ms = 60000\nlog.roll.hours = 2\nlogd.http = \"127.0.0.1:9644\"\n" +
			"logd.fsync.acks.all = false\nauto.create.topics.enable = false\nlog.flush.interval.ms = 250\n",
		"sniffed-table": "[log]\ndirs = \"/var/lib/logd\"\nretention.ms = 60000\nroll.hours = 2\nflush.interval.ms = 250\n" +
			"[node]\nid = 7\n[num]\npartitions = 3\n[logd]\nhttp = \"127.0.0.1:9644\"\nfsync.acks.all = false\n" +
			"[auto.create.topics]\nenable = false\n[x]\n",
	} {
		p := writeConfigAs(t, name, text)
		s, err := loadServeSettings(p, envOf(nil), nil)
		if name == "sniffed-table" {
			// [x] is an unknown (empty) table: nothing is set by it, and listeners is missing.
			want2 := want
			want2.Listen = defaultServeSettings().Listen
			want2.Given = maps.Clone(want.Given)
			delete(want2.Given, "listeners")
			if err != nil || !reflect.DeepEqual(s, want2) {
				t.Errorf("%s: %v\n got  %+v\n want %+v", name, err, s, want2)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(s, want) {
			t.Errorf("%s: %v\n got  %+v\n want %+v", name, err, s, want)
		}
	}
	// YAML without an extension is still YAML.
	if s, err := loadServeSettings(writeConfigAs(t, "logd.conf", "# yaml\nnode.id: 9\n"), envOf(nil), nil); err != nil || s.NodeID != 9 {
		t.Errorf("sniffed YAML: %+v %v", s.NodeID, err)
	}
	// The environment and flags still override a TOML file.
	p := writeConfigAs(t, "c.toml", "node.id = 2\nlisteners = \"127.0.0.1:1111\"\n")
	s, err := loadServeSettings(p, envOf(map[string]string{"LOGD_NODE_ID": "3"}), serveFlags(t, "--listen", "127.0.0.1:3333"))
	if err != nil || s.NodeID != 3 || s.Listen != "127.0.0.1:3333" {
		t.Errorf("precedence over TOML: %+v %v", s, err)
	}
}

func TestConfigTOMLErrors(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"node.id = 1\nlog.dirs = \"d\"\n\nnum.partitions = \"abc\"\n", `line 4: num.partitions: "abc" is not a whole number`},
		{"node.id = 1\n\n\nlog.dis = \"/x\"\n", `line 4: unknown key "log.dis" (did you mean "log.dir"?)`},
		{"[log]\nretention.ms = 5\n\n\nsegment.byte = 100\n", `line 5: unknown key "log.segment.byte" (did you mean "log.segment.bytes"?)`},
		{"node.id = 1\nnode.id = 2\n", `line 2: node.id: key id is already defined`},
		{"\"node.id\" = 1\n[node]\nid = 2\n", `line 3: node.id is already set on line 1`},
		{"log.dirs = [\"a\", \"b\"]\n", `line 1: log.dirs: want a single value, not a list`},
		{"num.partitions = 1.5\n", `line 1: num.partitions: "1.5" is not a whole number`},
		{"num.partitions = 0\n", `line 1: num.partitions: 0 is below the minimum 1`},
		{"auto.create.topics.enable = \"maybe\"\n", `line 1: auto.create.topics.enable: "maybe" is not true or false`},
		{"node.id = 1\nlog.dirs = \n", `line 2: log.dirs: unexpected character U+000A at start of value`},
		{"node.id = 1\n[[log]]\ndirs = \"a\"\n", `line 2: unknown key "log"`},
		{"[log]\nretention.ms = \"1\n", `line 2: retention.ms: basic strings cannot have new lines`},
	} {
		p := writeConfigAs(t, "c.toml", c.file)
		_, err := loadServeSettings(p, envOf(nil), nil)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: got %v, want a usage error", c.file, err)
			continue
		}
		if want := p + " " + c.want; err.Error() != want {
			t.Errorf("%q:\n got  %s\n want %s", c.file, err, want)
		}
	}
}

// TestServeTOMLConfig runs the binary with a TOML config file (tables and dotted keys), and
// with a broken one: one line naming the file, the line and the key, exit 2.
func TestServeTOMLConfig(t *testing.T) {
	bin := buildLogd(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "toml-data")
	cfg := filepath.Join(dir, "logd.toml")
	os.WriteFile(cfg, []byte("# logd\nnode.id = 8\nlisteners = \"PLAINTEXT://127.0.0.1:0\"\n\n[log]\ndirs = \""+data+"\"\nretention.hours = 24\n"), 0o644)
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "logd ready") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		for _, want := range []string{"data_dir=" + data, "node_id=8"} {
			if !strings.Contains(line, want) {
				t.Errorf("ready line lacks %q: %s", want, line)
			}
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no ready line")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	for _, c := range []struct{ file, want string }{
		{"node.id = 1\n[log]\nretention.ms = \"soon\"\n", ` line 3: log.retention.ms: "soon" is not a whole number`},
		{"node.id = 1\n\n[log]\ndis = \"/x\"\n", ` line 4: unknown key "log.dis" (did you mean "log.dir"?)`},
		{"node.id = 1\nnum.partitions = \n", ` line 2: num.partitions: unexpected character U+000A at start of value`},
	} {
		bad := filepath.Join(dir, "bad.toml")
		os.WriteFile(bad, []byte(c.file), 0o644)
		out, err := exec.Command(bin, "serve", "--config", bad).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if want := "logd: " + bad + c.want + "\n"; !ok || ee.ExitCode() != 2 || string(out) != want {
			t.Errorf("%q: exit %v, output %q; want exit 2 and %q", c.file, err, out, want)
		}
	}
}

// TestClusterSettings: the voter list parses from any source, bad lists and a node outside
// the quorum are one-line usage errors.
func TestClusterSettings(t *testing.T) {
	env := envOf(map[string]string{"LOGD_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:9093,2@127.0.0.1:9193", "LOGD_NODE_ID": "2"})
	s, err := loadServeSettings("", env, nil)
	if err != nil || len(s.Voters) != 2 {
		t.Fatalf("voters: %+v %v", s.Voters, err)
	}
	cfg, err := clusterConfig(s, broker.DefaultConfig())
	if err != nil || cfg.ControllerListen != "127.0.0.1:9193" {
		t.Fatalf("controller listener defaults to this node's voter address: %q %v", cfg.ControllerListen, err)
	}
	s.NodeID = 5
	if _, err := clusterConfig(s, broker.DefaultConfig()); err == nil || !strings.Contains(err.Error(), "not among") {
		t.Fatalf("node outside the quorum: %v", err)
	}
	for _, bad := range []string{"1@nohost", "x@127.0.0.1:1", "1@127.0.0.1:1,1@127.0.0.1:2"} {
		_, err := loadServeSettings("", envOf(map[string]string{"LOGD_CONTROLLER_QUORUM_VOTERS": bad}), nil)
		if err == nil || !strings.Contains(err.Error(), "LOGD_CONTROLLER_QUORUM_VOTERS") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	s, err = loadServeSettings("", envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := clusterConfig(s, broker.DefaultConfig()); err != nil || cfg.ControllerListen != "" || len(cfg.Voters) != 0 {
		t.Fatalf("no cluster settings: a one-voter quorum without a controller listener, got %q %v (%v)", cfg.ControllerListen, cfg.Voters, err)
	}
}
