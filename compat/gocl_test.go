//go:build compat

package compat

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafka "github.com/segmentio/kafka-go"
	kcompress "github.com/segmentio/kafka-go/compress"
)

// ---- sarama ----

func saramaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V3_6_0_0
	c.ClientID = "logd-compat"
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.MaxMessageBytes = 2000000
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Fetch.Default = 4 << 20
	c.Consumer.MaxWaitTime = 500 * time.Millisecond
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

var saramaCodec = map[string]sarama.CompressionCodec{"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}

func bytesOrNil(b []byte) sarama.Encoder {
	if b == nil {
		return nil
	}
	return sarama.ByteEncoder(b)
}

// saramaProduce sends recs with a SyncProducer and returns what it acknowledged.
func saramaProduce(s *S, cfg *sarama.Config, topic string, recs []rec) []ack {
	s.Helper()
	p, err := sarama.NewSyncProducer([]string{bootAddr}, cfg)
	if err != nil {
		s.Fatalf("sarama producer: %v", err)
	}
	defer p.Close()
	var acks []ack
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Key: bytesOrNil(r.Key), Value: bytesOrNil(r.Val), Partition: r.P}
		if r.TS != 0 {
			m.Timestamp = time.UnixMilli(r.TS)
		}
		for _, h := range r.H {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.K), Value: []byte(h.V)})
		}
		part, off, err := p.SendMessage(m)
		if err != nil {
			s.Fatalf("sarama send %d: %v", i, err)
		}
		if cfg.Producer.RequiredAcks == sarama.NoResponse {
			off = -1
		}
		acks = append(acks, ack{part, off})
	}
	return acks
}

func saramaConsume(s *S, topic string, partitions int32, n int) []rec {
	s.Helper()
	c, err := sarama.NewConsumer([]string{bootAddr}, saramaConfig())
	if err != nil {
		s.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	msgs := make(chan *sarama.ConsumerMessage, 100)
	errs := make(chan error, 10)
	for p := int32(0); p < partitions; p++ {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			s.Fatalf("ConsumePartition %d: %v", p, err)
		}
		defer pc.AsyncClose()
		go func() {
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					msgs <- m
				case e, ok := <-pc.Errors():
					if ok {
						errs <- e
					}
				}
			}
		}()
	}
	var out []rec
	for len(out) < n {
		select {
		case m := <-msgs:
			r := rec{P: m.Partition, Off: m.Offset, TS: m.Timestamp.UnixMilli(), Key: m.Key, Val: m.Value}
			for _, h := range m.Headers {
				r.H = append(r.H, hdr{string(h.Key), string(h.Value)})
			}
			out = append(out, r)
		case e := <-errs:
			s.Fatalf("sarama consume: %v", e)
		case <-s.ctx.Done():
			s.Fatalf("sarama consumed %d of %d records before the deadline", len(out), n)
		}
	}
	return out
}

