package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logd/logd/internal/progress"
)

func produceCommand() *cobra.Command {
	var cf clientFlags
	var keySep, acks, compression string
	var noProgress bool
	var headers []string
	var partition int32
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Long: "Produce one record per line of standard input. With --key-separator, each line is split\n" +
			"at the first separator into key and value; a line without it is sent whole with a null key\n" +
			"(said on stderr). Prints \"produced N records\" to stderr when done\n" +
			"(--output json: {\"topic\": ..., \"produced\": N} on stdout instead).\n\n" +
			"While it runs it shows the records acknowledged and the rate on stderr: a line redrawn in\n" +
			"place on a terminal, a plain line every 2 seconds when stderr is piped (--no-progress: none).",
		Example: "  echo hello | logd produce orders\n" +
			"  printf 'k1:v1\\nk2:v2\\n' | logd produce orders --key-separator : --header source=cli --acks all --compression zstd",
		Args: usageArgs(1, 1, "logd produce TOPIC [--key-separator SEP] [--header k=v ...] [--acks all|1|0] [--compression CODEC] [--partition N]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			var hdrs []kgo.RecordHeader
			for _, h := range headers {
				k, v, err := parseKV(h, "--header", "source=cli")
				if err != nil {
					return err
				}
				hdrs = append(hdrs, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
			opts := []kgo.Opt{
				kgo.DefaultProduceTopic(topic),
				kgo.RecordDeliveryTimeout(cf.timeout),
				kgo.UnknownTopicRetries(2),
				kgo.ProducerLinger(0),
			}
			switch acks {
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
			default:
				return usageError{fmt.Errorf("--acks %q is not all, 1 or 0", acks)}
			}
			switch compression {
			case "none":
				opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
			case "gzip":
				opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
			case "snappy":
				opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
			case "lz4":
				opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
			case "zstd":
				opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
			default:
				return usageError{fmt.Errorf("--compression %q is not none, gzip, snappy, lz4 or zstd", compression)}
			}
			manual := cmd.Flags().Changed("partition")
			if manual {
				if partition < 0 {
					return usageError{fmt.Errorf("--partition %d must not be negative", partition)}
				}
				opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			}
			if _, err := cf.seeds(); err != nil {
				return err
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cctx, cancel := cf.timeoutCtx(ctx)
			cl, err := cf.connect(cctx, opts...)
			cancel()
			if err != nil {
				return err
			}
			defer cl.Close()

			var (
				acked    atomic.Int64
				errOnce  sync.Once
				firstErr error
				failed   = make(chan struct{})
			)
			var meter *progress.Meter
			if !noProgress {
				meter = progress.New(os.Stderr, "produce "+topic, "records", 0)
				defer meter.Done()
			}
			promise := func(_ *kgo.Record, err error) {
				if err != nil {
					errOnce.Do(func() { firstErr = err; close(failed) })
					return
				}
				acked.Add(1)
				if meter != nil {
					meter.Add(1)
				}
			}
			in := bufio.NewReaderSize(os.Stdin, 1<<16)
			lineNo, keyless := 0, 0 // keyless: lines without the key separator
		read:
			for {
				line, rerr := in.ReadString('\n')
				if rerr != nil && rerr != io.EOF {
					return fmt.Errorf("cannot read standard input: %v", rerr)
				}
				if rerr == io.EOF && line == "" {
					break
				}
				line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
				r := &kgo.Record{Value: []byte(line), Headers: hdrs}
				lineNo++
				if keySep != "" {
					if k, v, ok := strings.Cut(line, keySep); ok {
						r.Key, r.Value = []byte(k), []byte(v)
					} else if keyless++; keyless == 1 {
						fmt.Fprintf(os.Stderr, "logd: line %d has no key separator %q: sent with a null key (the whole line is the value)\n", lineNo, keySep)
					}
				}
				if manual {
					r.Partition = partition
				}
				select {
				case <-failed:
					break read
				case <-ctx.Done():
					break read
				default:
				}
				cl.Produce(ctx, r, promise)
				if rerr == io.EOF {
					break
				}
			}
			fctx, fcancel := context.WithTimeout(ctx, cf.timeout+cf.timeout/2)
			ferr := cl.Flush(fctx)
			fcancel()
			if meter != nil {
				meter.Done()
			}
			select {
			case <-failed:
				return produceError(&cf, topic, acked.Load(), firstErr)
			default:
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted after %d acknowledged records", acked.Load())
			}
			if ferr != nil {
				return produceError(&cf, topic, acked.Load(), ferr)
			}
			if cf.json() {
				return printJSON(os.Stdout, map[string]any{"topic": topic, "produced": acked.Load()})
			}
			if keyless > 1 {
				fmt.Fprintf(os.Stderr, "logd: %d lines had no key separator %q and were sent with a null key\n", keyless, keySep)
			}
			fmt.Fprintln(os.Stderr, producedRecords(acked.Load()))
			return nil
		},
	}
	f := cmd.Flags()
	cf.register(f)
	f.StringVarP(&keySep, "key-separator", "K", "", "split each line into key and value at the first SEP")
	f.StringArrayVarP(&headers, "header", "H", nil, "header KEY=VALUE added to every record (repeatable)")
	f.StringVar(&acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVarP(&compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.Int32VarP(&partition, "partition", "P", 0, "produce every record to this partition (default: hash of the key)")
	f.BoolVar(&noProgress, "no-progress", false, "do not show progress on stderr")
	return cmd
}

func produceError(cf *clientFlags, topic string, acked int64, err error) error {
	what := fmt.Sprintf("produce to %s failed after %d acknowledged records", topic, acked)
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%s: topic or partition does not exist (create it with `logd topic create %s`, see `logd topic describe %s`)", what, topic, topic)
	case errors.Is(err, kgo.ErrRecordTimeout):
		return fmt.Errorf("%s: not acknowledged within %v (%s, or raise --timeout)", what, cf.timeout, cf.hint())
	}
	return cf.explain(what, err, "")
}

// producedRecords is produce's closing line: "produced 1 record", "produced 3 records".
func producedRecords(n int64) string {
	if n == 1 {
		return "produced 1 record"
	}
	return fmt.Sprintf("produced %d records", n)
}
