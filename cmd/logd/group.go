package main

// The group verbs: list, describe (members, assignments, lag) and reset-offsets, spoken with
// the Kafka protocol through franz-go's kadm, so they work against any Kafka broker as well
// as logd. Each first checks with ApiVersions that the broker has the group APIs it needs,
// so a broker without a group coordinator gets one clear line instead of a retry loop.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func groupVerbCommand() *cobra.Command {
	var cf clientFlags
	cmd := groupCommand("group", "List, describe and reset consumer groups",
		"  logd group list\n  logd group describe billing\n"+
			"  logd group reset-offsets billing --topic orders --to-earliest --execute")
	cf.register(cmd.PersistentFlags())
	cmd.AddCommand(groupListCommand(&cf), groupDescribeCommand(&cf), groupResetOffsetsCommand(&cf))
	return cmd
}

// The group APIs each verb needs.
var (
	listGroupAPIs     = []kmsg.Key{kmsg.ListGroups}
	describeGroupAPIs = []kmsg.Key{kmsg.FindCoordinator, kmsg.DescribeGroups, kmsg.OffsetFetch}
	resetGroupAPIs    = []kmsg.Key{kmsg.FindCoordinator, kmsg.DescribeGroups, kmsg.OffsetFetch, kmsg.OffsetCommit}
	consumeGroupAPIs  = []kmsg.Key{kmsg.FindCoordinator, kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat,
		kmsg.LeaveGroup, kmsg.OffsetFetch, kmsg.OffsetCommit}
)

// missingAPIs asks the broker (ApiVersions) which of keys it does not serve.
func missingAPIs(ctx context.Context, cl *kgo.Client, keys []kmsg.Key) ([]string, error) {
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	have := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		have[k.ApiKey] = true
	}
	var missing []string
	for _, k := range keys {
		if !have[int16(k)] {
			missing = append(missing, k.Name())
		}
	}
	return missing, nil
}

// requireGroupAPIs fails with one line when the broker lacks any of keys; what says what
// was attempted ("cannot list groups").
func (cf *clientFlags) requireGroupAPIs(ctx context.Context, cl *kgo.Client, what string, keys []kmsg.Key) error {
	missing, err := missingAPIs(ctx, cl, keys)
	if err != nil {
		return cf.explain(what, err, "")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: the broker at %s has no consumer group coordinator (it does not serve %s); use a broker that does",
			what, cf.bootstrap, strings.Join(missing, ", "))
	}
	return nil
}

// groupAdmin connects, checks the broker serves keys and returns an admin client.
func (cf *clientFlags) groupAdmin(ctx context.Context, what string, keys []kmsg.Key) (*kadm.Client, func(), error) {
	if _, err := cf.seeds(); err != nil {
		return nil, nil, err
	}
	cl, err := cf.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := cf.requireGroupAPIs(ctx, cl, what, keys); err != nil {
		cl.Close()
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

type groupSummary struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func groupListCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: "  logd group list\n  logd group list --output json",
		Args:    usageArgs(0, 0, "logd group list"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			what := "cannot list groups"
			adm, done, err := cf.groupAdmin(ctx, what, listGroupAPIs)
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroups(ctx)
			if err != nil {
				return cf.explain(what, err, "")
			}
			out := []groupSummary{}
			for _, g := range groups.Sorted() {
				out = append(out, groupSummary{g.Group, g.State, g.ProtocolType, g.Coordinator})
			}
			if cf.json() {
				return printJSON(os.Stdout, out)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "GROUP\tSTATE\tTYPE\tCOORDINATOR")
			for _, g := range out {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", g.Group, g.State, orDash(g.ProtocolType), g.Coordinator)
			}
			return w.Flush()
		},
	}
}

type groupMember struct {
	MemberID    string             `json:"member_id"`
	InstanceID  *string            `json:"instance_id"`
	ClientID    string             `json:"client_id"`
	ClientHost  string             `json:"client_host"`
	Assignments map[string][]int32 `json:"assignments"`
}

// groupOffset is one partition of a group: committed offset (-1: none), end offset and lag
// (-1 when either is unknown).
type groupOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
	Error     string `json:"error,omitempty"`
}

type groupInfo struct {
	Group        string        `json:"group"`
	State        string        `json:"state"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"`
	Coordinator  int32         `json:"coordinator"`
	Members      []groupMember `json:"members"`
	Offsets      []groupOffset `json:"offsets"`
	TotalLag     int64         `json:"total_lag"`
}

