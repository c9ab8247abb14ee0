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
	cp := os.Getenv("LOGD_KAFKA_CLASSPATH")
	if cp == "" {
		t.Skip("LOGD_KAFKA_CLASSPATH not set: run `make dumplog-check`")
	}
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

	pdir := filepath.Join(dir, tp0.dirName())
	var files []string
	for _, suffix := range []string{segment.LogSuffix, segment.IndexSuffix, segment.TimeIndexSuffix} {
		m, _ := filepath.Glob(filepath.Join(pdir, "*"+suffix))
		files = append(files, m...)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("java", append([]string{"-cp", cp, "org.apache.kafka.tools.DumpLogSegments"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-dump-log %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

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

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
