//go:build compat

package compat

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// driver is a client program speaking the suite's line protocol:
//
//	PROG BOOTSTRAP produce TOPIC CODEC ACKS   stdin: JSON lines (inputLine) → "ACK idx p off" …, "DONE"
//	PROG BOOTSTRAP consume TOPIC NPARTS COUNT [FROM] → "REC p off ts key val hdrs" …, "DONE"
//	                                            (from offset FROM of every partition, default 0)
//	PROG BOOTSTRAP longpoll TOPIC              → "READY", then "REC …" when a record arrives, "DONE"
//	PROG BOOTSTRAP times TOPIC TS…             → "OFT ts offset" (partition 0; -1: none)
//	PROG BOOTSTRAP admin TOPIC                 → "CREATED", "DESCRIBED n", "DELETED", "GONE"
//
// Errors are "ERR …" lines and a non-zero exit.
type driver struct {
	client string
	argv   func() ([]string, error) // the command before BOOTSTRAP
	// supports says whether a scenario applies ("" = yes, else the reason it does not).
	supports func(scen string) string
	// looseHeaders: the client cannot keep the order of headers with different keys (kafkajs
	// keeps headers in an object), so headers are compared sorted by key.
	looseHeaders bool
	// noNullRecord: the client refuses a record with both key and value null (kafka-python).
	noNullRecord bool
}

func (d *driver) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	argv, err := d.argv()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], append(append(argv[1:], bootAddr), args...)...)
	cmd.WaitDelay = 2 * time.Second
	return cmd, nil
}

// run runs the driver to completion and returns its stdout lines; ERR lines and a non-zero
// exit fail the scenario.
func (d *driver) run(s *S, stdin string, args ...string) []string {
	s.Helper()
	cmd, err := d.command(s.ctx, args...)
	if err != nil {
		s.Fatalf("%s driver unavailable: %v", d.client, err)
	}
	var out, errb bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	var errs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "ERR") {
			errs = append(errs, l)
		}
	}
	if err != nil || len(errs) > 0 {
		tail := errb.String()
		if len(tail) > 1500 {
			tail = tail[len(tail)-1500:]
		}
		s.Logf("%s %v stderr:\n%s", d.client, args[:2], tail)
		msg := fmt.Sprintf("%s %s: exit %v after %v; %s", d.client, args[0], err, time.Since(start).Round(time.Millisecond), strings.Join(errs, "; "))
		if len(errs) == 0 {
			msg += " stderr: " + lastLines(errb.String(), 3)
		}
		s.Fatalf("%s", msg)
	}
	return lines
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimSpace(s), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, " | ")
}

func parseAcks(s *S, lines []string, n int) []ack {
	s.Helper()
	acks := make([]ack, n)
	seen := 0
	for i := range acks {
		acks[i] = ack{-1, -1}
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 4 && f[0] == "ACK" {
			i, _ := strconv.Atoi(f[1])
			p, _ := strconv.Atoi(f[2])
			off, _ := strconv.ParseInt(f[3], 10, 64)
			if i >= 0 && i < n {
				acks[i] = ack{int32(p), off}
				seen++
			}
		}
	}
	if seen != n {
		s.Fatalf("client acknowledged %d of %d records", seen, n)
	}
	return acks
}

func parseRecs(s *S, lines []string) []rec {
	s.Helper()
	var out []rec
	for _, l := range lines {
		if strings.HasPrefix(l, "REC ") {
			r, err := parseREC(l)
			if err != nil {
				s.Fatalf("%v", err)
			}
			out = append(out, r)
		}
	}
	return out
}

// produceWith makes the driver produce recs and returns its acknowledgements.
func (d *driver) produceWith(s *S, topic, codec, acks string, recs []rec) []ack {
	s.Helper()
	lines := d.run(s, toInput(recs), "produce", topic, codec, acks)
	return parseAcks(s, lines, len(recs))
}

