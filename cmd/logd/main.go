// Command logd is the logd broker and its command-line tools.
//
//	logd serve [--data-dir DIR] [--listen HOST:PORT] [--advertise HOST:PORT]
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks a bad command line: exit status 2 instead of 1.
type usageError struct{ error }

func main() {
	root := &cobra.Command{
		Use:           "logd",
		Short:         "logd is a Kafka-compatible event streaming broker",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `%s --help`)", err, cmd.CommandPath())}
	})
	root.AddCommand(serveCommand())
	root.AddCommand(benchCommand())
	root.AddCommand(connectCommand())
	root.AddCommand(topicCommand(), produceCommand(), consumeCommand(), groupVerbCommand(), clusterCommand())
	if err := root.Execute(); err != nil {
		var ue usageError
		// cobra reports an unknown verb as a plain error (with suggestions on further lines):
		// it is a usage error too, said in one line.
		if msg := err.Error(); !errors.As(err, &ue) && strings.HasPrefix(msg, "unknown command") {
			first, rest, _ := strings.Cut(msg, "\n")
			hint := "see `logd --help`"
			if _, sugg, ok := strings.Cut(rest, "Did you mean this?"); ok {
				hint = "did you mean " + strings.Join(strings.Fields(sugg), " or ") + "? " + hint
			}
			err = usageError{fmt.Errorf("%s (%s)", first, hint)}
		}
		fmt.Fprintf(os.Stderr, "logd: %v\n", err)
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
