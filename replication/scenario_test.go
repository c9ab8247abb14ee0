package replication

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/engine"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden scenario files in testdata/ with the actual output")

// TestScenarios runs the golden-file scenarios in testdata/*.txt: a simulated partition whose
// replicas hold in-memory logs (one record per offset, labelled with its leader epoch), a
// Leader state machine on the elected replica, followers that truncate by leader epoch and
// fetch, a controller that commits ISR changes, and a manual clock. Each case is a command
// line, a "----" line and the expected output, separated by blank lines. Commands:
//
//	cluster replicas=1,2,3 [lag=ms] [min-isr=N]  new partition, empty logs, clock at 0
//	elect leader=N isr=1,2 [epoch=E]             controller: new leader epoch (default +1),
//	                                             partition epoch +1; followers must truncate
//	produce [n=N] [acks=all|1] [timeout=ms] [id=N]  append N records at the leader
//	fetch replica=N [max=N] [lost-response]      one follower round: truncation if needed,
//	                                             then one fetch of at most max records
//	restart replica=N                            a follower restarts with its log intact
//	catchup                                      every live follower fetches until idle
//	tick ms=N                                    advance the clock, then Leader.Tick
//	alter-isr commit|reject                      the controller answers the proposal in flight
//	down replica=N | up replica=N                a replica stops or resumes fetching
//	write replica=N [n=N] epoch=E                append straight to a replica's log (divergence)
//	lose replica=N keep=N                        the replica loses its log tail past keep
//	                                             (unsynced data gone in a crash)
//	state                                        dump the leader's view and every replica
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScenario(t, file) })
	}
}

func runScenario(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{t: t}
	var out strings.Builder
	for _, c := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		cmd, want, _ := strings.Cut(c, "\n----\n")
		cmd = strings.TrimSuffix(cmd, "\n----")
		got := s.run(cmd)
		if err := s.checkInvariants(); err != nil {
			t.Errorf("%s: after %q: invariant broken: %v", file, cmd, err)
		}
		fmt.Fprintf(&out, "%s\n----\n%s\n\n", cmd, got)
		if !*rewrite && strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, cmd, got, want)
		}
	}
	if *rewrite {
		if err := os.WriteFile(file, []byte(strings.TrimSpace(out.String())+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// simReplica is one replica's log: the leader epoch of each record, its epoch history and its
// high watermark.
type simReplica struct {
	id         int32
	records    []int32
	epochs     []engine.EpochEntry
	hw         int64
	down       bool
	truncating bool // must find its divergence point before fetching
}

func (r *simReplica) leo() int64 { return int64(len(r.records)) }

func (r *simReplica) append(epoch int32) {
	if len(r.epochs) == 0 || r.epochs[len(r.epochs)-1].Epoch < epoch {
		r.epochs = append(r.epochs, engine.EpochEntry{Epoch: epoch, StartOffset: r.leo()})
	}
	r.records = append(r.records, epoch)
}

// truncate cuts the log at offset. Like Kafka's UnifiedLog.truncateTo it drops epoch entries
// at or beyond the new end even when no record goes: a replica that became leader and wrote
// nothing has an entry at its log end that the next leader's history does not have.
func (r *simReplica) truncate(offset int64) {
	offset = min(offset, r.leo())
	r.records = r.records[:offset]
	for len(r.epochs) > 0 && r.epochs[len(r.epochs)-1].StartOffset >= offset {
		r.epochs = r.epochs[:len(r.epochs)-1]
	}
	r.hw = min(r.hw, offset)
}

type sim struct {
	t        *testing.T
	cfg      Config
	now      time.Time
	replicas []*simReplica
	state    PartitionState
	leader   *Leader
	nextID   uint64
	waiting  map[uint64]int64 // produce id → offset it waits for
	acked    map[int64]bool   // offsets acknowledged to an acks=all producer
	lastHW   int64            // the current leader's HW, for the monotonic check
}

var epoch0 = time.Unix(0, 0).UTC()

func (s *sim) ms() int64 { return s.now.Sub(epoch0).Milliseconds() }

func (s *sim) replica(id int32) *simReplica {
	for _, r := range s.replicas {
		if r.id == id {
			return r
		}
	}
	s.t.Fatalf("no replica %d", id)
	return nil
}

func (s *sim) run(line string) string {
	f := strings.Fields(line)
	a := map[string]string{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		a[k] = v
	}
	num := func(k string, def int64) int64 {
		v, ok := a[k]
		if !ok {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			s.t.Fatalf("%s: bad %s=%q", line, k, v)
		}
		return n
	}
	switch f[0] {
	case "cluster":
		s.cfg = Config{ReplicaLagTime: time.Duration(num("lag", 10000)) * time.Millisecond, MinInsyncReplicas: int(num("min-isr", 1))}
		s.now, s.replicas, s.leader = epoch0, nil, nil
		s.state = PartitionState{Leader: -1, LeaderEpoch: -1, Replicas: ids(a["replicas"])}
		s.waiting, s.acked, s.nextID = map[uint64]int64{}, map[int64]bool{}, 0
		for _, id := range s.state.Replicas {
			s.replicas = append(s.replicas, &simReplica{id: id})
		}
		return "ok"
	case "elect":
		return s.elect(int32(num("leader", 0)), ids(a["isr"]), int32(num("epoch", int64(s.state.LeaderEpoch)+1)))
	case "produce":
		return s.produce(int(num("n", 1)), a["acks"] != "1", time.Duration(num("timeout", 30000))*time.Millisecond, a)
	case "fetch":
		r := s.replica(int32(num("replica", 0)))
		_, lost := a["lost-response"]
		return s.fetch(r, int(num("max", 1000)), lost)
	case "restart":
		// A follower restarts: it keeps its log (no truncation to its high watermark, the
		// pre-KIP-101 mistake) and finds its divergence point from the leader again.
		r := s.replica(int32(num("replica", 0)))
		r.truncating = true
		return fmt.Sprintf("replica %d leo=%d hw=%d", r.id, r.leo(), r.hw)
	case "catchup":
		var lines []string
		for round := 0; round < 100; round++ {
			progress := false
			for _, r := range s.replicas {
				if r.down || s.leader == nil || r.id == s.leader.ID() {
					continue
				}
				before, hw := r.leo(), s.leader.HighWatermark()
				out := s.fetch(r, 1000, false)
				if out != "nothing" {
					lines = append(lines, out)
				}
				if r.leo() != before || s.leader.HighWatermark() != hw || r.hw != hw {
					progress = true
				}
			}
			if !progress {
				break
			}
		}
		return strings.Join(append(lines, "idle"), "\n")
	case "tick":
		s.now = s.now.Add(time.Duration(num("ms", 0)) * time.Millisecond)
		if s.leader == nil {
			return fmt.Sprintf("t=%d", s.ms())
		}
		return strings.Join(append([]string{fmt.Sprintf("t=%d", s.ms())}, s.ready(s.leader.Tick(s.now))...), "\n")
	case "alter-isr":
		return s.alterISR(f[1] == "commit")
	case "down", "up":
		s.replica(int32(num("replica", 0))).down = f[0] == "down"
		return "ok"
	case "write":
		r := s.replica(int32(num("replica", 0)))
		for i := 0; i < int(num("n", 1)); i++ {
			r.append(int32(num("epoch", 0)))
		}
		return fmt.Sprintf("replica %d leo=%d", r.id, r.leo())
	case "lose":
		r := s.replica(int32(num("replica", 0)))
		r.truncate(num("keep", 0))
		return fmt.Sprintf("replica %d leo=%d", r.id, r.leo())
	case "state":
		return s.dump()
	}
	s.t.Fatalf("unknown command %q", line)
	return ""
}

func ids(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, int32(n))
		}
	}
	return out
}

