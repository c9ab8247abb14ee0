//go:build compat

package compat

// Kafka Streams (issue 13): Apache Kafka Streams 4.3.1 apps (compat/streams, StreamsApp.java)
// against the shared logd: a WordCount (a repartition topic and a key-value store whose
// changelog is compacted), a 1-minute tumbling windowed count by event time (a window store
// whose changelog is compact,delete) and a stream-table join (orders enriched from a compacted
// customers table). Each runs at least once by default, with the store cache off and 100 ms
// commits, so every update reaches the output topic and the final value per key is exact.
//
// Each app has two scenarios. "streams-X": the input is produced first (franz-go, the default
// murmur2 partitioner, so the join's two topics are co-partitioned as Streams requires), the app
// runs and its output must reach exactly the expected final values. "streams-X-restore": the
// app is stopped with SIGTERM (a clean close), its local state directory deleted, and it is
// started again; more input must continue from the values before the stop, which only a
// restore from the changelog topics can give. The changelogs must exist with the cleanup
// policy Streams asked for (DescribeConfigs). The WordCount's changelog is compacted by the
// broker before its restore; it also has "streams-wordcount-scaleout" (a second instance takes
// some tasks, restoring their stores, then leaves) and "streams-wordcount-reset" (Kafka's
// kafka-streams-application-reset rewinds the input and deletes the internal topics; the app
// must count again from the start).
//
// StreamsApp prints "STATE <state>" on every KafkaStreams state change, "CLOSED clean=<bool>"
// when close returns after SIGTERM and "FAILED <exception>" on an uncaught error; its log goes
// to compat/.logs/streams-<application id>-<run>.log.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	streamsParts   = 3                // partitions of every input and output topic
	streamsTimeout = 90 * time.Second // per scenario
	streamsStart   = 60 * time.Second // start to state RUNNING
	streamsOutput  = 45 * time.Second // input produced to output complete
)

// streamsRunTag makes application ids (and so every topic of the apps) unique per test run,
// so that the scenarios can run again against a broker that kept the last run's topics
// (COMPAT_BROKER).
var streamsRunTag = strconv.FormatInt(time.Now().UnixMilli()%(36*36*36*36), 36)

// streamsAppID is a fresh application id for app.
func streamsAppID(app string) string { return topicName("streams", app) + "-" + streamsRunTag }

var streamsModule = &javaModule{dir: "streams", source: "StreamsApp.java"}

// streamsRun is one StreamsApp JVM.
type streamsRun struct {
	cmd     *exec.Cmd
	logPath string
	running chan struct{} // closed at the first "STATE RUNNING"
	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	failed  string // the "FAILED" line, if any; guarded by mu
	tasks   string // the last "TASKS" line's list, "" while not RUNNING; guarded by mu
	clean   string // the "CLOSED" line, if any; guarded by mu
	err     error  // the exit; set before done is closed
}

var streamsRunSeq sync.Map // application id → runs started

// cleaner is the test that outlives what it is given: the parent of a streamsPair, whose
// subtests share the app and the output reader.
type cleaner interface{ Cleanup(func()) }

