package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/segment"
)

// storedRecord is one record of a replica's log, read from its files.
type storedRecord struct {
	Offset     int64
	Key, Value string
}

// replicaRecords reads every record of a node's copy of a partition from its segment files
// (franz-go decodes the batches, checking each CRC), in offset order.
func replicaRecords(t *testing.T, l *engine.Log) []storedRecord {
	t.Helper()
	var out []storedRecord
	end := l.LogEndOffset()
	for next := l.LogStartOffset(); next < end; {
		r, err := l.Read(next, 64<<20, end)
		if err != nil {
			t.Fatalf("%s: read at %d: %v", l.TP(), next, err)
		}
		if r.Len == 0 {
			r.Release()
			break
		}
		buf := make([]byte, r.Len)
		_, err = r.File.ReadAt(buf, r.Pos)
		r.Release()
		if err != nil {
			t.Fatalf("%s: read at %d: %v", l.TP(), next, err)
		}
		for p := 0; p < len(buf); {
			h, err := segment.ParseHeader(buf[p:])
			if err != nil || p+h.Size() > len(buf) {
				t.Fatalf("%s: batch at byte %d of the region at offset %d: %v", l.TP(), p, next, err)
			}
			p, next = p+h.Size(), h.NextOffset()
		}
		rp := &kmsg.FetchResponseTopicPartition{RecordBatches: buf, HighWatermark: end}
		fp, _ := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Topic: l.TP().Topic, Partition: l.TP().Partition},
			rp, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			t.Fatalf("%s: decode batches before %d: %v", l.TP(), next, fp.Err)
		}
		for _, rec := range fp.Records {
			out = append(out, storedRecord{Offset: rec.Offset, Key: string(rec.Key), Value: string(rec.Value)})
		}
	}
	return out
}