func TestSarama(t *testing.T) {
	const C = "sarama"
	for _, codec := range allCodecs {
		codec := codec
		scenario(t, C, "produce-"+codec, 30*time.Second, func(s *S) {
			topic := topicName(C, "codec-"+codec)
			createTopic(s, topic, 1, nil)
			cfg := saramaConfig()
			cfg.Producer.Compression = saramaCodec[codec]
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			in := basicSet(0, 30)
			checkProduced(s, topic, 1, in, saramaProduce(s, cfg, topic, in))
			checkCodec(s, topic, 0, codec)
		})
	}
	for name, a := range map[string]sarama.RequiredAcks{"0": sarama.NoResponse, "1": sarama.WaitForLocal, "all": sarama.WaitForAll} {
		name, a := name, a
		scenario(t, C, "acks-"+name, 30*time.Second, func(s *S) {
			topic := topicName(C, "acks-"+name)
			createTopic(s, topic, 1, nil)
			cfg := saramaConfig()
			cfg.Producer.RequiredAcks = a
			in := basicSet(0, 50)
			checkProduced(s, topic, 1, in, saramaProduce(s, cfg, topic, in))
		})
	}
	scenario(t, C, "keyed-ordering", 30*time.Second, func(s *S) {
		topic := topicName(C, "keyed")
		createTopic(s, topic, 4, nil)
		cfg := saramaConfig()
		cfg.Producer.Partitioner = sarama.NewHashPartitioner
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		in := keyedSet(400, 10)
		saramaProduce(s, cfg, topic, in)
		checkKeyed(s, readAll(s, bootAddr, topic, 4, len(in)), len(in))
	})
	simple := func(name string, gen func() []rec) {
		scenario(t, C, name, 60*time.Second, func(s *S) {
			topic := topicName(C, name)
			createTopic(s, topic, 1, nil)
			cfg := saramaConfig()
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			in := gen()
			checkProduced(s, topic, 1, in, saramaProduce(s, cfg, topic, in))
		})
	}
	simple("headers", func() []rec { return headerSet(0) })
	simple("null-key-value", func() []rec { return nullSet(0) })
	simple("large-900KB", func() []rec { return largeSet(0, 3) })
	scenario(t, C, "timestamps-listoffsets", 30*time.Second, func(s *S) {
		topic := topicName(C, "ts")
		createTopic(s, topic, 1, nil)
		cfg := saramaConfig()
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		in := tsSet(0)
		checkProduced(s, topic, 1, in, saramaProduce(s, cfg, topic, in))
		cl, err := sarama.NewClient([]string{bootAddr}, saramaConfig())
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer cl.Close()
		for _, q := range tsQueries() {
			off, err := cl.GetOffset(topic, 0, q[0])
			if err != nil {
				s.Errorf("GetOffset(%d): %v", q[0], err)
			} else if off != q[1] {
				s.Errorf("offset for time %+dms: %d, want %d", q[0]-tsBase, off, q[1])
			}
		}
	})
	scenario(t, C, "consume-franz-mixed", 60*time.Second, func(s *S) {
		f := franzMixed(s)
		checkConsumed(s, saramaConsume(s, f.topic, f.partitions, len(f.recs)), f.recs)
	})
	scenario(t, C, "consume-java-lz4", 90*time.Second, func(s *S) {
		f := javaFixture(s)
		checkConsumed(s, saramaConsume(s, f.topic, f.partitions, len(f.recs)), f.recs)
	})
	scenario(t, C, "long-poll", 30*time.Second, func(s *S) {
		topic := topicName(C, "longpoll")
		createTopic(s, topic, 1, nil)
		cfg := saramaConfig()
		cfg.Consumer.MaxWaitTime = 10 * time.Second
		c, err := sarama.NewConsumer([]string{bootAddr}, cfg)
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer c.Close()
		pc, err := c.ConsumePartition(topic, 0, sarama.OffsetNewest)
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer pc.AsyncClose()
		time.Sleep(2 * time.Second)
		sent := time.Now()
		in := produceRef(s, topic, basicSet(0, 1))
		select {
		case m := <-pc.Messages():
			if d := time.Since(sent); d > 4*time.Second {
				s.Errorf("record arrived %v after the produce", d)
			}
			if string(m.Value) != string(in[0].Val) || m.Offset != 0 {
				s.Errorf("long poll got offset %d", m.Offset)
			}
		case e := <-pc.Errors():
			s.Fatalf("%v", e)
		case <-time.After(15 * time.Second):
			s.Fatalf("parked consumer never received the record")
		}
	})
	scenario(t, C, "admin", 30*time.Second, func(s *S) {
		adm, err := sarama.NewClusterAdmin([]string{bootAddr}, saramaConfig())
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer adm.Close()
		topic := topicName(C, "admin")
		if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1}, false); err != nil {
			s.Fatalf("CreateTopic: %v", err)
		}
		md, err := adm.DescribeTopics([]string{topic})
		if err != nil || len(md) != 1 || len(md[0].Partitions) != 3 {
			s.Errorf("DescribeTopics: %v %+v", err, md)
		}
		if err := adm.CreatePartitions(topic, 4, nil, false); err != nil {
			s.Errorf("CreatePartitions: %v", err)
		}
		if _, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic}); err != nil {
			s.Errorf("DescribeConfig: %v", err)
		}
		if err := adm.DeleteTopic(topic); err != nil {
			s.Fatalf("DeleteTopic: %v", err)
		}
		for {
			ts, err := adm.ListTopics()
			if err == nil {
				if _, ok := ts[topic]; !ok {
					break
				}
			}
			if s.ctx.Err() != nil {
				s.Fatalf("deleted topic still listed")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// ---- segmentio/kafka-go ----

var kgoCodecs = map[string]kafka.Compression{"gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd}

// kafkaGoProduce writes recs with a kafka.Writer (the partition is each record's P, or the hash
// balancer's choice when P < 0). The Writer reports no offsets.
func kafkaGoProduce(s *S, topic string, recs []rec, codec string, acks kafka.RequiredAcks) {
	s.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(bootAddr), Topic: topic, RequiredAcks: acks, BatchTimeout: 5 * time.Millisecond,
		BatchBytes: 2 << 20, BatchSize: 100, WriteTimeout: 20 * time.Second,
		// A transport of its own: the shared default one caches metadata from before the
		// topic existed.
		Transport: &kafka.Transport{MetadataTTL: time.Second}}
	if codec != "none" && codec != "" {
		w.Compression = kgoCodecs[codec]
	}
	manual := true
	for _, r := range recs {
		if r.P < 0 {
			manual = false
		}
	}
	if manual {
		w.Balancer = kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.Partition })
	} else {
		w.Balancer = &kafka.Hash{}
	}
	defer w.Close()
	var msgs []kafka.Message
	for _, r := range recs {
		m := kafka.Message{Partition: int(r.P), Key: r.Key, Value: r.Val}
		s.emptyIsNull = true // kafka-go does not tell an empty key or value from a null one
		if r.TS != 0 {
			m.Time = time.UnixMilli(r.TS)
		}
		for _, h := range r.H {
			m.Headers = append(m.Headers, kafka.Header{Key: h.K, Value: []byte(h.V)})
		}
		msgs = append(msgs, m)
	}
	// One large record per call: a batch must fit message.max.bytes.
	for len(msgs) > 0 {
		n := len(msgs)
		if len(msgs[0].Value) > 100<<10 {
			n = 1
		}
		if err := w.WriteMessages(s.ctx, msgs[:n]...); err != nil {
			s.Fatalf("kafka-go WriteMessages: %v", err)
		}
		msgs = msgs[n:]
	}
}

