package engine

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden scenario files in testdata/ with the actual output")

// TestScenarios runs the golden-file scenarios in testdata/*.txt. Each case is a command line,
// a "----" line, and the expected output, separated by blank lines. Commands:
//
//	open [segment.bytes=N] [index.interval.bytes=N] [retention.ms=N] [retention.bytes=N]
//	append [records=N] [size=N] [ts=N] [pid=N epoch=N seq=N] [leader-epoch=N] [sync]
//	read offset=N [max=N] [upto=N]
//	state | files | sync | checkpoint | retention | close | reopen
//	truncate offset=N | delete-records offset=N | advance-clock ms=N
//	crash                      power loss: only synced bytes and directory entries survive
//	garbage-tail bytes=N [zero] append junk (or zeros) to the last segment, as a torn write
//	corrupt offset=N           flip a byte inside the batch at offset N
//	remove-index base=N        delete a segment's .index file
//
// Compaction (open also takes cleanup.policy=compact and delete.retention.ms=N):
//
// Lines starting with # before a command are comments.
//
//	put records=k:v,k:-,… [pid=N seq=N] [codec=N] [txn]  one keyed batch; "-" is a tombstone,
//	                           keys take Go escapes (\x00);
//	                           txn: transactional (needs pid)
//	marker pid=N commit|abort  a transaction marker (Log.AppendTxnMarker)
//	clean                      one clean now (Engine.Clean); prints what it did
//	records                    every batch (offsets, count, delete horizon, producer,
//	                           transactional, marker) and record, then the aborted
//	                           transactions and the last stable offset
func TestScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txt")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runScenario(t, file) })
	}
}

type scenario struct {
	t   *testing.T
	fs  *vfs.MemFS
	env *testEnv
	cfg LogConfig
	l   *Log
}

func runScenario(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, fs: vfs.NewMemFS(), cfg: DefaultLogConfig}
	var out strings.Builder
	cases := strings.Split(strings.TrimSpace(string(data)), "\n\n")
	for _, c := range cases {
		cmd, want, _ := strings.Cut(c, "\n----\n")
		cmd = strings.TrimSuffix(cmd, "\n----")
		// Lines starting with # before the command are comments, kept as they are.
		comments := ""
		for strings.HasPrefix(cmd, "#") {
			line, rest, _ := strings.Cut(cmd, "\n")
			comments, cmd = comments+line+"\n", rest
		}
		got := s.run(cmd)
		// What the engine logged while running the command comes first.
		var logged []string
		for _, line := range strings.Split(strings.TrimSpace(s.env.logs.String()), "\n") {
			if line != "" {
				logged = append(logged, logNoise.ReplaceAllString(line, ""))
			}
		}
		s.env.logs.buf.Reset()
		got = strings.Join(append(logged, got), "\n")
		fmt.Fprintf(&out, "%s%s\n----\n%s\n\n", comments, cmd, got)
		if !*rewrite && strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", file, cmd, got, want)
		}
	}
	if *rewrite {
		os.WriteFile(file, []byte(strings.TrimSpace(out.String())+"\n"), 0o644)
	}
}