// TestCompactedReplicas runs a compacted topic with replication factor 3 on a 3-node cluster:
// every replica's own cleaner compacts its copy to the last value of each key, at the same
// offsets on every node. A replica stopped while the leader compacts what it misses comes
// back far behind (its log end inside a gap), then wiped (fetching the compacted log from
// offset 0): each time it catches up, offset gaps and all, into the leader's records with the
// leader's end offset, high watermark and epochs. Then it leads, and a consumer from the
// beginning sees each key's last value.
func TestCompactedReplicas(t *testing.T) {
	nodes := startTestClusterWith(t, 3, func(c *Config) {
		cc := engine.DefaultCleanerConfig
		cc.Backoff = 20 * time.Millisecond
		c.Broker.Cleaner = &cc
		c.LeaderRebalanceInterval = -1 // leadership moves only when this test elects
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	waitLive(t, nodes, 3)
	// The wiped replica is the preferred leader and not the controller: stopping it leaves
	// the metadata quorum its leader.
	ctrl := controllerNode(nodes)
	var wiped *testNode
	for _, tn := range nodes {
		if tn != ctrl && wiped == nil {
			wiped = tn
		}
	}
	replicas := []int32{wiped.id}
	for _, tn := range nodes {
		if tn != wiped {
			replicas = append(replicas, tn.id)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic("kv"), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	createAssigned(t, ctx, cl, "kv", replicas)
	cfgs := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("compact")},
		{Op: kadm.SetConfig, Name: "segment.bytes", Value: kmsg.StringPtr("4096")},
		{Op: kadm.SetConfig, Name: "min.cleanable.dirty.ratio", Value: kmsg.StringPtr("0.01")},
	}
	if res, err := adm.AlterTopicConfigs(ctx, cfgs, "kv"); err != nil || res[0].Err != nil {
		t.Fatalf("make kv compacted: %v %v", err, res)
	}
	waitFor(t, "a full ISR led by the preferred replica", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, "kv", 0, func(pa metadata.PartitionAssignment) bool {
			return len(pa.ISR) == 3 && pa.Leader == wiped.id
		})
	})
	tp := engine.TopicPartition{Topic: "kv"}
	logOf := func(tn *testNode) *engine.Log { return tn.node.Broker().Engine().Log(tp) }
	waitFor(t, "every replica's log compacted by config", 10*time.Second, func() bool {
		for _, tn := range nodes {
			if l := logOf(tn); l == nil || l.Config().CleanupPolicy != engine.CleanupCompact || l.Config().SegmentBytes != 4096 {
				return false
			}
		}
		return true
	})

	// want holds each key's last record; write produces keyed rounds over 20 keys, then 60
	// records of distinct keys, so that on every node the rounds lie in segments older than
	// the active one: every cleaner can reach all of them.
	want := map[string]storedRecord{}
	next := int64(0)
	write := func(rounds int) {
		t.Helper()
		for i := 0; i < rounds*20; i++ {
			r := &kgo.Record{Key: fmt.Appendf(nil, "key-%02d", i%20), Value: fmt.Appendf(nil, "value-%d", next)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce at %d: %v", next, err)
			}
			want[string(r.Key)] = storedRecord{Offset: next, Key: string(r.Key), Value: string(r.Value)}
			next++
		}
		for i := 0; i < 60; i++ {
			r := &kgo.Record{Key: fmt.Appendf(nil, "pad-%d", next), Value: fmt.Appendf(nil, "value-%d", next)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce at %d: %v", next, err)
			}
			want[string(r.Key)] = storedRecord{Offset: next, Key: string(r.Key), Value: string(r.Value)}
			next++
		}
	}
	// compacted reports whether l holds, below upTo, exactly the last record of each key.
	compacted := func(l *engine.Log, upTo int64) bool {
		var below []storedRecord
		for _, r := range replicaRecords(t, l) {
			if r.Offset < upTo {
				below = append(below, r)
			}
		}
		var exp []storedRecord
		for _, r := range want {
			if r.Offset < upTo {
				exp = append(exp, r)
			}
		}
		slices.SortFunc(exp, func(a, b storedRecord) int { return int(a.Offset - b.Offset) })
		return slices.Equal(below, exp)
	}

	write(30) // 600 keyed records, each key rewritten 30 times
	keyedEnd := next - 60
	sizes := map[int32]int64{}
	waitFor(t, "every replica's cleaner to compact its copy", 30*time.Second, func() bool {
		for _, tn := range nodes {
			l := logOf(tn)
			if l == nil || l.LogEndOffset() != next || !compacted(l, keyedEnd) {
				return false
			}
			sizes[tn.id] = l.Size()
		}
		return true
	})
	for _, tn := range nodes {
		// 660 records of about 80 bytes each, one per batch: about 53 KB uncompacted.
		if sizes[tn.id] > 660*80/2 {
			t.Errorf("node %d: compacted copy still holds %d bytes", tn.id, sizes[tn.id])
		}
	}
	t.Logf("compacted copies: %v bytes per node", sizes)

	// The preferred leader stops twice while the others go on, and their cleaners compact
	// the rounds it misses: first it comes back far behind, its log end inside a gap of the
	// leader's compacted log; then it comes back with its copy wiped, and fetches the whole
	// compacted log, gaps from the start on.
	var leader *testNode
	for _, wipe := range []bool{false, true} {
		wiped.stop()
		stoppedAt := next
		if wipe {
			if err := os.RemoveAll(filepath.Join(wiped.dir, "kv-0")); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "another replica to lead", 10*time.Second, func() bool {
			return partitionEverywhere(nodes, "kv", 0, func(pa metadata.PartitionAssignment) bool {
				if pa.Leader == metadata.NoLeader || pa.Leader == wiped.id {
					return false
				}
				leader = nodes[pa.Leader-1]
				return true
			})
		})
		write(20)
		keyedEnd = next - 60
		waitFor(t, "the leader's cleaner to compact the new rounds", 30*time.Second, func() bool {
			return compacted(logOf(leader), keyedEnd)
		})
		ll := logOf(leader)
		if !wipe && slices.ContainsFunc(replicaRecords(t, ll), func(r storedRecord) bool { return r.Offset == stoppedAt }) {
			t.Fatalf("the leader still holds offset %d: the stopped replica would not resume in a gap", stoppedAt)
		}

		wiped.start(t)
		waitFor(t, "the stopped replica back in the ISR", 30*time.Second, func() bool {
			return partitionEverywhere(nodes, "kv", 0, func(pa metadata.PartitionAssignment) bool {
				return slices.Contains(pa.ISR, wiped.id)
			})
		})
		wl := logOf(wiped)
		// Far behind, its own cleaner still has to drop the values it held that the fetched
		// rounds superseded; wiped, the copy is the leader's compacted log as fetched.
		var lr, wr []storedRecord
		waitFor(t, "the stopped replica's copy to match the leader's", 30*time.Second, func() bool {
			if wl.LogEndOffset() != ll.LogEndOffset() || wl.HighWatermark() != ll.HighWatermark() {
				return false
			}
			lr, wr = replicaRecords(t, ll), replicaRecords(t, wl)
			return slices.Equal(lr, wr)
		})
		if ll.LogEndOffset() != next || wl.LogStartOffset() != ll.LogStartOffset() {
			t.Fatalf("leader log [%d, %d), copy [%d, %d), %d records written", ll.LogStartOffset(), ll.LogEndOffset(),
				wl.LogStartOffset(), wl.LogEndOffset(), next)
		}
		gaps := 0
		for i := 1; i < len(wr); i++ {
			if wr[i].Offset > wr[i-1].Offset+1 {
				gaps++
			}
		}
		if len(wr) == 0 || (wipe && wr[0].Offset == 0) || gaps == 0 {
			t.Fatalf("the copy has no offset gaps (first offset %v, %d gaps): nothing was compacted", wr[:1], gaps)
		}
		if !compacted(wl, keyedEnd) {
			t.Fatalf("the copy does not hold exactly the last value of each key below %d", keyedEnd)
		}
		// The epochs the copy learnt from the batches: increasing, within its log, ending with
		// the leader's latest; each starts at or after where it starts on the leader (records
		// the leader compacted away are not in the copy).
		le, we := ll.EpochEntries(), wl.EpochEntries()
		if len(we) == 0 || we[len(we)-1].Epoch != le[len(le)-1].Epoch {
			t.Fatalf("epochs of the copy %v, of the leader %v", we, le)
		}
		for i, e := range we {
			if e.StartOffset < wl.LogStartOffset() || e.StartOffset >= wl.LogEndOffset() ||
				(i > 0 && (e.Epoch <= we[i-1].Epoch || e.StartOffset <= we[i-1].StartOffset)) {
				t.Fatalf("epochs of the copy out of order or outside [%d, %d): %v", wl.LogStartOffset(), wl.LogEndOffset(), we)
			}
			j := slices.IndexFunc(le, func(x engine.EpochEntry) bool { return x.Epoch == e.Epoch })
			if j < 0 || e.StartOffset < le[j].StartOffset || (j+1 < len(le) && e.StartOffset >= le[j+1].StartOffset) {
				t.Fatalf("epoch %d starts at %d in the copy, the leader's epochs are %v", e.Epoch, e.StartOffset, le)
			}
		}
		t.Logf("replica stopped at %d (wiped: %v) holds %d records with %d offset gaps; epochs %v (leader %v)",
			stoppedAt, wipe, len(wr), gaps, we, le)
	}

	// Leadership goes back to the replica that fetched its copy: a consumer from the beginning
	// sees every key's last value, and the new leader takes writes after the gaps.
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{"kv": {0: {}}})
	if err != nil || res["kv"][0].Err != nil {
		t.Fatalf("preferred election: %v %v", err, res)
	}
	waitFor(t, "every node to see the wiped replica lead", 10*time.Second, func() bool {
		return partitionEverywhere(nodes, "kv", 0, func(pa metadata.PartitionAssignment) bool { return pa.Leader == wiped.id })
	})
	write(1)
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.ConsumeTopics("kv"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	last := map[string]storedRecord{}
	for prev := int64(-1); prev < next-1; {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume after offset %d: %v", prev, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= prev {
				t.Fatalf("offset %d consumed after %d", r.Offset, prev)
			}
			prev = r.Offset
			last[string(r.Key)] = storedRecord{Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)}
		})
	}
	for k, r := range want {
		if last[k] != r {
			t.Errorf("key %s: consumed %+v, last written %+v", k, last[k], r)
		}
	}
}