// startStreams runs StreamsApp app for appID over stateDir with processing.guarantee guarantee
// and waits until it is RUNNING; the process is killed when owner ends, if it still runs.
// protocol, if set, is the app's group.protocol (streams: KIP-1071).
func startStreams(s *S, owner cleaner, guarantee, protocol, app, appID, stateDir string, topics ...string) *streamsRun {
	s.Helper()
	cp, err := streamsModule.classpath()
	if err != nil {
		s.Fatalf("%v", err)
	}
	n, _ := streamsRunSeq.LoadOrStore(appID, new(int))
	*n.(*int)++
	logDir := filepath.Join(repoRoot, "compat", ".logs")
	os.MkdirAll(logDir, 0o755)
	logPath := filepath.Join(logDir, fmt.Sprintf("streams-%s-%d.log", appID, *n.(*int)))
	lf, err := os.Create(logPath)
	if err != nil {
		s.Fatalf("%v", err)
	}
	args := append([]string{"-Dorg.slf4j.simpleLogger.defaultLogLevel=info", "-Dguarantee=" + guarantee}, javaFlags...)
	if protocol != "" {
		args = append(args, "-Dgroup.protocol="+protocol)
	}
	args = append(append(args, "-cp", cp, "StreamsApp", app, bootAddr, appID, stateDir), topics...)
	cmd := exec.Command("java", args...)
	cmd.Stderr = lf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		lf.Close()
		s.Fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		s.Fatalf("starting StreamsApp: %v", err)
	}
	r := &streamsRun{cmd: cmd, logPath: logPath, running: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			r.mu.Lock()
			switch {
			case line == "STATE RUNNING":
				once.Do(func() { close(r.running) })
			case strings.HasPrefix(line, "STATE "):
				r.tasks = ""
			case strings.HasPrefix(line, "TASKS "):
				r.tasks = strings.TrimPrefix(line, "TASKS ")
			case strings.HasPrefix(line, "FAILED"):
				r.failed = line
			case strings.HasPrefix(line, "CLOSED"):
				r.clean = line
			}
			r.mu.Unlock()
		}
		r.err = cmd.Wait()
		lf.Close()
		close(r.done)
	}()
	owner.Cleanup(func() {
		select {
		case <-r.done:
		default:
			cmd.Process.Kill()
			<-r.done
		}
	})
	select {
	case <-r.running:
		return r
	case <-r.done:
		s.Fatalf("StreamsApp %s exited before RUNNING: %v %s (log %s)", app, r.err, r.failure(), logPath)
	case <-time.After(streamsStart):
		s.Fatalf("StreamsApp %s not RUNNING after %v (log %s)", app, streamsStart, logPath)
	}
	return nil
}

func (r *streamsRun) failure() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// check fails the scenario if the app has reported an uncaught error or exited.
func (r *streamsRun) check(s *S) {
	s.Helper()
	if f := r.failure(); f != "" {
		s.Fatalf("StreamsApp: %s (log %s)", f, r.logPath)
	}
	select {
	case <-r.done:
		s.Fatalf("StreamsApp exited: %v (log %s)", r.err, r.logPath)
	default:
	}
}

// stop sends SIGTERM and requires KafkaStreams.close to have returned true (a clean close that
// committed what was processed) within 45 s.
func (r *streamsRun) stop(s *S) {
	s.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(45 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		s.Fatalf("StreamsApp did not exit within 45s of SIGTERM (log %s)", r.logPath)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clean != "CLOSED clean=true" || r.failed != "" {
		s.Fatalf("StreamsApp did not close cleanly: %q %s, exit %v (log %s)", r.clean, r.failed, r.err, r.logPath)
	}
}

// kill ends the app with SIGKILL (no close, no commit: a crash) and waits for the exit.
func (r *streamsRun) kill(s *S) {
	s.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		s.Fatalf("kill -9 StreamsApp: %v (log %s)", err, r.logPath)
	}
	<-r.done
}

// outputReader consumes an app's output topic from the start and keeps every record's value.
type outputReader struct {
	cl     *kgo.Client
	decode func([]byte) string
	last   map[string]string   // key → latest value
	all    map[string][]string // key → every value in order
}

// newOutputReader reads topic; with committedOnly it reads only committed transactions
// (read_committed), as the consumer of an exactly-once app must.
func newOutputReader(s *S, owner cleaner, topic string, committedOnly bool, decode func([]byte) string) *outputReader {
	iso := kgo.ReadUncommitted()
	if committedOnly {
		iso = kgo.ReadCommitted()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(300*time.Millisecond))
	if err != nil {
		s.Fatalf("output reader: %v", err)
	}
	owner.Cleanup(cl.Close)
	return &outputReader{cl: cl, decode: decode, last: map[string]string{}, all: map[string][]string{}}
}

// records is the number of output records read so far.
func (o *outputReader) records() int {
	n := 0
	for _, vs := range o.all {
		n += len(vs)
	}
	return n
}

// waitFor reads until done(o) holds, failing with what it has after streamsOutput.
func (o *outputReader) waitFor(s *S, app *streamsRun, what string, done func(*outputReader) string) {
	s.Helper()
	deadline := time.Now().Add(streamsOutput)
	for {
		diff := done(o)
		if diff == "" {
			return
		}
		app.check(s)
		if time.Now().After(deadline) || s.ctx.Err() != nil {
			s.Fatalf("%s: output not as expected after %v: %s (log %s)", what, streamsOutput, diff, app.logPath)
		}
		o.poll(s, 500*time.Millisecond)
	}
}

