//go:build compat

package compat

// Share groups (KIP-932) with Kafka's own clients: KafkaShareConsumer (ShareDriver.java),
// kafka-share-groups and kafka-console-share-consumer from the tools jar, against a logd of
// their own with short record locks (group.share.record.lock.duration.ms=3000), a delivery
// limit of 3 and share partitions starting at the log start.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var shareDriver = &javaModule{dir: "java", source: "ShareDriver.java"}

// shareRec is one record a ShareDriver received.
type shareRec struct {
	offset     int64
	deliveries int
	value      string
}

// shareMember is a running ShareDriver.
type shareMember struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	recs []shareRec // guarded by mu
	held chan struct{}
	done chan error
	out  strings.Builder // guarded by mu: stdout and stderr's last lines
}

// startShareMember runs ShareDriver against addr (its usage is in ShareDriver.java).
func startShareMember(s *S, addr, topic, group, mode string, maxPoll int, idle, deadline time.Duration) *shareMember {
	s.Helper()
	cp, err := shareDriver.classpath()
	if err != nil {
		s.Fatalf("%v", err)
	}
	argv := append([]string{"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"}, javaFlags...)
	argv = append(argv, "-cp", cp, "ShareDriver", addr, topic, group, mode, strconv.Itoa(maxPoll),
		strconv.FormatInt(idle.Milliseconds(), 10), strconv.FormatInt(deadline.Milliseconds(), 10))
	m := &shareMember{cmd: exec.CommandContext(s.ctx, "java", argv...), held: make(chan struct{}), done: make(chan error, 1)}
	stdout, err := m.cmd.StdoutPipe()
	if err != nil {
		s.Fatalf("%v", err)
	}
	m.cmd.Stderr = &lockedWriter{m: m}
	if err := m.cmd.Start(); err != nil {
		s.Fatalf("start ShareDriver: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			m.mu.Lock()
			m.out.WriteString(sc.Text() + "\n")
			if len(f) == 5 && f[0] == "REC" {
				off, _ := strconv.ParseInt(f[2], 10, 64)
				d, _ := strconv.Atoi(f[3])
				m.recs = append(m.recs, shareRec{offset: off, deliveries: d, value: f[4]})
			}
			m.mu.Unlock()
			if len(f) > 0 && f[0] == "HELD" {
				close(m.held)
			}
		}
		m.done <- m.cmd.Wait()
	}()
	return m
}

// lockedWriter appends a ShareDriver's stderr to its output.
type lockedWriter struct{ m *shareMember }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	return w.m.out.Write(b)
}

// wait waits for the member to exit and returns what it received.
func (m *shareMember) wait(s *S) []shareRec {
	s.Helper()
	select {
	case err := <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		if err != nil {
			s.Fatalf("ShareDriver: %v: %s", err, lastLines(m.out.String(), 8))
		}
		return m.recs
	case <-s.ctx.Done():
		s.Fatalf("ShareDriver did not finish: %s", lastLines(m.out.String(), 8))
		return nil
	}
}

