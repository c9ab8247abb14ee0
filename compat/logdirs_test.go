//go:build compat

package compat

// kafka-log-dirs (LogDirsCommand from Kafka's tools jar) against a logd with two log
// directories (log.dirs, JBOD): both listed, the partitions spread over them with their
// sizes, the records read back whole after a restart; and kafka-reassign-partitions moving a
// partition between them (log_dirs). Each on a broker of its own.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// logDirsReport is kafka-log-dirs --describe's JSON line.
type logDirsReport struct {
	Brokers []struct {
		Broker  int32 `json:"broker"`
		LogDirs []struct {
			LogDir     string `json:"logDir"`
			Error      *string
			Partitions []struct {
				Partition string `json:"partition"`
				Size      int64  `json:"size"`
				OffsetLag int64  `json:"offsetLag"`
				IsFuture  bool   `json:"isFuture"`
			} `json:"partitions"`
		} `json:"logDirs"`
	} `json:"brokers"`
}

// describeLogDirs runs kafka-log-dirs --describe for topic and returns its report.
func describeLogDirs(s *S, addr, topic string) logDirsReport {
	s.Helper()
	out := kafkaToolAt(s, addr, "kafka-log-dirs", "org.apache.kafka.tools.LogDirsCommand",
		"--describe", "--broker-list", "1", "--topic-list", topic)
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			var r logDirsReport
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				s.Fatalf("kafka-log-dirs: %v in %q", err, l)
			}
			return r
		}
	}
	s.Fatalf("kafka-log-dirs --describe printed no JSON: %q", out)
	return logDirsReport{}
}

// TestKafkaLogDirs: kafka-log-dirs --describe with two log directories
// (go test -tags compat -run TestKafkaLogDirs ./compat).
func TestKafkaLogDirs(t *testing.T) {
	scenario(t, "java", "kafka-log-dirs two directories", 3*time.Minute, func(s *S) {
		root := filepath.Join(tmpDir, "logdirs")
		a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
		bp, err := startBroker(a+","+b, "", "broker-logdirs.log")
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer func() { bp.stop() }()
		const topic, partitions, perPartition = "jbod", 4, 50
		adm, _ := newAdmin(s, bp.addr)
		if _, err := adm.CreateTopic(s.ctx, partitions, 1, nil, topic); err != nil {
			s.Fatalf("create topic: %v", err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(bp.addr), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			s.Fatalf("producer: %v", err)
		}
		for p := int32(0); p < partitions; p++ {
			for i := 0; i < perPartition; i++ {
				r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(strings.Repeat("v", 100))}
				if err := cl.ProduceSync(s.ctx, r).FirstErr(); err != nil {
					s.Fatalf("produce: %v", err)
				}
			}
		}
		cl.Close()

		check := func(when string) {
			r := describeLogDirs(s, bp.addr, topic)
			if len(r.Brokers) != 1 || len(r.Brokers[0].LogDirs) != 2 {
				s.Fatalf("%s: want one broker with two log directories: %+v", when, r)
			}
			seen := map[string]string{}
			for _, d := range r.Brokers[0].LogDirs {
				if d.Error != nil {
					s.Fatalf("%s: %s: error %s", when, d.LogDir, *d.Error)
				}
				if d.LogDir != a && d.LogDir != b {
					s.Errorf("%s: unexpected log directory %s", when, d.LogDir)
				}
				if len(d.Partitions) != partitions/2 {
					s.Errorf("%s: %s holds %d partitions, want %d", when, d.LogDir, len(d.Partitions), partitions/2)
				}
				for _, p := range d.Partitions {
					if prev, dup := seen[p.Partition]; dup {
						s.Errorf("%s: %s in %s and %s", when, p.Partition, prev, d.LogDir)
					}
					seen[p.Partition] = d.LogDir
					if p.Size < perPartition*100 || p.OffsetLag != 0 || p.IsFuture {
						s.Errorf("%s: %s in %s: %+v", when, p.Partition, d.LogDir, p)
					}
				}
			}
			if len(seen) != partitions {
				s.Errorf("%s: %d partitions listed, want %d", when, len(seen), partitions)
			}
		}
		check("after producing")
		if err := bp.stop(); err != nil {
			s.Fatalf("stop: %v", err)
		}
		if bp, err = startBrokerArgs(a+","+b, bp.addr, "broker-logdirs.log"); err != nil {
			s.Fatalf("restart: %v", err)
		}
		check("after a restart")
		if got := readAll(s, bp.addr, topic, partitions, partitions*perPartition); len(got) != partitions*perPartition {
			s.Fatalf("read back %d records, want %d", len(got), partitions*perPartition)
		}
	})
}