// describeGroup gathers a group's members, assignments, commits and lag.
func describeGroup(ctx context.Context, cf *clientFlags, adm *kadm.Client, group string) (groupInfo, error) {
	what := "cannot describe group " + group
	notFound := fmt.Errorf("group %s does not exist (see `logd group list`)", group)
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return groupInfo{}, cf.explain(what, err, "")
	}
	l, ok := lags[group]
	if !ok {
		return groupInfo{}, fmt.Errorf("%s: the broker did not answer for it", what)
	}
	if err := l.Error(); errors.Is(err, kerr.GroupIDNotFound) {
		return groupInfo{}, notFound
	} else if err != nil {
		return groupInfo{}, cf.explain(what, err, "")
	}
	info := groupInfo{Group: group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
		Coordinator: l.Coordinator.NodeID, Members: []groupMember{}, Offsets: []groupOffset{}}
	for _, m := range l.Members {
		gm := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID,
			ClientHost: m.ClientHost, Assignments: map[string][]int32{}}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range a.Topics {
				ps := append([]int32(nil), t.Partitions...)
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				gm.Assignments[t.Topic] = ps
			}
		}
		info.Members = append(info.Members, gm)
	}
	for _, ml := range l.Lag.Sorted() {
		o := groupOffset{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			o.MemberID = ml.Member.MemberID
		}
		if ml.Err != nil {
			o.Error = ml.Err.Error()
			o.Lag = -1
		}
		if o.Lag > 0 {
			info.TotalLag += o.Lag
		}
		info.Offsets = append(info.Offsets, o)
	}
	if info.State == "Dead" && len(info.Members) == 0 && len(info.Offsets) == 0 {
		return groupInfo{}, notFound // older brokers describe unknown groups as Dead
	}
	return info, nil
}

func groupDescribeCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP",
		Short: "Show a group's state, members, assignments, and committed offset and lag per partition",
		Long: "Show a consumer group: its state, members and their assigned partitions, and for each\n" +
			"partition the committed offset, the log end offset and the lag (end - committed).",
		Example: "  logd group describe billing\n  logd group describe billing --output json",
		Args:    usageArgs(1, 1, "logd group describe GROUP"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			adm, done, err := cf.groupAdmin(ctx, "cannot describe group "+args[0], describeGroupAPIs)
			if err != nil {
				return err
			}
			defer done()
			info, err := describeGroup(ctx, cf, adm, args[0])
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(os.Stdout, info)
			}
			protocol := orDash(info.ProtocolType)
			if info.Protocol != "" {
				protocol += " (" + info.Protocol + ")"
			}
			fmt.Printf("group: %s\nstate: %s\nprotocol: %s\ncoordinator: %d\nmembers: %d\ntotal lag: %d\n\n",
				info.Group, info.State, protocol, info.Coordinator, len(info.Members), info.TotalLag)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			if len(info.Members) > 0 {
				fmt.Fprintln(w, "MEMBER\tCLIENT-ID\tHOST\tASSIGNMENT")
				for _, m := range info.Members {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.ClientHost, formatAssignment(m.Assignments))
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w, "TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
			for _, o := range info.Offsets {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s", o.Topic, o.Partition, offsetOrDash(o.Committed), offsetOrDash(o.End), offsetOrDash(o.Lag), orDash(o.MemberID))
				if o.Error != "" {
					fmt.Fprintf(w, "\t%s", o.Error)
				}
				fmt.Fprintln(w)
			}
			return w.Flush()
		},
	}
}

// formatAssignment renders {orders: [0 1]} as "orders[0,1]".
func formatAssignment(a map[string][]int32) string {
	if len(a) == 0 {
		return "-"
	}
	topics := make([]string, 0, len(a))
	for t := range a {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	var b strings.Builder
	for i, t := range topics {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t)
		b.WriteByte('[')
		for j, p := range a[t] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(p)))
		}
		b.WriteByte(']')
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return strconv.FormatInt(o, 10)
}

// resetTarget is where reset-offsets moves each partition.
type resetTarget struct {
	kind   string // earliest, latest, offset, datetime
	offset int64  // for offset
	millis int64  // for datetime
}

// topicSpec is one --topic: a topic and optionally some of its partitions (TOPIC:0,2).
type topicSpec struct {
	topic      string
	partitions []int32 // nil: all
}

