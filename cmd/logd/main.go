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
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCommand())
	root.AddCommand(benchCommand())
	root.AddCommand(topicCommand(), produceCommand(), consumeCommand(), groupVerbCommand(), clusterCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "logd: %v\n", err)
		var ue usageError
		// cobra reports an unknown verb as a plain error: it is a usage error too.
		if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