func args(fields []string) map[string]string {
	m := map[string]string{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func num(m map[string]string, k string, def int64) int64 {
	v, ok := m[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("bad %s=%q", k, v))
	}
	return n
}

var logNoise = regexp.MustCompile(`time=\S+ | took=\S+`)

func (s *scenario) run(line string) string {
	f := strings.Fields(line)
	a := args(f[1:])
	switch f[0] {
	case "open":
		s.cfg.SegmentBytes = num(a, "segment.bytes", s.cfg.SegmentBytes)
		s.cfg.IndexIntervalBytes = int(num(a, "index.interval.bytes", int64(s.cfg.IndexIntervalBytes)))
		if v, ok := a["retention.bytes"]; ok {
			s.cfg.RetentionBytes, _ = strconv.ParseInt(v, 10, 64)
		}
		if _, ok := a["retention.ms"]; ok {
			s.cfg.RetentionMs = msDuration(num(a, "retention.ms", 0))
		}
		if v, ok := a["cleanup.policy"]; ok {
			s.cfg.CleanupPolicy, _ = ParseCleanupPolicy(v)
			s.cfg.MinCleanableDirtyRatio = 0
		}
		if _, ok := a["delete.retention.ms"]; ok {
			s.cfg.DeleteRetention = msDuration(num(a, "delete.retention.ms", 0))
		}
		s.env = newTestEnv(s.t, s.fs, "/data")
		return s.openLog()
	case "reopen":
		s.env.close()
		s.env.open()
		return s.openLog()
	case "close":
		if err := s.env.e.Close(); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "crash":
		crashed := s.fs.CrashClone(nil)
		s.env.e.Close()
		s.fs, s.env.fs = crashed, crashed
		s.env.open()
		return s.openLog()
	case "append":
		o := testbatch.Options{Records: int(num(a, "records", 1)), ValueSize: int(num(a, "size", 16)), BaseTimestamp: num(a, "ts", 0), TimestampStep: 1}
		if _, ok := a["pid"]; ok {
			o.Idempotent, o.ProducerID, o.ProducerEpoch, o.BaseSequence = true, num(a, "pid", 0), int16(num(a, "epoch", 0)), int32(num(a, "seq", 0))
		}
		res, err := s.l.Append(testbatch.Build(o), AppendOptions{LeaderEpoch: int32(num(a, "leader-epoch", 0))})
		if err != nil {
			return "error: " + err.Error()
		}
		if _, ok := a["sync"]; ok {
			if err := s.l.WaitDurable(res.SyncSeq); err != nil {
				return "sync error: " + err.Error()
			}
		}
		if res.Duplicate {
			return fmt.Sprintf("duplicate %d-%d", res.BaseOffset, res.LastOffset)
		}
		return fmt.Sprintf("offsets %d-%d", res.BaseOffset, res.LastOffset)
	case "read":
		r, err := s.l.Read(num(a, "offset", 0), int32(num(a, "max", 1<<20)), num(a, "upto", s.l.HighWatermark()))
		if err != nil {
			return "error: " + err.Error()
		}
		defer r.Release()
		buf := make([]byte, r.Len)
		r.File.ReadAt(buf, r.Pos)
		var parts []string
		for p := 0; p < len(buf); {
			h, err := segment.ValidateBatch(buf[p:])
			if err != nil {
				return "invalid: " + err.Error()
			}
			parts = append(parts, fmt.Sprintf("%d-%d", h.BaseOffset, h.LastOffset()))
			p += h.Size()
		}
		return fmt.Sprintf("pos=%d len=%d batches=[%s]", r.Pos, r.Len, strings.Join(parts, " "))
	case "state":
		segs := []string{}
		for _, h := range s.l.segments() {
			segs = append(segs, strconv.FormatInt(h.base, 10))
		}
		return fmt.Sprintf("start=%d end=%d hw=%d segments=[%s] epoch=%d", s.l.LogStartOffset(), s.l.LogEndOffset(),
			s.l.HighWatermark(), strings.Join(segs, " "), s.l.LatestEpoch())
	case "files":
		names, _ := s.fs.ReadDir("/data/" + tp0.dirName())
		var lines []string
		for _, n := range names {
			fi, _ := s.fs.Stat("/data/" + tp0.dirName() + "/" + n)
			size := fi.Size()
			if strings.HasSuffix(n, "index") && size >= 1<<20 {
				lines = append(lines, n+" (preallocated)")
				continue
			}
			lines = append(lines, fmt.Sprintf("%s %d", n, size))
		}
		sort.Strings(lines)
		return strings.Join(lines, "\n")
	case "sync":
		if err := s.l.Flush(); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "checkpoint":
		if err := s.env.e.Checkpoint(); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "retention":
		n, err := s.l.ApplyRetention()
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("deleted %d segments", n)
	case "truncate":
		if err := s.l.TruncateTo(num(a, "offset", 0)); err != nil {
			return "error: " + err.Error()
		}
		return s.run("state")
	case "delete-records":
		start, err := s.l.DeleteRecordsBefore(num(a, "offset", 0))
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("log start %d", start)
	case "advance-clock":
		s.env.clock.Advance(msDuration(num(a, "ms", 0)))
		return "ok"
	case "garbage-tail", "corrupt", "remove-index":
		return s.damage(f[0], a)
	case "put", "clean", "records", "marker":
		return s.compaction(f[0], a)
	}
	s.t.Fatalf("unknown command %q", line)
	return ""
}

func (s *scenario) openLog() string {
	l, err := s.env.e.OpenLog(tp0, s.cfg, true)
	if err != nil {
		return "error: " + err.Error()
	}
	s.l = l
	return s.run("state")
}

// damage writes to a closed log's files directly, as a disk or a crash would.
func (s *scenario) damage(cmd string, a map[string]string) string {
	dir := "/data/" + tp0.dirName()
	segs := s.l.segments()
	if err := s.env.e.Close(); err != nil {
		return "error: " + err.Error()
	}
	switch cmd {
	case "garbage-tail":
		name := filepath.Join(dir, segment.FileName(segs[len(segs)-1].base, segment.LogSuffix))
		f, _ := s.fs.OpenFile(name, os.O_RDWR, 0)
		size, _ := f.Size()
		junk := make([]byte, num(a, "bytes", 10))
		for i := range junk {
			if _, zero := a["zero"]; !zero {
				junk[i] = byte(i*7 + 3)
			}
		}
		f.WriteAt(junk, size)
		f.Sync()
		f.Close()
	case "corrupt":
		off := num(a, "offset", 0)
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > off }) - 1
		name := filepath.Join(dir, segment.FileName(segs[i].base, segment.LogSuffix))
		f, _ := s.fs.OpenFile(name, os.O_RDWR, 0)
		buf := make([]byte, 1<<20)
		n, _ := f.ReadAt(buf, 0)
		for p := 0; p < n; {
			h, _ := segment.ParseHeader(buf[p:n])
			if h.BaseOffset <= off && off <= h.LastOffset() {
				f.WriteAt([]byte{buf[p+h.Size()-1] ^ 0xff}, int64(p+h.Size()-1))
				break
			}
			p += h.Size()
		}
		f.Sync()
		f.Close()
	case "remove-index":
		s.fs.Remove(filepath.Join(dir, segment.FileName(num(a, "base", 0), segment.IndexSuffix)))
	}
	// Damage found at open is a crash's business: drop the clean-shutdown marker.
	s.fs.Remove("/data/" + cleanShutdownFile)
	s.fs.SyncDir("/data")
	s.env.open()
	return s.openLog()
}

