package metadata

import (
	"errors"
	"maps"
)

// ErrInvalidGroupConfigResource refuses an AlterGroupConfigs naming no group.
var ErrInvalidGroupConfigResource = errors.New("invalid group config resource")

// # Group configs
//
// Kafka keeps the configs of a group (kafka-configs --entity-type groups,
// IncrementalAlterConfigs on a GROUP resource: share.record.lock.duration.ms,
// share.auto.offset.reset, …) in the metadata log as ConfigRecords of type GROUP. The broker
// has checked the names and values (broker/group_configs.go); the state machine only stores
// them, and every broker's share coordinator reads them from its copy.

// AlterGroupConfigs replaces the configs of one group. An empty Configs removes them all.
type AlterGroupConfigs struct {
	Group   string            `json:"group"`
	Configs map[string]string `json:"configs,omitempty"`
}

// alterGroupConfigs applies AlterGroupConfigs.
func (s *ClusterState) alterGroupConfigs(c *AlterGroupConfigs) error {
	if c.Group == "" {
		return ErrInvalidGroupConfigResource
	}
	if len(c.Configs) == 0 {
		delete(s.GroupConfigs, c.Group)
		return nil
	}
	if s.GroupConfigs == nil {
		s.GroupConfigs = map[string]map[string]string{}
	}
	s.GroupConfigs[c.Group] = maps.Clone(c.Configs)
	return nil
}
