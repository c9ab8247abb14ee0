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
