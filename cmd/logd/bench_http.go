package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/logd/logd/bench"
)

// benchHTTPCommand is `logd bench http`: the REST proxy workload (bench/http.go).
func benchHTTPCommand() *cobra.Command {
	var o bench.HTTPOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Produce over HTTP through the REST proxy of `logd serve --http`: records/s and latency",
		Long: "Produce records to the Confluent REST Proxy v3 endpoint of `logd serve --http` as fast as\n" +
			"it takes them, one record per request (--streaming=false) or as long streaming requests\n" +
			"(one delivery report per record), from --connections clients at once, and print records/s,\n" +
			"MB/s and per-record latency (p50, p99, max). The topic is created if missing and deleted\n" +
			"afterwards when the run created it (--keep-topic keeps it).",
		Example: "  logd bench http --http 127.0.0.1:9644 --duration 20s\n" +
			"  logd bench http --http 127.0.0.1:9644 --streaming --connections 2 --size 1000 --json",
		Args: usageArgs(0, 0, "logd bench http --http HOST:PORT"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := bench.RunHTTP(ctx, o)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), r)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.URL, "http", "127.0.0.1:9644", "the --http address of `logd serve` (HOST:PORT or a URL)")
	f.StringVar(&o.Topic, "topic", "logd-bench-http", "topic to produce to")
	f.IntVar(&o.Partitions, "partitions", 6, "partitions of the topic when the run creates it")
	f.IntVar(&o.Size, "size", 100, "record value bytes")
	f.DurationVar(&o.Duration, "duration", 0, "measured time (default 20s)")
	f.IntVar(&o.Connections, "connections", 4, "concurrent requests (or streams)")
	f.BoolVar(&o.Streaming, "streaming", false, "one long streaming request per connection instead of one request per record")
	f.BoolVar(&o.KeepTopic, "keep-topic", false, "keep the topic the run created")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
