package engine

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/logd/logd/internal/vfs"
)

// TestCleanKeepsEmptyBatchesOnlyWhereKafkaDoes cleans a log whose segments each end in
// superseded records: only the round's last batch stays empty (no producer here), so the
// cleaned segments end before the next ones begin. A crash right after the clean, before any
// checkpoint of the housekeeping loop, must recover every record the clean kept: the clean
// wrote the recovery-point checkpoint past the segments it rewrote, so recovery does not
// take their boundaries for lost tails.
func TestCleanKeepsEmptyBatchesOnlyWhereKafkaDoes(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	l := env.log(tp0, compactConfig(300))
	ts := env.clock.Now().UnixMilli()
	for i := 0; i < 40; i++ {
		// Every segment holds a few keys; key "hot" is rewritten in every batch, so each
		// segment's batches end superseded.
		recs := []kv{{key: "hot", value: []byte(fmt.Sprint(i))}}
		if i%4 == 0 {
			recs = append([]kv{{key: fmt.Sprintf("k%d", i), value: []byte("v")}}, recs...)
		}
		if _, err := l.Append(keyedBatch(0, ts+int64(i), producerOpts{}, recs...), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if l.Segments() < 6 {
		t.Fatalf("%d segments: the test needs several groups", l.Segments())
	}
	st, err := env.e.Clean(tp0)
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsOut < 3 {
		t.Fatalf("the clean wrote %d segments, the test needs several groups: %+v", st.SegmentsOut, st)
	}
	segs := l.segments()
	roundEnd := segs[len(segs)-1].base // every segment before the active one was cleaned
	want, hs := readRecords(t, l)
	for _, h := range hs {
		if h.RecordCount == 0 && h.NextOffset() != roundEnd {
			t.Errorf("empty batch %d-%d kept; only the round's last (ending at %d) may be", h.BaseOffset, h.LastOffset(), roundEnd)
		}
	}
	if st.BatchesEmpied > 1 {
		t.Errorf("%d batches emptied, at most the round's last may be", st.BatchesEmpied)
	}

	crashed := fs.CrashClone(rand.New(rand.NewSource(1)))
	env.e.Close()
	env = newTestEnv(t, crashed, "/data")
	l = env.log(tp0, compactConfig(300))
	got, _ := readRecords(t, l)
	if !slices.EqualFunc(got, want, func(a, b storedRecord) bool { return a.offset == b.offset && a.key == b.key }) {
		t.Fatalf("after the crash %d records, before %d:\n%v\n%v\n%s", len(got), len(want), got, want, env.logs)
	}
	env.close()
}
