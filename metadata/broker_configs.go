package metadata

import (
	"errors"
	"fmt"
	"maps"
	"strconv"
)

// ErrInvalidBrokerConfigResource refuses an AlterBrokerConfigs naming neither the cluster
// default ("") nor a broker id.
var ErrInvalidBrokerConfigResource = errors.New("invalid broker config resource")

// # Dynamic broker configs
//
// Kafka keeps the broker configs changed at run time (kafka-configs --entity-type brokers,
// IncrementalAlterConfigs on a BROKER resource) in the metadata log: per broker id
// (DYNAMIC_BROKER_CONFIG) and cluster-wide under the empty name
// (DYNAMIC_DEFAULT_BROKER_CONFIG). Every broker applies its own and the default on top of its
// static configuration, the broker's own winning. The broker has checked the names and values
// against what it can change (broker/broker_configs.go); the state machine only stores them.

// AlterBrokerConfigs replaces the dynamic configs of one resource: Resource is a broker id in
// decimal or "" for the cluster default. An empty Configs removes them all.
type AlterBrokerConfigs struct {
	Resource string            `json:"resource"`
	Configs  map[string]string `json:"configs,omitempty"`
}

// alterBrokerConfigs applies AlterBrokerConfigs.
func (s *ClusterState) alterBrokerConfigs(c *AlterBrokerConfigs) error {
	if c.Resource != "" {
		if id, err := strconv.ParseInt(c.Resource, 10, 32); err != nil || id < 0 {
			return fmt.Errorf("%w: %q is not a broker id", ErrInvalidBrokerConfigResource, c.Resource)
		}
	}
	if len(c.Configs) == 0 {
		delete(s.BrokerConfigs, c.Resource)
		return nil
	}
	if s.BrokerConfigs == nil {
		s.BrokerConfigs = map[string]map[string]string{}
	}
	s.BrokerConfigs[c.Resource] = maps.Clone(c.Configs)
	return nil
}

// cloneBrokerConfigs deep-copies config sets by resource (ClusterState.BrokerConfigs,
// ClusterState.ClientMetrics).
func cloneBrokerConfigs(m map[string]map[string]string) map[string]map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]map[string]string, len(m))
	for k, v := range m {
		out[k] = maps.Clone(v)
	}
	return out
}
