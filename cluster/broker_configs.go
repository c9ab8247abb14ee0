package cluster

import (
	"maps"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/metadata"
)

// topicResource is ConfigResource's TOPIC type.
const topicResource = kmsg.ConfigResourceTypeTopic

// The broker finds it by type assertion: a signature drifting apart must not compile.
var _ broker.DynamicConfigStore = (*Node)(nil)

// DynamicConfigs implements broker.DynamicConfigStore: a resource's dynamic broker configs in
// this node's copy of the metadata (shared with the immutable view: read only).
func (n *Node) DynamicConfigs(resource string) map[string]string {
	return n.view.Load().st.BrokerConfigs[resource]
}

// SetDynamicConfigs implements broker.DynamicConfigStore: it replaces a resource's dynamic
// broker configs through the active controller (forwarded as an AlterConfigs of the whole
// set when that is another node), waits until this node's metadata has them and its
// metadata listener has applied them.
func (n *Node) SetDynamicConfigs(resource string, configs map[string]string) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.AlterBrokerConfigs{Resource: resource, Configs: configs})
		return err
	}, func() error { return n.forwardAlterConfigs(kmsg.ConfigResourceTypeBroker, resource, configs) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool { return maps.Equal(v.st.BrokerConfigs[resource], configs) })
	if resource == "" || resource == strconv.Itoa(int(n.id)) {
		n.waitReconciled()
	}
	return nil
}
