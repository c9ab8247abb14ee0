package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/logd/logd/internal/vfs"
)

// TestCleanupPolicyConfig: cleanup.policy's values and the compaction settings' ranges, and
// retention applying to delete and compact,delete logs only.
func TestCleanupPolicyConfig(t *testing.T) {
	for v, want := range map[string]CleanupPolicy{
		"delete": CleanupDelete, "compact": CleanupCompact, "compact,delete": CleanupCompact | CleanupDelete,
		" delete , compact ": CleanupCompact | CleanupDelete,
	} {
		got, err := ParseCleanupPolicy(v)
		if err != nil || got != want {
			t.Fatalf("%q: %v %v, want %v", v, got, err, want)
		}
		if again, _ := ParseCleanupPolicy(got.String()); again != got {
			t.Fatalf("%q renders as %q", v, got.String())
		}
	}
	for _, v := range []string{"", ",", "shred", "compact,shred"} {
		if _, err := ParseCleanupPolicy(v); err == nil || !strings.Contains(err.Error(), "cleanup.policy") {
			t.Fatalf("%q: %v", v, err)
		}
	}
	for name, mod := range map[string]func(*LogConfig){
		"min.cleanable.dirty.ratio": func(c *LogConfig) { c.MinCleanableDirtyRatio = 1.5 },
		"min.compaction.lag.ms":     func(c *LogConfig) { c.MinCompactionLag = -time.Millisecond },
		"max.compaction.lag.ms":     func(c *LogConfig) { c.MaxCompactionLag = 0 },
		"delete.retention.ms":       func(c *LogConfig) { c.DeleteRetention = -time.Millisecond },
	} {
		c := DefaultLogConfig
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Fatalf("%s: %v", name, err)
		}
	}

	for policy, wantDeleted := range map[CleanupPolicy]bool{CleanupCompact: false, CleanupCompact | CleanupDelete: true, CleanupDelete: true} {
		env := newTestEnv(t, vfs.NewMemFS(), "/data")
		cfg := compactConfig(300)
		cfg.CleanupPolicy, cfg.RetentionBytes = policy, 1
		l := env.log(tp0, cfg)
		for i := 0; i < 10; i++ {
			if _, err := l.Append(keyedBatch(0, 1, producerOpts{}, kv{key: "k", value: []byte(strings.Repeat("v", 100))}), AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := l.ApplyRetention()
		if err != nil || (n > 0) != wantDeleted {
			t.Fatalf("cleanup.policy=%v: retention deleted %d segments (%v)", policy, n, err)
		}
		env.close()
	}
}

// TestCleanedLogReplicates copies a cleaned leader log into a follower's as replication does
// (KeepOffsets appends of what the leader's Read returns): offset gaps and emptied batches are
// accepted, and the follower ends at the leader's end offset with the same records.
func TestCleanedLogReplicates(t *testing.T) {
	env, leader := crashTestLog(t, vfs.NewMemFS())
	if _, err := env.e.Clean(tp0); err != nil {
		t.Fatal(err)
	}
	want, _ := readRecords(t, leader)
	follower := env.log(TopicPartition{Topic: "follower", Partition: 0}, compactConfig(600))
	for next := leader.LogStartOffset(); next < leader.LogEndOffset(); {
		r, err := leader.Read(next, 1000, leader.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, r.Len)
		r.File.ReadAt(buf, r.Pos)
		r.Release()
		res, err := follower.Append(buf, AppendOptions{KeepOffsets: true, SkipProducerChecks: true})
		if err != nil {
			t.Fatalf("replica append at %d: %v", next, err)
		}
		next = res.LastOffset + 1
	}
	got, _ := readRecords(t, follower)
	if follower.LogEndOffset() != leader.LogEndOffset() || len(got) != len(want) {
		t.Fatalf("follower ends at %d with %d records, leader at %d with %d", follower.LogEndOffset(), len(got), leader.LogEndOffset(), len(want))
	}
	for i := range got {
		if got[i].offset != want[i].offset || got[i].key != want[i].key || string(got[i].value) != string(want[i].value) {
			t.Fatalf("record %d: follower %+v, leader %+v", i, got[i], want[i])
		}
	}
	env.close()
}

// TestCleanDirtiest: cleaner rounds pick compacted logs at or over min.cleanable.dirty.ratio
// (a log never cleaned is all dirty: ratio 1), never a delete log, and stop once every log is
// under its ratio; where each clean ended goes to the cleaner-offset-checkpoint.
func TestCleanDirtiest(t *testing.T) {
	fs := vfs.NewMemFS()
	env := newTestEnv(t, fs, "/data")
	strict := compactConfig(300)
	strict.MinCleanableDirtyRatio = 0.9
	deleting := compactConfig(300)
	deleting.CleanupPolicy = CleanupDelete
	logs := map[string]*Log{
		"a":        env.log(TopicPartition{Topic: "a"}, compactConfig(300)),
		"strict":   env.log(TopicPartition{Topic: "strict"}, strict),
		"deleting": env.log(TopicPartition{Topic: "deleting"}, deleting),
	}
	appendN := func(l *Log, n int) {
		for i := 0; i < n; i++ {
			if _, err := l.Append(keyedBatch(0, 1, producerOpts{}, kv{key: "k" + strings.Repeat("x", i%3), value: []byte(strings.Repeat("v", 50))}), AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range logs {
		appendN(l, 20)
	}
	deletingSize := logs["deleting"].Size()
	rounds := 0
	for ; rounds < 5; rounds++ {
		cleaned, err := env.e.CleanDirtiest()
		if err != nil {
			t.Fatal(err)
		}
		if !cleaned {
			break
		}
	}
	if rounds != 2 || logs["deleting"].Size() != deletingSize {
		t.Fatalf("%d rounds cleaned (want the two compacted logs), delete log %d bytes (was %d)", rounds, logs["deleting"].Size(), deletingSize)
	}
	// A little new data: "a" (ratio 0) is dirty enough again, "strict" (0.9) is not.
	appendN(logs["a"], 3)
	appendN(logs["strict"], 3)
	if cleaned, err := env.e.CleanDirtiest(); !cleaned || err != nil {
		t.Fatalf("a's new dirt: %v %v", cleaned, err)
	}
	if cleaned, err := env.e.CleanDirtiest(); cleaned || err != nil {
		t.Fatalf("strict cleaned under its ratio: %v %v", cleaned, err)
	}
	ckpt, err := readOffsetCheckpoint(fs, "/data", cleanerOffsetFile)
	if err != nil || len(ckpt) != 2 || ckpt[TopicPartition{Topic: "a"}] == 0 {
		t.Fatalf("cleaner-offset-checkpoint %v %v", ckpt, err)
	}
	env.close()
}
