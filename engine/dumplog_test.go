package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/internal/vfs"
	"github.com/logd/logd/segment"
)

// TestKafkaDumpLog has Apache Kafka's own kafka-dump-log (org.apache.kafka.tools.DumpLogSegments) read
// the segments and indexes logd wrote: every batch must be listed valid at its offset, the
// index sanity check must pass, and the index entries must match the log. It runs when
// LOGD_KAFKA_CLASSPATH points at Kafka's jars (`make dumplog-check` fetches them).
func TestKafkaDumpLog(t *testing.T) {
	cp := kafkaClasspath(t)
	dir := t.TempDir()
	env := newTestEnv(t, vfs.Default, dir)
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 64 << 10
	cfg.IndexIntervalBytes = 1024
	l := env.log(tp0, cfg)
	type want struct{ base, last int64 }
	var wants []want
	seq := int32(0)
	for i := 0; i < 300; i++ {
		o := testbatch.Options{Records: 1 + i%7, ValueSize: 50 + i%400, BaseTimestamp: 1_700_000_000_000 + int64(i)*10, TimestampStep: 1, Key: []byte("k" + strconv.Itoa(i%5))}
		if i%3 == 0 {
			o.Idempotent, o.ProducerID, o.ProducerEpoch, o.BaseSequence = true, 4242, 1, seq
			seq += int32(o.Records)
		}
		res, err := l.Append(testbatch.Build(o), AppendOptions{LeaderEpoch: int32(i / 100)})
		if err != nil {
			t.Fatal(err)
		}
		wants = append(wants, want{res.BaseOffset, res.LastOffset})
	}
	if l.Segments() < 3 {
		t.Fatalf("want several segments, have %d", l.Segments())
	}
	env.close()

	files, run := dumpLogTool(t, cp, dir)

	out := run("--files", strings.Join(files, ","), "--deep-iteration")
	batchLine := regexp.MustCompile(`baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .*producerId: (-?\d+) producerEpoch: (-?\d+) .*isTransactional: false .*isvalid: true`)
	got := batchLine.FindAllStringSubmatch(out, -1)
	if len(got) != len(wants) {
		t.Fatalf("kafka-dump-log listed %d valid batches, want %d\n%s", len(got), len(wants), tail(out))
	}
	for i, m := range got {
		base, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		if base != wants[i].base || last != wants[i].last {
			t.Fatalf("batch %d: kafka-dump-log says %d-%d, logd wrote %d-%d", i, base, last, wants[i].base, wants[i].last)
		}
		if i%3 == 0 && m[4] != "4242" {
			t.Fatalf("batch %d: producer id %s", i, m[4])
		}
	}
	for _, bad := range []string{"Mismatches", "mismatch", "isvalid: false", "Exception", "corrupt"} {
		if strings.Contains(out, bad) {
			t.Fatalf("kafka-dump-log reported %q:\n%s", bad, tail(out))
		}
	}
	if !strings.Contains(out, "offset: ") || !strings.Contains(out, "position: ") {
		t.Fatalf("no index entries dumped:\n%s", tail(out))
	}

	out = run("--files", strings.Join(files, ","), "--index-sanity-check")
	if n := strings.Count(out, "passed sanity check"); n != len(files)-len(files)/3 {
		t.Fatalf("%d index files passed the sanity check, want %d:\n%s", n, len(files)-len(files)/3, tail(out))
	}
	out = run("--files", strings.Join(files, ","), "--verify-index-only")
	for _, bad := range []string{"Mismatches", "Exception", "corrupt"} {
		if strings.Contains(out, bad) {
			t.Fatalf("--verify-index-only reported %q:\n%s", bad, tail(out))
		}
	}
	t.Logf("kafka-dump-log read %d batches in %d segments; %d indexes passed", len(got), len(files)/3, len(files)-len(files)/3)
}

// kafkaClasspath returns LOGD_KAFKA_CLASSPATH, skipping the test without it.
func kafkaClasspath(t *testing.T) string {
	cp := os.Getenv("LOGD_KAFKA_CLASSPATH")
	if cp == "" {
		t.Skip("LOGD_KAFKA_CLASSPATH not set: run `make dumplog-check`")
	}
	return cp
}

