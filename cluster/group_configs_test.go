package cluster

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestShareGroupConfigs: share group configs as GROUP config resources (kafka-configs
// --entity-type groups). Altered through a node that is not the controller (forwarded to
// it), they are in every node's metadata, DescribeConfigs shows them as GROUP_CONFIG, and
// every broker's share coordinator uses them over the broker-wide value (the lock duration
// a ShareFetch reports); a group without configs shows the broker's value as
// DEFAULT_CONFIG. Values Kafka refuses are INVALID_CONFIG with Kafka's messages.
func TestShareGroupConfigs(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, _ := replicatedTopic(t, ctx, nodes, "sgc", 1, nil)
	var follower *testNode
	for _, tn := range nodes {
		if _, err := tn.node.ActiveController(); err != nil && follower == nil {
			follower = tn
		}
	}
	alter := func(configs map[string]string) (int16, string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, "sg"
		for k, v := range configs {
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = k, kmsg.StringPtr(v)
			r.Configs = append(r.Configs, c)
		}
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(follower.id)))
		if err != nil {
			t.Fatal(err)
		}
		msg := ""
		if m := resp.Resources[0].ErrorMessage; m != nil {
			msg = *m
		}
		return resp.Resources[0].ErrorCode, msg
	}
	for _, bad := range []struct{ name, value, msg string }{
		{"share.record.lock.duration.ms", "500", "Value must be at least 1000"},
		{"share.record.lock.duration.ms", "70000", "must be less than or equal to group.share.max.record.lock.duration.ms"},
		{"share.record.lock.duration.ms", "ten", "Not a number of type INT"},
		{"share.delivery.count.limit", "11", "must be less than or equal to group.share.max.delivery.count.limit"},
		{"share.auto.offset.reset", "sometimes", "must be either 'earliest', 'latest'"},
		{"share.isolation.level", "dirty", "String must be one of: read_committed, read_uncommitted"},
		{"no.such.group.config", "1", "Unknown group config name: no.such.group.config"},
		{"share.session.timeout.ms", "30000", "must be greater than or equal to group.share.min.session.timeout.ms"},
		{"share.heartbeat.interval.ms", "20000", "must be less than or equal to group.share.max.heartbeat.interval.ms"},
		{"share.partition.max.record.locks", "50", "Value must be at least 100"},
		{"share.partition.max.record.locks", "5000", "must be less than or equal to group.share.max.partition.max.record.locks"},
		{"share.renew.acknowledge.enable", "yes", "Expected value to be either true or false"},
		{"share.auto.offset.reset", "by_duration:-PT1H", "of the format 'by_duration:<PnDTnHnMn.nS>'"},
		{"share.assignment.interval.ms", "0", "is not supported by logd"},
		{"consumer.session.timeout.ms", "45000", "Unknown group config name: consumer.session.timeout.ms"},
	} {
		if code, msg := alter(map[string]string{bad.name: bad.value}); code != kerr.InvalidConfig.Code || !strings.Contains(msg, bad.msg) {
			t.Errorf("%s=%s: error %d %q, want INVALID_CONFIG %q", bad.name, bad.value, code, msg, bad.msg)
		}
	}
	if code, msg := alter(map[string]string{"share.record.lock.duration.ms": "20000", "share.delivery.count.limit": "3",
		"share.auto.offset.reset": "by_duration:PT1H", "share.isolation.level": "read_committed",
		"share.session.timeout.ms": "50000", "share.heartbeat.interval.ms": "6000", "share.partition.max.record.locks": "300",
		"share.renew.acknowledge.enable": "false"}); code != 0 {
		t.Fatalf("alter: %d %s", code, msg)
	}
	described := func(tn *testNode, group string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
			return nil
		}
		out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
		for _, c := range resp.Resources[0].Configs {
			out[c.Name] = c
		}
		return out
	}
	lockMs := func(tn *testNode, group string) int32 {
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr("m"), -1
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil {
			t.Fatal(err)
		}
		return resp.AcquisitionLockTimeoutMillis
	}
	want := map[string]string{"share.record.lock.duration.ms": "20000", "share.delivery.count.limit": "3",
		"share.auto.offset.reset": "by_duration:PT1H", "share.isolation.level": "read_committed",
		"share.session.timeout.ms": "50000", "share.heartbeat.interval.ms": "6000", "share.partition.max.record.locks": "300",
		"share.renew.acknowledge.enable": "false"}
	for _, tn := range nodes {
		waitFor(t, "node "+strconv.Itoa(int(tn.id))+"'s group configs", 10*time.Second, func() bool {
			got := described(tn, "sg")
			for k, v := range want {
				if c, ok := got[k]; !ok || c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceGroupConfig {
					return false
				}
			}
			return lockMs(tn, "sg") == 20000
		})
		if c := described(tn, "other")["share.renew.acknowledge.enable"]; c.Value == nil || *c.Value != "true" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("node %d: renew acknowledge of a group without configs: %+v", tn.id, c)
		}
		if c := described(tn, "other")["share.record.lock.duration.ms"]; c.Value == nil || *c.Value != "30000" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("node %d: a group without configs: %+v", tn.id, c)
		}
		if got := lockMs(tn, "other"); got != 30000 {
			t.Errorf("node %d: lock duration of a group without configs %d, want 30000", tn.id, got)
		}
	}
}
