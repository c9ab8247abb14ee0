// Package example holds what the streams examples' commands share.
package example

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/logd/logd/streams"
)

// Run runs topo with cfg (whose Logger must be set) until SIGINT or SIGTERM, then
// logs how many records the command (name) processed and for how long.
func Run(name string, topo *streams.Topology, cfg streams.Config) error {
	a, err := streams.New(topo, cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err = a.Run(ctx)
	cfg.Logger.Info(name+" stopped", "records", a.Metrics().RecordsProcessed.Load(), "ran", time.Since(start))
	return err
}
