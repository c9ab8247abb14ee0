package main

// Shared plumbing for the client verbs (topic, produce, consume, group, cluster): the common
// --bootstrap/--timeout/--output flags, building a franz-go client, and turning client
// errors into one short line saying what is wrong and what to do.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const defaultBootstrap = "127.0.0.1:9092"

// clientFlags are the flags every client verb takes.
type clientFlags struct {
	bootstrap string
	timeout   time.Duration
	output    string
}

func (cf *clientFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&cf.bootstrap, "bootstrap", defaultBootstrap, "broker address HOST:PORT (comma-separated for several)")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "give up on the broker after this long")
	fs.StringVarP(&cf.output, "output", "o", "text", "output format: text or json")
}

// seeds validates the flags and returns the bootstrap addresses.
func (cf *clientFlags) seeds() ([]string, error) {
	if cf.timeout <= 0 {
		return nil, usageError{fmt.Errorf("--timeout %v must be positive (for example --timeout 10s)", cf.timeout)}
	}
	if cf.output != "" && cf.output != "text" && cf.output != "json" {
		return nil, usageError{fmt.Errorf("--output %q is not text or json", cf.output)}
	}
	var seeds []string
	for _, s := range strings.Split(cf.bootstrap, ",") {
		s = strings.TrimSpace(s)
		host, port, err := net.SplitHostPort(s)
		if err != nil || host == "" || port == "" {
			return nil, usageError{fmt.Errorf("--bootstrap %q is not HOST:PORT (for example 127.0.0.1:9092)", s)}
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, usageError{fmt.Errorf("--bootstrap %q: port %q is not a number from 1 to 65535 (for example 127.0.0.1:9092)", s, port)}
		}
		seeds = append(seeds, s)
	}
	return seeds, nil
}

func (cf *clientFlags) json() bool { return cf.output == "json" }

// connect validates the flags, checks that a bootstrap broker accepts connections (so an
// unreachable broker fails fast with a clear line instead of after the client's retries),
// and returns a franz-go client.
func (cf *clientFlags) connect(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := cf.seeds()
	if err != nil {
		return nil, err
	}
	var dialErr error
	reached := false
	for _, s := range seeds {
		d := net.Dialer{Timeout: cf.timeout}
		c, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			c.Close()
			reached = true
			break
		}
		dialErr = err
	}
	if !reached {
		return nil, cf.unreachable(dialErr)
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.DialTimeout(cf.timeout),
		kgo.RetryTimeout(cf.timeout),
		kgo.ClientID("logd-cli"),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("cannot create client: %v", err)
	}
	return cl, nil
}

// admin connects and wraps the client for admin requests.
func (cf *clientFlags) admin(ctx context.Context) (*kadm.Client, func(), error) {
	cl, err := cf.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

func (cf *clientFlags) hint() string {
	return "is `logd serve` running? pass --bootstrap HOST:PORT"
}

func (cf *clientFlags) unreachable(err error) error {
	var reason string
	switch {
	case err == nil:
		reason = "no address"
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		reason = fmt.Sprintf("no answer within %v", cf.timeout)
	default:
		reason = err.Error()
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			reason = oe.Err.Error()
		}
	}
	return fmt.Errorf("cannot reach %s: %s (%s)", cf.bootstrap, reason, cf.hint())
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// explain turns an error from a request into one line; what says what was attempted
// ("cannot create topic t").
func (cf *clientFlags) explain(what string, err error, detail string) error {
	if err == nil {
		return nil
	}
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return fmt.Errorf("%s: no answer from %s within %v (%s, or raise --timeout)", what, cf.bootstrap, cf.timeout, cf.hint())
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: interrupted", what)
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("%s: lost the connection to %s (%s)", what, cf.bootstrap, cf.hint())
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		msg := ke.Message
		if detail != "" {
			msg += ": " + detail
		}
		return fmt.Errorf("%s: %s (%s)", what, msg, firstLine(ke.Description))
	}
	msg := firstLine(err.Error())
	if detail != "" {
		msg += ": " + detail
	}
	return fmt.Errorf("%s: %s", what, msg)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// timeoutCtx bounds one admin operation.
func (cf *clientFlags) timeoutCtx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, cf.timeout)
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// usageArgs checks positional arguments and makes a wrong count a usage error (exit 2).
func usageArgs(min, max int, usage string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min {
			return usageError{fmt.Errorf("missing argument (usage: %s)", usage)}
		}
		if max >= 0 && len(args) > max {
			return usageError{fmt.Errorf("unexpected argument %q (usage: %s)", args[max], usage)}
		}
		return nil
	}
}

// parseKV splits "k=v"; flag names the flag or argument for the error.
func parseKV(s, flag, example string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return "", "", usageError{fmt.Errorf("%s %q is not KEY=VALUE (for example %s)", flag, s, example)}
	}
	return k, v, nil
}

// groupCommand builds a parent verb (topic, group, cluster) whose bare or unknown use is a
// usage error. ("group" here means a group of subcommands, not a consumer group.)
func groupCommand(use, short, example string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var names []string
			for _, c := range cmd.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, c.Name())
				}
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("%s needs a subcommand: %s (see %s --help)", cmd.CommandPath(), strings.Join(names, ", "), cmd.CommandPath())}
			}
			return usageError{fmt.Errorf("unknown command %q for %s; use one of: %s", args[0], cmd.CommandPath(), strings.Join(names, ", "))}
		},
	}
	return cmd
}
