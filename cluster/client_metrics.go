package cluster

import (
	"maps"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/broker"
	"github.com/logd/logd/metadata"
)

// The broker finds it by type assertion: a signature drifting apart must not compile.
var _ broker.ClientMetricsStore = (*Node)(nil)

// ClientMetrics implements broker.ClientMetricsStore: every client-metrics subscription's
// configs in this node's copy of the metadata (shared with the immutable view: read only).
func (n *Node) ClientMetrics() map[string]map[string]string {
	return n.view.Load().st.ClientMetrics
}

// SetClientMetrics implements broker.ClientMetricsStore: it replaces one subscription's
// configs (none: removes it) through the active controller (forwarded as an AlterConfigs of
// the whole set when that is another node) and waits until this node's metadata has them.
func (n *Node) SetClientMetrics(name string, configs map[string]string) error {
	err := n.onController(func(c *activeCtl) error {
		_, err := c.propose(&metadata.AlterClientMetrics{Name: name, Configs: configs})
		return err
	}, func() error { return n.forwardAlterConfigs(kmsg.ConfigResourceTypeClientMetrics, name, configs) })
	if err != nil {
		return err
	}
	n.waitView(func(v *view) bool { return maps.Equal(v.st.ClientMetrics[name], configs) })
	return nil
}
