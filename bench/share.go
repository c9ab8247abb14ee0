package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The share-group benchmark (`make share-bench`): one topic partition, N records, read by 1,
// 4 and 16 share-group members (KIP-932) at once, each fetching (ShareFetch, up to 500
// records) and acknowledging what it got (ShareAcknowledge, ACCEPT) until every record is
// acknowledged; against logd and Apache Kafka in the same run. Members speak raw kmsg
// requests, as KafkaShareConsumer does: heartbeats to the group coordinator, fetches and
// acknowledgements to the partition's leader, one connection each.
//
// Reported per broker and member count: records acknowledged, records delivered more than
// once, the broker's CPU time (utime+stime from /proc, over the whole read), the wall time,
// records/s and the acknowledgement latency (a ShareAcknowledge's round trip, answered once
// the new state is durable on both brokers). On a loaded machine only the CPU time and the
// counts mean anything; the report says whether the machine was busy.

// ShareBenchConfig is a share-group benchmark run.
type ShareBenchConfig struct {
	Logd      string // the logd binary
	KafkaLib  string // Apache Kafka's jars ("" : logd only)
	Dir       string // data directories and logs
	Records   int    // records per member count
	Consumers []int  // member counts, each on a fresh topic and group
}

// ShareBenchResult is one broker and member count.
type ShareBenchResult struct {
	Broker      string
	Consumers   int
	Acked       int64 // records acknowledged
	Redelivered int64 // deliveries after the first
	BrokerCPU   time.Duration
	Wall        time.Duration
	AckP50      time.Duration
	AckP99      time.Duration
}

// RecordsPerSec is Acked over Wall.
func (r ShareBenchResult) RecordsPerSec() float64 {
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Wall.Seconds()
}

// RunShareBench runs cfg against logd and, if cfg.KafkaLib is set, Apache Kafka.
func RunShareBench(ctx context.Context, cfg ShareBenchConfig) ([]ShareBenchResult, error) {
	type broker struct {
		name  string
		start func() (*process, error)
	}
	brokers := []broker{{BrokerLogdFsync, func() (*process, error) {
		return startLogd(cfg.Logd, BrokerLogdFsync, filepath.Join(cfg.Dir, "logd"), filepath.Join(cfg.Dir, "logd.log"))
	}}}
	if cfg.KafkaLib != "" {
		brokers = append(brokers, broker{BrokerKafka, func() (*process, error) {
			return startKafka(cfg.KafkaLib, filepath.Join(cfg.Dir, "kafka"), filepath.Join(cfg.Dir, "kafka.log"))
		}})
	}
	var out []ShareBenchResult
	for _, br := range brokers {
		p, err := br.start()
		if err != nil {
			return out, fmt.Errorf("%s: %w", br.name, err)
		}
		for _, n := range cfg.Consumers {
			r, err := shareBenchOne(ctx, p, cfg.Records, n)
			if err != nil {
				p.stop()
				return out, fmt.Errorf("%s, %d consumers: %w", br.name, n, err)
			}
			r.Broker = br.name
			out = append(out, r)
		}
		p.stop()
	}
	return out, nil
}

