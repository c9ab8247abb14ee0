package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Workload is one benchmark, OpenMessaging-Benchmark style: what to create, what the
// producers and consumers do, for how long. It is read from YAML (field names as in the yaml
// tags; unknown fields are an error) or taken from the built-ins (`logd bench list`).
//
// Producers are connections of the lean generator (perf/loadgen), each pipelining InFlight
// requests that carry one batch of BatchRecords records for each partition it owns: there is
// no linger, a batch is always full. LingerMs and BatchBytes only configure Kafka's own
// producer in the kafka-producer-perf-test cross-check.
type Workload struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`

	Topics     int `yaml:"topics" json:"topics"`         // default 1
	Partitions int `yaml:"partitions" json:"partitions"` // per topic, default 6
	// ReplicationFactor is the topics' replication factor at creation (default 1); above 1 the
	// broker must be a cluster of at least that many nodes, and acks=all waits for the ISR.
	ReplicationFactor int `yaml:"replication_factor" json:"replication_factor"`

	MessageSize      int    `yaml:"message_size" json:"message_size"`           // mean value bytes, default 1024
	SizeDistribution string `yaml:"size_distribution" json:"size_distribution"` // fixed, uniform, exponential
	KeyDistribution  string `yaml:"key_distribution" json:"key_distribution"`   // none, uniform, zipf
	KeySpace         int    `yaml:"key_space" json:"key_space"`                 // distinct keys (default 100000)

	Producers    int     `yaml:"producers" json:"producers"`                               // connections over all topics, default 3
	InFlight     int     `yaml:"in_flight" json:"in_flight"`                               // pipelined requests per producer, default 8; at a fixed rate sized from --latency-budget unless it is 0
	RateMBps     float64 `yaml:"producer_rate_mb_per_sec" json:"producer_rate_mb_per_sec"` // 0: as fast as possible
	Acks         string  `yaml:"acks" json:"acks"`                                         // all (default), 1, 0
	Compression  string  `yaml:"compression" json:"compression"`                           // none, gzip, snappy, lz4, zstd
	BatchRecords int     `yaml:"batch_records" json:"batch_records"`                       // records per partition batch, default 64
	LingerMs     int     `yaml:"linger_ms" json:"linger_ms"`                               // kafka-producer-perf-test only
	BatchBytes   int     `yaml:"batch_bytes" json:"batch_bytes"`                           // kafka-producer-perf-test only

	// Consumers tail the topics while they are produced and measure end-to-end latency;
	// ConsumerGroup, when set, consumes through a consumer group instead of by partition
	// assignment (the broker must support groups).
	Consumers     int    `yaml:"consumers" json:"consumers"`
	ConsumerGroup string `yaml:"consumer_group" json:"consumer_group,omitempty"`

	// BacklogMB > 0 makes a catch-up workload: that many MB are produced first (not measured),
	// then Consumers connections read the topics from offset 0 to the end, which is measured.
	BacklogMB int `yaml:"backlog_mb" json:"backlog_mb"`

	// TxnRecords > 0 makes the producers transactional: each is a franz-go client with its own
	// transactional id running one transaction at a time, TxnRecords records spread over its
	// topic's partitions, flushed, then committed (EndTxn). Such a workload's produce latency is
	// the commit latency (the EndTxn call's round trip), and with BacklogMB its consumers read
	// with isolation level read_committed. Transactional producers send uncompressed, unkeyed,
	// fixed-size records with acks=all, as fast as the broker commits.
	TxnRecords int `yaml:"transaction_records" json:"transaction_records,omitempty"`
	// AbortEvery > 1 aborts every AbortEvery-th transaction of each producer instead of
	// committing it; a read_committed consumer must never see those records.
	AbortEvery int `yaml:"abort_every" json:"abort_every,omitempty"`

	Duration Duration `yaml:"duration" json:"duration"` // measured time, default 60s
	Warmup   Duration `yaml:"warmup" json:"warmup"`     // before measuring, default 10s
}

// Duration is a time.Duration that reads and writes as "30s" in YAML and JSON.
type Duration time.Duration

// UnmarshalYAML reads "30s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseDuration(n.Value)
	*d = Duration(v)
	return err
}

// MarshalJSON writes the duration as "30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON reads "30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return err
	}
	v, err := parseDuration(s)
	*d = Duration(v)
	return err
}

func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s or 2m", s)
	}
	return d, nil
}

// AcksValue is the Produce acks field.
func (w *Workload) AcksValue() int16 {
	switch w.Acks {
	case "0":
		return 0
	case "1":
		return 1
	}
	return -1
}

// CatchUp reports whether the workload measures consumers catching up from a backlog.
func (w *Workload) CatchUp() bool { return w.BacklogMB > 0 }

// Transactional reports whether the producers run transactions (and catch-up consumers read
// committed records only).
func (w *Workload) Transactional() bool { return w.TxnRecords > 0 }

// normalize fills defaults and checks values.
func (w *Workload) normalize() error {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	def(&w.Topics, 1)
	def(&w.Partitions, 6)
	def(&w.ReplicationFactor, 1)
	def(&w.MessageSize, 1024)
	def(&w.KeySpace, 100000)
	def(&w.Producers, 3)
	def(&w.InFlight, 8)
	def(&w.BatchRecords, 64)
	if w.Duration <= 0 {
		w.Duration = Duration(60 * time.Second)
	}
	if w.Warmup < 0 {
		w.Warmup = 0
	}
	for field, v := range map[string]*string{"size_distribution": &w.SizeDistribution,
		"key_distribution": &w.KeyDistribution, "compression": &w.Compression, "acks": &w.Acks} {
		*v = strings.ToLower(strings.TrimSpace(*v))
		ok := map[string][]string{
			"size_distribution": {"", "fixed", "uniform", "exponential"},
			"key_distribution":  {"", "none", "uniform", "zipf"},
			"compression":       {"", "none", "gzip", "snappy", "lz4", "zstd"},
			"acks":              {"", "all", "-1", "1", "0"},
		}[field]
		if !slices.Contains(ok, *v) {
			return fmt.Errorf("workload %s: %s %q: want one of %s", w.Name, field, *v, strings.Join(ok[1:], ", "))
		}
	}
	if w.Acks == "" || w.Acks == "-1" {
		w.Acks = "all"
	}
	if w.Producers < w.Topics {
		return fmt.Errorf("workload %s: %d producers for %d topics: want at least one per topic", w.Name, w.Producers, w.Topics)
	}
	if w.CatchUp() && w.Consumers <= 0 {
		w.Consumers = 2
	}
	if w.RateMBps < 0 {
		return fmt.Errorf("workload %s: negative producer rate", w.Name)
	}
	return w.normalizeTxn()
}

// normalizeTxn checks what a transactional workload supports.
func (w *Workload) normalizeTxn() error {
	if w.TxnRecords < 0 || w.AbortEvery < 0 {
		return fmt.Errorf("workload %s: negative transaction_records or abort_every", w.Name)
	}
	if !w.Transactional() {
		if w.AbortEvery > 0 {
			return fmt.Errorf("workload %s: abort_every needs transaction_records", w.Name)
		}
		return nil
	}
	switch {
	case w.AbortEvery == 1:
		return fmt.Errorf("workload %s: abort_every 1 would abort every transaction", w.Name)
	case w.RateMBps > 0:
		return fmt.Errorf("workload %s: transactional producers run as fast as the broker commits: no producer rate", w.Name)
	case w.Acks != "all":
		return fmt.Errorf("workload %s: transactional producers need acks=all, not %s", w.Name, w.Acks)
	case w.Compression != "" && w.Compression != "none", w.KeyDistribution != "" && w.KeyDistribution != "none",
		w.SizeDistribution != "" && w.SizeDistribution != "fixed":
		return fmt.Errorf("workload %s: transactional producers send uncompressed, unkeyed, fixed-size records", w.Name)
	case w.MessageSize < 1:
		return fmt.Errorf("workload %s: message_size %d: a transactional record needs at least its 1-byte commit/abort mark", w.Name, w.MessageSize)
	case w.ConsumerGroup != "" || (!w.CatchUp() && w.Consumers > 0):
		return fmt.Errorf("workload %s: transactional workloads measure producers alone, or read_committed consumers of a backlog", w.Name)
	}
	return nil
}

// Builtins are the workloads `logd bench list` shows, by name.
var Builtins = []Workload{
	{Name: "max-throughput", Description: "1 KiB records, 6 partitions, 3 producers, acks=all, as fast as the broker takes them",
		Partitions: 6, MessageSize: 1024, Producers: 3, InFlight: 8, BatchRecords: 64, Acks: "all",
		LingerMs: 5, BatchBytes: 64 << 10, Duration: Duration(60 * time.Second), Warmup: Duration(10 * time.Second)},
	{Name: "iot-100b", Description: "100-byte device events keyed by one of 100,000 device ids (murmur2 partitioning), 6 partitions, acks=all, max rate",
		Partitions: 6, MessageSize: 100, KeyDistribution: "uniform", KeySpace: 100000, Producers: 3, InFlight: 8,
		BatchRecords: 1000, Acks: "all", LingerMs: 5, BatchBytes: 128 << 10,
		Duration: Duration(60 * time.Second), Warmup: Duration(10 * time.Second)},
	// The shape of max-throughput at a fixed rate, so "50% of the max rate" means the same
	// requests, half as often (compare runs it at fractions of the slower broker's
	// max-throughput, 25% and 50% by default).
	{Name: "fixed-rate-latency", Description: "max-throughput's shape (1 KiB records, 64 per batch, 6 partitions, 3 producers) at a fixed 50 MB/s (override with --rate), latency from intended send times (coordinated omission corrected), acks=all",
		Partitions: 6, MessageSize: 1024, Producers: 3, InFlight: 8, BatchRecords: 64, Acks: "all", RateMBps: 50,
		LingerMs: 5, BatchBytes: 64 << 10, Duration: Duration(60 * time.Second), Warmup: Duration(10 * time.Second)},
	{Name: "many-partitions", Description: "10,000 partitions, 1 KiB records, one record per partition per request, 4 producers, acks=all, max rate",
		Partitions: 10000, MessageSize: 1024, Producers: 4, InFlight: 4, BatchRecords: 1, Acks: "all",
		Duration: Duration(60 * time.Second), Warmup: Duration(20 * time.Second)},
	{Name: "many-connections", Description: "10,000 mostly idle producer connections (one 100-byte record each per 10 s, 100 partitions), acks=all",
		Partitions: 100, MessageSize: 100, Producers: 10000, InFlight: 1, BatchRecords: 1, Acks: "all", RateMBps: 0.1,
		Duration: Duration(60 * time.Second), Warmup: Duration(15 * time.Second)},
	{Name: "catch-up", Description: "consumers reading a 2 GB backlog of 1 KiB records in 6 partitions from offset 0, from the page cache",
		Partitions: 6, MessageSize: 1024, Producers: 3, InFlight: 8, BatchRecords: 64, Acks: "1", BacklogMB: 2000, Consumers: 2,
		Duration: Duration(120 * time.Second)},
	{Name: "transactions", Description: "transactional produce: 4 producers (one transactional id each), transactions of 100 records of 1 KiB over 6 partitions, then commit; committed MB/s, transactions/s and commit (EndTxn) latency",
		Partitions: 6, MessageSize: 1024, Producers: 4, Acks: "all", TxnRecords: 100,
		Duration: Duration(60 * time.Second), Warmup: Duration(10 * time.Second)},
	{Name: "read-committed-catch-up", Description: "read_committed consumers reading a 500 MB backlog of transactions (100 records of 1 KiB, every 10th aborted) in 6 partitions from offset 0; no aborted record may be delivered",
		Partitions: 6, MessageSize: 1024, Producers: 4, Acks: "all", TxnRecords: 100, AbortEvery: 10, BacklogMB: 500, Consumers: 2,
		Duration: Duration(120 * time.Second)},
	{Name: "e2e-latency", Description: "1 KiB records at a fixed 20 MB/s, one tailing consumer: end-to-end latency (consumer receive time minus producer send time, same host), acks=all",
		Partitions: 6, MessageSize: 1024, Producers: 2, InFlight: 16, BatchRecords: 16, Acks: "all", RateMBps: 20,
		Consumers: 1, LingerMs: 1, BatchBytes: 16 << 10, Duration: Duration(60 * time.Second), Warmup: Duration(10 * time.Second)},
}

// LoadWorkload returns the built-in named nameOrFile, or reads the YAML file it names.
func LoadWorkload(nameOrFile string) (Workload, error) {
	for _, w := range Builtins {
		if w.Name == nameOrFile {
			err := w.normalize()
			return w, err
		}
	}
	data, err := os.ReadFile(nameOrFile)
	if err != nil {
		if os.IsNotExist(err) {
			var names []string
			for _, w := range Builtins {
				names = append(names, w.Name)
			}
			return Workload{}, fmt.Errorf("no built-in workload or file %q (built-ins: %s)", nameOrFile, strings.Join(names, ", "))
		}
		return Workload{}, err
	}
	var w Workload
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		return Workload{}, fmt.Errorf("%s: %v", nameOrFile, err)
	}
	if w.Name == "" {
		w.Name = strings.TrimSuffix(filepath.Base(nameOrFile), filepath.Ext(nameOrFile))
	}
	err = w.normalize()
	return w, err
}
