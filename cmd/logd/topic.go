package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/progress"
)

func topicCommand() *cobra.Command {
	var cf clientFlags
	cmd := groupCommand("topic", "Create, list, describe, delete and configure topics",
		"  logd topic create orders --partitions 3\n  logd topic list\n  logd topic describe orders --output json")
	cf.register(cmd.PersistentFlags())
	cmd.AddCommand(topicCreateCommand(&cf), topicListCommand(&cf), topicDescribeCommand(&cf),
		topicDeleteCommand(&cf), topicAlterConfigCommand(&cf))
	return cmd
}

func topicCreateCommand(cf *clientFlags) *cobra.Command {
	var partitions int32
	var rf int16
	var configs []string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Example: "  logd topic create orders\n" +
			"  logd topic create orders --partitions 6 --config retention.ms=86400000 --config cleanup.policy=compact",
		Args: usageArgs(1, 1, "logd topic create NAME [--partitions N] [--replication-factor N] [--config k=v ...]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if partitions < 1 {
				return usageError{fmt.Errorf("--partitions %d must be at least 1", partitions)}
			}
			if rf < 1 {
				return usageError{fmt.Errorf("--replication-factor %d must be at least 1", rf)}
			}
			cfgs := map[string]*string{}
			for _, c := range configs {
				k, v, err := parseKV(c, "--config", "retention.ms=86400000")
				if err != nil {
					return err
				}
				cfgs[k] = kadm.StringPtr(v)
			}
			if _, err := cf.seeds(); err != nil {
				return err
			}
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			adm, done, err := cf.admin(ctx)
			if err != nil {
				return err
			}
			defer done()
			what := "cannot create topic " + name
			resp, err := adm.CreateTopic(ctx, partitions, rf, cfgs, name)
			if errors.Is(err, kerr.TopicAlreadyExists) {
				return fmt.Errorf("%s: it already exists (see `logd topic describe %s`)", what, name)
			}
			if errors.Is(err, kerr.InvalidReplicationFactor) {
				return fmt.Errorf("%s: %s: each replica needs its own broker; start more (README, \"A three-node cluster\") or pass a lower --replication-factor", what, resp.ErrMessage)
			}
			if err != nil {
				return cf.explain(what, err, resp.ErrMessage)
			}
			if resp.NumPartitions > 0 {
				partitions = resp.NumPartitions
			}
			if resp.ReplicationFactor > 0 {
				rf = resp.ReplicationFactor
			}
			if cf.json() {
				return printJSON(os.Stdout, map[string]any{"topic": name, "partitions": partitions, "replication_factor": rf})
			}
			fmt.Printf("created topic %s (%d partitions, replication factor %d)\n", name, partitions, rf)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", 1, "number of partitions")
	f.Int16VarP(&rf, "replication-factor", "r", 1, "replicas per partition")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic config KEY=VALUE (repeatable)")
	return cmd
}

type topicSummary struct {
	Name              string `json:"name"`
	Partitions        int    `json:"partitions"`
	ReplicationFactor int    `json:"replication_factor"`
}

func topicListCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Example: "  logd topic list\n  logd topic list --output json --bootstrap broker1:9092",
		Args:    usageArgs(0, 0, "logd topic list"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			adm, done, err := cf.admin(ctx)
			if err != nil {
				return err
			}
			defer done()
			topics, err := adm.ListTopics(ctx)
			if err != nil {
				return cf.explain("cannot list topics", err, "")
			}
			out := []topicSummary{}
			for _, t := range topics.Sorted() {
				s := topicSummary{Name: t.Topic, Partitions: len(t.Partitions)}
				for _, p := range t.Partitions {
					s.ReplicationFactor = max(s.ReplicationFactor, len(p.Replicas))
				}
				out = append(out, s)
			}
			if cf.json() {
				return printJSON(os.Stdout, out)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPARTITIONS\tREPLICAS")
			for _, s := range out {
				fmt.Fprintf(w, "%s\t%d\t%d\n", s.Name, s.Partitions, s.ReplicationFactor)
			}
			return w.Flush()
		},
	}
}

type partitionInfo struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	Error       string  `json:"error,omitempty"`
}

