package cluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
)

// TestDynamicBrokerConfigsAcrossNodes: a dynamic broker config altered through a node that
// is not the controller (forwarded to it) is in the metadata of every node; the cluster
// default applies on every broker, a broker's own value on that broker only, without a
// restart, and they hold after a restart.
func TestDynamicBrokerConfigsAcrossNodes(t *testing.T) {
	nodes := startTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, _ := replicatedTopic(t, ctx, nodes, "dyn", 1, nil)
	var follower, other *testNode
	for _, tn := range nodes {
		if _, err := tn.node.ActiveController(); err != nil {
			if follower == nil {
				follower = tn
			} else {
				other = tn
			}
		}
	}

	alter := func(resource, name, value string) {
		t.Helper()
		req := kmsg.NewPtrIncrementalAlterConfigsRequest()
		r := kmsg.NewIncrementalAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, resource
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = name, kmsg.StringPtr(value)
		r.Configs = append(r.Configs, c)
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(follower.id)))
		if err != nil || resp.Resources[0].ErrorCode != 0 {
			t.Fatalf("alter %q %s=%s on node %d: %+v %v", resource, name, value, follower.id, resp, err)
		}
	}
	described := func(tn *testNode, name string) (string, kmsg.ConfigSource) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(tn.id)), []string{name}
		req.Resources = append(req.Resources, r)
		resp, err := req.RequestWith(ctx, cl.Broker(int(tn.id)))
		if err != nil || len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 {
			return "", -1
		}
		c := resp.Resources[0].Configs[0]
		return *c.Value, c.Source
	}
	segmentBytes := func(tn *testNode) int64 {
		l := tn.node.Broker().Engine().Log(engine.TopicPartition{Topic: "dyn", Partition: 0})
		if l == nil {
			return -1
		}
		return l.Config().SegmentBytes
	}

	alter("", "log.segment.bytes", "65536")                         // every broker
	alter(strconv.Itoa(int(other.id)), "log.segment.bytes", "8192") // the other follower only
	for _, tn := range nodes {
		want, src := int64(65536), kmsg.ConfigSourceDynamicDefaultBrokerConfig
		if tn == other {
			want, src = 8192, kmsg.ConfigSourceDynamicBrokerConfig
		}
		waitFor(t, "node "+strconv.Itoa(int(tn.id))+"'s log.segment.bytes", 10*time.Second, func() bool {
			v, s := described(tn, "log.segment.bytes")
			return v == strconv.FormatInt(want, 10) && s == src && segmentBytes(tn) == want
		})
	}

	other.stop()
	other.start(t)
	waitFor(t, "the restarted node's log.segment.bytes", 20*time.Second, func() bool {
		v, s := described(other, "log.segment.bytes")
		return v == "8192" && s == kmsg.ConfigSourceDynamicBrokerConfig && segmentBytes(other) == 8192
	})
}