// poll reads what arrives within d.
func (o *outputReader) poll(s *S, d time.Duration) {
	s.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	fs := o.cl.PollFetches(ctx)
	fs.EachError(func(t string, p int32, err error) {
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			s.Errorf("output read %s/%d: %v", t, p, err)
		}
	})
	fs.EachRecord(func(r *kgo.Record) {
		v := o.decode(r.Value)
		o.last[string(r.Key)] = v
		o.all[string(r.Key)] = append(o.all[string(r.Key)], v)
	})
}

// countsInSequence returns "" when every key's values, in the order read, are 1, 2, 3, …: a
// count app with the store cache off emits every update once, so a repeated or missing value
// is an update processed twice (or lost), which exactly-once forbids.
func countsInSequence(o *outputReader) string {
	var diffs []string
	for k, vs := range o.all {
		for i, v := range vs {
			if v != strconv.Itoa(i+1) {
				diffs = append(diffs, fmt.Sprintf("%s: value %d is %s (%s)", k, i+1, v, strings.Join(vs, ",")))
				break
			}
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 4 {
		diffs = append(diffs[:4], fmt.Sprintf("… %d more", len(diffs)-4))
	}
	return strings.Join(diffs, "; ")
}

// lastEquals returns "" when the latest value of every key is want's, and no other key exists.
func lastEquals(want map[string]string) func(*outputReader) string {
	return func(o *outputReader) string {
		var diffs []string
		for k, v := range want {
			if got, ok := o.last[k]; !ok || got != v {
				diffs = append(diffs, fmt.Sprintf("%s: got %q want %q", k, got, v))
			}
		}
		for k, v := range o.last {
			if _, ok := want[k]; !ok {
				diffs = append(diffs, fmt.Sprintf("unexpected key %s=%q", k, v))
			}
		}
		sort.Strings(diffs)
		if len(diffs) > 8 {
			diffs = append(diffs[:8], fmt.Sprintf("… %d more", len(diffs)-8))
		}
		return strings.Join(diffs, "; ")
	}
}

// decodeLong renders a LongSerializer value (8 bytes big-endian) in decimal.
func decodeLong(b []byte) string {
	if len(b) != 8 {
		return fmt.Sprintf("not a long: %x", b)
	}
	return strconv.FormatInt(int64(binary.BigEndian.Uint64(b)), 10)
}

func decodeString(b []byte) string { return string(b) }

// produceKeyed writes recs with franz-go's default (Kafka murmur2) partitioner.
func produceKeyed(s *S, topic string, recs []rec) {
	s.Helper()
	produceRef(s, topic, recs, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
}

// checkChangelog requires topic to exist with cleanup.policy policy (DescribeConfigs).
func checkChangelog(s *S, topic, policy string) {
	s.Helper()
	adm, _ := newAdmin(s, bootAddr)
	rc, err := adm.DescribeTopicConfigs(s.ctx, topic)
	if err != nil {
		s.Fatalf("DescribeConfigs %s: %v", topic, err)
	}
	c, err := rc.On(topic, nil)
	if err != nil || c.Err != nil {
		s.Fatalf("DescribeConfigs %s: %v %v", topic, err, c.Err)
	}
	for _, kv := range c.Configs {
		if kv.Key == "cleanup.policy" {
			if kv.MaybeValue() != policy {
				s.Errorf("changelog %s: cleanup.policy %q, want %q", topic, kv.MaybeValue(), policy)
			}
			return
		}
	}
	s.Errorf("changelog %s: no cleanup.policy in DescribeConfigs", topic)
}

// streamsCase is one app and its scenarios.
type streamsCase struct {
	app       string              // StreamsApp's first argument
	guarantee string              // processing.guarantee: at_least_once or exactly_once_v2
	protocol  string              // group.protocol: "" (classic) or streams
	appID     string              // the application id, prefix of every topic
	topics    []string            // StreamsApp's topic arguments, the output topic last
	decode    func([]byte) string // the output values
	create    func(s *S)          // creates the topics
	first     []func(s *S)        // input, produced one after the other, the first before the start
	beforeRun func(s *S)          // optional, before the restart
	more      []func(s *S)        // input after the restart, produced one after the other
	// check returns "" when the output holds what the input produced so far must give.
	check     func(*outputReader) string
	changelog string // the store's changelog topic
	policy    string // its cleanup.policy
	// scaleOut, if set, is input for scenario "streams-<app>-scaleout": produced while a
	// second instance shares the tasks, then after it left.
	scaleOut [2]func(s *S)
	tasks    int // the app's task count (scaleOut)
	// resetInputs, if set, are the input topics for scenario "streams-<app>-reset", after
	// the others: kafka-streams-application-reset rewinds them and deletes the internal
	// topics; the app, started again without local state, must recount from the start.
	resetInputs string
	// crash, if set, is input for scenario "streams-<app>-crash": the first part is produced
	// (once or more) while the app runs and it is killed with SIGKILL as soon as some of its
	// output is out and more is in an open transaction,
	// the second while it is down, the third after its restart over the same state directory.
	crash [3]func(s *S)
}

// eos reports whether the case runs exactly once: its output is then read read_committed.
func (c *streamsCase) eos() bool { return c.guarantee == "exactly_once_v2" }

// name is the scenario name of the case's part part ("" for the first).
func (c *streamsCase) name(part string) string {
	n := "streams-" + c.app
	if c.protocol != "" {
		n += "-" + c.protocol + "-protocol"
	}
	if c.eos() {
		n += "-eos"
	}
	if part != "" {
		n += "-" + part
	}
	return n
}

// start runs the case's app over stateDir (startStreams).
func (c *streamsCase) start(s *S, owner cleaner, stateDir string) *streamsRun {
	s.Helper()
	return startStreams(s, owner, c.guarantee, c.protocol, c.app, c.appID, stateDir, c.topics...)
}

// run runs scenario "streams-<app>": the app over the first input, the output checked after
// each part; then, if it passed, "streams-<app>-restore": a clean stop, the state directory
// deleted, a restart, more input, the output checked again and the changelog's cleanup policy;
// then the optional scale-out, reset and crash scenarios. With exactly_once_v2 every name has
// "-eos" after the app's.
func (c *streamsCase) run(t *testing.T) {
	stateDir := filepath.Join(tmpDir, c.appID+"-state")
	var app *streamsRun
	var reader *outputReader
	scenario(t, "java", c.name(""), streamsTimeout, func(s *S) {
		c.create(s)
		for i, produce := range c.first {
			produce(s)
			if i == 0 {
				app = c.start(s, t, stateDir)
				reader = newOutputReader(s, t, c.topics[len(c.topics)-1], c.eos(), c.decode)
			}
			reader.waitFor(s, app, fmt.Sprintf("%s, input part %d", c.app, i+1), c.check)
		}
		if c.beforeRun != nil {
			c.beforeRun(s)
		}
	})
	scenario(t, "java", c.name("restore"), streamsTimeout, func(s *S) {
		if app == nil || reader == nil {
			s.Fatalf("streams-%s failed: nothing to restore", c.app)
		}
		app.stop(s)
		if err := os.RemoveAll(stateDir); err != nil {
			s.Fatalf("deleting the state directory: %v", err)
		}
		app = c.start(s, t, stateDir)
		for i, produce := range c.more {
			produce(s)
			reader.waitFor(s, app, fmt.Sprintf("%s after the restore, input part %d", c.app, i+1), c.check)
		}
		checkChangelog(s, c.changelog, c.policy)
		app.stop(s)
	})
	if c.crash[0] != nil {
		c.runCrash(t, stateDir, reader)
	}
	if c.scaleOut[0] == nil {
		return
	}
	// The first instance restarts over its state directory; a second joins and must get some
	// of the tasks (Streams' assignor moves them, the new owner restores them from the
	// changelog), then leaves and the first must take them back.
	scenario(t, "java", c.name("scaleout"), streamsTimeout, func(s *S) {
		if app == nil || reader == nil {
			s.Fatalf("streams-%s failed: nothing to scale out", c.app)
		}
		a := c.start(s, t, stateDir)
		b := c.start(s, t, stateDir+"-b")
		waitTasks(s, c.tasks, a, b)
		c.scaleOut[0](s)
		reader.waitFor(s, a, c.app+" with two instances", c.check)
		b.stop(s)
		waitTasks(s, c.tasks, a)
		c.scaleOut[1](s)
		reader.waitFor(s, a, c.app+" after the second instance left", c.check)
		a.stop(s)
	})
	if c.resetInputs == "" {
		return
	}
	scenario(t, "java", c.name("reset"), streamsTimeout, func(s *S) {
		if app == nil || reader == nil {
			s.Fatalf("streams-%s failed: nothing to reset", c.app)
		}
		mark := map[string]int{}
		for k, vs := range reader.all {
			mark[k] = len(vs)
		}
		out := kafkaTool(s, "kafka-streams-application-reset", "org.apache.kafka.tools.StreamsResetter",
			"--application-id", c.appID, "--input-topics", c.resetInputs)
		if !strings.Contains(out, c.changelog) {
			s.Errorf("kafka-streams-application-reset did not delete %s: %s", c.changelog, lastLines(out, 5))
		}
		for _, d := range []string{stateDir, stateDir + "-b"} {
			if err := os.RemoveAll(d); err != nil {
				s.Fatalf("deleting the state directory: %v", err)
			}
		}
		app = c.start(s, t, stateDir)
		reader.waitFor(s, app, c.app+" after the reset", func(o *outputReader) string {
			if d := c.check(o); d != "" {
				return d
			}
			for k, vs := range o.all {
				if len(vs) == mark[k] || vs[mark[k]] != "1" {
					return fmt.Sprintf("%s: no recount from 1 after the reset (%d values before, %q)", k, mark[k], vs[mark[k]:])
				}
			}
			return ""
		})
		app.stop(s)
	})
}

// runCrash runs scenario "streams-<app>-crash" (streamsCase.crash) after the restore, whose
// app has stopped: the output must still be exact, with no update twice.
func (c *streamsCase) runCrash(t *testing.T, stateDir string, reader *outputReader) {
	scenario(t, "java", c.name("crash"), streamsTimeout, func(s *S) {
		if reader == nil {
			s.Fatalf("%s failed: nothing to crash", c.name(""))
		}
		app := c.start(s, t, stateDir)
		before := reader.records()
		// The kill lands inside a transaction: some output is committed and the output topic
		// has an open transaction (its last stable offset below its high watermark), which the
		// restart must abort. The first part is produced again (its expected output with it)
		// while the app is not caught in one, so that it keeps processing.
		out := c.topics[len(c.topics)-1]
		adm, _ := newAdmin(s, bootAddr)
		caught := func() bool { return reader.records() > before && openTxn(s, adm, out) }
		// The app commits every 100 ms: a transaction seen open may commit before the kill
		// lands. Such a kill is a crash outside a transaction; the app is then started again
		// and the next open transaction caught, a few times at most.
		const attempts = 5
		for attempt := 1; ; attempt++ {
			deadline := time.Now().Add(streamsOutput)
			for !caught() {
				if time.Now().After(deadline) {
					s.Fatalf("no output in an open transaction within %v of the input (log %s)", streamsOutput, app.logPath)
				}
				c.crash[0](s)
				for again := time.Now().Add(time.Second); time.Now().Before(again) && !caught(); {
					app.check(s)
					reader.poll(s, 20*time.Millisecond)
				}
			}
			app.kill(s)
			if openTxn(s, adm, out) {
				break
			}
			if attempt == attempts {
				s.Fatalf("%s: in %d attempts, the killed app's transaction always ended before the kill", out, attempts)
			}
			app = c.start(s, t, stateDir)
			before = reader.records()
		}
		c.crash[1](s)
		app = c.start(s, t, stateDir)
		c.crash[2](s)
		reader.waitFor(s, app, c.app+" after kill -9 and a restart", c.check)
		app.stop(s)
	})
}

// openTxn reports whether a partition of topic has an open transaction: its last stable
// offset (ListOffsets read_committed) below its high watermark.
func openTxn(s *S, adm *kadm.Client, topic string) bool {
	s.Helper()
	lso, err1 := adm.ListCommittedOffsets(s.ctx, topic)
	hw, err2 := adm.ListEndOffsets(s.ctx, topic)
	if err := errors.Join(err1, err2, lso.Error(), hw.Error()); err != nil {
		s.Fatalf("ListOffsets %s: %v", topic, err)
	}
	open := false
	hw.Each(func(h kadm.ListedOffset) {
		if l, ok := lso.Lookup(topic, h.Partition); ok && l.Offset < h.Offset {
			open = true
		}
	})
	return open
}

// waitTasks waits up to 45 s for runs to be RUNNING with n tasks between them, each some.
func waitTasks(s *S, n int, runs ...*streamsRun) {
	s.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		seen, each := map[string]int{}, make([]string, len(runs))
		ok := true
		for i, r := range runs {
			r.check(s)
			r.mu.Lock()
			each[i] = r.tasks
			r.mu.Unlock()
			if each[i] == "" {
				ok = false
				continue
			}
			for _, id := range strings.Split(each[i], ",") {
				seen[id]++
			}
		}
		for _, k := range seen {
			ok = ok && k == 1
		}
		if ok && len(seen) == n {
			return
		}
		if time.Now().After(deadline) {
			s.Fatalf("the %d instances did not settle on %d tasks within 45s: %q", len(runs), n, each)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var nonWord = regexp.MustCompile(`[^a-z0-9_]+`)

// wordCounts adds the words of lines (as StreamsApp splits them) to counts.
func wordCounts(counts map[string]string, lines []string) {
	for _, l := range lines {
		for _, w := range nonWord.Split(strings.ToLower(l), -1) {
			if w != "" {
				n, _ := strconv.Atoi(counts[w])
				counts[w] = strconv.Itoa(n + 1)
			}
		}
	}
}

func linesAsRecs(lines []string, from int) []rec {
	var out []rec
	for i, l := range lines {
		out = append(out, rec{Key: []byte(fmt.Sprintf("line-%d", from+i)), Val: []byte(l)})
	}
	return out
}

func TestStreamsWordCount(t *testing.T) { wordCountCase("at_least_once").run(t) }

// TestStreamsWordCountEOS: the WordCount with exactly_once_v2, its output read read_committed
// and every count update in it once, also across a kill -9 of the app.
func TestStreamsWordCountEOS(t *testing.T) { wordCountCase("exactly_once_v2").run(t) }

// wordCountCase is the WordCount app's case with guarantee; at least once it also scales out
// and is reset, exactly once it is crashed.
func wordCountCase(guarantee string) *streamsCase { return wordCountCaseWith(guarantee, "") }

// wordCountCaseWith is wordCountCase with group.protocol protocol ("": classic).
func wordCountCaseWith(guarantee, protocol string) *streamsCase {
	appID := streamsAppID("wordcount" + protocol)
	if guarantee != "at_least_once" {
		appID = streamsAppID("wordcount" + protocol + "-eos")
	}
	in, out := appID+"-lines", appID+"-counts"
	want := map[string]string{}
	var lines []string
	words := []string{"kafka", "streams", "logd", "log", "compaction", "table", "stream", "count"}
	for i := 0; i < 60; i++ {
		lines = append(lines, fmt.Sprintf("%s %s, %s! The %s", words[i%8], words[(i*3)%8], words[(i*5+1)%8], strings.ToUpper(words[(i/8)%8])))
	}
	produce := func(from int, lines []string) func(s *S) {
		return func(s *S) {
			wordCounts(want, lines)
			produceKeyed(s, in, linesAsRecs(lines, from))
		}
	}
	c := &streamsCase{app: "wordcount", guarantee: guarantee, protocol: protocol, appID: appID, topics: []string{in, out}, decode: decodeLong,
		create: func(s *S) {
			createTopic(s, in, streamsParts, nil)
			createTopic(s, out, streamsParts, nil)
		},
		// Two parts: the changelog (segment.ms 100) rolls between them, so its first segment
		// can be compacted before the restore reads it.
		first:     []func(s *S){produce(0, lines[:30]), produce(30, lines[30:])},
		more:      []func(s *S){produce(1000, []string{"the kafka streams restore", "LOGD logd log", "a new word: zebra"})},
		check:     lastEquals(want),
		changelog: appID + "-counts-changelog", policy: "compact",
	}
	if !c.eos() {
		// A transactional changelog ends in a marker no consumer sees, which waitCompacted's
		// reference read would wait for: compaction is checked at least once.
		c.beforeRun = func(s *S) { waitCompacted(s, appID+"-counts-changelog", streamsParts) }
		c.scaleOut = [2]func(s *S){produce(2000, lines[:20]), produce(3000, lines[20:40])}
		c.tasks = 2 * streamsParts // the split into words, the count
		c.resetInputs = in
		return c
	}
	c.check = exactlyOnce(c.check, countsInSequence)
	var many []string
	for i := 0; i < 10; i++ {
		many = append(many, lines...)
	}
	c.crash = [3]func(s *S){produce(4000, many), produce(5000, lines[:20]), produce(6000, lines[20:])}
	return c
}

// exactlyOnce checks both check and exact.
func exactlyOnce(check, exact func(*outputReader) string) func(*outputReader) string {
	return func(o *outputReader) string {
		if d := check(o); d != "" {
			return d
		}
		return exact(o)
	}
}

func TestStreamsWindowed(t *testing.T) { windowedCase("at_least_once").run(t) }

// TestStreamsWindowedEOS: the windowed count with exactly_once_v2 (as TestStreamsWordCountEOS).
func TestStreamsWindowedEOS(t *testing.T) { windowedCase("exactly_once_v2").run(t) }

// windowedCase is the windowed count's case with guarantee.
func windowedCase(guarantee string) *streamsCase {
	appID := streamsAppID("windowed")
	if guarantee != "at_least_once" {
		appID = streamsAppID("windowed-eos")
	}
	in, out := appID+"-events", appID+"-counts"
	base := time.Now().Add(-30 * time.Minute).Truncate(time.Minute).UnixMilli()
	want := map[string]string{}
	// events produces, in timestamp order, n(key, window) events per key in each window,
	// offsetMs into the window.
	events := func(windows []int, offsetMs int64, n func(k, w int) int) []rec {
		var out []rec
		for _, w := range windows {
			for i := 0; i < 10; i++ {
				for k := 0; k < 4; k++ {
					if i >= n(k, w) {
						continue
					}
					key := fmt.Sprintf("sensor-%d", k)
					start := base + int64(w)*60_000
					out = append(out, rec{Key: []byte(key), Val: []byte(fmt.Sprintf("reading-%d", i)), TS: start + offsetMs + int64(i)*1000})
					wk := fmt.Sprintf("%s@%d", key, start)
					c, _ := strconv.Atoi(want[wk])
					want[wk] = strconv.Itoa(c + 1)
				}
			}
		}
		return out
	}
	c := &streamsCase{app: "windowed", guarantee: guarantee, appID: appID, topics: []string{in, out}, decode: decodeLong,
		create: func(s *S) {
			createTopic(s, in, streamsParts, nil)
			createTopic(s, out, streamsParts, nil)
		},
		first: []func(s *S){func(s *S) {
			produceKeyed(s, in, events([]int{0, 1, 2}, 0, func(k, w int) int { return k + w + 1 }))
		}},
		// Two more per key in the last window (whose counts must continue), one in a new one.
		more: []func(s *S){func(s *S) {
			more := events([]int{2}, 30_000, func(k, w int) int { return 2 })
			produceKeyed(s, in, append(more, events([]int{3}, 0, func(k, w int) int { return 1 })...))
		}},
		check:     lastEquals(want),
		changelog: appID + "-window-counts-changelog", policy: "compact,delete",
	}
	if c.eos() {
		c.check = exactlyOnce(c.check, countsInSequence)
		// Ten readings per key in each of windows 4 to 9, then windows 10 and 11.
		many := func(from, to int) func(s *S) {
			return func(s *S) {
				var ws []int
				for w := from; w <= to; w++ {
					ws = append(ws, w)
				}
				produceKeyed(s, in, events(ws, 0, func(k, w int) int { return 10 }))
			}
		}
		c.crash = [3]func(s *S){many(4, 9), many(10, 10), many(11, 11)}
	}
	return c
}

func TestStreamsJoin(t *testing.T) { joinCase("at_least_once").run(t) }

// TestStreamsJoinEOS: the stream-table join with exactly_once_v2 (as TestStreamsWordCountEOS;
// enrichedOrders already refuses an order out twice).
func TestStreamsJoinEOS(t *testing.T) { joinCase("exactly_once_v2").run(t) }

// joinCase is the stream-table join's case with guarantee.
func joinCase(guarantee string) *streamsCase {
	appID := streamsAppID("join")
	if guarantee != "at_least_once" {
		appID = streamsAppID("join-eos")
	}
	orders, customers, out := appID+"-orders", appID+"-customers", appID+"-enriched"
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UnixMilli()
	want := map[string]string{} // order id → the customer's name when the order happened
	nOrders := 0
	customer := func(c int, version string, at int64) rec {
		return rec{Key: []byte(fmt.Sprintf("cust-%d", c)), Val: []byte(fmt.Sprintf("cust-%d-%s", c, version)), TS: base + at}
	}
	order := func(c int, version string, at int64) rec {
		id := fmt.Sprintf("order-%03d", nOrders)
		nOrders++
		want[id] = fmt.Sprintf("cust-%d-%s", c, version)
		return rec{Key: []byte(fmt.Sprintf("cust-%d", c)), Val: []byte(id), TS: base + at}
	}
	c := &streamsCase{app: "join", guarantee: guarantee, appID: appID, topics: []string{orders, customers, out}, decode: decodeString,
		create: func(s *S) {
			compact := "compact"
			createTopic(s, orders, streamsParts, nil)
			createTopic(s, customers, streamsParts, map[string]*string{"cleanup.policy": &compact})
			createTopic(s, out, streamsParts, nil)
		},
		// Customers 0 and 1 change at +10 s: the orders after it must see their new names.
		first: []func(s *S){func(s *S) {
			var cs, ords []rec
			for c := 0; c < 4; c++ {
				cs = append(cs, customer(c, "v1", 0))
			}
			for i := 0; i < 8; i++ {
				ords = append(ords, order(i%4, "v1", 1000+int64(i)*100))
			}
			cs = append(cs, customer(0, "v2", 10_000), customer(1, "v2", 10_000))
			for i := 0; i < 8; i++ {
				ords = append(ords, order(i%4, map[bool]string{true: "v2", false: "v1"}[i%4 < 2], 11_000+int64(i)*100))
			}
			produceKeyed(s, customers, cs)
			produceKeyed(s, orders, ords)
		}},
		// An order of every customer (names from the restored table); once they are out,
		// customer 2 changes and orders again. Input arriving while the app is idle is
		// processed as it comes (the table is not versioned), so each part must be out before
		// the next, newer one is produced.
		more: []func(s *S){func(s *S) {
			var ords []rec
			for c := 0; c < 4; c++ {
				ords = append(ords, order(c, map[bool]string{true: "v2", false: "v1"}[c < 2], 20_000+int64(c)*100))
			}
			produceKeyed(s, orders, ords)
		}, func(s *S) {
			produceKeyed(s, customers, []rec{customer(2, "v3", 25_000)})
			produceKeyed(s, orders, []rec{order(2, "v3", 26_000)})
		}},
		check:     enrichedOrders(want),
		changelog: appID + "-customers-changelog", policy: "compact",
	}
	if c.eos() {
		// Orders of every customer with the names they have after the restore scenario.
		batch := func(n int, at int64) func(s *S) {
			return func(s *S) {
				var ords []rec
				for i := 0; i < n; i++ {
					ords = append(ords, order(i%4, map[int]string{0: "v2", 1: "v2", 2: "v3", 3: "v1"}[i%4], at+int64(i)))
				}
				produceKeyed(s, orders, ords)
			}
		}
		c.crash = [3]func(s *S){batch(400, 30_000), batch(20, 40_000), batch(20, 50_000)}
	}
	return c
}

// enrichedOrders checks that every order of want came out once, keyed by its customer id,
// enriched with want's name.
func enrichedOrders(want map[string]string) func(*outputReader) string {
	return func(o *outputReader) string {
		got := map[string]string{}
		var diffs []string
		for cust, vs := range o.all {
			for _, v := range vs {
				id, name, _ := strings.Cut(v, "|")
				if prev, dup := got[id]; dup {
					diffs = append(diffs, fmt.Sprintf("%s twice (%s, %s)", id, prev, name))
				}
				got[id] = name
				if !strings.HasPrefix(name, cust+"-") {
					diffs = append(diffs, fmt.Sprintf("%s under key %s enriched with %s", id, cust, name))
				}
			}
		}
		for id, name := range want {
			if got[id] != name {
				diffs = append(diffs, fmt.Sprintf("%s: got %q want %q", id, got[id], name))
			}
		}
		if len(got) > len(want) {
			diffs = append(diffs, fmt.Sprintf("%d orders out, %d in", len(got), len(want)))
		}
		sort.Strings(diffs)
		return strings.Join(diffs, "; ")
	}
}
