package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/logd/logd/bench"
)

// benchCommand is `logd bench`: workloads against any Kafka-protocol broker, reports and
// plots, and the side-by-side comparison with Apache Kafka.
func benchCommand() *cobra.Command {
	cmd := groupCommand("bench", "Benchmark a broker with OMB-style workloads (list, run, compare)",
		"  logd bench list\n"+
			"  logd bench run --bootstrap 127.0.0.1:9092 --workload max-throughput --duration 30s --out out/max\n"+
			"  logd bench compare --workloads max-throughput,e2e-latency --duration 20s --out out/compare\n"+
			"  logd bench compare --brokers logd-rf3,logd-fsync --workloads max-throughput,fixed-rate-latency --perf-test=false --out out/rf")
	cmd.AddCommand(benchListCommand(), benchRunCommand(), benchCompareCommand(), benchHTTPCommand())
	return cmd
}

func benchListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in workloads",
		Args:  usageArgs(0, 0, "logd bench list"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tDURATION\tDESCRIPTION")
			for _, w := range bench.Builtins {
				fmt.Fprintf(tw, "%s\t%v\t%s\n", w.Name, time.Duration(w.Duration), w.Description)
			}
			return tw.Flush()
		},
	}
}

func benchRunCommand() *cobra.Command {
	var o bench.Options
	var workload string
	var noCeiling bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one workload against a broker and write DIR/report.json, report.md and plots (SVG, PNG)",
		Long: "Run a workload (a built-in name from `logd bench list`, or a YAML file) against any\n" +
			"Kafka-protocol broker. The broker's CPU seconds per GB and peak RSS come from /proc: of\n" +
			"--broker-pid PID, or else of the process listening on the --bootstrap port on this machine.\n" +
			"Max-rate produce workloads then re-run the generator against an in-process sink for a few\n" +
			"seconds, so the report can say when the generator, not the broker, was the limit. The\n" +
			"topics the run created are deleted when it ends, unless --keep-topic.",
		Example: "  logd bench run --workload max-throughput --duration 30s --out out/max\n" +
			"  logd bench run --workload e2e-latency --out out/e2e --keep-topic --broker-pid $(pgrep -n logd)\n" +
			"  logd bench run --workload bench/workloads/example.yaml --out out/example",
		Args: usageArgs(0, 0, "logd bench run --workload NAME|FILE --out DIR"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, _, err := splitHostPort(o.Bootstrap); err != nil {
				return usageError{err}
			}
			if o.Out == "" {
				return usageError{fmt.Errorf("--out DIR is required (report.json, report.md and plots go there)")}
			}
			w, err := bench.LoadWorkload(workload)
			if err != nil {
				return usageError{err}
			}
			o.Workload = w
			o.Ceiling = !noCeiling
			o.Progress = cmd.ErrOrStderr()
			o.Terminal = isTerminal(os.Stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := bench.Run(ctx, o)
			if err != nil {
				if r != nil && len(r.TopicsLeft) > 0 {
					err = fmt.Errorf("%v (left topics on the broker: %s)", err, strings.Join(r.TopicsLeft, " "))
				}
				return fmt.Errorf("bench %s: %v", w.Name, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, r.Summary())
			if len(r.Broker.PIDs) > 0 {
				fmt.Fprintf(out, "broker pid: %s (%s)\n", joinInts(r.Broker.PIDs), r.Broker.PIDFrom)
			} else {
				fmt.Fprintf(out, "broker pid: %s\n", r.Broker.PIDFrom)
			}
			fmt.Fprintf(out, "limited by: %s\nreport: %s\n", r.LimitedBy, filepath.Join(o.Out, "report.md"))
			if len(r.TopicsDeleted) > 0 {
				fmt.Fprintf(out, "deleted topics: %s\n", strings.Join(r.TopicsDeleted, " "))
			}
			if len(r.TopicsLeft) > 0 {
				fmt.Fprintf(out, "left topics on the broker: %s (remove them: logd topic delete %s --bootstrap %s)\n",
					strings.Join(r.TopicsLeft, " "), strings.Join(r.TopicsLeft, " "), o.Bootstrap)
			}
			if r.MachineCPU.Busy {
				fmt.Fprintf(cmd.OutOrStdout(), "BUSY machine: %s\n", r.MachineCPU.BusyReason)
			}
			if r.Invalid != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "INVALID: %s\n", r.Invalid)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Bootstrap, "bootstrap", defaultBootstrap, "broker address HOST:PORT")
	f.StringVar(&workload, "workload", "max-throughput", "built-in workload name (logd bench list) or YAML file")
	f.DurationVar(&o.Duration, "duration", 0, "measured time (default: the workload's)")
	f.DurationVar(&o.Warmup, "warmup", 0, "warm-up before measuring (default: the workload's; negative: none)")
	f.Float64Var(&o.RateMBps, "rate", 0, "fixed produce rate in MB/s, overriding the workload's (latency then from intended send times)")
	f.StringVar(&o.Out, "out", "", "directory for report.json, report.md and plots (SVG and PNG)")
	f.BoolVar(&o.KeepTopics, "keep-topic", false, "leave the run's topics and their data on the broker (by default the topics the run created are deleted when it ends)")
	f.IntSliceVar(&o.BrokerPIDs, "broker-pid", nil, "the broker's process id, or a cluster's (comma-separated or repeated): report their summed CPU per GB and peak RSS from /proc")
	f.IntVar(&o.BacklogMB, "backlog-mb", 0, "MB of backlog a catch-up workload produces before measuring, overriding the workload's")
	f.IntVar(&o.ReplicationFactor, "replication-factor", 0, "replication factor of the topics the run creates, overriding the workload's (above 1 needs a cluster)")
	f.StringVar(&o.BrokerName, "broker-name", "broker", "name of the broker in the report")
	f.StringVar(&o.DataDir, "data-dir", "", "the broker's data directory, for the disk in the machine fingerprint")
	f.DurationVar(&o.Window, "window", 10*time.Second, "report window")
	f.BoolVar(&noCeiling, "no-ceiling", false, "skip measuring the generator's own ceiling against a sink")
	f.StringVar(&o.MetricsURL, "metrics-url", "", "the broker's Prometheus endpoint (logd serve --http), e.g. http://127.0.0.1:9644/metrics, or a cluster's endpoints comma-separated (summed): adds the latency breakdown of produce requests")
	measureFlags(f, &o.LatencyBudget, &o.MaxSendLag, &o.BusyCores, &o.QuietWait)
	return cmd
}

func benchCompareCommand() *cobra.Command {
	var c bench.CompareOptions
	var workloads string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run workloads against Apache Kafka and logd side by side",
		Long: "Start Apache Kafka (KRaft, combined broker+controller on loopback, from the jars that\n" +
			"`scripts/kafka-tools.sh fetch` puts in tools/kafka/lib) and logd — with fsync before\n" +
			"acks=all (its default) and with Kafka-like durability (no fsync) — one after the other\n" +
			"on fresh data directories, run each workload against each, --runs times, and write\n" +
			"DIR/compare.md and compare.json: medians, ratios against Kafka, the goals, overlaid plots,\n" +
			"plus Kafka's own kafka-producer-perf-test against each broker as an independent check.\n\n" +
			"logd-rf3 is a 3-node logd cluster on loopback (the same binary, `logd serve` with a\n" +
			"controller quorum of the three) whose topics get replication factor 3, so acks=all waits\n" +
			"for the in-sync replicas; with logd-fsync beside it compare.md adds replication factor 3\n" +
			"against 1 (throughput, p99, p99.9, broker CPU summed over the nodes, ratios). The\n" +
			"fixed-rate workload runs at --rate, or, on freshly started brokers after each run's other\n" +
			"workloads, at --latency-fractions of the slower broker's max-throughput in run 1.\n\n" +
			"Each ratio comes with its spread (each broker's min–max, the ratio of every run pair); runs\n" +
			"on a busy machine are marked and left out of the medians; fixed-rate runs whose generator\n" +
			"fell behind schedule are marked invalid; the disk's synced-write rate is measured first.",
		Example: "  make bench-compare\n  logd bench compare --workloads max-throughput,iot-100b --duration 20s --runs 3 --out out/compare\n" +
			"  logd bench compare --workloads transactions,read-committed-catch-up --backlog-mb 200 --runs 3 --out out/txn\n" +
			"  make bench-rf\n  logd bench compare --brokers logd-rf3,logd-fsync --workloads max-throughput,fixed-rate-latency --perf-test=false --runs 3 --out out/rf",
		Args: usageArgs(0, 0, "logd bench compare --out DIR"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.Out == "" {
				return usageError{fmt.Errorf("--out DIR is required")}
			}
			for _, name := range strings.Split(workloads, ",") {
				if name = strings.TrimSpace(name); name != "" {
					c.Workloads = append(c.Workloads, name)
				}
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			c.LogdBinary = self
			c.Progress = cmd.ErrOrStderr()
			c.Terminal = isTerminal(os.Stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cmp, err := bench.Compare(ctx, c)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), cmp.Table())
			fmt.Fprintf(cmd.OutOrStdout(), "\nreport: %s\n", filepath.Join(c.Out, "compare.md"))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&workloads, "workloads", strings.Join(bench.DefaultCompareWorkloads, ","), "comma-separated workloads (names or YAML files)")
	f.DurationVar(&c.Duration, "duration", 20*time.Second, "measured time per workload run")
	f.DurationVar(&c.Warmup, "warmup", 10*time.Second, "warm-up per workload run (the JVM needs a few seconds)")
	f.IntVar(&c.Runs, "runs", 3, "runs per broker and workload (medians are reported)")
	f.StringVar(&c.Out, "out", "", "output directory")
	f.StringVar(&c.KafkaLib, "kafka-lib", "tools/kafka/lib", "directory of Apache Kafka's jars (scripts/kafka-tools.sh fetch)")
	f.StringVar(&c.DataDir, "data-dir", "", "where the brokers keep data (default: a temporary directory)")
	f.StringSliceVar(&c.Brokers, "brokers", []string{"kafka", "logd-fsync", "logd-nofsync"}, "brokers to run, in this order: kafka, logd-fsync, logd-nofsync, logd-rf3 (3-node logd cluster, replication factor 3)")
	f.Float64Var(&c.RateMBps, "rate", 0, "fixed rate of fixed-rate-latency in MB/s (default: --latency-fractions of the slower broker's max-throughput in run 1)")
	f.IntVar(&c.BacklogMB, "backlog-mb", 0, "MB of backlog the catch-up workloads produce before measuring (default: each workload's)")
	f.BoolVar(&c.PerfTest, "perf-test", true, "also run Kafka's kafka-producer-perf-test against each broker")
	f.Float64SliceVar(&c.LatencyFractions, "latency-fractions", bench.DefaultLatencyFractions, "fractions of the slower broker's max-throughput (run 1) at which fixed-rate-latency runs, one variant each (unless --rate)")
	measureFlags(f, &c.LatencyBudget, &c.MaxSendLag, &c.BusyCores, &c.QuietWait)
	return cmd
}

// measureFlags are the flags that keep a measurement honest, shared by run and compare.
func measureFlags(f *pflag.FlagSet, budget, maxLag *time.Duration, busyCores *float64, quietWait *time.Duration) {
	f.DurationVar(budget, "latency-budget", bench.DefaultLatencyBudget, "size a fixed-rate producer's in-flight window to absorb round trips up to this long without falling behind its schedule (0: the workload's in_flight)")
	f.DurationVar(maxLag, "max-send-lag", bench.DefaultMaxSendLag, "mark a fixed-rate run invalid when its send lag p99 (generator behind schedule) exceeds this")
	f.Float64Var(busyCores, "busy-cores", bench.DefaultBusyCores, "mark a run busy (left out of medians) when other processes and steal use more than this many cores during it")
	f.DurationVar(quietWait, "quiet-wait", 30*time.Second, "before each run, wait up to this long for other processes to use at most --busy-cores (then warn and run)")
}

func splitHostPort(s string) (string, string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("--bootstrap %q is not HOST:PORT (for example 127.0.0.1:9092)", s)
	}
	return host, port, nil
}

// joinInts joins process ids with commas.
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// isTerminal reports whether f is a terminal (progress bar) rather than a file or pipe
// (plain progress lines).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
