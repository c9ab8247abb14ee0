package main

import (
	"bufio"
	"context"
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
			"%% a percent sign, and \\n \\t \\\\ escapes.\n\n" +
			"With --group G the consumer joins group G: the group assigns it partitions, it starts at the\n" +
			"group's committed offsets (the end, or the beginning with --from-beginning, where the group\n" +
			"has none) and commits the offset after each record it printed, on exit too.",
		Example: "  logd consume orders --from-beginning -n 10\n" +
			"  logd consume orders --format '%k\\t%v\\n'\n" +
			"  logd consume orders --partition 0 --format json\n" +
			"  logd consume orders --group billing -n 100",
		Args: usageArgs(1, 1, "logd consume TOPIC [--group G] [--from-beginning] [-n N] [--partition P] [--format FMT]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if count < 0 {
				return usageError{fmt.Errorf("-n %d must not be negative", count)}
			}
			onePartition := cmd.Flags().Changed("partition")
			if onePartition && partition < 0 {
				return usageError{fmt.Errorf("--partition %d must not be negative", partition)}
			}
			if onePartition && group != "" {
				return usageError{fmt.Errorf("--partition and --group %s: a group member reads the partitions its group assigns; drop one", group)}
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

			// Look the topic up with an admin client, then assign its partitions directly or
			// join the group.
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
			opts := []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond)}
			if group != "" {
				opts = append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(start), kgo.AutoCommitMarks())
			} else {
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
				opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}))
			}
			cl, err := cf.connect(ctx, opts...)
			if err != nil {
				return err
			}
			defer cl.Close() // a group member leaves its group here
			if group != "" {
				gctx, gcancel := cf.timeoutCtx(ctx)
				err := cf.requireGroupAPIs(gctx, cl, "cannot consume "+topic+" as group "+group, consumeGroupAPIs)
				gcancel()
				if err != nil {
					return err
				}
				// Commit what was printed when stopping, however it stops (-n reached, Ctrl-C).
				defer func() {
					cctx, ccancel := context.WithTimeout(context.Background(), cf.timeout)
					defer ccancel()
					if err := cl.CommitMarkedOffsets(cctx); err != nil {
						fmt.Fprintf(os.Stderr, "logd: could not commit the last offsets of group %s (%s); its next member rereads from its previous commit\n", group, firstLine(err.Error()))
					}
				}()
			}

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
				var printed []*kgo.Record
				for !iter.Done() && (count == 0 || seen < count) {
					r := iter.Next()
					out.Write(render(r))
					if group != "" {
						printed = append(printed, r)
					}
					seen++
				}
				if err := out.Flush(); err != nil {
					return nil // stdout closed (e.g. piped into head): stop quietly
				}
				if group != "" {
					cl.MarkCommitRecords(printed...) // printed, so done: committed soon, and on exit
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	cf.register(f)
	f.BoolVarP(&fromBeginning, "from-beginning", "b", false, "start at the earliest offset instead of the end")
	f.IntVarP(&count, "num", "n", 0, "stop after N records (0: run until interrupted)")
	f.Int32VarP(&partition, "partition", "P", 0, "read only this partition")
	f.StringVarP(&format, "format", "f", "text", "text, json, or a template such as '%k\\t%v\\n'")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group, committing its offsets")
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