func (d *driver) scen(t *testing.T, name string, timeout time.Duration, fn func(s *S)) {
	scenario(t, d.client, name, timeout, func(s *S) {
		s.looseHeaders = d.looseHeaders
		if r := d.supports(name); r != "" {
			s.NA(r)
		}
		fn(s)
	})
}

// standardScenarios runs every scenario of the line protocol for one driver.
func standardScenarios(t *testing.T, d *driver) {
	C := d.client
	if _, err := d.argv(); err != nil {
		t.Logf("%s not installed: %v", C, err)
	}
	for _, codec := range allCodecs {
		codec := codec
		d.scen(t, "produce-"+codec, 60*time.Second, func(s *S) {
			topic := topicName(C, "codec-"+codec)
			createTopic(s, topic, 1, nil)
			in := basicSet(0, 30)
			acks := d.produceWith(s, topic, codec, "all", in)
			checkProduced(s, topic, 1, in, acks)
			checkCodec(s, topic, 0, codec)
		})
	}
	for _, a := range []string{"0", "1", "all"} {
		a := a
		d.scen(t, "acks-"+a, 60*time.Second, func(s *S) {
			topic := topicName(C, "acks-"+a)
			createTopic(s, topic, 1, nil)
			in := basicSet(0, 50)
			acks := d.produceWith(s, topic, "none", a, in)
			if a == "0" {
				for i := range acks {
					acks[i].Off = -1
				}
			}
			checkProduced(s, topic, 1, in, acks)
		})
	}
	d.scen(t, "keyed-ordering", 60*time.Second, func(s *S) {
		topic := topicName(C, "keyed")
		createTopic(s, topic, 4, nil)
		in := keyedSet(400, 10)
		d.produceWith(s, topic, "none", "all", in)
		checkKeyed(s, readAll(s, bootAddr, topic, 4, len(in)), len(in))
	})
	simple := func(name string, gen func() []rec) {
		d.scen(t, name, 60*time.Second, func(s *S) {
			topic := topicName(C, name)
			createTopic(s, topic, 1, nil)
			in := gen()
			acks := d.produceWith(s, topic, "none", "all", in)
			checkProduced(s, topic, 1, in, acks)
		})
	}
	simple("headers", func() []rec { return headerSet(0) })
	simple("null-key-value", func() []rec {
		in := nullSet(0)
		if d.noNullRecord {
			var out []rec
			for _, r := range in {
				if r.Key != nil || r.Val != nil {
					out = append(out, r)
				}
			}
			return out
		}
		return in
	})
	simple("large-900KB", func() []rec { return largeSet(0, 3) })
	d.scen(t, "timestamps-listoffsets", 60*time.Second, func(s *S) {
		topic := topicName(C, "ts")
		createTopic(s, topic, 1, nil)
		in := tsSet(0)
		acks := d.produceWith(s, topic, "none", "all", in)
		checkProduced(s, topic, 1, in, acks)
		checkTimes(s, d, topic)
	})
	d.scen(t, "consume-franz-mixed", 60*time.Second, func(s *S) {
		f := franzMixed(s)
		lines := d.run(s, "", "consume", f.topic, strconv.Itoa(int(f.partitions)), strconv.Itoa(len(f.recs)))
		checkConsumed(s, parseRecs(s, lines), f.recs)
	})
	d.scen(t, "consume-java-lz4", 90*time.Second, func(s *S) {
		f := javaFixture(s)
		lines := d.run(s, "", "consume", f.topic, strconv.Itoa(int(f.partitions)), strconv.Itoa(len(f.recs)))
		checkConsumed(s, parseRecs(s, lines), f.recs)
	})
	compactedScenarios(t, d)
	d.scen(t, "long-poll", 60*time.Second, func(s *S) {
		topic := topicName(C, "longpoll")
		createTopic(s, topic, 1, nil)
		testLongPoll(s, d, topic)
	})
	d.scen(t, "admin", 60*time.Second, func(s *S) {
		topic := topicName(C, "admin")
		lines := d.run(s, "", "admin", topic)
		want := []string{"CREATED", "DESCRIBED 3", "DELETED", "GONE"}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			s.Errorf("admin output %q, want %q", lines, want)
		}
	})
}

