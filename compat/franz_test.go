//go:build compat

package compat

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var allCodecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func kgoCodec(c string) kgo.CompressionCodec {
	switch c {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// ---- fixtures other clients consume ----

type fixture struct {
	once       sync.Once
	topic      string
	partitions int32
	recs       []rec // as read back with franz-go
	err        string
}

var fixtures = map[string]*fixture{"franz-mixed": {}, "java-lz4": {}}

// franzMixed is a 3-partition topic written by franz-go: zstd keyed records with headers in
// partition 0, snappy headers/nulls in 1, uncompressed timestamps and a large record in 2.
func franzMixed(s *S) *fixture {
	f := fixtures["franz-mixed"]
	f.once.Do(func() {
		f.topic, f.partitions = topicName("fixture", "franz-mixed"), 3
		ok := s.Run("setup-fixture", func(t *testing.T) {
			fs := &S{T: t, ctx: s.ctx}
			createTopic(fs, f.topic, 3, nil)
			produceRef(fs, f.topic, basicSet(0, 20), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
			produceRef(fs, f.topic, append(headerSet(1), nullSet(1)...), kgo.ProducerBatchCompression(kgo.SnappyCompression()))
			produceRef(fs, f.topic, append(tsSet(2), largeSet(2, 1)...), kgo.ProducerBatchCompression(kgo.NoCompression()))
			f.recs = readAll(fs, bootAddr, f.topic, 3, 20+9+11)
		})
		if !ok {
			f.err = "fixture franz-mixed could not be written/read with franz-go"
		}
	})
	if f.err != "" {
		s.Fatalf("%s", f.err)
	}
	return f
}

// ---- franz-go ----

func TestFranzGo(t *testing.T) {
	const C = "franz-go"
	for _, codec := range allCodecs {
		codec := codec
		scenario(t, C, "produce-"+codec, 30*time.Second, func(s *S) {
			topic := topicName(C, "codec-"+codec)
			createTopic(s, topic, 1, nil)
			in := basicSet(0, 30)
			produceRef(s, topic, in, kgo.ProducerBatchCompression(kgoCodec(codec)))
			checkProduced(s, topic, 1, in, nil)
			checkCodec(s, topic, 0, codec)
		})
	}
	for _, acks := range []string{"0", "1", "all"} {
		acks := acks
		scenario(t, C, "acks-"+acks, 30*time.Second, func(s *S) {
			topic := topicName(C, "acks-"+acks)
			createTopic(s, topic, 1, nil)
			opts := []kgo.Opt{kgo.DisableIdempotentWrite()}
			switch acks {
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
			default:
				opts = []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
			}
			in := basicSet(0, 50)
			out := produceRef(s, topic, in, opts...)
			var acked []ack
			for _, r := range out {
				if acks == "0" {
					acked = append(acked, ack{r.P, -1})
				} else {
					acked = append(acked, ack{r.P, r.Off})
				}
			}
			checkProduced(s, topic, 1, in, acked)
		})
	}
	scenario(t, C, "keyed-ordering", 30*time.Second, func(s *S) {
		topic := topicName(C, "keyed")
		createTopic(s, topic, 4, nil)
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr), kgo.DefaultProduceTopic(topic))
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer cl.Close()
		in := keyedSet(400, 10)
		for _, r := range in {
			cl.Produce(s.ctx, &kgo.Record{Key: r.Key, Value: r.Val}, func(_ *kgo.Record, err error) {
				if err != nil {
					s.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(s.ctx); err != nil {
			s.Fatalf("flush: %v", err)
		}
		checkKeyed(s, readAll(s, bootAddr, topic, 4, len(in)), len(in))
	})
	simple := func(name string, gen func() []rec) {
		scenario(t, C, name, 60*time.Second, func(s *S) {
			topic := topicName(C, name)
			createTopic(s, topic, 1, nil)
			in := gen()
			out := produceRef(s, topic, in)
			var acked []ack
			for _, r := range out {
				acked = append(acked, ack{r.P, r.Off})
			}
			checkProduced(s, topic, 1, in, acked)
		})
	}
	simple("headers", func() []rec { return headerSet(0) })
	simple("null-key-value", func() []rec { return nullSet(0) })
	simple("large-900KB", func() []rec { return largeSet(0, 3) })
	scenario(t, C, "timestamps-listoffsets", 30*time.Second, func(s *S) {
		topic := topicName(C, "ts")
		createTopic(s, topic, 1, nil)
		in := tsSet(0)
		produceRef(s, topic, in)
		checkProduced(s, topic, 1, in, nil)
		adm, _ := newAdmin(s, bootAddr)
		for _, q := range tsQueries() {
			lo, err := adm.ListOffsetsAfterMilli(s.ctx, q[0], topic)
			if err != nil {
				s.Fatalf("ListOffsetsAfterMilli(%d): %v", q[0], err)
			}
			o, ok := lo.Lookup(topic, 0)
			if !ok || o.Err != nil {
				s.Errorf("ListOffsetsAfterMilli(%d): %v", q[0], o.Err)
				continue
			}
			want := q[1]
			if want == -1 {
				want = 10 // Kafka answers -1; kadm maps "none after" to the end offset
			}
			if o.Offset != want && !(q[1] == -1 && o.Offset == -1) {
				s.Errorf("offset for time %+dms: %d, want %d", q[0]-tsBase, o.Offset, q[1])
			}
		}
		for name, f := range map[string]func(context.Context, ...string) (kadm.ListedOffsets, error){
			"earliest": adm.ListStartOffsets, "latest": adm.ListEndOffsets} {
			lo, err := f(s.ctx, topic)
			if err != nil {
				s.Fatalf("%s: %v", name, err)
			}
			o, _ := lo.Lookup(topic, 0)
			want := map[string]int64{"earliest": 0, "latest": 10}[name]
			if o.Err != nil || o.Offset != want {
				s.Errorf("ListOffsets %s: %d %v, want %d", name, o.Offset, o.Err, want)
			}
		}
		// Max timestamp (ListOffsets v7, timestamp -3).
		lo, err := adm.ListMaxTimestampOffsets(s.ctx, topic)
		if err != nil {
			s.Errorf("ListMaxTimestampOffsets: %v", err)
		} else if o, _ := lo.Lookup(topic, 0); o.Err != nil || o.Offset != 9 || o.Timestamp != tsBase+9000 {
			s.Errorf("max timestamp: offset %d ts %d err %v, want offset 9 ts %d", o.Offset, o.Timestamp, o.Err, tsBase+9000)
		}
	})
	scenario(t, C, "consume-franz-mixed", 60*time.Second, func(s *S) {
		f := franzMixed(s)
		// readAll is franz-go's partition consumer; read again with small fetch sizes too.
		got := readAll(s, bootAddr, f.topic, f.partitions, len(f.recs))
		checkConsumed(s, got, f.recs)
	})
	scenario(t, C, "consume-java-lz4", 90*time.Second, func(s *S) {
		f := javaFixture(s)
		checkConsumed(s, readAll(s, bootAddr, f.topic, f.partitions, len(f.recs)), f.recs)
	})
	scenario(t, C, "long-poll", 30*time.Second, func(s *S) {
		topic := topicName(C, "longpoll")
		createTopic(s, topic, 1, nil)
		cl, err := kgo.NewClient(kgo.SeedBrokers(bootAddr), kgo.FetchMaxWait(10*time.Second),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtEnd()}}))
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer cl.Close()
		got := make(chan time.Time, 1)
		go func() {
			for s.ctx.Err() == nil {
				fs := cl.PollFetches(s.ctx)
				if fs.NumRecords() > 0 {
					got <- time.Now()
					return
				}
			}
		}()
		time.Sleep(2 * time.Second) // the consumer is parked in a long poll by now
		select {
		case <-got:
			s.Fatalf("consumer returned a record before anything was produced")
		default:
		}
		sent := time.Now()
		produceRef(s, topic, basicSet(0, 1))
		select {
		case at := <-got:
			if d := at.Sub(sent); d > 3*time.Second {
				s.Errorf("record delivered %v after produce: the long poll was not woken by the append", d)
			}
		case <-time.After(15 * time.Second):
			s.Fatalf("parked consumer never received the record")
		}
	})
	scenario(t, C, "admin", 30*time.Second, func(s *S) {
		adm, kcl := newAdmin(s, bootAddr)
		topic := topicName(C, "admin")
		ms := "3600000"
		cr, err := adm.CreateTopics(s.ctx, 3, 1, map[string]*string{"retention.ms": &ms}, topic)
		if err != nil || cr[topic].Err != nil {
			s.Fatalf("CreateTopics: %v %v", err, cr[topic].Err)
		}
		waitTopic(s, adm, topic, 3)
		td, err := adm.ListTopics(s.ctx, topic)
		if err != nil || td[topic].Err != nil || len(td[topic].Partitions) != 3 {
			s.Errorf("describe: %v %+v", err, td[topic])
		}
		rc, err := adm.DescribeTopicConfigs(s.ctx, topic)
		if err != nil {
			s.Errorf("DescribeTopicConfigs: %v", err)
		} else if c, err := rc.On(topic, nil); err != nil || c.Err != nil {
			s.Errorf("DescribeTopicConfigs: %v %v", err, c.Err)
		} else {
			found := false
			for _, kv := range c.Configs {
				if kv.Key == "retention.ms" && kv.Value != nil && *kv.Value == ms {
					found = true
				}
			}
			if !found {
				s.Errorf("retention.ms=%s not in described configs", ms)
			}
		}
		seg := "1048576"
		ar, err := adm.AlterTopicConfigs(s.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: &seg}}, topic)
		if err != nil || (len(ar) > 0 && ar[0].Err != nil) {
			s.Errorf("IncrementalAlterConfigs: %v %v", err, ar)
		}
		pr, err := adm.CreatePartitions(s.ctx, 2, topic)
		if err != nil || pr[topic].Err != nil {
			s.Errorf("CreatePartitions: %v %v", err, pr[topic].Err)
		} else {
			waitTopic(s, adm, topic, 5)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		md, _ := adm.BrokerMetadata(s.ctx)
		if resp, err := dc.RequestWith(s.ctx, kcl); err != nil || resp.ErrorCode != 0 || len(resp.Brokers) == 0 || len(resp.Brokers) != len(md.Brokers) {
			s.Errorf("DescribeCluster: %v %+v", err, resp)
		}
		if _, err := adm.DescribeAllLogDirs(s.ctx, nil); err != nil {
			s.Errorf("DescribeLogDirs: %v", err)
		}
		dr, err := adm.DeleteTopics(s.ctx, topic)
		if err != nil || dr[topic].Err != nil {
			s.Fatalf("DeleteTopics: %v %v", err, dr[topic].Err)
		}
		for {
			td, err := adm.ListTopics(s.ctx)
			if err == nil && !td.Has(topic) {
				break
			}
			if s.ctx.Err() != nil {
				s.Fatalf("deleted topic still listed")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	scenario(t, C, "idempotent-retry", 60*time.Second, testIdempotentRetry)
	scenario(t, C, "kill9-restart", 120*time.Second, testKill9)
}

var errStop = errors.New("stop")

var _ = fmt.Sprint