func kafkaGoConsume(s *S, topic string, partitions int32, n int, fixtureCount func(int32) int) []rec {
	s.Helper()
	s.emptyIsNull = true // kafka-go does not tell an empty key or value from a null one
	var out []rec
	for p := int32(0); p < partitions; p++ {
		want := fixtureCount(p)
		if want == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootAddr}, Topic: topic, Partition: int(p),
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond})
		r.SetOffset(0)
		for got := 0; got < want; got++ {
			m, err := r.ReadMessage(s.ctx)
			if err != nil {
				r.Close()
				s.Fatalf("kafka-go ReadMessage %d/%d: %v", p, got, err)
			}
			x := rec{P: int32(m.Partition), Off: m.Offset, TS: m.Time.UnixMilli(), Key: m.Key, Val: m.Value}
			for _, h := range m.Headers {
				x.H = append(x.H, hdr{h.Key, string(h.Value)})
			}
			out = append(out, x)
		}
		r.Close()
	}
	return out
}

func countIn(recs []rec) func(int32) int {
	return func(p int32) int {
		n := 0
		for _, r := range recs {
			if r.P == p {
				n++
			}
		}
		return n
	}
}

func TestKafkaGo(t *testing.T) {
	const C = "kafka-go"
	_ = kcompress.None
	for _, codec := range allCodecs {
		codec := codec
		scenario(t, C, "produce-"+codec, 30*time.Second, func(s *S) {
			topic := topicName(C, "codec-"+codec)
			createTopic(s, topic, 1, nil)
			in := basicSet(0, 30)
			kafkaGoProduce(s, topic, in, codec, kafka.RequireAll)
			checkProduced(s, topic, 1, in, nil)
			checkCodec(s, topic, 0, codec)
		})
	}
	for name, a := range map[string]kafka.RequiredAcks{"0": kafka.RequireNone, "1": kafka.RequireOne, "all": kafka.RequireAll} {
		name, a := name, a
		scenario(t, C, "acks-"+name, 30*time.Second, func(s *S) {
			topic := topicName(C, "acks-"+name)
			createTopic(s, topic, 1, nil)
			in := basicSet(0, 50)
			kafkaGoProduce(s, topic, in, "none", a)
			checkProduced(s, topic, 1, in, nil)
		})
	}
	scenario(t, C, "keyed-ordering", 30*time.Second, func(s *S) {
		topic := topicName(C, "keyed")
		createTopic(s, topic, 4, nil)
		in := keyedSet(400, 10)
		kafkaGoProduce(s, topic, in, "none", kafka.RequireAll)
		checkKeyed(s, readAll(s, bootAddr, topic, 4, len(in)), len(in))
	})
	simple := func(name string, gen func() []rec) {
		scenario(t, C, name, 60*time.Second, func(s *S) {
			topic := topicName(C, name)
			createTopic(s, topic, 1, nil)
			in := gen()
			kafkaGoProduce(s, topic, in, "none", kafka.RequireAll)
			checkProduced(s, topic, 1, in, nil)
		})
	}
	simple("headers", func() []rec { return headerSet(0) })
	simple("null-key-value", func() []rec { return nullSet(0) })
	simple("large-900KB", func() []rec { return largeSet(0, 3) })
	scenario(t, C, "timestamps-listoffsets", 30*time.Second, func(s *S) {
		topic := topicName(C, "ts")
		createTopic(s, topic, 1, nil)
		in := tsSet(0)
		kafkaGoProduce(s, topic, in, "none", kafka.RequireAll)
		checkProduced(s, topic, 1, in, nil)
		conn, err := kafka.DialLeader(s.ctx, "tcp", bootAddr, topic, 0)
		if err != nil {
			s.Fatalf("DialLeader: %v", err)
		}
		defer conn.Close()
		for _, q := range tsQueries() {
			off, err := conn.ReadOffset(time.UnixMilli(q[0]))
			if err != nil {
				s.Errorf("ReadOffset(%d): %v", q[0], err)
			} else if off != q[1] && !(q[1] == -1 && off == 10) {
				s.Errorf("offset for time %+dms: %d, want %d", q[0]-tsBase, off, q[1])
			}
		}
	})
	scenario(t, C, "consume-franz-mixed", 60*time.Second, func(s *S) {
		f := franzMixed(s)
		checkConsumed(s, kafkaGoConsume(s, f.topic, f.partitions, len(f.recs), countIn(f.recs)), f.recs)
	})
	scenario(t, C, "consume-java-lz4", 90*time.Second, func(s *S) {
		f := javaFixture(s)
		checkConsumed(s, kafkaGoConsume(s, f.topic, f.partitions, len(f.recs), countIn(f.recs)), f.recs)
	})
	scenario(t, C, "long-poll", 30*time.Second, func(s *S) {
		topic := topicName(C, "longpoll")
		createTopic(s, topic, 1, nil)
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{bootAddr}, Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 10 * time.Second})
		defer r.Close()
		r.SetOffset(kafka.LastOffset)
		got := make(chan kafka.Message, 1)
		gerr := make(chan error, 1)
		go func() {
			m, err := r.ReadMessage(s.ctx)
			if err != nil {
				gerr <- err
				return
			}
			got <- m
		}()
		time.Sleep(2 * time.Second)
		sent := time.Now()
		produceRef(s, topic, basicSet(0, 1))
		select {
		case m := <-got:
			if d := time.Since(sent); d > 4*time.Second {
				s.Errorf("record arrived %v after the produce", d)
			}
			if m.Offset != 0 {
				s.Errorf("long poll got offset %d", m.Offset)
			}
		case err := <-gerr:
			s.Fatalf("%v", err)
		case <-time.After(15 * time.Second):
			s.Fatalf("parked consumer never received the record")
		}
	})
	scenario(t, C, "admin", 30*time.Second, func(s *S) {
		cl := &kafka.Client{Addr: kafka.TCP(bootAddr), Timeout: 10 * time.Second}
		topic := topicName(C, "admin")
		cr, err := cl.CreateTopics(s.ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 3, ReplicationFactor: 1}}})
		if err != nil || cr.Errors[topic] != nil {
			s.Fatalf("CreateTopics: %v %v", err, cr.Errors[topic])
		}
		md, err := cl.Metadata(s.ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err != nil || len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 3 {
			s.Errorf("Metadata: %v %+v", err, md)
		}
		dr, err := cl.DeleteTopics(s.ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err != nil || dr.Errors[topic] != nil {
			s.Fatalf("DeleteTopics: %v %v", err, dr.Errors[topic])
		}
		for {
			md, err := cl.Metadata(s.ctx, &kafka.MetadataRequest{})
			listed := false
			if err == nil {
				for _, t := range md.Topics {
					listed = listed || t.Name == topic
				}
			}
			if err == nil && !listed {
				break
			}
			if s.ctx.Err() != nil {
				s.Fatalf("deleted topic still described: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

var _ = errors.New
var _ = context.Background