// checkTimes asks the driver for offsets by timestamp (partition 0 holds tsSet).
func checkTimes(s *S, d *driver, topic string) {
	s.Helper()
	args := []string{"times", topic}
	for _, q := range tsQueries() {
		args = append(args, strconv.FormatInt(q[0], 10))
	}
	lines := d.run(s, "", args...)
	got := map[int64]int64{}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "OFT" {
			ts, _ := strconv.ParseInt(f[1], 10, 64)
			off, _ := strconv.ParseInt(f[2], 10, 64)
			got[ts] = off
		}
	}
	for _, q := range tsQueries() {
		off, ok := got[q[0]]
		if !ok {
			s.Errorf("no offset for time %+dms", q[0]-tsBase)
		} else if off != q[1] && !(q[1] == -1 && off == 10) { // "none": -1, or the end offset

			s.Errorf("offset for time %+dms: %d, want %d", q[0]-tsBase, off, q[1])
		}
	}
}

// testLongPoll starts the driver's long-poll consumer, waits until it is parked, produces one
// record and expects the consumer to print it promptly.
func testLongPoll(s *S, d *driver, topic string) {
	s.Helper()
	cmd, err := d.command(s.ctx, "longpoll", topic)
	if err != nil {
		s.Fatalf("%v", err)
	}
	stdout, _ := cmd.StdoutPipe()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		s.Fatalf("start: %v", err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	wait := func(prefix string, d time.Duration) (string, bool) {
		timer := time.After(d)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return "", false
				}
				if strings.HasPrefix(l, "ERR") {
					s.Fatalf("%s", l)
				}
				if strings.HasPrefix(l, prefix) {
					return l, true
				}
			case <-timer:
				return "", false
			}
		}
	}
	if _, ok := wait("READY", 40*time.Second); !ok {
		s.Fatalf("consumer never became ready; stderr: %s", lastLines(errb.String(), 3))
	}
	time.Sleep(2 * time.Second) // parked in a fetch by now
	select {
	case l := <-lines:
		if strings.HasPrefix(l, "REC") {
			s.Fatalf("consumer got a record before anything was produced: %s", short(l))
		}
	default:
	}
	in := basicSet(0, 1)
	sent := time.Now()
	produceRef(s, topic, in)
	l, ok := wait("REC", 15*time.Second)
	if !ok {
		s.Fatalf("parked consumer never received the record; stderr: %s", lastLines(errb.String(), 3))
	}
	if dd := time.Since(sent); dd > 4*time.Second {
		s.Errorf("record arrived %v after the produce", dd)
	}
	r, err := parseREC(l)
	if err != nil || r.content() != in[0].content() || r.Off != 0 {
		s.Errorf("long poll got %s (%v), want offset 0 %s", short(l), err, short(in[0].content()))
	}
}

// ---- the drivers ----

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func venvPython() (string, error) {
	py := filepath.Join(repoRoot, "compat", ".venv", "bin", "python")
	if !fileExists(py) {
		return "", fmt.Errorf("%s missing: run scripts/compat-deps.sh", py)
	}
	return py, nil
}

var confluentPy = &driver{
	client: "confluent-py",
	argv: func() ([]string, error) {
		py, err := venvPython()
		return []string{py, filepath.Join(repoRoot, "compat", "python", "confluent_driver.py")}, err
	},
	supports: func(string) string { return "" },
}

var kafkaPython = &driver{
	client:       "kafka-python",
	noNullRecord: true, // KafkaProducer.send: "Need at least one: key or value"
	argv: func() ([]string, error) {
		py, err := venvPython()
		return []string{py, filepath.Join(repoRoot, "compat", "python", "kafkapython_driver.py")}, err
	},
	supports: func(string) string { return "" },
}

