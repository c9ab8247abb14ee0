//go:build compat

package compat

// Consumer groups (issue 4): members of every client share partitions, commit, rebalance when
// a member joins, leaves or dies, and resume from commits, with no record lost and duplicates
// only where a commit had not happened.
//
// A member is a process speaking the group line protocol, so that it can be killed with
// SIGKILL (a real death: the broker sees its connections close and must wait for the session
// timeout). The Go clients run as children of the test binary itself (COMPAT_GO_MEMBER, see
// group_go_test.go); the others are the driver programs of external_test.go:
//
//	PROG BOOTSTRAP group TOPIC GROUP PROTOCOL      PROTOCOL: classic | consumer (KIP-848, Java)
//	  stdout: "ASSIGNED p,p,…" ("ASSIGNED -" for none) whenever its partitions of TOPIC change,
//	          "REC p off ts key val hdrs" for every record, printed before it is committed,
//	          "COMMITTED p next" after a synchronous commit of offset next for p succeeded,
//	          "DONE" after a clean leave, "ERR …" on a fatal error.
//	  stdin:  "stop" (or EOF): leave the group cleanly and exit 0;
//	          "nocommit": keep consuming but commit nothing more, then print "HOLDING".
//
// Every member commits synchronously after each batch it polled (auto-commit off), before it
// polls again, so a clean rebalance never re-delivers a record; only a member that dies, or
// whose commit fails, leaves records to be delivered twice. "nocommit" makes a member that is
// about to be killed hold delivered but uncommitted records, which its successor must deliver
// again, and nothing else. Classic members use a 6 s session
// timeout, 1 s heartbeats and a 20 s rebalance (max poll) timeout; they start from the earliest
// offset when the group has no commit.

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	groupParts          = 6
	groupSessionTimeout = 6 * time.Second
	// groupQuiet is how long assignments must stay unchanged to count as settled.
	groupQuiet = 2 * time.Second
)

// groupClient starts members of one client.
type groupClient struct {
	client   string // the matrix column
	suffix   string // scenario name suffix ("-kip848")
	protocol string // classic | consumer
	argv     func() ([]string, error)
	env      []string
	// na, if set, says why the scenarios do not apply (checked at run time).
	na func(s *S) string
	// deathTimeout bounds how long the group may take to move a killed member's partitions.
	deathTimeout time.Duration
}

// tailBuf keeps the last 8 KiB written to it (a member's stderr).
type tailBuf struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuf) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = append([]byte(nil), t.b[len(t.b)-8<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// groupEvent is one line a member printed, in the order the test read them.
type groupEvent struct {
	member string
	kind   string // ASSIGNED, REC, COMMITTED
	p      int32
	off    int64   // REC: the record's offset; COMMITTED: the next offset
	parts  []int32 // ASSIGNED
	at     time.Time
}

// member is one running member process.
type member struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuf
	done   chan struct{} // closed when stdout is drained and the process has exited
	err    error         // the exit status, once done is closed
	sawEnd bool          // printed DONE; guarded by groupRun.mu
	holds  bool          // printed HOLDING; guarded by groupRun.mu
}

// groupRun is one scenario's members and everything they printed.
type groupRun struct {
	s      *S
	gc     *groupClient
	addr   string // the broker's bootstrap address
	topic  string
	group  string
	mu     sync.Mutex
	events []groupEvent
	assign map[string][]int32  // member → latest assignment
	lastAs time.Time           // when any assignment last changed
	errs   []string            // ERR lines
	byName map[string]*member  // every member started
	owner  map[int32]string    // partition → member, from the latest assignments
	seen   map[[2]int64]string // (p, off) → first member that delivered it
}

func newGroupRun(s *S, gc *groupClient, name string) *groupRun {
	return newGroupRunAt(s, gc, name, bootAddr)
}

// newGroupRunAt is newGroupRun on the broker at addr.
func newGroupRunAt(s *S, gc *groupClient, name, addr string) *groupRun {
	s.Helper()
	g := &groupRun{s: s, gc: gc, addr: addr, topic: topicName(gc.client, name), assign: map[string][]int32{},
		byName: map[string]*member{}, owner: map[int32]string{}, seen: map[[2]int64]string{}}
	g.group = "g-" + g.topic
	adm, _ := newAdmin(s, addr)
	if resp, err := adm.CreateTopics(s.ctx, groupParts, 1, nil, g.topic); err != nil || resp[g.topic].Err != nil {
		s.Fatalf("setup: CreateTopics %s: %v %v", g.topic, err, resp[g.topic].Err)
	}
	waitTopic(s, adm, g.topic, groupParts)
	s.Cleanup(func() {
		for _, m := range g.byName {
			select {
			case <-m.done:
			default:
				m.cmd.Process.Kill()
				<-m.done
			}
		}
	})
	return g
}

// start launches member name.
func (g *groupRun) start(name string) *member {
	s := g.s
	s.Helper()
	argv, err := g.gc.argv()
	if err != nil {
		s.Fatalf("%s member unavailable: %v", g.gc.client, err)
	}
	cmd := exec.Command(argv[0], append(append(argv[1:], g.addr), "group", g.topic, g.group, g.gc.protocol)...)
	cmd.Env = append(cmd.Environ(), g.gc.env...)
	m := &member{name: name, cmd: cmd, stderr: &tailBuf{}, done: make(chan struct{})}
	cmd.Stderr = m.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.Fatalf("%v", err)
	}
	if m.stdin, err = cmd.StdinPipe(); err != nil {
		s.Fatalf("%v", err)
	}
	if err := cmd.Start(); err != nil {
		s.Fatalf("start member %s: %v", name, err)
	}
	g.mu.Lock()
	g.byName[name] = m
	g.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			g.line(m, sc.Text())
		}
		m.err = cmd.Wait()
		close(m.done)
	}()
	return m
}