// compaction runs the compaction commands.
func (s *scenario) compaction(cmd string, a map[string]string) string {
	switch cmd {
	case "put":
		var recs []kv
		for _, r := range strings.Split(a["records"], ",") {
			k, v, _ := strings.Cut(r, ":")
			if uk, err := strconv.Unquote(`"` + k + `"`); err == nil {
				k = uk // escapes such as \x00
			}
			rec := kv{key: k}
			if v != "-" {
				rec.value = []byte(v)
			}
			recs = append(recs, rec)
		}
		var p producerOpts
		if _, ok := a["pid"]; ok {
			p = producerOpts{id: num(a, "pid", 0), seq: int32(num(a, "seq", 0))}
		}
		b := keyedBatch(int(num(a, "codec", 0)), s.env.clock.Now().UnixMilli(), p, recs...)
		if _, ok := a["txn"]; ok {
			b = transactional(b)
		}
		res, err := s.l.Append(b, AppendOptions{})
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("offsets %d-%d", res.BaseOffset, res.LastOffset)
	case "marker":
		_, commit := a["commit"]
		res, err := s.l.AppendTxnMarker(TxnMarker{ProducerID: num(a, "pid", 0), Commit: commit}, 0)
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("offset %d", res.BaseOffset)
	case "clean":
		st, err := s.env.e.Clean(tp0)
		if err != nil {
			return "error: " + err.Error()
		}
		return fmt.Sprintf("segments %d->%d clean-to=%d kept=%d gone=%d emptied=%d", st.SegmentsIn, st.SegmentsOut,
			st.EndOffset, st.RecordsKept, st.RecordsGone, st.BatchesEmpied)
	}
	recs, hs := readRecords(s.t, s.l)
	var lines []string
	for _, h := range hs {
		line := fmt.Sprintf("batch %d-%d count=%d", h.BaseOffset, h.LastOffset(), h.RecordCount)
		if h.Attributes&segment.AttrDeleteHorizon != 0 {
			line += fmt.Sprintf(" delete-horizon=+%dms", h.BaseTimestamp-newTestClock().Now().UnixMilli())
		}
		if h.ProducerID >= 0 {
			line += fmt.Sprintf(" pid=%d seq=%d-%d", h.ProducerID, h.BaseSequence, h.LastSequence())
		}
		if h.Compression() != 0 {
			line += fmt.Sprintf(" codec=%d", h.Compression())
		}
		if h.IsTransactional() {
			line += " txn"
		}
		if h.IsControl() {
			body := make([]byte, h.Size())
			reg, _ := s.l.Read(h.BaseOffset, int32(h.Size()), h.NextOffset())
			reg.File.ReadAt(body, reg.Pos)
			reg.Release()
			switch m, ok, err := parseMarker(&h, body); {
			case err != nil:
				line += " control: " + err.Error()
			case !ok:
				line += " control (no marker)"
			default:
				line += fmt.Sprintf(" marker commit=%v", m.Commit)
			}
			lines = append(lines, line)
			continue
		}
		var rs []string
		for _, r := range recs {
			if r.offset >= h.BaseOffset && r.offset <= h.LastOffset() {
				v := string(r.value)
				if r.value == nil {
					v = "-"
				}
				rs = append(rs, fmt.Sprintf("%s:%s@%d", strings.Trim(strconv.Quote(r.key), `"`), v, r.offset))
			}
		}
		if len(rs) > 0 {
			line += ": " + strings.Join(rs, " ")
		}
		lines = append(lines, line)
	}
	if ab := s.l.AbortedTxns(0, s.l.LogEndOffset()); len(ab) > 0 {
		lines = append(lines, fmt.Sprintf("aborted %v", ab))
	}
	lines = append(lines, fmt.Sprintf("lso %d", s.l.LastStableOffset()))
	return strings.Join(lines, "\n")
}
