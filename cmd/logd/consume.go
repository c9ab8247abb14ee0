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
	var idle time.Duration
	var partition int32
	var format, group string
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records from a topic",
		Long: "Print records from every partition of a topic (or one, with --partition), starting at the\n" +
			"end (or the beginning, with --from-beginning). Stops after -n records, after --idle-timeout\n" +
			"without a record, or on Ctrl-C.\n\n" +
			"--format is text (the value), json (one object per line), or a template where\n" +
			"%t topic, %p partition, %o offset, %k key, %v value, %h headers (k=v,...), %T timestamp ms,\n" +
			"%% a percent sign, and \\n \\t \\\\ escapes.\n\n" +
			"With --group G the consumer joins group G: the group assigns it partitions, it starts at the\n" +
			"group's committed offsets (the end, or the beginning with --from-beginning, where the group\n" +
			"has none) and commits the offset after each record it printed, on exit too.",
		Example: "  logd consume orders --from-beginning -n 10\n" +
			"  logd consume orders --format '%k\\t%v\\n'\n" +
			"  logd consume orders --partition 0 --format json\n" +
			"  logd consume orders --group billing -n 100\n" +
			"  logd consume orders --from-beginning --idle-timeout 2s",
		Args: usageArgs(1, 1, "logd consume TOPIC [--group G] [--from-beginning] [-n N] [--partition P] [--format FMT]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			if count < 0 {
				return usageError{fmt.Errorf("-n %d must not be negative", count)}
			}
			if idle < 0 {
				return usageError{fmt.Errorf("--idle-timeout %s must not be negative", idle)}
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

			if group != "" && !cf.json() {
				fmt.Fprintf(os.Stderr, "logd: joining group %s (a new group's first assignment waits the broker's group.initial.rebalance.delay.ms, 3 s by default)\n", group)
			}
			out := bufio.NewWriter(os.Stdout)
			defer out.Flush()
			seen := 0
			w := idleWait{idle: idle, last: time.Now()}
			for count == 0 || seen < count {
				pctx, pcancel := w.pollContext(ctx)
				fetches := cl.PollFetches(pctx)
				waited := pctx.Err() != nil // no record for a while
				pcancel()
				if ctx.Err() != nil {
					break
				}
				if waited {
					if w.idleOver() {
						break
					}
					w.hint(seen, count)
					continue
				}
				var ferr error
				fetches.EachError(func(t string, p int32, err error) {
					if ferr == nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
						ferr = fmt.Errorf("partition %d: %w", p, err)
					}
				})
				if ferr != nil {
					out.Flush()
					return cf.explain("cannot consume "+topic, ferr, "")
				}
				iter := fetches.RecordIter()
				before := seen
				var printed []*kgo.Record
				for !iter.Done() && (count == 0 || seen < count) {
					r := iter.Next()
					out.Write(render(r))
					if group != "" {
						printed = append(printed, r)
					}
					seen++
				}
				if seen > before {
					w.last = time.Now()
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
	f.DurationVar(&idle, "idle-timeout", 0, "stop when no record arrived for this long, e.g. 2s (0: wait for records until -n or Ctrl-C)")
	f.Int32VarP(&partition, "partition", "P", 0, "read only this partition")
	f.StringVarP(&format, "format", "f", "text", "text, json, or a template such as '%k\\t%v\\n'")
	f.StringVarP(&group, "group", "g", "", "consume as a member of this consumer group, committing its offsets")
	return cmd
}

// idleHint is how long consume waits for a record before saying on stderr that it waits.
const idleHint = 5 * time.Second

// idleWait tracks how long consume has gone without a record: it stops after idle when set,
// and otherwise says once, on stderr, that it is waiting and how to stop.
type idleWait struct {
	idle   time.Duration // 0: no idle stop
	last   time.Time     // when the last record arrived (or the start)
	hinted bool
}

// pollContext bounds one poll by the next moment the wait must act: the idle stop or the hint.
func (w *idleWait) pollContext(ctx context.Context) (context.Context, context.CancelFunc) {
	switch {
	case w.idle > 0:
		return context.WithDeadline(ctx, w.last.Add(w.idle))
	case !w.hinted:
		return context.WithDeadline(ctx, w.last.Add(idleHint))
	}
	return context.WithCancel(ctx)
}

// idleOver reports whether the idle stop is due.
func (w *idleWait) idleOver() bool {
	return w.idle > 0 && time.Since(w.last) >= w.idle
}

// hint says once that consume is waiting, with what it has so far and how to stop.
func (w *idleWait) hint(seen, count int) {
	if w.idle > 0 || w.hinted || time.Since(w.last) < idleHint {
		return
	}
	w.hinted = true
	so := fmt.Sprintf("%d records so far", seen)
	if count > 0 {
		so = fmt.Sprintf("%d of %d records so far", seen, count)
	}
	fmt.Fprintf(os.Stderr, "logd: waiting for records (%s); stop with Ctrl-C, or pass --idle-timeout 2s to stop when none arrive\n", so)
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
