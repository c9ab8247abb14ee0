package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

func consumeCommand() *cobra.Command {
	var cf clientFlags
	var fromBeginning bool
	var count int
	var partition int32
	var format, group string
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: "Print records from every partition of a topic (or one, with --partition), starting at the\n" +
			"end (or the beginning, with --from-beginning). Stops after -n records or on Ctrl-C.\n\n" +
			"--format is text (the value), json (one object per line), or a template where\n" +
			"%t topic, %p partition, %o offset, %k key, %v value, %h headers (k=v,...), %T timestamp ms,\n" +
			"%% a percent sign, and \\n \\t \\\\ escapes.",
		Example: "  logd consume orders --from-beginning -n 10\n" +
			"  logd consume orders --format '%k\\t%v\\n'\n" +
			"  logd consume orders --partition 0 --format json",
		Args: usageArgs(1, 1, "logd consume TOPIC [--from-beginning] [-n N] [--partition P] [--format FMT]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if group != "" {
				return fmt.Errorf("consumer groups are not supported yet; drop --group %s to read all partitions directly", group)
			}
			if count < 0 {
				return usageError{fmt.Errorf("-n %d must not be negative", count)}
			}
			onePartition := cmd.Flags().Changed("partition")
			if onePartition && partition < 0 {
				return usageError{fmt.Errorf("--partition %d must not be negative", partition)}
			}
			if !cmd.Flags().Changed("format") && cf.output == "json" {
				format = "json"
			}
			if cf.output != "text" && cf.output != "json" {
				return usageError{fmt.Errorf("--output %q is not text or json", cf.output)}
			}
			if _, err := cf.seeds(); err != nil {
				return err
			}
			render, err := recordFormatter(format)
			if err != nil {
				return err
			}

			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()

			// Find the partitions with an admin client, then assign them directly.
			actx, cancel := cf.timeoutCtx(ctx)
			adm, done, err := cf.admin(actx)
			if err != nil {
				cancel()
				return err
			}
			topics, err := adm.ListTopics(actx, topic)
			done()
			cancel()
			if err != nil {
				return cf.explain("cannot look up topic "+topic, err, "")
			}
			td, ok := topics[topic]
			if !ok || td.Err != nil || len(td.Partitions) == 0 {
				return fmt.Errorf("topic %s does not exist (see `logd topic list`)", topic)
			}
			start := kgo.NewOffset().AtEnd()
			if fromBeginning {
				start = kgo.NewOffset().AtStart()
			}
			parts := map[int32]kgo.Offset{}
			if onePartition {
				if _, ok := td.Partitions[partition]; !ok {
					return fmt.Errorf("topic %s has no partition %d (it has %d; see `logd topic describe %s`)", topic, partition, len(td.Partitions), topic)
				}
				parts[partition] = start
			} else {
				for p := range td.Partitions {
					parts[p] = start
				}
			}
			cl, err := cf.connect(ctx, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
				kgo.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				return err
			}
			defer cl.Close()

			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			seen := 0
			for count == 0 || seen < count {
				fetches := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					break
				}
				var ferr error
				fetches.EachError(func(t string, p int32, err error) {
					if ferr == nil && !errors.Is(err, ctx.Err()) {
						ferr = fmt.Errorf("partition %d: %w", p, err)
					}
				})
				if ferr != nil {
					out.Flush()
					return cf.explain("cannot consume "+topic, ferr, "")
				}
				iter := fetches.RecordIter()
				for !iter.Done() && (count == 0 || seen < count) {
					out.Write(render(iter.Next()))
					seen++
				}
				if err := out.Flush(); err != nil {
					return nil // stdout closed (e.g. piped into head): stop quietly
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	cf.register(f, true)
	f.BoolVarP(&fromBeginning, "from-beginning", "b", false, "start at the earliest offset instead of the end")
	f.IntVarP(&count, "num", "n", 0, "stop after N records (0: run until interrupted)")
	f.Int32VarP(&partition, "partition", "P", 0, "read only this partition")
	f.StringVarP(&format, "format", "f", "text", "text, json, or a template such as '%k\\t%v\\n'")
	f.StringVarP(&group, "group", "g", "", "consumer group (not supported yet)")
	return cmd
}

type jsonHeader struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp int64        `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     string       `json:"value"`
	Headers   []jsonHeader `json:"headers"`
}

// recordFormatter returns a function rendering one record per --format.
func recordFormatter(format string) (func(*kgo.Record) []byte, error) {
	switch format {
	case "text":
		return func(r *kgo.Record) []byte { return append(append([]byte{}, r.Value...), '\n') }, nil
	case "json":
		return func(r *kgo.Record) []byte {
			jr := jsonRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset,
				Timestamp: r.Timestamp.UnixMilli(), Value: string(r.Value), Headers: []jsonHeader{}}
			if r.Key != nil {
				k := string(r.Key)
				jr.Key = &k
			}
			for _, h := range r.Headers {
				jr.Headers = append(jr.Headers, jsonHeader{h.Key, string(h.Value)})
			}
			b, _ := json.Marshal(jr)
			return append(b, '\n')
		}, nil
	}
	if !strings.ContainsRune(format, '%') {
		return nil, usageError{fmt.Errorf("--format %q is not text, json or a template with %%k, %%v, ... (for example '%%k\\t%%v\\n')", format)}
	}
	// Validate the template once.
	for i := 0; i < len(format); i++ {
		switch format[i] {
		case '%':
			if i+1 >= len(format) || !strings.ContainsRune("tpokvhT%", rune(format[i+1])) {
				return nil, usageError{fmt.Errorf("--format %q: unknown directive at byte %d (use %%t %%p %%o %%k %%v %%h %%T %%%%)", format, i)}
			}
			i++
		case '\\':
			if i+1 >= len(format) || !strings.ContainsRune("nt\\", rune(format[i+1])) {
				return nil, usageError{fmt.Errorf("--format %q: unknown escape at byte %d (use \\n \\t \\\\)", format, i)}
			}
			i++
		}
	}
	return func(r *kgo.Record) []byte {
		var b []byte
		for i := 0; i < len(format); i++ {
			c := format[i]
			if c != '%' && c != '\\' {
				b = append(b, c)
				continue
			}
			i++
			d := format[i]
			if c == '\\' {
				b = append(b, map[byte]byte{'n': '\n', 't': '\t', '\\': '\\'}[d])
				continue
			}
			switch d {
			case 't':
				b = append(b, r.Topic...)
			case 'p':
				b = strconv.AppendInt(b, int64(r.Partition), 10)
			case 'o':
				b = strconv.AppendInt(b, r.Offset, 10)
			case 'k':
				b = append(b, r.Key...)
			case 'v':
				b = append(b, r.Value...)
			case 'T':
				b = strconv.AppendInt(b, r.Timestamp.UnixMilli(), 10)
			case 'h':
				for j, h := range r.Headers {
					if j > 0 {
						b = append(b, ',')
					}
					b = append(b, h.Key...)
					b = append(b, '=')
					b = append(b, h.Value...)
				}
			case '%':
				b = append(b, '%')
			}
		}
		return b
	}, nil
}
