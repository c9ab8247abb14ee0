package broker

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
)

// offsetsCleanerConfig makes __consumer_offsets small-segmented and its cleaner eager.
func offsetsCleanerConfig(c *Config) {
	groupConfig(c)
	cc := engine.DefaultCleanerConfig
	cc.Backoff = 20 * time.Millisecond
	c.Cleaner = &cc
	c.OffsetsTopicSegmentBytes = 4096
	c.OffsetsTopicPartitions = 2
}

// offsetsKeys reads a __consumer_offsets partition from its start to its high watermark with
// a client, as any Kafka tool may, and returns its records' keys and whether each is a
// tombstone.
func offsetsKeys(t *testing.T, ctx context.Context, cs *clients, p int32) (keys []string, tombstones int) {
	t.Helper()
	end, err := cs.admin().ListEndOffsets(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	hw, _ := end.Lookup(offsetsTopic, p)
	cl := cs.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{offsetsTopic: {p: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	for last := int64(-1); last < hw.Offset-1; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			last = r.Offset
			keys = append(keys, string(r.Key))
			if r.Value == nil {
				tombstones++
			}
		})
	}
	return keys, tombstones
}

// TestOffsetsTopicCompactedByCleaner: __consumer_offsets is cleanup.policy=compact and the
// engine's log cleaner keeps it bounded while a group commits the same partitions' offsets
// thousands of times; a deleted group's tombstones go after delete.retention.ms; after a
// restart every committed offset and group is back and the deleted group stays deleted.
func TestOffsetsTopicCompactedByCleaner(t *testing.T) {
	tb := startBroker(t, offsetsCleanerConfig)
	ctx := testCtx(t)
	cs := newClients(t, tb)
	adm := cs.admin()
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	cl := cs.client(kgo.DefaultProduceTopic("t"))
	for i := 0; i < 8; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Partition: int32(i % 4), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// A classic group with a member (its metadata record), then left Empty.
	cons := cs.client(kgo.ConsumerGroup("members"), kgo.ConsumeTopics("t"), kgo.DisableAutoCommit())
	for n := 0; n < 8; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		n += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()
	membersOffsets, err := adm.FetchOffsets(ctx, "members")
	if err != nil || len(membersOffsets) == 0 {
		t.Fatalf("members' offsets: %+v %v", membersOffsets, err)
	}

	// The offsets topic now exists, created compacted.
	rc, err := adm.DescribeTopicConfigs(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := rc.On(offsetsTopic, nil); err != nil || !hasConfig(c.Configs, "cleanup.policy", "compact") {
		t.Fatalf("%s configs %+v %v: not compacted", offsetsTopic, c.Configs, err)
	}
	// Tombstones may go at the first clean after the one that reached them.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "delete.retention.ms", Value: kmsg.StringPtr("0")}}, offsetsTopic); err != nil {
		t.Fatal(err)
	}

	commit := func(g string, at int64) {
		t.Helper()
		os := kadm.Offsets{}
		for p := int32(0); p < 4; p++ {
			os.Add(kadm.Offset{Topic: "t", Partition: p, At: at + int64(p), LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, g, os)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit %s at %d: %v", g, at, err)
		}
	}
	commit("gone", 1)
	if resp, err := adm.DeleteGroups(ctx, "gone"); err != nil || resp.Error() != nil {
		t.Fatalf("delete group: %v %v", err, resp.Error())
	}
	const commits = 2000
	p := group.PartitionFor("g", 2)
	l := tb.b.Engine().Log(engine.TopicPartition{Topic: offsetsTopic, Partition: p})
	var peak int64
	for i := int64(0); i < commits; i++ {
		commit("g", i)
		peak = max(peak, l.Size())
	}
	// About 2000 batches of 4 records (~450 KB) were written; the cleaner keeps the log at
	// the active segment plus a few segments of live records and not yet cleaned commits.
	deadline := time.Now().Add(20 * time.Second)
	for l.Size() > 4*4096 {
		if time.Now().After(deadline) {
			t.Fatalf("offsets log of %d bytes in %d segments: the cleaner did not compact it", l.Size(), l.Segments())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%d commits of 4 offsets: offsets log at most %d bytes, %d bytes in %d segments now", commits, peak, l.Size(), l.Segments())
	if peak > 64<<10 {
		t.Fatalf("offsets log grew to %d bytes while committing", peak)
	}
	// The deleted group's records, tombstones included, are gone from its partition once
	// they are out of the active segment.
	gp := group.PartitionFor("gone", 2)
	filler := "filler"
	for n := 0; group.PartitionFor(filler, 2) != gp; n++ {
		filler = fmt.Sprint("filler-", n)
	}
	for i := int64(0); i < 60; i++ {
		commit(filler, i) // rolls the segment holding the deleted group's records
	}
	for {
		keys, _ := offsetsKeys(t, ctx, cs, gp)
		if !strings.Contains(strings.Join(keys, "|"), "gone") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deleted group's records are still in %s-%d: %q", offsetsTopic, gp, keys)
		}
		time.Sleep(50 * time.Millisecond)
	}

	cs.closeAll()
	tb.stop()
	tb.start(offsetsCleanerConfig)
	ctx = testCtx(t)
	adm = cs.admin()
	offs, err := adm.FetchOffsets(ctx, "g") // kadm retries while the coordinator loads
	if err != nil {
		t.Fatal(err)
	}
	for q := int32(0); q < 4; q++ {
		if o, ok := offs.Lookup("t", q); !ok || o.At != commits-1+int64(q) {
			t.Fatalf("g's offset of t-%d after the restart: %+v, want %d", q, o, commits-1+int64(q))
		}
	}
	if o, err := adm.FetchOffsets(ctx, "members"); err != nil || !reflect.DeepEqual(o, membersOffsets) {
		t.Fatalf("members' offsets after the restart: %+v %v, want %+v", o, err, membersOffsets)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := listed["gone"]; ok {
		t.Fatal("a deleted group is back after clean and restart")
	}
	if lg, ok := listed["members"]; !ok || lg.ProtocolType != "consumer" {
		t.Fatalf("groups after the restart: %+v", listed)
	}
	if o, err := adm.FetchOffsets(ctx, "gone"); err != nil || len(o) != 0 {
		t.Fatalf("the deleted group's offsets after the restart: %+v %v", o, err)
	}
}

func hasConfig(cs []kadm.Config, key, value string) bool {
	for _, c := range cs {
		if c.Key == key && c.Value != nil && *c.Value == value {
			return true
		}
	}
	return false
}