func (s *sim) elect(id int32, isr []int32, epoch int32) string {
	var lines []string
	if s.leader != nil {
		lines = append(lines, s.ready(s.leader.Resign())...)
	}
	r := s.replica(id)
	s.state = PartitionState{Leader: id, LeaderEpoch: epoch, PartitionEpoch: s.state.PartitionEpoch + 1, Replicas: s.state.Replicas, ISR: isr}
	// Kafka's new leader records the epoch's start at its log end before serving.
	if len(r.epochs) == 0 || r.epochs[len(r.epochs)-1].Epoch < epoch {
		r.epochs = append(r.epochs, engine.EpochEntry{Epoch: epoch, StartOffset: r.leo()})
	}
	l, err := NewLeader(s.cfg, s.state, r.leo(), r.hw, s.now)
	if err != nil {
		return "error: " + err.Error()
	}
	s.leader, s.lastHW = l, r.hw
	r.truncating = false
	for _, o := range s.replicas {
		if o.id != id {
			o.truncating = true
		}
	}
	lines = append(lines, fmt.Sprintf("leader %d epoch %d partition-epoch %d isr %v epoch-start %d hw %d", id, epoch, s.state.PartitionEpoch, isr, l.EpochStartOffset(), l.HighWatermark()))
	var lost []int64
	for o := range s.acked {
		if o >= r.leo() {
			lost = append(lost, o)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		lines = append(lines, fmt.Sprintf("LOST acknowledged offsets %d-%d (the new leader does not have them)", lost[0], lost[len(lost)-1]))
	}
	return strings.Join(lines, "\n")
}

func (s *sim) produce(n int, all bool, timeout time.Duration, a map[string]string) string {
	if s.leader == nil {
		return "error: no leader"
	}
	acks := int16(1)
	if all {
		acks = -1
	}
	if err := s.leader.CheckAppend(acks); err != nil {
		return "refused: " + errName(err)
	}
	r := s.replica(s.leader.ID())
	base := r.leo()
	for i := 0; i < n; i++ {
		r.append(s.leader.LeaderEpoch())
	}
	lines := []string{fmt.Sprintf("offsets %d-%d", base, r.leo()-1)}
	lines = append(lines, s.ready(s.leader.Appended(r.leo(), s.now))...)
	if all {
		s.nextID++
		id := s.nextID
		s.waiting[id] = r.leo()
		res := s.ready(s.leader.Wait(id, r.leo(), s.now.Add(timeout), s.now))
		if len(res) == 0 {
			res = []string{fmt.Sprintf("produce %d waits for hw %d", id, r.leo())}
		}
		lines = append(lines, res...)
	}
	return strings.Join(lines, "\n")
}

// fetch runs one follower round: the truncation steps if the replica has not truncated since
// the leader change, then one fetch, whose response may be lost (the leader saw the fetch,
// the follower never sees the answer).
func (s *sim) fetch(r *simReplica, maxRecords int, lost bool) string {
	if s.leader == nil {
		return "error: no leader"
	}
	if r.down {
		return fmt.Sprintf("replica %d is down", r.id)
	}
	ldr := s.replica(s.leader.ID())
	var lines []string
	for step := 0; r.truncating; step++ {
		if step > 10 {
			s.t.Fatalf("replica %d: truncation does not converge:\n%s\nleader epochs %v leo %d; follower epochs %v leo %d", r.id, strings.Join(lines, "\n"), ldr.epochs, ldr.leo(), r.epochs, r.leo())
		}
		asked := LatestEpoch(r.epochs)
		answer := engine.EpochEndOffset{Epoch: engine.UndefinedEpoch, EndOffset: engine.UndefinedOffset}
		if asked != engine.UndefinedEpoch {
			answer = engine.EndOffsetForEpoch(ldr.epochs, asked, ldr.leo())
		}
		d := DecideTruncation(r.epochs, r.leo(), r.hw, answer)
		note := ""
		if d.Offset < r.hw {
			note = fmt.Sprintf(" (below hw %d: unclean)", r.hw)
		}
		if asked == engine.UndefinedEpoch {
			lines = append(lines, fmt.Sprintf("replica %d: no epochs, truncate to hw %d%s", r.id, d.Offset, note))
		} else {
			lines = append(lines, fmt.Sprintf("replica %d: asks epoch %d, leader answers %d@%d, truncate to %d done=%v%s", r.id, asked, answer.Epoch, answer.EndOffset, d.Offset, d.Done, note))
		}
		r.truncate(d.Offset)
		r.truncating = !d.Done
	}
	rd, err := s.leader.FollowerFetch(r.id, r.leo(), s.now)
	if err != nil {
		return strings.Join(append(lines, fmt.Sprintf("replica %d fetch at %d: %s", r.id, r.leo(), errName(err))), "\n")
	}
	if lost {
		return strings.Join(append(append(lines, "response lost"), s.ready(rd)...), "\n")
	}
	from := r.leo()
	for r.leo() < ldr.leo() && int(r.leo()-from) < maxRecords {
		r.append(ldr.records[r.leo()])
	}
	r.hw = max(r.hw, min(rd.HighWatermark, r.leo()))
	if r.leo() > from {
		lines = append(lines, fmt.Sprintf("replica %d fetched %d-%d hw=%d", r.id, from, r.leo()-1, r.hw))
	}
	lines = append(lines, s.ready(rd)...)
	if len(lines) == 0 {
		return "nothing"
	}
	return strings.Join(lines, "\n")
}

func (s *sim) alterISR(commit bool) string {
	p := s.leader.Pending()
	if p == nil {
		return "nothing in flight"
	}
	if !commit {
		s.leader.ChangeFailed()
		return fmt.Sprintf("rejected isr %v", p.ISR)
	}
	// The controller's check (metadata FSM): the proposal must be based on the current epochs.
	if p.LeaderEpoch != s.state.LeaderEpoch || p.PartitionEpoch != s.state.PartitionEpoch {
		s.leader.ChangeFailed()
		return "rejected: stale partition epoch"
	}
	s.state.ISR = slices.Clone(p.ISR)
	s.state.PartitionEpoch++
	rd, err := s.leader.ApplyState(s.state, s.now)
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.Join(append([]string{fmt.Sprintf("committed isr %v partition-epoch %d", p.ISR, s.state.PartitionEpoch)}, s.ready(rd)...), "\n")
}

// ready applies a Ready to the simulated leader log and renders it.
func (s *sim) ready(rd Ready) []string {
	var lines []string
	if rd.HWAdvanced {
		s.replica(s.leader.ID()).hw = rd.HighWatermark
		lines = append(lines, fmt.Sprintf("hw -> %d", rd.HighWatermark))
	}
	for _, c := range rd.Completed {
		off := s.waiting[c.ID]
		delete(s.waiting, c.ID)
		if c.Err == nil || errors.Is(c.Err, ErrNotEnoughReplicasAfterAppend) {
			for o := int64(0); o < off; o++ {
				s.acked[o] = true
			}
		}
		if c.Err == nil {
			lines = append(lines, fmt.Sprintf("produce %d acknowledged", c.ID))
		} else {
			lines = append(lines, fmt.Sprintf("produce %d answered %s", c.ID, errName(c.Err)))
		}
	}
	if rd.Propose != nil {
		lines = append(lines, fmt.Sprintf("propose isr %v (partition-epoch %d)", rd.Propose.ISR, rd.Propose.PartitionEpoch))
	}
	return lines
}

// checkInvariants checks what must hold after every command.
func (s *sim) checkInvariants() error {
	if s.leader == nil {
		return nil
	}
	ldr := s.replica(s.leader.ID())
	hw := s.leader.HighWatermark()
	if hw < s.lastHW {
		return fmt.Errorf("leader hw went back from %d to %d", s.lastHW, hw)
	}
	s.lastHW = hw
	if hw > ldr.leo() {
		return fmt.Errorf("hw %d beyond leader leo %d", hw, ldr.leo())
	}
	for _, id := range s.leader.MaximalISR() {
		// A follower that has not fetched under this leader (-1) holds the HW where the
		// election left it; one that has must have everything below the HW.
		if leo := s.leader.FollowerLEO(id); id != s.leader.ID() && leo >= 0 && leo < hw {
			return fmt.Errorf("hw %d beyond ISR member %d's leo %d", hw, id, leo)
		}
	}
	for _, r := range s.replicas {
		if r.hw > r.leo() {
			return fmt.Errorf("replica %d hw %d beyond leo %d", r.id, r.hw, r.leo())
		}
	}
	return nil
}

func (s *sim) dump() string {
	var lines []string
	if l := s.leader; l != nil {
		pending := "none"
		if p := l.Pending(); p != nil {
			pending = fmt.Sprint(p.ISR)
		}
		lines = append(lines, fmt.Sprintf("t=%d leader=%d epoch=%d partition-epoch=%d isr=%v pending=%s hw=%d leo=%d waiting=%d",
			s.ms(), l.ID(), l.LeaderEpoch(), l.PartitionEpoch(), l.ISR(), pending, l.HighWatermark(), l.LogEndOffset(), l.Waiting()))
	}
	for _, r := range s.replicas {
		var eps []string
		for _, e := range r.epochs {
			eps = append(eps, fmt.Sprintf("%d@%d", e.Epoch, e.StartOffset))
		}
		var recs []string
		for _, e := range r.records {
			recs = append(recs, strconv.Itoa(int(e)))
		}
		line := fmt.Sprintf("replica %d: leo=%d hw=%d epochs=[%s] log=[%s]", r.id, r.leo(), r.hw, strings.Join(eps, " "), strings.Join(recs, " "))
		if s.leader != nil && r.id != s.leader.ID() {
			line += fmt.Sprintf(" leader-view: leo=%d", s.leader.FollowerLEO(r.id))
			if cu := s.leader.FollowerCaughtUp(r.id); !cu.IsZero() {
				line += fmt.Sprintf(" caught-up=%d", cu.Sub(epoch0).Milliseconds())
			}
		}
		if r.down {
			line += " down"
		}
		lines = append(lines, line)
	}
	var acked []int64
	for o := range s.acked {
		acked = append(acked, o)
	}
	slices.Sort(acked)
	if len(acked) > 0 {
		lines = append(lines, fmt.Sprintf("acknowledged offsets: %d-%d", acked[0], acked[len(acked)-1]))
	}
	return strings.Join(lines, "\n")
}

func errName(err error) string {
	for _, e := range []struct {
		err  error
		name string
	}{
		{ErrNotEnoughReplicasAfterAppend, "NOT_ENOUGH_REPLICAS_AFTER_APPEND"},
		{ErrNotEnoughReplicas, "NOT_ENOUGH_REPLICAS"},
		{ErrNotLeader, "NOT_LEADER_OR_FOLLOWER"},
		{ErrTimedOut, "REQUEST_TIMED_OUT"},
		{ErrOffsetOutOfRange, "OFFSET_OUT_OF_RANGE"},
		{ErrUnknownReplica, "UNKNOWN_REPLICA"},
	} {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return err.Error()
}
