package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/net/server"
)

func serveCommand() *cobra.Command {
	var dataDir, listen, advertise string
	var nodeID int32
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker",
		Long: "Run a single logd broker with the embedded default configuration: data in ./data,\n" +
			"Kafka protocol on 127.0.0.1:9092. SIGTERM or SIGINT shuts it down cleanly.",
		Example: "  logd serve\n  logd serve --data-dir /var/lib/logd --listen 0.0.0.0:9092 --advertise broker1.example.com:9092",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(dataDir, listen, advertise, nodeID)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data-dir", "data", "log directory")
	f.StringVar(&listen, "listen", "127.0.0.1:9092", "address to accept Kafka clients on")
	f.StringVar(&advertise, "advertise", "", "address clients are told to connect to (default: the listen address)")
	f.Int32Var(&nodeID, "node-id", 1, "this broker's node id")
	return cmd
}

func serve(dataDir, listen, advertise string, nodeID int32) error {
	start := time.Now()
	_, lport, err := net.SplitHostPort(listen)
	if err != nil {
		return usageError{fmt.Errorf("--listen %q is not HOST:PORT (for example 127.0.0.1:9092)", listen)}
	}
	if lport == "0" {
		// Any free port: pick it now, so the advertised address can name it.
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %v", listen, err)
		}
		listen = l.Addr().String()
		l.Close()
	}
	if advertise == "" {
		advertise = listen
	}
	host, portStr, err := net.SplitHostPort(advertise)
	port, perr := strconv.ParseUint(portStr, 10, 16)
	if err != nil || perr != nil || port == 0 {
		return usageError{fmt.Errorf("--advertise %q is not HOST:PORT with a port from 1 to 65535", advertise)}
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		return usageError{fmt.Errorf("--advertise %q must name a host clients can reach; pass --advertise HOST:PORT", advertise)}
	}
	if nodeID < 0 {
		return usageError{fmt.Errorf("--node-id %d must not be negative", nodeID)}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("cannot use --data-dir %s: %v", dataDir, err)
	}
	probe := filepath.Join(dataDir, ".logd-write-test")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		return fmt.Errorf("cannot write to --data-dir %s: %v", dataDir, err)
	}
	os.Remove(probe)

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(logger)
	cfg := broker.DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.Logger = nodeID, dataDir, logger
	cfg.AdvertisedHost, cfg.AdvertisedPort = host, int32(port)
	b, err := broker.New(cfg)
	if err != nil {
		return fmt.Errorf("cannot open --data-dir %s: %v", dataDir, err)
	}
	srv := server.New(server.Config{
		HeaderVersion: broker.HeaderVersion,
		Logf:          func(format string, args ...any) { logger.Error(fmt.Sprintf(format, args...)) },
	}, b)
	if err := srv.Start(listen); err != nil {
		b.Close()
		return fmt.Errorf("cannot listen on %s: %v", listen, err)
	}
	logger.Info("logd ready", "listen", srv.Addr().String(), "advertise", advertise, "data_dir", dataDir,
		"node_id", nodeID, "startup", time.Since(start).Round(time.Microsecond).String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.BeginShutdown()
	serr := srv.Shutdown(ctx)
	if err := b.Close(); err != nil {
		return fmt.Errorf("shutdown: %v", err)
	}
	if serr != nil {
		logger.Warn("network shutdown incomplete", "err", serr)
	}
	logger.Info("stopped cleanly")
	return nil
}
