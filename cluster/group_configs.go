package cluster

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/metadata"
)

// The broker finds it by type assertion: a signature drifting apart must not compile.
var _ broker.GroupConfigStore = (*Node)(nil)

// GroupConfigs implements broker.GroupConfigStore: a group's configs in this node's copy of
// the metadata (shared with the immutable view: read only).
func (n *Node) GroupConfigs(group string) map[string]string {
	return n.view.Load().st.GroupConfigs[group]
}

// SetGroupConfigs implements broker.GroupConfigStore: it replaces a group's configs through
// the active controller (forwarded as an AlterConfigs of the whole set when that is another
// node) and waits until this node's metadata has them.
func (n *Node) SetGroupConfigs(group string, configs map[string]string) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.AlterGroupConfigs{Group: group, Configs: configs})
		return err
	}, func() error { return n.forwardAlterConfigs(kmsg.ConfigResourceTypeGroupConfig, group, configs) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool { return maps.Equal(v.st.GroupConfigs[group], configs) })
	return nil
}
