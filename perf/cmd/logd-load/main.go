// Command logd-load drives a Kafka broker (logd or Apache Kafka) with pre-encoded,
// pipelined Produce requests or raw Fetch requests and prints throughput and latency.
//
//	go run ./perf/cmd/logd-load -bootstrap 127.0.0.1:9092 -acks 1 -size 1024 -partitions 6 -duration 10s
//	go run ./perf/cmd/logd-load -mode fetch -bootstrap 127.0.0.1:9092 -partitions 6
//	go run ./perf/cmd/logd-load -mode sink -duration 10s    # the generator's own ceiling
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logd/logd/perf/loadgen"
)

func main() {
	var (
		mode       = flag.String("mode", "produce", "produce, fetch, sink (produce against an in-process sink: the generator's ceiling), or serve-sink (only run a sink on -listen)")
		listen     = flag.String("listen", "127.0.0.1:9092", "serve-sink: address to listen on")
		bootstrap  = flag.String("bootstrap", "127.0.0.1:9092", "broker host:port")
		topic      = flag.String("topic", "logd-load", "topic (created with -partitions when missing)")
		partitions = flag.Int("partitions", 6, "partitions to produce to or fetch from")
		conns      = flag.Int("conns", 0, "connections (default: one per partition, at most 6)")
		inflight   = flag.Int("inflight", 8, "pipelined requests per connection")
		acks       = flag.Int("acks", 1, "0, 1 or -1 (all)")
		size       = flag.Int("size", 1024, "record value bytes")
		batch      = flag.Int("batch", 16, "records per partition batch")
		rate       = flag.Float64("rate-mb", 0, "target MB/s (10^6 bytes of record values); 0 = as fast as possible. Latency is then measured from each request's intended send time")
		duration   = flag.Duration("duration", 10*time.Second, "run time")
		maxBytes   = flag.Int("fetch-max-mb", 64, "fetch: response MaxBytes in MiB")
		partMax    = flag.Int("fetch-partition-max-mb", 8, "fetch: per-partition MaxBytes in MiB")
		create     = flag.Bool("create", true, "create the topic when missing")
	)
	flag.Parse()
	if *conns == 0 {
		*conns = min(*partitions, 6)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	addr := *bootstrap
	if *mode == "serve-sink" {
		s, err := loadgen.StartSink(*listen)
		if err != nil {
			fatal(err)
		}
		fmt.Println("sink listening on", s.Addr())
		<-ctx.Done()
		s.Close()
		return
	}
	if *mode == "sink" {
		s, err := loadgen.StartSink("127.0.0.1:0")
		if err != nil {
			fatal(err)
		}
		defer s.Close()
		addr = s.Addr()
		*mode = "produce"
	}
	switch *mode {
	case "produce":
		cfg := loadgen.ProduceConfig{
			Bootstrap: addr, Topic: *topic, Partitions: int32(*partitions), Create: *create,
			Conns: *conns, InFlight: *inflight, Acks: int16(*acks),
			RecordSize: *size, RecordsPerBatch: *batch, Rate: *rate * 1e6, Duration: *duration,
		}
		fmt.Printf("producing to %s topic %s: %d partitions, %d conns × %d in flight, acks=%d, %d × %d B records per batch\n",
			addr, *topic, *partitions, *conns, *inflight, *acks, *batch, *size)
		res, err := loadgen.RunProduce(ctx, cfg)
		if res != nil {
			fmt.Println(res)
		}
		if err == nil {
			err = res.Err()
		}
		if err != nil {
			fatal(err)
		}
	case "fetch":
		cfg := loadgen.FetchConfig{
			Bootstrap: addr, Topic: *topic, Partitions: int32(*partitions), Conns: *conns,
			MaxBytes: int32(*maxBytes << 20), PartitionMaxBytes: int32(*partMax << 20), Duration: *duration,
		}
		res, err := loadgen.RunFetch(ctx, cfg)
		if res != nil {
			fmt.Println(res)
		}
		if err != nil {
			fatal(err)
		}
	default:
		fatal(fmt.Errorf("unknown -mode %q", *mode))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "logd-load:", err)
	os.Exit(1)
}
