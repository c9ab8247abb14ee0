//go:build compat

package compat

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The compacted-topic fixture: keyed records with repeated keys and tombstones in a
// cleanup.policy=compact topic of tiny segments, compacted by the broker's log cleaner before
// any driver reads it. Each client must read exactly what is left — each key's last record
// (a tombstone: a null value) at the offset it was produced at, with the gaps the cleaner
// left — and a consumer placed on an offset inside a gap must get the next record after it.

// compactedSegmentBytes is the topic's segment.bytes: a few dozen records per segment, so the
// cleaner has many closed segments to compact.
const compactedSegmentBytes = 2048

// compacted is the fixture (its recs: what is left after the clean, as franz-go reads it
// back); compactedProduced is every record produced, by offset.
var (
	compacted         fixture
	compactedProduced map[int64]rec
)

// compactedSet is 400 records over 10 keys, produced one by one. Key k is last written at
// about k×40, so the last records lie apart in the cleaned segments: key 3's last record is a
// tombstone, key 5 is tombstoned and written again after.
func compactedSet() []rec {
	var out []rec
	for i := 0; i < 400; i++ {
		k := i % 10
		if i > 40*k+40 {
			k = 9
		}
		r := rec{P: 0, Key: []byte(fmt.Sprintf("key-%d", k)), Val: []byte(fmt.Sprintf("key-%d-v%03d", k, i))}
		if (k == 3 && i > 110) || (k == 5 && i == 195) {
			r.Val = nil
		}
		out = append(out, r)
	}
	return out
}

// compactedFixture produces compactedSet with franz-go, waits until the broker's cleaner has
// compacted the topic (its size in DescribeLogDirs shrank to the last records and the active
// segment), and checks the read-back: every record is the one produced at its offset, every
// key's last record is there, superseded ones are gone.
func compactedFixture(s *S) *fixture {
	f := &compacted
	f.once.Do(func() {
		f.topic, f.partitions = topicName("fixture", "compacted"), 1
		ok := s.Run("setup-compacted-fixture", func(t *testing.T) {
			fs := &S{T: t, ctx: s.ctx}
			createTopic(fs, f.topic, 1, map[string]*string{
				"cleanup.policy":            kmsg.StringPtr("compact"),
				"segment.bytes":             kmsg.StringPtr(strconv.Itoa(compactedSegmentBytes)),
				"min.cleanable.dirty.ratio": kmsg.StringPtr("0.01"),
			})
			cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
			if err != nil {
				fs.Fatalf("producer: %v", err)
			}
			defer cl.Close()
			compactedProduced = map[int64]rec{}
			last := map[string]int64{}
			for _, r := range compactedSet() {
				res, err := cl.ProduceSync(fs.ctx, toKgo(f.topic, r)).First()
				if err != nil {
					fs.Fatalf("produce: %v", err)
				}
				r.Off, r.TS = res.Offset, res.Timestamp.UnixMilli()
				compactedProduced[r.Off] = r
				last[string(r.Key)] = r.Off
			}
			adm, _ := newAdmin(fs, bootAddr)
			size := func() int64 {
				dirs, err := adm.DescribeAllLogDirs(fs.ctx, nil)
				if err != nil {
					fs.Fatalf("DescribeLogDirs: %v", err)
				}
				var n int64
				dirs.Each(func(d kadm.DescribedLogDir) {
					if p, ok := d.Topics[f.topic][0]; ok {
						n += p.Size
					}
				})
				return n
			}
			before := size()
			// The cleaner keeps 10 last records and the active segment; its thread looks for
			// work every log.cleaner.backoff.ms (Kafka's default: 15 s).
			deadline := time.Now().Add(60 * time.Second)
			for size() > 4*compactedSegmentBytes {
				if time.Now().After(deadline) {
					fs.Fatalf("topic not compacted after 60 s: %d bytes (%d before)", size(), before)
				}
				time.Sleep(200 * time.Millisecond)
			}
			f.recs = readAll(fs, bootAddr, f.topic, 1, 0)
			fs.Logf("compacted %d records (%d bytes) to %d records (%d bytes)", len(compactedProduced), before, len(f.recs), size())
			kept := map[int64]bool{}
			for _, r := range f.recs {
				p, ok := compactedProduced[r.Off]
				if !ok || p.content() != r.content() {
					fs.Fatalf("offset %d reads %s, produced %s", r.Off, short(r.content()), short(p.content()))
				}
				kept[r.Off] = true
			}
			for k, off := range last {
				if !kept[off] {
					fs.Fatalf("key %s: its last record (offset %d) is gone", k, off)
				}
			}
			if len(f.recs) >= len(compactedProduced)/2 {
				fs.Fatalf("%d of %d records left: nothing was compacted", len(f.recs), len(compactedProduced))
			}
		})
		if !ok {
			f.err = "fixture compacted (franz-go producer, broker's log cleaner) could not be written, compacted and read back"
		}
	})
	if f.err != "" {
		s.Fatalf("%s", f.err)
	}
	return f
}

// compactedScenarios: the driver reads the compacted topic from its start (every record left,
// at its original offset, gaps included) and from an offset inside a gap (the next record).
func compactedScenarios(t *testing.T, d *driver) {
	d.scen(t, "consume-compacted", 120*time.Second, func(s *S) {
		f := compactedFixture(s)
		lines := d.run(s, "", "consume", f.topic, "1", strconv.Itoa(len(f.recs)))
		checkConsumed(s, parseRecs(s, lines), f.recs)
	})
	d.scen(t, "seek-into-compacted-gap", 120*time.Second, func(s *S) {
		f := compactedFixture(s)
		var next rec
		from := int64(-1)
		for i := 1; i < len(f.recs) && from < 0; i++ {
			if f.recs[i].Off > f.recs[i-1].Off+1 {
				from, next = f.recs[i-1].Off+1, f.recs[i]
			}
		}
		if from < 0 {
			s.Fatalf("no gap in the compacted topic")
		}
		got := parseRecs(s, d.run(s, "", "consume", f.topic, "1", "1", strconv.FormatInt(from, 10)))
		if len(got) == 0 {
			s.Fatalf("nothing consumed from offset %d (a gap)", from)
		}
		checkConsumed(s, got[:1], []rec{next})
	})
}
