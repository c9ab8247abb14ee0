package cluster

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClientMetricsAcrossNodes: a client-metrics subscription set through a node that is not
// the controller (forwarded to it) is listed and described by every node, and every node
// answers a matching client's GetTelemetrySubscriptions with it; deleting it through that
// node removes it everywhere.
func TestClientMetricsAcrossNodes(t *testing.T) {
	nodes := startTestCluster(t, 3)
	waitLive(t, nodes, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var follower *testNode
	for _, tn := range nodes {
		if _, err := tn.node.ActiveController(); err != nil {
			follower = tn
			break
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds(nodes)...), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	alter := func(op kmsg.IncrementalAlterConfigOp, kv ...string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "cm"
		for i := 0; i+1 < len(kv); i += 2 {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value, c.Op = kv[i], kmsg.StringPtr(kv[i+1]), op
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(follower.id)))
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("alter on node %d: %+v %v", follower.id, resp, err)
		}
	}
	listed := func(tn *testNode) []string {
		req := kmsg.NewPtrListConfigResourcesRequest()
		req.ResourceTypes = []int8{int8(kmsg.ConfigResourceTypeClientMetrics)}
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || resp.ErrorCode != 0 {
			return []string{"error"}
		}
		var names []string
		for _, r := range resp.ConfigResources {
			names = append(names, r.Name)
		}
		return names
	}
	interval := func(tn *testNode) int32 {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "cm"
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || len(resp.Resources) != 1 {
			return -1
		}
		for _, c := range resp.Resources[0].Configs {
			if c.Name == "interval.ms" && c.Value != nil {
				n, _ := strconv.Atoi(*c.Value)
				return int32(n)
			}
		}
		return 0
	}

	alter(kmsg.IncrementalAlterConfigOpSet, "metrics", "org.apache.kafka.", "interval.ms", "2500")
	for _, tn := range nodes {
		waitFor(t, "the subscription on node "+strconv.Itoa(int(tn.id)), 10*time.Second, func() bool {
			return slices.Equal(listed(tn), []string{"cm"}) && interval(tn) == 2500
		})
		req := kmsg.NewPtrGetTelemetrySubscriptionsRequest()
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || resp.ErrorCode != 0 || resp.PushIntervalMillis != 2500 || !slices.Equal(resp.RequestedMetrics, []string{"org.apache.kafka."}) {
			t.Fatalf("GetTelemetrySubscriptions on node %d: %+v %v", tn.id, resp, err)
		}
	}
	alter(kmsg.IncrementalAlterConfigOpDelete, "metrics", "", "interval.ms", "")
	for _, tn := range nodes {
		waitFor(t, "no subscription on node "+strconv.Itoa(int(tn.id)), 10*time.Second, func() bool { return len(listed(tn)) == 0 })
	}
}
