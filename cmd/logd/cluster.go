package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func clusterCommand() *cobra.Command {
	var cf clientFlags
	cmd := groupCommand("cluster", "Inspect the cluster", "  logd cluster info")
	cf.register(cmd.PersistentFlags())
	cmd.AddCommand(clusterInfoCommand(&cf))
	return cmd
}

type brokerInfo struct {
	NodeID     int32   `json:"node_id"`
	Host       string  `json:"host"`
	Port       int32   `json:"port"`
	Rack       *string `json:"rack"`
	Controller bool    `json:"controller"`
}

type clusterInfo struct {
	ClusterID  string       `json:"cluster_id"`
	Controller int32        `json:"controller"`
	Brokers    []brokerInfo `json:"brokers"`
	Topics     int          `json:"topics"`     // as `topic list` counts them: internal ones apart
	Partitions int          `json:"partitions"` // of those topics
	// InternalTopics names the broker's own topics (__consumer_offsets, __transaction_state).
	InternalTopics []string `json:"internal_topics"`
}

func clusterInfoCommand(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "info",
		Short:   "Show the cluster id, controller, brokers, and topic and partition counts",
		Example: "  logd cluster info\n  logd cluster info --output json --bootstrap broker1:9092",
		Args:    usageArgs(0, 0, "logd cluster info"),
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			md, err := adm.Metadata(ctx) // all topics
			if err != nil {
				return cf.explain("cannot read cluster metadata", err, "")
			}
			info := clusterInfo{ClusterID: md.Cluster, Controller: md.Controller, Brokers: []brokerInfo{}, InternalTopics: []string{}}
			for _, b := range md.Brokers {
				info.Brokers = append(info.Brokers, brokerInfo{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack, Controller: b.NodeID == md.Controller})
			}
			for _, t := range md.Topics {
				if t.Err != nil {
					continue
				}
				if t.IsInternal {
					info.InternalTopics = append(info.InternalTopics, t.Topic)
					continue
				}
				info.Topics++
				info.Partitions += len(t.Partitions)
			}
			slices.Sort(info.InternalTopics)
			if cf.json() {
				return printJSON(os.Stdout, info)
			}
			internal := ""
			if len(info.InternalTopics) > 0 {
				internal = " (internal: " + strings.Join(info.InternalTopics, ", ") + ")"
			}
			fmt.Printf("cluster id: %s\ncontroller: %d\ntopics:     %d%s\npartitions: %d\n\n", info.ClusterID, info.Controller, info.Topics, internal, info.Partitions)
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NODE\tADDRESS\tRACK\tROLE")
			for _, b := range info.Brokers {
				rack, role := "-", "broker"
				if b.Rack != nil {
					rack = *b.Rack
				}
				if b.Controller {
					role = "broker, controller"
				}
				fmt.Fprintf(w, "%d\t%s:%d\t%s\t%s\n", b.NodeID, b.Host, b.Port, rack, role)
			}
			return w.Flush()
		},
	}
}