// shareBenchOne creates a topic of records records and reads it with members share-group
// members.
func shareBenchOne(ctx context.Context, p *process, records, members int) (ShareBenchResult, error) {
	res := ShareBenchResult{Consumers: members}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.addr), kgo.ProducerLinger(5*time.Millisecond), kgo.RequestRetries(20),
		kgo.ProducerBatchMaxBytes(16<<10)) // batches of about 100 records: several fetches and acknowledgements per run
	if err != nil {
		return res, err
	}
	defer cl.Close()
	topic, group := fmt.Sprintf("share-bench-%d", members), fmt.Sprintf("share-bench-g%d", members)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		return res, fmt.Errorf("create %s: %w", topic, err)
	}
	enableShareGroups(ctx, cl)
	// The group starts at the log start (its share.auto.offset.reset), set before it exists.
	areq := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ac.Name, ac.Value = "share.auto.offset.reset", kmsg.StringPtr("earliest")
	ar.Configs = append(ar.Configs, ac)
	areq.Resources = append(areq.Resources, ar)
	aresp, err := areq.RequestWith(ctx, cl)
	if err == nil && len(aresp.Resources) == 1 {
		err = kerr.ErrorForCode(aresp.Resources[0].ErrorCode)
	}
	if err != nil {
		return res, fmt.Errorf("share.auto.offset.reset of %s: %w", group, err)
	}
	value := make([]byte, 100)
	var failed atomic.Int64
	for i := 0; i < records; i++ {
		cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return res, err
	}
	if n := failed.Load(); n > 0 {
		return res, fmt.Errorf("produce: %d records failed", n)
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return res, err
	}
	td := md.Topics[topic]
	if len(td.Partitions) != 1 {
		return res, fmt.Errorf("topic %s: %d partitions", topic, len(td.Partitions))
	}
	leader, id := td.Partitions[0].Leader, [16]byte(td.ID)

	cpu0 := brokerCPU(p)
	start := time.Now()
	var acked, redelivered atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration // guarded by mu
	seen := make([]atomic.Int32, records)
	errs := make(chan error, members)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for m := 0; m < members; m++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mcl, err := kgo.NewClient(kgo.SeedBrokers(p.addr)) // a connection of its own, as a consumer has
			if err != nil {
				errs <- err
				return
			}
			defer mcl.Close()
			errs <- shareMember(runCtx, mcl, group, topic, id, leader, int64(records), &acked, func(first, last int64) {
				for o := first; o <= last && o < int64(records); o++ {
					if seen[o].Add(1) > 1 {
						redelivered.Add(1)
					}
				}
			}, func(d time.Duration) {
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}()
	}
	var firstErr error
	for m := 0; m < members; m++ {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	wg.Wait()
	res.Wall, res.BrokerCPU = time.Since(start), brokerCPU(p)-cpu0
	res.Acked, res.Redelivered = acked.Load(), redelivered.Load()
	slices.Sort(lat)
	if len(lat) > 0 {
		res.AckP50, res.AckP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return res, firstErr
}

// brokerCPU is the broker processes' CPU time so far.
func brokerCPU(p *process) time.Duration {
	var sum time.Duration
	for _, pid := range p.pids() {
		if d, err := procCPU(pid); err == nil {
			sum += d
		}
	}
	return sum
}

// enableShareGroups finalizes share.version 1 where the broker has it but not yet enabled
// (Apache Kafka before share groups became the default); an error means there is nothing to
// enable.
func enableShareGroups(ctx context.Context, cl *kgo.Client) {
	req := kmsg.NewPtrUpdateFeaturesRequest()
	u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
	u.Feature, u.MaxVersionLevel, u.UpgradeType = "share.version", 1, 1
	req.FeatureUpdates = append(req.FeatureUpdates, u)
	req.RequestWith(ctx, cl)
}

// shareMember is one member: it joins, then fetches and acknowledges until total records
// are acknowledged by all members (or ctx ends), heartbeating meanwhile.
func shareMember(ctx context.Context, cl *kgo.Client, group, topic string, id [16]byte, leader int32, total int64,
	acked *atomic.Int64, delivered func(first, last int64), ackLatency func(time.Duration)) error {
	raw := make([]byte, 16)
	rand.Read(raw)
	member := base64.RawURLEncoding.EncodeToString(raw)
	epoch := int32(0)
	interval := time.Second
	heartbeat := func() error {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.GroupID, req.MemberID, req.MemberEpoch = group, member, epoch
		if epoch == 0 {
			req.SubscribedTopicNames = []string{topic}
		}
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if resp.ErrorCode != 0 {
			return fmt.Errorf("ShareGroupHeartbeat: %w", kerr.ErrorForCode(resp.ErrorCode))
		}
		epoch = resp.MemberEpoch
		if resp.HeartbeatIntervalMillis > 0 {
			interval = time.Duration(resp.HeartbeatIntervalMillis) * time.Millisecond
		}
		return nil
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		err := heartbeat()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
	}
	br := cl.Broker(int(leader))
	session := int32(0)
	lastBeat := time.Now()
	for acked.Load() < total && ctx.Err() == nil {
		if time.Since(lastBeat) >= interval {
			if err := heartbeat(); err != nil {
				return err
			}
			lastBeat = time.Now()
		}
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), session
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.MaxRecords, req.BatchSize = 500, 1, 1<<20, 500, 500
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = id
		rt.Partitions = append(rt.Partitions, kmsg.NewShareFetchRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		kr, err := br.Request(ctx, req)
		if err != nil {
			return fmt.Errorf("ShareFetch: %w", err)
		}
		fresp := kr.(*kmsg.ShareFetchResponse)
		if fresp.ErrorCode != 0 {
			return fmt.Errorf("ShareFetch: %w", kerr.ErrorForCode(fresp.ErrorCode))
		}
		session++
		var batches []kmsg.ShareAcknowledgeRequestTopicPartitionAcknowledgementBatch
		var n int64
		for _, t := range fresp.Topics {
			for _, p := range t.Partitions {
				for _, a := range p.AcquiredRecords {
					delivered(a.FirstOffset, a.LastOffset)
					ab := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
					ab.FirstOffset, ab.LastOffset, ab.AcknowledgeTypes = a.FirstOffset, a.LastOffset, []int8{1}
					batches = append(batches, ab)
					n += a.LastOffset - a.FirstOffset + 1
				}
			}
		}
		if len(batches) == 0 {
			continue
		}
		areq := kmsg.NewPtrShareAcknowledgeRequest()
		areq.GroupID, areq.MemberID, areq.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), session
		at := kmsg.NewShareAcknowledgeRequestTopic()
		at.TopicID = id
		ap := kmsg.NewShareAcknowledgeRequestTopicPartition()
		ap.AcknowledgementBatches = batches
		at.Partitions = append(at.Partitions, ap)
		areq.Topics = append(areq.Topics, at)
		sent := time.Now()
		kr, err = br.Request(ctx, areq)
		if err != nil {
			return fmt.Errorf("ShareAcknowledge: %w", err)
		}
		ackLatency(time.Since(sent))
		aresp := kr.(*kmsg.ShareAcknowledgeResponse)
		session++
		code := aresp.ErrorCode
		if code == 0 && len(aresp.Topics) == 1 && len(aresp.Topics[0].Partitions) == 1 {
			code = aresp.Topics[0].Partitions[0].ErrorCode
		}
		if code != 0 {
			return fmt.Errorf("ShareAcknowledge: %w", kerr.ErrorForCode(code))
		}
		acked.Add(n)
	}
	return nil
}

// WriteShareBenchReport writes results as report.md in dir.
func WriteShareBenchReport(dir string, results []ShareBenchResult, records int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "# Share groups: %d records on one partition, read by share-group members\n\n", records)
	sb.WriteString(fingerprint(dir).describe())
	sb.WriteString("\nCPU time is the broker's utime+stime over the read; on a busy machine only CPU time and counts mean anything, not records/s or latency.\n\n")
	sb.WriteString("| broker | members | acknowledged | redelivered | broker CPU (s) | CPU ms per 1k records | wall (s) | records/s | ack p50 (ms) | ack p99 (ms) |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		perK := 0.0
		if r.Acked > 0 {
			perK = float64(r.BrokerCPU.Milliseconds()) * 1000 / float64(r.Acked)
		}
		fmt.Fprintf(&sb, "| %s | %d | %d | %d | %.2f | %.1f | %.1f | %.0f | %.1f | %.1f |\n", r.Broker, r.Consumers, r.Acked, r.Redelivered,
			r.BrokerCPU.Seconds(), perK, r.Wall.Seconds(), r.RecordsPerSec(), float64(r.AckP50.Microseconds())/1000, float64(r.AckP99.Microseconds())/1000)
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(sb.String()), 0o644)
}