// TestKafkaReassignLogDirs: Kafka's kafka-reassign-partitions --execute with a reassignment
// that names log_dirs moves a partition to the other log directory of its broker
// (AlterPartitionReassignments, then AlterReplicaLogDirs, retried as the tool does); --verify
// reports it complete, kafka-log-dirs --describe lists it in the new directory only, and the
// records read back whole (go test -tags compat -run TestKafkaReassignLogDirs ./compat).
func TestKafkaReassignLogDirs(t *testing.T) {
	scenario(t, "java", "kafka-reassign-partitions log_dirs", 4*time.Minute, func(s *S) {
		root := filepath.Join(tmpDir, "reassign-logdirs")
		a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
		bp, err := startBroker(a+","+b, "", "broker-reassign-logdirs.log")
		if err != nil {
			s.Fatalf("%v", err)
		}
		defer func() { bp.stop() }()
		const topic, records = "moving", 500
		adm, _ := newAdmin(s, bp.addr)
		if _, err := adm.CreateTopic(s.ctx, 1, 1, nil, topic); err != nil {
			s.Fatalf("create topic: %v", err)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(bp.addr), kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			s.Fatalf("producer: %v", err)
		}
		for i := 0; i < records; i++ {
			r := &kgo.Record{Topic: topic, Value: []byte(strings.Repeat("m", 1000))}
			if err := cl.ProduceSync(s.ctx, r).FirstErr(); err != nil {
				s.Fatalf("produce: %v", err)
			}
		}
		cl.Close()
		where := func() (string, bool) {
			var dir string
			future := false
			for _, d := range describeLogDirs(s, bp.addr, topic).Brokers[0].LogDirs {
				for _, p := range d.Partitions {
					if p.Partition != topic+"-0" {
						continue
					}
					if p.IsFuture {
						future = true
					} else {
						dir = d.LogDir
					}
				}
			}
			return dir, future
		}
		src, _ := where()
		dst := b
		if src == b {
			dst = a
		}
		plan := fmt.Sprintf(`{"version":1,"partitions":[{"topic":%q,"partition":0,"replicas":[1],"log_dirs":[%q]}]}`, topic, dst)
		planFile := filepath.Join(root, "reassign.json")
		if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
			s.Fatalf("%v", err)
		}
		out := kafkaToolAt(s, bp.addr, "kafka-reassign-partitions", "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
			"--reassignment-json-file", planFile, "--execute")
		if !strings.Contains(out, "Successfully started partition reassignment") {
			s.Fatalf("--execute: %s", lastLines(out, 5))
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			out = kafkaToolAt(s, bp.addr, "kafka-reassign-partitions", "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
				"--reassignment-json-file", planFile, "--verify", "--preserve-throttles")
			if strings.Contains(out, "Reassignment of replica "+topic+"-0-1 completed successfully") {
				break
			}
			if time.Now().After(deadline) {
				s.Fatalf("--verify never reported the move complete: %s", lastLines(out, 5))
			}
			time.Sleep(time.Second)
		}
		if dir, future := where(); dir != dst || future {
			s.Fatalf("kafka-log-dirs --describe: %s-0 in %q (future %v), want %s", topic, dir, future, dst)
		}
		if got := readAll(s, bp.addr, topic, 1, records); len(got) != records {
			s.Fatalf("read back %d records, want %d", len(got), records)
		}
	})
}