type topicInfo struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Internal   bool              `json:"internal"`
	Partitions []partitionInfo   `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

// describeTopic gathers metadata, offsets and non-default configs for one topic.
func describeTopic(ctx context.Context, cf *clientFlags, adm *kadm.Client, name string) (topicInfo, error) {
	what := "cannot describe topic " + name
	topics, err := adm.ListTopics(ctx, name)
	if err != nil {
		return topicInfo{}, cf.explain(what, err, "")
	}
	td, ok := topics[name]
	if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		return topicInfo{}, fmt.Errorf("topic %s does not exist (see `logd topic list`)", name)
	}
	if td.Err != nil {
		return topicInfo{}, cf.explain(what, td.Err, "")
	}
	starts, err := adm.ListStartOffsets(ctx, name)
	if err != nil {
		return topicInfo{}, cf.explain(what+" start offsets", err, "")
	}
	ends, err := adm.ListEndOffsets(ctx, name)
	if err != nil {
		return topicInfo{}, cf.explain(what+" end offsets", err, "")
	}
	info := topicInfo{Name: name, ID: base64.RawURLEncoding.EncodeToString(td.ID[:]), Internal: td.IsInternal, Configs: map[string]string{}} // Kafka renders ids URL-safe, unpadded
	for _, p := range td.Partitions.Sorted() {
		pi := partitionInfo{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), StartOffset: -1, EndOffset: -1}
		if p.Err != nil {
			pi.Error = p.Err.Error()
		}
		if o, ok := starts.Lookup(name, p.Partition); ok && o.Err == nil {
			pi.StartOffset = o.Offset
		}
		if o, ok := ends.Lookup(name, p.Partition); ok && o.Err == nil {
			pi.EndOffset = o.Offset
		}
		info.Partitions = append(info.Partitions, pi)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return topicInfo{}, cf.explain(what+" configs", err, "")
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return topicInfo{}, cf.explain(what+" configs", rc.Err, rc.ErrMessage)
		}
		for _, c := range rc.Configs {
			if c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				continue
			}
			v := ""
			if c.Sensitive {
				v = "(sensitive)"
			} else if c.Value != nil {
				v = *c.Value
			}
			info.Configs[c.Key] = v
		}
	}
	return info, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func topicDescribeCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "describe NAME",
		Short:   "Show a topic's partitions, leaders, replicas, ISR, offsets and non-default configs",
		Example: "  logd topic describe orders\n  logd topic describe orders --output json",
		Args:    usageArgs(1, 1, "logd topic describe NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := cf.seeds(); err != nil {
				return err
			}
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			adm, done, err := cf.admin(ctx)
			if err != nil {
				return err
			}
			defer done()
			info, err := describeTopic(ctx, cf, adm, args[0])
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(os.Stdout, info)
			}
			fmt.Printf("topic: %s\nid: %s\npartitions: %d\n\n", info.Name, info.ID, len(info.Partitions))
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tSTART\tEND")
			for _, p := range info.Partitions {
				fmt.Fprintf(w, "%d\t%d\t%d\t%v\t%v\t%d\t%d", p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.StartOffset, p.EndOffset)
				if p.Error != "" {
					fmt.Fprintf(w, "\t%s", p.Error)
				}
				fmt.Fprintln(w)
			}
			w.Flush()
			fmt.Println()
			if len(info.Configs) == 0 {
				fmt.Println("configs: (all defaults)")
				return nil
			}
			fmt.Println("configs:")
			keys := make([]string, 0, len(info.Configs))
			for k := range info.Configs {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Printf("  %s=%s\n", k, info.Configs[k])
			}
			return nil
		},
	}
}

// deleteBatch is how many topics one DeleteTopics request names when deleting many: small
// enough for the progress shown between requests to move, large enough to be quick.
const deleteBatch = 16

type deletedTopic struct {
	Topic   string `json:"topic"`
	Deleted bool   `json:"deleted"`
	Error   string `json:"error,omitempty"`
}

func topicDeleteCommand(cf *clientFlags) *cobra.Command {
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete topics and all their records",
		Long: "Delete one or more topics and all their records. Deleting several shows progress on\n" +
			"stderr (a bar on a terminal, a line every 2 seconds when piped; --no-progress: none).\n" +
			"--output json prints an object for one topic and an array of them for several.",
		Example: "  logd topic delete orders\n  logd topic list -o json | jq -r '.[].name | select(startswith(\"tmp-\"))' | xargs logd topic delete",
		Args:    usageArgs(1, -1, "logd topic delete NAME..."),
		RunE: func(cmd *cobra.Command, names []string) error {
			if _, err := cf.seeds(); err != nil {
				return err
			}
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			adm, done, err := cf.admin(ctx)
			cancel()
			if err != nil {
				return err
			}
			defer done()
			if len(names) == 1 {
				return deleteOneTopic(cmd.Context(), cf, adm, names[0])
			}
			var meter *progress.Meter
			if !noProgress {
				meter = progress.New(os.Stderr, "delete topics", "topics", int64(len(names)))
				defer meter.Done()
			}
			out := make([]deletedTopic, 0, len(names))
			var failed []string
			for len(names) > 0 {
				batch := names[:min(deleteBatch, len(names))]
				names = names[len(batch):]
				ctx, cancel := cf.timeoutCtx(cmd.Context())
				resps, err := adm.DeleteTopics(ctx, batch...)
				cancel()
				if err != nil {
					return cf.explain(fmt.Sprintf("cannot delete topics (%d deleted before)", len(out)-len(failed)), err, "")
				}
				for _, name := range batch {
					d := deletedTopic{Topic: name, Deleted: true}
					r, ok := resps[name]
					switch {
					case !ok:
						d.Deleted, d.Error = false, "no answer from the broker"
					case errors.Is(r.Err, kerr.UnknownTopicOrPartition):
						d.Deleted, d.Error = false, "does not exist"
					case r.Err != nil:
						d.Deleted, d.Error = false, firstLine(r.Err.Error())
						if r.ErrMessage != "" {
							d.Error += ": " + r.ErrMessage
						}
					}
					if !d.Deleted {
						failed = append(failed, name+" ("+d.Error+")")
					}
					out = append(out, d)
				}
				if meter != nil {
					meter.Add(int64(len(batch)))
				}
			}
			if meter != nil {
				meter.Done()
			}
			if cf.json() {
				if err := printJSON(os.Stdout, out); err != nil {
					return err
				}
			} else {
				for _, d := range out {
					if d.Deleted {
						fmt.Printf("deleted topic %s\n", d.Topic)
					}
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("could not delete %d of %d topics: %s (see `logd topic list`)", len(failed), len(out), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "do not show progress on stderr")
	return cmd
}

// deleteOneTopic deletes one topic, with the error messages of a single deletion.
func deleteOneTopic(parent context.Context, cf *clientFlags, adm *kadm.Client, name string) error {
	ctx, cancel := cf.timeoutCtx(parent)
	defer cancel()
	resp, err := adm.DeleteTopic(ctx, name)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return fmt.Errorf("cannot delete topic %s: it does not exist (see `logd topic list`)", name)
	}
	if err != nil {
		return cf.explain("cannot delete topic "+name, err, resp.ErrMessage)
	}
	if cf.json() {
		return printJSON(os.Stdout, deletedTopic{Topic: name, Deleted: true})
	}
	fmt.Printf("deleted topic %s\n", name)
	return nil
}

func topicAlterConfigCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "alter-config NAME KEY=VALUE ...",
		Short: "Set topic configs (IncrementalAlterConfigs SET)",
		Example: "  logd topic alter-config orders retention.ms=3600000\n" +
			"  logd topic alter-config orders cleanup.policy=compact segment.bytes=104857600",
		Args: usageArgs(2, -1, "logd topic alter-config NAME KEY=VALUE ..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			var alters []kadm.AlterConfig
			for _, a := range args[1:] {
				k, v, err := parseKV(a, "config", "retention.ms=3600000")
				if err != nil {
					return err
				}
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(v)})
			}
			if _, err := cf.seeds(); err != nil {
				return err
			}
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			adm, done, err := cf.admin(ctx)
			if err != nil {
				return err
			}
			defer done()
			what := "cannot alter configs of topic " + name
			resps, err := adm.AlterTopicConfigs(ctx, alters, name)
			if err != nil {
				return cf.explain(what, err, "")
			}
			r, err := resps.On(name, nil)
			if err == nil {
				err = r.Err
			}
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("%s: it does not exist (see `logd topic list`)", what)
			}
			if err != nil {
				return cf.explain(what, err, r.ErrMessage)
			}
			if cf.json() {
				set := map[string]string{}
				for _, a := range alters {
					set[a.Name] = *a.Value
				}
				return printJSON(os.Stdout, map[string]any{"topic": name, "set": set})
			}
			fmt.Printf("altered %d config(s) of topic %s\n", len(alters), name)
			return nil
		},
	}
}