// line records one line printed by m.
func (g *groupRun) line(m *member, l string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	f := strings.Fields(l)
	if len(f) == 0 {
		return
	}
	switch f[0] {
	case "ASSIGNED":
		var parts []int32
		if len(f) > 1 && f[1] != "-" {
			for _, x := range strings.Split(f[1], ",") {
				p, err := strconv.Atoi(x)
				if err != nil {
					g.errs = append(g.errs, fmt.Sprintf("%s: bad line %q", m.name, l))
					return
				}
				parts = append(parts, int32(p))
			}
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		g.assign[m.name] = parts
		g.lastAs = now
		g.events = append(g.events, groupEvent{member: m.name, kind: "ASSIGNED", parts: parts, at: now})
	case "REC":
		r, err := parseREC(l)
		if err != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: %v", m.name, err))
			return
		}
		g.events = append(g.events, groupEvent{member: m.name, kind: "REC", p: r.P, off: r.Off, at: now})
		if _, ok := g.seen[[2]int64{int64(r.P), r.Off}]; !ok {
			g.seen[[2]int64{int64(r.P), r.Off}] = m.name
		}
	case "COMMITTED":
		if len(f) != 3 {
			g.errs = append(g.errs, fmt.Sprintf("%s: bad line %q", m.name, l))
			return
		}
		p, err1 := strconv.Atoi(f[1])
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			g.errs = append(g.errs, fmt.Sprintf("%s: bad line %q", m.name, l))
			return
		}
		g.events = append(g.events, groupEvent{member: m.name, kind: "COMMITTED", p: int32(p), off: off, at: now})
	case "DONE":
		m.sawEnd = true
	case "HOLDING":
		m.holds = true
	case "ERR":
		g.errs = append(g.errs, m.name+": "+l)
	}
}

// failIfErrs fails the scenario on ERR lines printed so far.
func (g *groupRun) failIfErrs() {
	g.s.Helper()
	g.mu.Lock()
	errs := append([]string(nil), g.errs...)
	g.mu.Unlock()
	if len(errs) > 0 {
		g.s.Fatalf("member errors: %s", strings.Join(errs, "; "))
	}
}

// stop asks m to leave the group and waits for it to exit 0 after printing DONE.
func (g *groupRun) stop(m *member) {
	s := g.s
	s.Helper()
	io.WriteString(m.stdin, "stop\n")
	m.stdin.Close()
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
		s.Fatalf("member %s did not leave within 30s of stop; stderr: %s", m.name, lastLines(m.stderr.String(), 5))
	}
	g.mu.Lock()
	ended := m.sawEnd
	g.assign[m.name] = nil
	g.lastAs = time.Now()
	g.mu.Unlock()
	g.failIfErrs()
	if m.err != nil || !ended {
		s.Fatalf("member %s: exit %v, DONE printed: %v; stderr: %s", m.name, m.err, ended, lastLines(m.stderr.String(), 5))
	}
}