// dumpLogTool lists tp0's segment files in the log directory dir (logs, then indexes, then
// time indexes) and returns a runner of Kafka's DumpLogSegments with the classpath cp.
func dumpLogTool(t *testing.T, cp, dir string) ([]string, func(args ...string) string) {
	pdir := filepath.Join(dir, tp0.dirName())
	var files []string
	for _, suffix := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
		m, _ := filepath.Glob(filepath.Join(pdir, "*"+suffix))
		files = append(files, m...)
	}
	return files, func(args ...string) string {
		t.Helper()
		out, err := exec.Command("java", append([]string{"-cp", cp, "org.apache.kafka.tools.DumpLogSegments"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-dump-log %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// TestKafkaDumpLogCleaned has kafka-dump-log read a compacted log after the cleaner rewrote
// it: re-encoded batches (all five codecs, tombstones with their KIP-534 delete horizon),
// emptied batches, merged segments and rebuilt indexes must all be valid to Kafka, at the
// offsets logd lists.
func TestKafkaDumpLogCleaned(t *testing.T) {
	cp := kafkaClasspath(t)
	dir := t.TempDir()
	env := newTestEnv(t, vfs.Default, dir)
	l := env.log(tp0, compactConfig(4096))
	seq := int32(0)
	for i := 0; i < 400; i++ {
		if i == 300 {
			// A first clean; the second, below, merges the segments it shrank.
			if _, err := env.e.Clean(tp0); err != nil {
				t.Fatal(err)
			}
		}
		recs := []kv{{key: "k" + strconv.Itoa(i%23), value: []byte(strings.Repeat("v", 20+i%50))}, {key: "k" + strconv.Itoa(i%31), value: []byte("x")}}
		if i%9 == 0 {
			recs[1].value = nil
		}
		var p producerOpts
		if i%4 == 0 {
			p = producerOpts{id: 77, seq: seq}
			seq += 2
		}
		if _, err := l.Append(keyedBatch(cleanCodecs[i%len(cleanCodecs)], 1_700_000_000_000+int64(i), p, recs...), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Producer 77's last batch (i = 396) loses both its records to a later batch, yet stays as
	// an empty batch (the producer's sequence must survive); filler batches with keys of their
	// own then roll that later batch out of the active segment, so the clean reaches it.
	superseding := []kv{{key: "k" + strconv.Itoa(396%23), value: []byte("last")}, {key: "k" + strconv.Itoa(396%31), value: []byte("last")}}
	if _, err := l.Append(keyedBatch(cleanCodecs[0], 1_700_000_000_400, producerOpts{}, superseding...), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	for j := 0; j < 60; j++ {
		filler := kv{key: "f" + strconv.Itoa(j), value: []byte(strings.Repeat("f", 60))}
		if _, err := l.Append(keyedBatch(cleanCodecs[0], 1_700_000_000_401+int64(j), producerOpts{}, filler), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := env.e.Clean(tp0)
	if err != nil || st.SegmentsOut >= st.SegmentsIn || st.BatchesEmpied == 0 {
		t.Fatalf("clean: %+v %v", st, err)
	}
	_, hs := readRecords(t, l)
	env.close()

	files, run := dumpLogTool(t, cp, dir)
	out := run("--files", strings.Join(files, ","), "--deep-iteration")
	batchLine := regexp.MustCompile(`baseOffset: (\d+) lastOffset: (\d+) count: (\d+) .*isvalid: true`)
	got := batchLine.FindAllStringSubmatch(out, -1)
	if len(got) != len(hs) {
		t.Fatalf("kafka-dump-log listed %d valid batches, logd reads %d\n%s", len(got), len(hs), tail(out))
	}
	for i, m := range got {
		base, _ := strconv.ParseInt(m[1], 10, 64)
		last, _ := strconv.ParseInt(m[2], 10, 64)
		count, _ := strconv.Atoi(m[3])
		if base != hs[i].BaseOffset || last != hs[i].LastOffset() || count != int(hs[i].RecordCount) {
			t.Fatalf("batch %d: kafka-dump-log says %d-%d count %d, logd wrote %d-%d count %d", i, base, last, count, hs[i].BaseOffset, hs[i].LastOffset(), hs[i].RecordCount)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		for _, bad := range []string{"Mismatches", "mismatch", "isvalid: false", "Exception", "corrupt"} {
			if strings.Contains(line, bad) {
				t.Fatalf("kafka-dump-log reported %q on the cleaned log: %s", bad, line)
			}
		}
	}
	out = run("--files", strings.Join(files, ","), "--index-sanity-check")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "index") && !strings.HasPrefix(line, "Dumping") && !strings.Contains(line, "passed sanity check") && !strings.Contains(line, "is empty") {
			t.Fatalf("index sanity check: %s\n%s", line, tail(out))
		}
	}
	t.Logf("kafka-dump-log read %d cleaned batches (%d segments in, %d out, %d emptied) in %d segments", len(got), st.SegmentsIn, st.SegmentsOut, st.BatchesEmpied, len(files)/3)
}

// TestKafkaDumpLogTxn has kafka-dump-log read a log with transactions: transactional batches,
// COMMIT and ABORT markers (Kafka's control record schemas) and the .txnindex files of the
// aborted transactions, entry for entry.
func TestKafkaDumpLogTxn(t *testing.T) {
	cp := kafkaClasspath(t)
	dir := t.TempDir()
	env := newTestEnv(t, vfs.Default, dir)
	cfg := DefaultLogConfig
	cfg.SegmentBytes = 1024
	l := env.log(tp0, cfg)
	markers := map[int64]string{}
	for i := 0; i < 40; i++ {
		pid := int64(100 + i%3)
		_, err := l.Append(txnBatch(pid, int32(i/3), 1_700_000_000_000+int64(i), kv{"k", []byte(strings.Repeat("v", 60))}), AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i%3 == 2 {
			for p := int64(100); p < 103; p++ {
				commit := (i/3+int(p))%2 == 0
				m, err := l.AppendTxnMarker(TxnMarker{ProducerID: p, CoordinatorEpoch: 7, Commit: commit}, 0)
				if err != nil {
					t.Fatal(err)
				}
				markers[m.BaseOffset] = map[bool]string{true: "COMMIT", false: "ABORT"}[commit]
			}
		}
	}
	aborted := l.AbortedTxns(0, l.LogEndOffset())
	if len(aborted) == 0 || l.Segments() < 3 {
		t.Fatalf("%d aborted transactions in %d segments: want several of each", len(aborted), l.Segments())
	}
	env.close()

	files, run := dumpLogTool(t, cp, dir)
	out := run("--files", strings.Join(files, ","), "--deep-iteration")
	markerLine := regexp.MustCompile(`offset: (\d+) .*endTxnMarker: (COMMIT|ABORT) coordinatorEpoch: 7`)
	got := markerLine.FindAllStringSubmatch(out, -1)
	if len(got) != len(markers) {
		t.Fatalf("kafka-dump-log listed %d markers, logd wrote %d\n%s", len(got), len(markers), tail(out))
	}
	for _, m := range got {
		off, _ := strconv.ParseInt(m[1], 10, 64)
		if markers[off] != m[2] {
			t.Fatalf("kafka-dump-log: %s at %d, logd wrote %q there", m[2], off, markers[off])
		}
	}
	if strings.Contains(out, "isvalid: false") || strings.Contains(out, "Exception") {
		t.Fatalf("kafka-dump-log refused the log:\n%s", tail(out))
	}
	txnFiles, _ := filepath.Glob(filepath.Join(dir, tp0.dirName(), "*"+segment.TxnIndexSuffix))
	out = run("--files", strings.Join(txnFiles, ","))
	entry := regexp.MustCompile(`version: 0 producerId: (\d+) firstOffset: (\d+) lastOffset: (\d+) lastStableOffset: (\d+)`)
	ents := entry.FindAllStringSubmatch(out, -1)
	if len(ents) != len(aborted) {
		t.Fatalf("kafka-dump-log listed %d aborted transactions, logd wrote %d\n%s", len(ents), len(aborted), tail(out))
	}
	for i, m := range ents {
		pid, _ := strconv.ParseInt(m[1], 10, 64)
		first, _ := strconv.ParseInt(m[2], 10, 64)
		last, _ := strconv.ParseInt(m[3], 10, 64)
		lso, _ := strconv.ParseInt(m[4], 10, 64)
		if (AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: last, LastStableOffset: lso}) != aborted[i] {
			t.Fatalf("entry %d: kafka-dump-log reads %v, logd wrote %+v", i, m[1:], aborted[i])
		}
	}
	t.Logf("kafka-dump-log read %d markers and %d aborted transactions in %d .txnindex files", len(got), len(ents), len(txnFiles))
}
