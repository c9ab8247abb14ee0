package broker

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/internal/testbatch"
	"github.com/logd/logd/metadata"
)

// Two log directories: partitions spread over both, DescribeLogDirs answers per directory,
// the placement survives a restart, and a directory that vanishes goes offline alone (its
// partitions refuse produce and fetch with KAFKA_STORAGE_ERROR, then lose their leader once
// the controller hears of the directory in a heartbeat).
func TestLogDirsTwoDirectories(t *testing.T) {
	extra := filepath.Join(t.TempDir(), "second")
	modify := func(c *Config) { c.ExtraLogDirs = []string{extra} }
	tb := startBroker(t, modify)
	cs := newClients(t, tb)
	ctx := testCtx(t)
	if _, err := cs.admin().CreateTopic(ctx, 4, 1, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		produceN(t, cs, "spread", p, 3, 100)
	}
	describe := func() kadm.DescribedLogDirs { return describeLogDirs(t, cs) }
	// where maps each partition of "spread" to the directory DescribeLogDirs lists it in.
	where := func(dirs kadm.DescribedLogDirs) map[int32]string {
		t.Helper()
		m := map[int32]string{}
		for _, d := range dirs {
			for p, dp := range d.Topics["spread"] {
				if prev, dup := m[p]; dup {
					t.Fatalf("partition %d listed in %s and %s", p, prev, d.Dir)
				}
				if dp.Size < 300 {
					t.Fatalf("partition %d in %s: size %d, want at least 300", p, d.Dir, dp.Size)
				}
				m[p] = d.Dir
			}
		}
		return m
	}
	dirs := describe()
	if len(dirs) != 2 {
		t.Fatalf("%d log directories described, want 2: %+v", len(dirs), dirs)
	}
	for _, d := range dirs {
		if d.Err != nil || !filepath.IsAbs(d.Dir) || d.TotalBytes <= 0 || d.UsableBytes <= 0 {
			t.Fatalf("dir: %+v", d)
		}
		if n := len(d.Topics["spread"]); n != 2 {
			t.Fatalf("%s holds %d partitions of spread, want 2 (fewest first)", d.Dir, n)
		}
	}
	before := where(dirs)
	if len(before) != 4 {
		t.Fatalf("partitions described: %v", before)
	}

	cs.closeAll()
	tb.stop()
	tb.start(modify)
	after := where(describe())
	for p, d := range before {
		if after[p] != d {
			t.Fatalf("partition %d in %s after restart, was in %s", p, after[p], d)
		}
	}

	// The second directory vanishes: its partitions answer KAFKA_STORAGE_ERROR, the first
	// directory's keep taking records, and DescribeLogDirs reports it offline.
	absExtra, _ := filepath.Abs(extra)
	if err := os.RemoveAll(extra); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for tb.b.Engine().OfflineCount() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the removed directory never went offline")
		}
		time.Sleep(20 * time.Millisecond)
	}
	records := testbatch.Build(testbatch.Options{Records: 1, ValueSize: 10})
	rc := dialDP(t, tb)
	for p, d := range after {
		resp := rc.request(produceReqDP(9, -1, "spread", p, records))
		// The broker answers KAFKA_STORAGE_ERROR until the controller, told in its next
		// heartbeat (KIP-858), takes the leadership away: NOT_LEADER_OR_FOLLOWER then.
		ok := func(code int16) bool { return code == 0 }
		if d == absExtra {
			ok = func(code int16) bool {
				return code == kerr.KafkaStorageError.Code || code == kerr.NotLeaderForPartition.Code
			}
		}
		if got := producePartDP(t, resp).ErrorCode; !ok(got) {
			t.Fatalf("produce to partition %d in %s: error %d", p, d, got)
		}
		fetch := fetchReqDP(12, "spread", [16]byte{}, p, 0)
		if got := fetchPartDP(t, rc.request(fetch)).ErrorCode; !ok(got) {
			t.Fatalf("fetch from partition %d in %s: error %d", p, d, got)
		}
	}
	// The controller heard of the failed directory: its partitions (a single replica each)
	// have no leader, the others keep theirs.
	deadline = time.Now().Add(30 * time.Second)
	for p, d := range after {
		for {
			pa, _ := tb.b.cluster.Partition("spread", p)
			if (pa.Leader == metadata.NoLeader) == (d == absExtra) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d in %s: leader %d", p, d, pa.Leader)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, d := range describe() {
		offline := d.Dir == absExtra
		if offline != (d.Err == kerr.KafkaStorageError) {
			t.Fatalf("dir %s: error %v", d.Dir, d.Err)
		}
	}
}

// describeLogDirs answers DescribeLogDirs for every partition of broker 1.
func describeLogDirs(t *testing.T, cs *clients) kadm.DescribedLogDirs {
	t.Helper()
	dirs, err := cs.admin().DescribeBrokerLogDirs(testCtx(t), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}
