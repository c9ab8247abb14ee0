//go:build sharebench

package bench

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestShareBench is `make share-bench`: RunShareBench against logd (bin/logd) and Apache
// Kafka (tools/kafka/lib), SHARE_BENCH_RECORDS records (20000) per member count, the report
// in $SHARE_BENCH_OUT (bench/results/<date>-share).
func TestShareBench(t *testing.T) {
	records := 20000
	if v, err := strconv.Atoi(os.Getenv("SHARE_BENCH_RECORDS")); err == nil && v > 0 {
		records = v
	}
	out := os.Getenv("SHARE_BENCH_OUT")
	if out == "" {
		out = filepath.Join("results", time.Now().UTC().Format("2006-01-02")+"-share")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cfg := ShareBenchConfig{Logd: filepath.Join("..", "bin", "logd"), KafkaLib: filepath.Join("..", "tools", "kafka", "lib"),
		Dir: t.TempDir(), Records: records, Consumers: []int{1, 4, 16}}
	results, err := RunShareBench(ctx, cfg)
	for _, r := range results {
		t.Logf("%s %2d members: %d acknowledged, %d redelivered, broker CPU %.2fs, wall %.1fs, ack p50 %v p99 %v",
			r.Broker, r.Consumers, r.Acked, r.Redelivered, r.BrokerCPU.Seconds(), r.Wall.Seconds(), r.AckP50, r.AckP99)
		if r.Acked < int64(records) {
			t.Errorf("%s %d members: %d of %d records acknowledged", r.Broker, r.Consumers, r.Acked, records)
		}
	}
	if werr := WriteShareBenchReport(out, results, records); werr != nil {
		t.Error(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
}