func parseTopicSpec(s string) (topicSpec, error) {
	name, parts, hasParts := strings.Cut(s, ":")
	if name == "" {
		return topicSpec{}, usageError{fmt.Errorf("--topic %q names no topic (for example --topic orders or --topic orders:0,2)", s)}
	}
	ts := topicSpec{topic: name}
	if !hasParts {
		return ts, nil
	}
	for _, p := range strings.Split(parts, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		if err != nil || n < 0 {
			return topicSpec{}, usageError{fmt.Errorf("--topic %q: %q is not a partition number (for example --topic orders:0,2)", s, p)}
		}
		ts.partitions = append(ts.partitions, int32(n))
	}
	return ts, nil
}

// parseDatetime reads --to-datetime: RFC 3339, or Kafka's tool's YYYY-MM-DDTHH:mm:SS[.sss]
// in local time, or a date (midnight, local time).
func parseDatetime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.000", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("--to-datetime %q is not a time (for example 2026-01-31T12:00:00Z, 2026-01-31T12:00:00 local, or 2026-01-31)", s)}
}

// plannedOffset is one line of a reset plan.
type plannedOffset struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Current   int64  `json:"current"` // -1: nothing committed
	New       int64  `json:"new"`
}

type resetPlan struct {
	Group    string          `json:"group"`
	State    string          `json:"state"`
	Executed bool            `json:"executed"`
	Offsets  []plannedOffset `json:"offsets"`
}

func groupResetOffsetsCommand(cf *clientFlags) *cobra.Command {
	var topics []string
	var earliest, latest, dryRun, execute bool
	var toOffset int64
	var toDatetime string
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic T[:P,...] (--to-earliest|--to-latest|--to-offset N|--to-datetime T) [--dry-run|--execute]",
		Short: "Move a group's committed offsets (plan by default, --execute to commit)",
		Long: "Move the committed offsets of an inactive consumer group, like Kafka's\n" +
			"kafka-consumer-groups --reset-offsets. Without --execute (or with --dry-run) it prints the\n" +
			"plan and changes nothing. The group must have no active members when executing: stop its\n" +
			"consumers first. --to-offset is clamped to each partition's [start, end]; --to-datetime\n" +
			"moves to the first record at or after the time (the end if there is none).",
		Example: "  logd group reset-offsets billing --topic orders --to-earliest\n" +
			"  logd group reset-offsets billing --topic orders --to-earliest --execute\n" +
			"  logd group reset-offsets billing --topic orders:0,1 --to-offset 100 --execute\n" +
			"  logd group reset-offsets billing --topic orders --to-datetime 2026-01-31T12:00:00Z --execute -o json",
		Args: usageArgs(1, 1, "logd group reset-offsets GROUP --topic T --to-earliest|--to-latest|--to-offset N|--to-datetime T [--dry-run|--execute]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			var target resetTarget
			n := 0
			if earliest {
				target.kind, n = "earliest", n+1
			}
			if latest {
				target.kind, n = "latest", n+1
			}
			if cmd.Flags().Changed("to-offset") {
				if toOffset < 0 {
					return usageError{fmt.Errorf("--to-offset %d must not be negative", toOffset)}
				}
				target.kind, target.offset, n = "offset", toOffset, n+1
			}
			if toDatetime != "" {
				t, err := parseDatetime(toDatetime)
				if err != nil {
					return err
				}
				target.kind, target.millis, n = "datetime", t.UnixMilli(), n+1
			}
			if n != 1 {
				return usageError{errors.New("give exactly one of --to-earliest, --to-latest, --to-offset N, --to-datetime T")}
			}
			if dryRun && execute {
				return usageError{errors.New("--dry-run and --execute contradict each other; give one")}
			}
			if len(topics) == 0 {
				return usageError{errors.New("name the topics to reset with --topic T (repeatable; T:0,2 for some partitions)")}
			}
			var specs []topicSpec
			for _, t := range topics {
				s, err := parseTopicSpec(t)
				if err != nil {
					return err
				}
				specs = append(specs, s)
			}

			ctx, cancel := cf.timeoutCtx(cmd.Context())
			defer cancel()
			what := "cannot reset offsets of group " + group
			adm, done, err := cf.groupAdmin(ctx, what, resetGroupAPIs)
			if err != nil {
				return err
			}
			defer done()
			plan, err := planReset(ctx, cf, adm, group, specs, target)
			if err != nil {
				return err
			}
			active := plan.State != "Empty" && plan.State != "Dead"
			if execute {
				if active {
					return fmt.Errorf("%s: it is %s with active members; stop its consumers and try again", what, plan.State)
				}
				var commits kadm.Offsets
				for _, o := range plan.Offsets {
					commits.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.New, LeaderEpoch: -1})
				}
				resps, err := adm.CommitOffsets(ctx, group, commits)
				if err == nil {
					err = resps.Error()
				}
				if err != nil {
					return cf.explain(what, err, "")
				}
				plan.Executed = true
			}
			if cf.json() {
				if err := printJSON(os.Stdout, plan); err != nil {
					return err
				}
			} else {
				w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "GROUP\tTOPIC\tPARTITION\tCURRENT\tNEW")
				for _, o := range plan.Offsets {
					fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%d\n", group, o.Topic, o.Partition, offsetOrDash(o.Current), o.New)
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			switch {
			case cf.json(): // "executed" says it
			case execute:
				fmt.Fprintf(os.Stderr, "committed %d offsets for group %s\n", len(plan.Offsets), group)
			case active:
				fmt.Fprintf(os.Stderr, "dry run: nothing changed; group %s is %s, stop its consumers before --execute\n", group, plan.State)
			default:
				fmt.Fprintln(os.Stderr, "dry run: nothing changed; add --execute to commit these offsets")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&topics, "topic", "t", nil, "topic to reset, or TOPIC:P,P for some partitions (repeatable)")
	f.BoolVar(&earliest, "to-earliest", false, "move to each partition's log start offset")
	f.BoolVar(&latest, "to-latest", false, "move to each partition's end offset (skip everything)")
	f.Int64Var(&toOffset, "to-offset", 0, "move to this offset (clamped to the partition's range)")
	f.StringVar(&toDatetime, "to-datetime", "", "move to the first record at or after this time (RFC 3339, or YYYY-MM-DDTHH:mm:SS local)")
	f.BoolVar(&dryRun, "dry-run", false, "print the plan only (the default)")
	f.BoolVar(&execute, "execute", false, "commit the new offsets")
	return cmd
}

