package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/logd/logd/connect"
	_ "github.com/logd/logd/connect/file"     // the FileStream connectors
	_ "github.com/logd/logd/connect/httpsink" // the HTTP sink
	_ "github.com/logd/logd/connect/postgres" // Debezium's PostgreSQL source and JDBC sink
)

func connectCommand() *cobra.Command {
	cmd := groupCommand("connect", "Run Kafka Connect workers (no JVM) and inspect them",
		"  logd connect standalone worker.properties file-source.properties\n  logd connect status --url http://localhost:8083")
	cmd.AddCommand(connectStandaloneCommand(), connectDistributedCommand(), connectStatusCommand())
	return cmd
}

func connectDistributedCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "distributed WORKER.properties",
		Short: "Run a worker of a distributed Connect cluster (Kafka Connect's connect-distributed)",
		Long: "Runs a Kafka Connect worker in distributed mode: workers with the same group.id share the\n" +
			"connectors through a group on the broker and keep configs, offsets and statuses in\n" +
			"config.storage.topic, offset.storage.topic and status.storage.topic (created compacted if\n" +
			"missing, in Kafka Connect's record formats). Connectors are managed over the REST API.",
		Example: "  logd connect distributed config/connect-distributed.properties",
		Args:    usageArgs(1, 1, "logd connect distributed WORKER.properties"),
		RunE: func(cmd *cobra.Command, args []string) error {
			props, err := connect.LoadProperties(args[0])
			if err != nil {
				return err
			}
			cfg, err := connect.ParseWorkerConfig(props, true)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			w, err := connect.StartDistributed(cmd.Context(), cfg, log, nil)
			if err != nil {
				return err
			}
			log.Info("Kafka Connect started", "mode", "distributed", "group", cfg.GroupID, "rest", w.URL, "worker_id", cfg.WorkerID())
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			<-sig
			log.Info("Kafka Connect stopping")
			return w.Close()
		},
	}
}

func connectStandaloneCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "standalone WORKER.properties [CONNECTOR.properties...]",
		Short: "Run a standalone worker with the given connectors (Kafka Connect's connect-standalone)",
		Long: "Runs a Kafka Connect worker in standalone mode: worker.properties uses Kafka Connect's names\n" +
			"(bootstrap.servers, key.converter, value.converter, offset.storage.file.filename,\n" +
			"offset.flush.interval.ms, listeners, ...); each connector file holds one connector's config\n" +
			"(name, connector.class, tasks.max, ...). The REST API serves on listeners (default http://:8083).",
		Example: "  logd connect standalone config/connect-standalone.properties config/connect-file-source.properties",
		Args:    usageArgs(1, -1, "logd connect standalone WORKER.properties [CONNECTOR.properties...]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			props, err := connect.LoadProperties(args[0])
			if err != nil {
				return err
			}
			cfg, err := connect.ParseWorkerConfig(props, false)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			var connectors []map[string]string
			for _, path := range args[1:] {
				c, err := connect.LoadProperties(path)
				if err != nil {
					return err
				}
				if c["name"] == "" {
					return fmt.Errorf("%s: missing required configuration \"name\"", path)
				}
				connectors = append(connectors, c)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			w, err := connect.StartStandalone(cmd.Context(), cfg, log, nil)
			if err != nil {
				return err
			}
			log.Info("Kafka Connect started", "rest", w.URL, "worker_id", cfg.WorkerID(), "kafka_cluster_id", w.Herder.ClusterID())
			for _, c := range connectors {
				if _, _, err := w.Herder.PutConfig(c["name"], c, true, ""); err != nil {
					w.Close()
					return fmt.Errorf("connector %s: %w", c["name"], err)
				}
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			<-sig
			log.Info("Kafka Connect stopping")
			return w.Close()
		},
	}
}

func connectStatusCommand() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:     "status",
		Short:   "Show every connector's and task's state from a worker's REST API",
		Example: "  logd connect status\n  logd connect status --url http://connect1:8083",
		Args:    usageArgs(0, 0, "logd connect status"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			client := &http.Client{Timeout: 30 * time.Second}
			resp, err := client.Get(strings.TrimSuffix(url, "/") + "/connectors?expand=status")
			if err != nil {
				return fmt.Errorf("cannot reach the Connect REST API at %s: %w", url, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s: %s", url, resp.Status, body)
			}
			var all map[string]struct {
				Status connect.ConnectorStatus `json:"status"`
			}
			if err := json.Unmarshal(body, &all); err != nil {
				return fmt.Errorf("%s answered something other than Kafka Connect's status: %w", url, err)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONNECTOR\tTYPE\tTASK\tSTATE\tWORKER\tTRACE")
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			slices.Sort(names)
			for _, n := range names {
				st := all[n].Status
				fmt.Fprintf(tw, "%s\t%s\t-\t%s\t%s\t%s\n", n, st.Type, st.Connector.State, st.Connector.WorkerID, firstLine(st.Connector.Trace))
				for _, t := range st.Tasks {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", n, st.Type, t.ID, t.State, t.WorkerID, firstLine(t.Trace))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://localhost:8083", "the worker's REST API")
	return cmd
}