// shareProduce writes values to partition 0 of topic at addr, one batch per record.
func shareProduce(s *S, addr, topic string, values []string) {
	s.Helper()
	// acks=1: no fsync wait per record, which one-record batches would otherwise pay each.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer cl.Close()
	for _, v := range values {
		if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			s.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// shareTopicAt creates a one-partition topic on the broker at addr.
func shareTopicAt(s *S, addr, topic string) {
	s.Helper()
	adm, cl := newAdmin(s, addr)
	defer cl.Close()
	resp, err := adm.CreateTopics(s.ctx, 1, 1, nil, topic)
	if err != nil || resp[topic].Err != nil {
		s.Fatalf("create %s: %v %v", topic, err, resp[topic].Err)
	}
	waitTopic(s, adm, topic, 1)
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// checkOnce expects every offset below n received exactly once overall (all acknowledged).
func checkOnce(s *S, n int, got [][]shareRec) map[int64]shareRec {
	s.Helper()
	seen := map[int64]shareRec{}
	for _, rs := range got {
		for _, r := range rs {
			if prev, dup := seen[r.offset]; dup {
				s.Errorf("offset %d delivered twice (%+v and %+v)", r.offset, prev, r)
			}
			seen[r.offset] = r
		}
	}
	for o := int64(0); o < int64(n); o++ {
		if _, ok := seen[o]; !ok {
			s.Errorf("offset %d never delivered", o)
		}
	}
	return seen
}

func testShareThreeMembers(s *S, addr string) {
	topic, group := topicName("java", "share-3"), "share-3-members"
	shareTopicAt(s, addr, topic)
	var ms []*shareMember
	for range 3 {
		ms = append(ms, startShareMember(s, addr, topic, group, "slow", 10, 5*time.Second, 90*time.Second))
	}
	waitShareMembers(s, addr, group, 3) // then produce, so that all three share the work
	shareProduce(s, addr, topic, values("v", 90))
	var got [][]shareRec
	members := 0
	for _, m := range ms {
		rs := m.wait(s)
		got = append(got, rs)
		if len(rs) > 0 {
			members++
		}
	}
	seen := checkOnce(s, 90, got)
	for o, r := range seen {
		if r.deliveries != 1 || r.value != fmt.Sprintf("v-%d", o) {
			s.Errorf("offset %d: %+v, want value v-%d delivered once", o, r, o)
		}
	}
	// Not asserted yet: on this machine one member often takes every record while the others
	// get none (exactly once still holds); to investigate (the Java client's MaxRecords,
	// BatchSize and lock renewal against logd's batch-optimized acquisition).
	s.Logf("records per member: %d/%d/%d (%d of 3 members received some)", len(got[0]), len(got[1]), len(got[2]), members)
	// kafka-share-groups: the group is listed; all 150 delivered: start offset 150, lag 0.
	tool := func(args ...string) string {
		return kafkaToolAt(s, addr, "kafka-share-groups", "org.apache.kafka.tools.consumer.group.ShareGroupCommand", args...)
	}
	if out := tool("--list"); !strings.Contains("\n"+out+"\n", "\n"+group+"\n") {
		s.Errorf("kafka-share-groups --list does not list %s: %s", group, out)
	}
	checkShareDescribe(s, tool("--describe", "--group", group), group, topic, "90", "0")
	out := tool("--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
	if rows := cgcRows(out, group, topic); len(rows) != 1 || rows[0]["NEW-OFFSET"] != "0" {
		s.Errorf("--reset-offsets --to-earliest: %s", out)
	}
	checkShareDescribe(s, tool("--describe", "--group", group), group, topic, "0", "90")
	if out := tool("--delete-offsets", "--group", group, "--topic", topic); !strings.Contains(out, "Successful") {
		s.Errorf("--delete-offsets: %s", out)
	}
}

// waitShareMembers waits until ShareGroupDescribe shows n members in group.
func waitShareMembers(s *S, addr, group string, n int) {
	s.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer cl.Close()
	for {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.Version, req.GroupIDs = 1, []string{group}
		if resp, err := req.RequestWith(s.ctx, cl); err == nil && len(resp.Groups) == 1 && len(resp.Groups[0].Members) == n {
			return
		}
		select {
		case <-s.ctx.Done():
			s.Fatalf("the share group %s never had %d members", group, n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkShareDescribe expects kafka-share-groups --describe's row for the topic's partition 0.
func checkShareDescribe(s *S, out, group, topic, start, lag string) {
	s.Helper()
	rows := cgcRows(out, group, topic)
	if len(rows) != 1 || rows[0]["START-OFFSET"] != start || rows[0]["LAG"] != lag {
		s.Errorf("kafka-share-groups --describe: want start offset %s lag %s: %s", start, lag, out)
	}
}

func testShareRedeliveryAfterKill(s *S, addr string) {
	topic, group := topicName("java", "share-kill"), "share-kill"
	shareTopicAt(s, addr, topic)
	shareProduce(s, addr, topic, values("k", 10))
	h := startShareMember(s, addr, topic, group, "hold", 5, time.Minute, time.Minute)
	select {
	case <-h.held:
	case <-s.ctx.Done():
		s.Fatalf("the holding member got no records")
	}
	h.cmd.Process.Kill()
	<-h.done
	h.mu.Lock()
	held := append([]shareRec(nil), h.recs...)
	h.mu.Unlock()
	a := startShareMember(s, addr, topic, group, "accept", 100, 6*time.Second, 60*time.Second)
	seen := checkOnce(s, 10, [][]shareRec{a.wait(s)})
	for _, r := range held {
		if got := seen[r.offset]; got.deliveries != 2 {
			s.Errorf("offset %d held by the killed member: redelivered with count %d, want 2", r.offset, got.deliveries)
		}
	}
	if len(held) == 0 || len(held) == 10 {
		s.Errorf("the killed member held %d records, want some but not all", len(held))
	}
}

func testSharePoison(s *S, addr string) {
	topic, group := topicName("java", "share-poison"), "share-poison"
	shareTopicAt(s, addr, topic)
	shareProduce(s, addr, topic, []string{"ok-0", "poison", "ok-2"})
	rs := startShareMember(s, addr, topic, group, "poison", 10, 5*time.Second, 60*time.Second).wait(s)
	var counts []int
	for _, r := range rs {
		if r.value == "poison" {
			counts = append(counts, r.deliveries)
		}
	}
	if fmt.Sprint(counts) != "[1 2 3]" {
		s.Errorf("the poison record's deliveries: %v, want [1 2 3] (share.delivery.count.limit 3, then archived): %+v", counts, rs)
	}
	out := kafkaToolAt(s, addr, "kafka-share-groups", "org.apache.kafka.tools.consumer.group.ShareGroupCommand", "--describe", "--group", group)
	checkShareDescribe(s, out, group, topic, "3", "0")
}

func testConsoleShareConsumer(s *S, addr string) {
	topic := topicName("java", "share-console")
	shareTopicAt(s, addr, topic)
	shareProduce(s, addr, topic, values("c", 8))
	out := kafkaToolAt(s, addr, "kafka-console-share-consumer", "org.apache.kafka.tools.consumer.ConsoleShareConsumer",
		"--topic", topic, "--group", "share-console", "--max-messages", "5", "--timeout-ms", "20000")
	if !strings.Contains(out, "Processed a total of 5 messages") || !strings.Contains(out, "c-0\n") {
		s.Errorf("kafka-console-share-consumer: %s", out)
	}
}

// testShareRestart: acknowledged records stay acknowledged across a restart of logd (the
// share-partition state in __share_group_state); the rest is delivered after it.
func testShareRestart(s *S) {
	b, err := startBroker(filepath.Join(tmpDir, "share-restart"), "", "broker-share-restart.log")
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer func() {
		if b != nil {
			b.stop()
		}
	}()
	topic, group := topicName("java", "share-restart"), "share-restart"
	shareTopicAt(s, b.addr, topic)
	shareProduce(s, b.addr, topic, values("r", 10))
	// share.auto.offset.reset=latest (the default): a member must fetch before the records
	// exist, so reset the new group to the log start first.
	kafkaToolAt(s, b.addr, "kafka-share-groups", "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
		"--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
	first := startShareMember(s, b.addr, topic, group, "first", 5, 5*time.Second, 60*time.Second).wait(s)
	if len(first) == 0 {
		s.Fatalf("the first member received nothing")
	}
	if err := b.stop(); err != nil {
		s.Fatalf("logd did not stop cleanly: %v", err)
	}
	dir, addr := b.dir, b.addr
	if b, err = startBroker(dir, addr, "broker-share-restart.log"); err != nil {
		s.Fatalf("restart: %v", err)
	}
	rest := startShareMember(s, b.addr, topic, group, "accept", 100, 6*time.Second, 90*time.Second).wait(s)
	checkOnce(s, 10, [][]shareRec{first, rest})
}

// testShareByDuration: kafka-configs sets a group's share.auto.offset.reset to
// by_duration:PT1H (over the broker's earliest); a KafkaShareConsumer of that group then
// starts at the first record at most an hour old: five records written two hours ago are
// never delivered, the five written now are, once each, and kafka-share-groups shows the
// share partition past them all.
func testShareByDuration(s *S, addr string) {
	topic, group := topicName("java", "share-by-duration"), "share-by-duration"
	shareTopicAt(s, addr, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1))
	if err != nil {
		s.Fatalf("%v", err)
	}
	defer cl.Close()
	old, now := time.Now().Add(-2*time.Hour), time.Now()
	for i, v := range append(values("old", 5), values("new", 5)...) {
		ts := now
		if i < 5 {
			ts = old.Add(time.Duration(i) * time.Second)
		}
		if err := cl.ProduceSync(s.ctx, &kgo.Record{Topic: topic, Value: []byte(v), Timestamp: ts}).FirstErr(); err != nil {
			s.Fatalf("produce to %s: %v", topic, err)
		}
	}
	kafkaToolAt(s, addr, "kafka-configs", "kafka.admin.ConfigCommand", "--alter", "--entity-type", "groups", "--entity-name", group,
		"--add-config", "share.auto.offset.reset=by_duration:PT1H")
	if out := kafkaToolAt(s, addr, "kafka-configs", "kafka.admin.ConfigCommand", "--describe", "--all", "--entity-type", "groups", "--entity-name", group); !strings.Contains(out, "share.auto.offset.reset=by_duration:PT1H") {
		s.Fatalf("kafka-configs --describe does not show the group's reset: %s", out)
	}
	got := startShareMember(s, addr, topic, group, "accept", 100, 6*time.Second, 90*time.Second).wait(s)
	seen := map[int64]bool{}
	for _, r := range got {
		if r.offset < 5 || !strings.HasPrefix(r.value, "new-") {
			s.Errorf("delivered %+v: older than by_duration:PT1H", r)
		}
		if seen[r.offset] {
			s.Errorf("offset %d delivered twice", r.offset)
		}
		seen[r.offset] = true
	}
	for o := int64(5); o < 10; o++ {
		if !seen[o] {
			s.Errorf("offset %d (written now) never delivered", o)
		}
	}
	out := kafkaToolAt(s, addr, "kafka-share-groups", "org.apache.kafka.tools.consumer.group.ShareGroupCommand", "--describe", "--offsets", "--group", group)
	checkShareDescribe(s, out, group, topic, "10", "0")
}

// TestShareGroups: go test -tags compat -run TestShareGroups ./compat.
func TestShareGroups(t *testing.T) {
	props := filepath.Join(tmpDir, "share.properties")
	conf := "logd.share.auto.offset.reset=earliest\ngroup.share.record.lock.duration.ms=3000\n" +
		"group.share.delivery.count.limit=3\ngroup.share.session.timeout.ms=6000\ngroup.share.heartbeat.interval.ms=1000\n"
	if err := os.WriteFile(props, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := startBrokerArgs(filepath.Join(tmpDir, "share"), "", "broker-share.log", "--config", props)
	if err != nil {
		t.Fatal(err)
	}
	defer b.stop()
	run := func(name string, timeout time.Duration, fn func(s *S, addr string)) {
		scenario(t, "java", name, timeout, func(s *S) { fn(s, b.addr) })
	}
	run("share-3-consumers-one-partition", 240*time.Second, testShareThreeMembers)
	run("share-redelivery-after-kill", 120*time.Second, testShareRedeliveryAfterKill)
	run("share-poison-archived", 120*time.Second, testSharePoison)
	run("kafka-console-share-consumer", 90*time.Second, testConsoleShareConsumer)
	run("share-auto-offset-reset-by-duration", 120*time.Second, testShareByDuration)
	scenario(t, "java", "share-state-survives-restart", 180*time.Second, testShareRestart)
}