var kafkaJS = &driver{
	client:       "kafkajs",
	looseHeaders: true,
	argv: func() ([]string, error) {
		dir := filepath.Join(repoRoot, "compat", "js")
		if !fileExists(filepath.Join(dir, "node_modules", "kafkajs")) {
			return nil, fmt.Errorf("compat/js/node_modules missing: run scripts/compat-deps.sh")
		}
		return []string{"node", filepath.Join(dir, "driver.js")}, nil
	},
	supports: func(string) string { return "" },
}

// javaModule is a Maven module under compat whose one source file the test compiles with javac
// against the classpath scripts/compat-deps.sh resolved (compat/<dir>/target/classpath.txt).
type javaModule struct {
	dir, source string // compat/<dir>, src/main/java/<source>
	once        sync.Once
	cp          string // the compiled classes, then the dependencies
	err         error
}

// classpath compiles the module once and returns the classpath to run it with.
func (m *javaModule) classpath() (string, error) {
	m.once.Do(func() {
		dir := filepath.Join(repoRoot, "compat", m.dir)
		cpb, err := os.ReadFile(filepath.Join(dir, "target", "classpath.txt"))
		if err != nil {
			m.err = fmt.Errorf("compat/%s/target/classpath.txt missing: run scripts/compat-deps.sh", m.dir)
			return
		}
		classes := filepath.Join(dir, "target", "classes")
		os.MkdirAll(classes, 0o755)
		cp := strings.TrimSpace(string(cpb))
		out, err := exec.Command("javac", "-nowarn", "-d", classes, "-cp", cp,
			filepath.Join(dir, "src", "main", "java", m.source)).CombinedOutput()
		if err != nil {
			m.err = fmt.Errorf("javac %s: %v: %s", m.source, err, out)
			return
		}
		m.cp = classes + ":" + cp
	})
	return m.cp, m.err
}

// javaFlags start a short-lived JVM quickly.
var javaFlags = []string{"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"}

var javaDriver = &javaModule{dir: "java", source: "Driver.java"}

// javaArgv compiles compat/java (Driver.java) once and returns the command that runs it.
func javaArgv() ([]string, error) {
	cp, err := javaDriver.classpath()
	if err != nil {
		return nil, err
	}
	argv := append([]string{"java", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}, javaFlags...)
	return append(argv, "-cp", cp, "Driver"), nil
}

var javaClient = &driver{client: "java", argv: javaArgv, supports: func(string) string { return "" }}

// javaFixture: the Java client writes a 2-partition topic with lz4 (keys, headers, nulls,
// timestamps); other clients must read exactly what franz-go reads back.
func javaFixture(s *S) *fixture {
	f := fixtures["java-lz4"]
	f.once.Do(func() {
		f.topic, f.partitions = topicName("fixture", "java-lz4"), 2
		ok := s.Run("setup-java-fixture", func(t *testing.T) {
			fs := &S{T: t, ctx: s.ctx}
			createTopic(fs, f.topic, 2, nil)
			in := append(basicSet(0, 20), append(headerSet(1), append(nullSet(1), tsSet(1)...)...)...)
			acks := javaClient.produceWith(fs, f.topic, "lz4", "all", in)
			checkProduced(fs, f.topic, 2, in, acks)
			checkCodec(fs, f.topic, 0, "lz4")
			f.recs = readAll(fs, bootAddr, f.topic, 2, len(in))
		})
		if !ok {
			f.err = "fixture java-lz4 (Java producer, lz4) could not be written and read back with franz-go"
		}
	})
	if f.err != "" {
		s.Fatalf("%s", f.err)
	}
	return f
}

func TestJava(t *testing.T)        { standardScenarios(t, javaClient) }
func TestConfluentPy(t *testing.T) { standardScenarios(t, confluentPy) }
func TestKafkaPython(t *testing.T) { standardScenarios(t, kafkaPython) }
func TestKafkaJS(t *testing.T)     { standardScenarios(t, kafkaJS) }