// kill9 kills m with SIGKILL: it leaves nothing behind but its committed offsets. It returns
// m's partitions, the offsets committed for them and the number of events up to its death.
func (g *groupRun) kill9(m *member) ([]int32, map[int32]int64, int) {
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done // its output is all read
	g.mu.Lock()
	defer g.mu.Unlock()
	parts := g.assign[m.name]
	com := g.committedLocked()
	g.assign[m.name] = nil
	g.lastAs = time.Now()
	return parts, com, len(g.events)
}

// hold tells m to stop committing and waits until it has delivered at least n records past
// the last commits of its partitions.
func (g *groupRun) hold(m *member, n int) {
	s := g.s
	s.Helper()
	if _, err := io.WriteString(m.stdin, "nocommit\n"); err != nil {
		s.Fatalf("nocommit to %s: %v", m.name, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		g.failIfErrs()
		g.mu.Lock()
		holds, com, held := m.holds, g.committedLocked(), 0
		for _, e := range g.events {
			if e.kind == "REC" && e.member == m.name && e.off >= com[e.p] {
				held++
			}
		}
		g.mu.Unlock()
		if holds && held >= n {
			return
		}
		if time.Now().After(deadline) {
			s.Fatalf("%s: HOLDING printed: %v, %d uncommitted records delivered after 15s, want %d", m.name, holds, held, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSettled waits until the live members' latest assignments are disjoint, cover every
// partition, give each member a share as even as possible, and have not changed for
// groupQuiet. It returns the owner of each partition and when the assignment last changed.
func (g *groupRun) waitSettled(what string, timeout time.Duration, live ...*member) (map[int32]string, time.Time) {
	s := g.s
	s.Helper()
	deadline := time.Now().Add(timeout)
	for {
		g.failIfErrs()
		for _, m := range live {
			select {
			case <-m.done:
				s.Fatalf("%s: member %s exited (%v); stderr: %s", what, m.name, m.err, lastLines(m.stderr.String(), 5))
			default:
			}
		}
		g.mu.Lock()
		owner := map[int32]string{}
		ok := true
		min, max := groupParts, 0
		for _, m := range live {
			ps := g.assign[m.name]
			if len(ps) < min {
				min = len(ps)
			}
			if len(ps) > max {
				max = len(ps)
			}
			for _, p := range ps {
				if _, dup := owner[p]; dup {
					ok = false
				}
				owner[p] = m.name
			}
		}
		ok = ok && len(owner) == groupParts && max-min <= 1
		for n := range g.assign {
			isLive := false
			for _, m := range live {
				isLive = isLive || m.name == n
			}
			if !isLive && len(g.assign[n]) > 0 {
				ok = false // a member that left or died still claims partitions
			}
		}
		quietFor, last := time.Since(g.lastAs), g.lastAs
		desc := g.describeLocked()
		g.mu.Unlock()
		if ok && quietFor >= groupQuiet {
			g.mu.Lock()
			g.owner = owner
			g.mu.Unlock()
			return owner, last
		}
		if time.Now().After(deadline) {
			var tails []string
			for _, m := range live {
				tails = append(tails, m.name+": "+lastLines(m.stderr.String(), 3))
			}
			s.Fatalf("%s: assignments did not settle within %v: %s; stderr: %s", what, timeout, desc, strings.Join(tails, " || "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// REQUIRES: g.mu
func (g *groupRun) describeLocked() string {
	var names []string
	for n := range g.assign {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%v", n, g.assign[n]))
	}
	return strings.Join(parts, " ")
}

// endOffsets lists the topic's end offsets.
func (g *groupRun) endOffsets() map[int32]int64 {
	s := g.s
	s.Helper()
	adm, _ := newAdmin(s, g.addr)
	lo, err := adm.ListEndOffsets(s.ctx, g.topic)
	if err != nil {
		s.Fatalf("ListEndOffsets: %v", err)
	}
	ends := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			s.Fatalf("ListEndOffsets %d: %v", o.Partition, o.Err)
		}
		ends[o.Partition] = o.Offset
	})
	return ends
}

// waitConsumed waits until every offset below ends has been delivered to some member and,
// if committed, until commits reported cover ends.
func (g *groupRun) waitConsumed(what string, ends map[int32]int64, committed bool, timeout time.Duration) {
	s := g.s
	s.Helper()
	deadline := time.Now().Add(timeout)
	for {
		g.failIfErrs()
		g.mu.Lock()
		missing, lastMissing := 0, ""
		for p, end := range ends {
			for off := int64(0); off < end; off++ {
				if _, ok := g.seen[[2]int64{int64(p), off}]; !ok {
					missing++
					lastMissing = fmt.Sprintf("%d/%d", p, off)
				}
			}
		}
		com := g.committedLocked()
		short := 0
		if committed {
			for p, end := range ends {
				if com[p] < end {
					short++
				}
			}
		}
		desc := g.describeLocked()
		g.mu.Unlock()
		if missing == 0 && short == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.Fatalf("%s: after %v, %d records never delivered (e.g. %s), %d partitions' commits short of %v (committed %v); assignments %s",
				what, timeout, missing, lastMissing, short, ends, com, desc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// REQUIRES: g.mu
func (g *groupRun) committedLocked() map[int32]int64 {
	com := map[int32]int64{}
	for _, e := range g.events {
		if e.kind == "COMMITTED" && e.off > com[e.p] {
			com[e.p] = e.off
		}
	}
	return com
}

// checkDelivery checks the whole history against ends: every record delivered; a record
// delivered again only if, when it was, no commit past it had been reported; each member's
// records of a partition in increasing offset order between two assignment changes. It
// returns the records delivered more than once.
func (g *groupRun) checkDelivery(ends map[int32]int64) map[[2]int64]bool {
	s := g.s
	s.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	com := map[int32]int64{}
	count := map[[2]int64]int{}
	lastOff := map[string]map[int32]int64{} // member → partition → last offset delivered
	dups, bad := map[[2]int64]bool{}, 0
	for _, e := range g.events {
		switch e.kind {
		case "ASSIGNED":
			lastOff[e.member] = nil
		case "COMMITTED":
			if e.off > com[e.p] {
				com[e.p] = e.off
			}
		case "REC":
			k := [2]int64{int64(e.p), e.off}
			if end, ok := ends[e.p]; !ok || e.off >= end {
				s.Errorf("%s delivered %d/%d, beyond the end offsets %v", e.member, e.p, e.off, ends)
			}
			if count[k] > 0 {
				dups[k] = true
				if e.off < com[e.p] && bad < 5 {
					bad++
					s.Errorf("record %d/%d delivered again (to %s) after offset %d of partition %d had been committed", e.p, e.off, e.member, com[e.p], e.p)
				}
			}
			count[k]++
			if lastOff[e.member] == nil {
				lastOff[e.member] = map[int32]int64{}
			}
			if prev, ok := lastOff[e.member][e.p]; ok && e.off <= prev && bad < 5 {
				bad++
				s.Errorf("%s delivered %d/%d after %d/%d without a rebalance in between", e.member, e.p, e.off, e.p, prev)
			}
			lastOff[e.member][e.p] = e.off
		}
	}
	lost := 0
	for p, end := range ends {
		for off := int64(0); off < end; off++ {
			if count[[2]int64{int64(p), off}] == 0 {
				if lost < 5 {
					s.Errorf("record %d/%d was never delivered", p, off)
				}
				lost++
			}
		}
	}
	if lost > 0 {
		s.Errorf("%d records lost in total", lost)
	}
	return dups
}

// checkGroupOffsets checks with kadm that the group's committed offsets equal want.
func (g *groupRun) checkGroupOffsets(want map[int32]int64) {
	s := g.s
	s.Helper()
	adm, _ := newAdmin(s, g.addr)
	resp, err := adm.FetchOffsets(s.ctx, g.group)
	if err != nil {
		s.Fatalf("OffsetFetch %s: %v", g.group, err)
	}
	for p, w := range want {
		o, ok := resp.Lookup(g.topic, p)
		switch {
		case !ok:
			s.Errorf("OffsetFetch: no committed offset for %d", p)
		case o.Err != nil:
			s.Errorf("OffsetFetch %d: %v", p, o.Err)
		case o.At != w:
			s.Errorf("OffsetFetch %d: committed %d, want %d", p, o.At, w)
		}
	}
}

// produceGroupRecords appends perPart records to every partition with franz-go.
func (g *groupRun) produce(perPart int, tag string) {
	var in []rec
	for i := 0; i < perPart; i++ {
		for p := int32(0); p < groupParts; p++ {
			in = append(in, rec{P: p, Key: []byte(fmt.Sprintf("%s-%d-%d", tag, p, i)), Val: []byte(fmt.Sprintf("group record %s %d/%d", tag, p, i))})
		}
	}
	produceRef(g.s, g.topic, in, kgo.SeedBrokers(g.addr))
}

// backgroundProducer produces a record to every partition every 150 ms until stopped.
func (g *groupRun) backgroundProducer() (stop func()) {
	s := g.s
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		s.Fatalf("producer: %v", err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			case <-time.After(150 * time.Millisecond):
			}
			var krs []*kgo.Record
			for p := int32(0); p < groupParts; p++ {
				krs = append(krs, &kgo.Record{Topic: g.topic, Partition: p, Key: []byte(fmt.Sprintf("bg-%d", i)), Value: []byte(fmt.Sprintf("background %d/%d", p, i))})
			}
			if err := cl.ProduceSync(s.ctx, krs...).FirstErr(); err != nil {
				s.Errorf("background produce: %v", err)
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		cl.Close()
	}
}

// apiAdvertised reports whether the broker's ApiVersions lists key.
func apiAdvertised(s *S, key int16) bool {
	s.Helper()
	_, cl := newAdmin(s, bootAddr)
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(s.ctx, cl)
	if err != nil {
		s.Fatalf("ApiVersions: %v", err)
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return true
		}
	}
	return false
}

// ---- the scenarios ----

// groupScenarios runs the three group scenarios for one client.
func groupScenarios(t *testing.T, gc *groupClient) {
	run := func(name string, timeout time.Duration, fn func(s *S)) {
		scenario(t, gc.client, name+gc.suffix, timeout, func(s *S) {
			if _, err := gc.argv(); err != nil {
				s.Fatalf("%s not installed: %v", gc.client, err)
			}
			if gc.na != nil {
				if r := gc.na(s); r != "" {
					s.NA(r)
				}
			}
			fn(s)
		})
	}
	run("group-share", 150*time.Second, func(s *S) { testGroupShare(s, gc) })
	run("group-rebalance", 240*time.Second, func(s *S) { testGroupRebalance(s, gc) })
	run("group-resume", 150*time.Second, func(s *S) { testGroupResume(s, gc) })
}

// testGroupShare: three members over six partitions with 600 records already there. The
// group settles on disjoint, even assignments; 120 records produced afterwards go to their
// partition's owner; every record is delivered exactly once; the commits reach the ends.
func testGroupShare(s *S, gc *groupClient) {
	g := newGroupRun(s, gc, "share")
	g.produce(100, "pre")
	a, b, c := g.start("A"), g.start("B"), g.start("C")
	owner, _ := g.waitSettled("three members joining", 60*time.Second, a, b, c)
	s.Logf("settled: %v", owner)
	g.mu.Lock()
	mark := len(g.events)
	g.mu.Unlock()
	g.produce(20, "post")
	ends := g.endOffsets()
	g.waitConsumed("after the group settled", ends, true, 40*time.Second)
	g.mu.Lock()
	for _, e := range g.events[mark:] {
		if e.kind == "REC" && e.member != owner[e.p] {
			s.Errorf("record %d/%d went to %s; the settled assignment gave partition %d to %s", e.p, e.off, e.member, e.p, owner[e.p])
			break
		}
		if e.kind == "ASSIGNED" {
			s.Errorf("%s's assignment changed to %v with no member joining or leaving", e.member, e.parts)
			break
		}
	}
	g.mu.Unlock()
	for _, m := range []*member{a, b, c} {
		g.stop(m)
	}
	if dups := g.checkDelivery(ends); len(dups) > 0 {
		s.Errorf("%d records delivered more than once; every record must be delivered exactly once (members commit before polling again)", len(dups))
	}
	g.checkGroupOffsets(ends)
}

// testGroupRebalance: records are produced throughout while member A starts alone, B joins,
// A stops committing and is killed with SIGKILL (its partitions move to B after the session
// timeout, B resumes each at A's last commit), C joins and leaves cleanly (its partitions move
// back at once). No record is lost; the records delivered twice are exactly those A had
// delivered past its last commits.
func testGroupRebalance(s *S, gc *groupClient) {
	g := newGroupRun(s, gc, "rebalance")
	stopProducing := g.backgroundProducer()
	defer func() {
		if stopProducing != nil {
			stopProducing()
		}
	}()
	a := g.start("A")
	g.waitSettled("A alone", 60*time.Second, a)
	time.Sleep(time.Second)
	b := g.start("B")
	g.waitSettled("B joining A", 60*time.Second, a, b)
	time.Sleep(time.Second)
	g.hold(a, 10)
	killed := time.Now()
	aParts, aCommits, mark := g.kill9(a)
	_, at := g.waitSettled("after A was killed", gc.deathTimeout, b)
	s.Logf("A's partitions %v moved %v after SIGKILL", aParts, at.Sub(killed).Round(time.Millisecond))
	c := g.start("C")
	g.waitSettled("C joining B", 60*time.Second, b, c)
	time.Sleep(time.Second)
	left := time.Now()
	g.stop(c)
	_, at = g.waitSettled("after C left", 60*time.Second, b)
	if d := at.Sub(left); gc.protocol == "classic" && d > groupSessionTimeout-500*time.Millisecond {
		s.Errorf("C's partitions moved %v after it left cleanly: that is the session timeout, not LeaveGroup", d.Round(time.Millisecond))
	} else {
		s.Logf("C's partitions moved %v after it left", d.Round(time.Millisecond))
	}
	stopProducing()
	stopProducing = nil
	ends := g.endOffsets()
	g.waitConsumed("after producing stopped", ends, true, 60*time.Second)
	g.stop(b)
	dups := g.checkDelivery(ends)
	g.checkDeath(aParts, aCommits, mark, dups)
	g.checkGroupOffsets(ends)
}

// checkDeath checks what followed the death of member A: B took up each of A's partitions
// at A's last commit, and the records delivered twice are exactly those A delivered past it.
func (g *groupRun) checkDeath(aParts []int32, aCommits map[int32]int64, mark int, dups map[[2]int64]bool) {
	s := g.s
	s.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	want := map[[2]int64]bool{}
	for _, e := range g.events[:mark] {
		if e.kind == "REC" && e.member == "A" && e.off >= aCommits[e.p] {
			want[[2]int64{int64(e.p), e.off}] = true
		}
	}
	first := map[int32]int64{}
	for _, e := range g.events[mark:] {
		if _, ok := first[e.p]; e.kind == "REC" && e.member == "B" && !ok {
			first[e.p] = e.off
		}
	}
	for _, p := range aParts {
		if f, ok := first[p]; !ok || f != aCommits[p] {
			s.Errorf("after A died, B took up partition %d at offset %d (delivered: %v); A had committed %d", p, f, ok, aCommits[p])
		}
	}
	var missing, extra []string
	for k := range want {
		if !dups[k] {
			missing = append(missing, fmt.Sprintf("%d/%d", k[0], k[1]))
		}
	}
	for k := range dups {
		if !want[k] {
			extra = append(extra, fmt.Sprintf("%d/%d", k[0], k[1]))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		s.Errorf("%d records A delivered but never committed were not delivered again (at-least-once broken), e.g. %v", len(missing), missing[:min(len(missing), 5)])
	}
	if len(extra) > 0 {
		s.Errorf("%d records delivered twice that A had committed or never had, e.g. %v", len(extra), extra[:min(len(extra), 5)])
	}
	s.Logf("A died holding %d delivered, uncommitted records; B delivered them again", len(want))
}

// testGroupResume: member A consumes and commits 300 records and leaves; 120 more are
// produced; member B of the same group starts at the committed offsets and gets exactly the
// 120 new records.
func testGroupResume(s *S, gc *groupClient) {
	resumeAfter(newGroupRun(s, gc, "resume"), nil)
}

// testGroupRestart is testGroupResume with logd killed with SIGKILL and restarted on its
// directory while the group is empty: acknowledged commits must survive in __consumer_offsets.
func testGroupRestart(s *S) {
	dir := filepath.Join(tmpDir, "group-restart")
	b, err := startBroker(dir, "", "broker-group-restart.log")
	if err != nil {
		s.Fatalf("start broker: %v", err)
	}
	g := newGroupRunAt(s, goGroupClient("franz-go"), "restart", b.addr)
	resumeAfter(g, func() {
		b.kill9()
		b2, err := startBroker(dir, b.addr, "broker-group-restart-2.log")
		if err != nil {
			s.Fatalf("restart broker: %v", err)
		}
		s.Cleanup(func() {
			if err := b2.stop(); err != nil {
				s.Errorf("restarted broker: %v", err)
			}
		})
	})
}

// resumeAfter runs the resume scenario on g, calling between (if not nil) after A left.
func resumeAfter(g *groupRun, between func()) {
	s := g.s
	s.Helper()
	g.produce(50, "first")
	first := g.endOffsets()
	a := g.start("A")
	g.waitConsumed("A consuming", first, true, 60*time.Second)
	g.stop(a)
	if between != nil {
		between()
	}
	g.checkGroupOffsets(first)
	g.produce(20, "second")
	ends := g.endOffsets()
	g.mu.Lock()
	mark := len(g.events)
	g.mu.Unlock()
	b := g.start("B")
	g.waitConsumed("B resuming", ends, true, 60*time.Second)
	g.stop(b)
	g.mu.Lock()
	firstOff := map[int32]int64{}
	for _, e := range g.events[mark:] {
		if e.kind != "REC" {
			continue
		}
		if _, ok := firstOff[e.p]; !ok {
			firstOff[e.p] = e.off
		}
		if e.off < first[e.p] {
			s.Errorf("B re-delivered %d/%d, below the offset %d A had committed", e.p, e.off, first[e.p])
			break
		}
	}
	g.mu.Unlock()
	for p, off := range first {
		if f, ok := firstOff[p]; !ok || f != off {
			s.Errorf("B started partition %d at %d (seen: %v), want the committed offset %d", p, f, ok, off)
		}
	}
	if dups := g.checkDelivery(ends); len(dups) > 0 {
		s.Errorf("%d records delivered more than once", len(dups))
	}
	g.checkGroupOffsets(ends)
}

// ---- the clients ----

func goMemberArgv() ([]string, error) {
	exe, err := testExecutable()
	return []string{exe}, err
}

func goGroupClient(name string) *groupClient {
	return &groupClient{client: name, protocol: "classic", argv: goMemberArgv, env: []string{"COMPAT_GO_MEMBER=" + name},
		deathTimeout: 60 * time.Second}
}

func externalGroupClient(d *driver) *groupClient {
	return &groupClient{client: d.client, protocol: "classic", argv: d.argv, deathTimeout: 60 * time.Second}
}

// javaKIP848 is the Java client with group.protocol=consumer. It needs ConsumerGroupHeartbeat
// (key 68); the broker decides the session timeout (group.consumer.session.timeout.ms,
// Kafka's default 45 s), so a death takes longer to notice.
var javaKIP848 = &groupClient{client: "java", suffix: "-kip848", protocol: "consumer", argv: javaArgv,
	deathTimeout: 90 * time.Second,
	na: func(s *S) string {
		if !apiAdvertised(s, int16(kmsg.ConsumerGroupHeartbeat)) {
			return "the broker does not advertise ConsumerGroupHeartbeat (key 68): group.protocol=consumer (KIP-848) is not implemented"
		}
		return ""
	}}

// groupParallel is how many clients run their group scenarios at once: members mostly wait
// (session timeouts, settling), and one at a time would take most of make compat's budget.
const groupParallel = 3

// TestGroups runs the consumer-group scenarios for every client, groupParallel clients at
// a time (go test -tags compat -run 'TestGroups/java' ./compat).
func TestGroups(t *testing.T) {
	sem := make(chan struct{}, groupParallel)
	for _, gc := range []*groupClient{
		goGroupClient("franz-go"), goGroupClient("sarama"), goGroupClient("kafka-go"),
		externalGroupClient(confluentPy), externalGroupClient(kafkaPython), externalGroupClient(kafkaJS),
		externalGroupClient(javaClient), javaKIP848,
	} {
		gc := gc
		t.Run(gc.client+gc.suffix, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			groupScenarios(t, gc)
		})
	}
	t.Run("broker", func(t *testing.T) {
		t.Parallel()
		sem <- struct{}{}
		defer func() { <-sem }()
		scenario(t, "broker", "group-commits-kill9-restart", 150*time.Second, testGroupRestart)
	})
}