// planReset computes the new offset of every partition named by specs.
func planReset(ctx context.Context, cf *clientFlags, adm *kadm.Client, group string, specs []topicSpec, target resetTarget) (resetPlan, error) {
	what := "cannot plan the reset of group " + group
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return resetPlan{}, cf.explain(what, err, "")
	}
	dg := described[group]
	switch {
	case errors.Is(dg.Err, kerr.GroupIDNotFound):
		// A group that does not exist yet: committing offsets creates it, as in Kafka.
		dg.State = "Dead"
	case dg.Err != nil:
		return resetPlan{}, cf.explain(what, dg.Err, dg.ErrMessage)
	}
	plan := resetPlan{Group: group, State: dg.State, Offsets: []plannedOffset{}}
	names := make([]string, 0, len(specs))
	for _, s := range specs {
		names = append(names, s.topic)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return resetPlan{}, cf.explain(what, err, "")
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return resetPlan{}, cf.explain(what, err, "")
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return resetPlan{}, cf.explain(what, err, "")
	}
	var after kadm.ListedOffsets
	if target.kind == "datetime" {
		if after, err = adm.ListOffsetsAfterMilli(ctx, target.millis, names...); err != nil {
			return resetPlan{}, cf.explain(what, err, "")
		}
	}
	for _, s := range specs {
		parts := ends[s.topic]
		if len(parts) == 0 || parts[-1].Err != nil {
			return resetPlan{}, fmt.Errorf("%s: topic %s does not exist (see `logd topic list`)", what, s.topic)
		}
		want := s.partitions
		if want == nil {
			for p := range parts {
				want = append(want, p)
			}
			sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
		}
		for _, p := range want {
			end, ok := ends.Lookup(s.topic, p)
			if !ok {
				return resetPlan{}, fmt.Errorf("%s: topic %s has no partition %d (see `logd topic describe %s`)", what, s.topic, p, s.topic)
			}
			start, _ := starts.Lookup(s.topic, p)
			if end.Err != nil || start.Err != nil {
				return resetPlan{}, cf.explain(fmt.Sprintf("%s: partition %s/%d", what, s.topic, p), errors.Join(end.Err, start.Err), "")
			}
			po := plannedOffset{Topic: s.topic, Partition: p, Current: -1}
			if c, ok := committed.Lookup(s.topic, p); ok && c.Err == nil {
				po.Current = c.At
			}
			switch target.kind {
			case "earliest":
				po.New = start.Offset
			case "latest":
				po.New = end.Offset
			case "offset":
				po.New = min(max(target.offset, start.Offset), end.Offset)
			case "datetime":
				po.New = end.Offset
				if a, ok := after.Lookup(s.topic, p); ok && a.Err == nil && a.Offset >= 0 {
					po.New = a.Offset
				}
			}
			plan.Offsets = append(plan.Offsets, po)
		}
	}
	return plan, nil
}
