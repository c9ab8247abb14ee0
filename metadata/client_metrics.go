package metadata

import (
	"errors"
	"maps"
)

// ErrInvalidClientMetricsResource refuses an AlterClientMetrics without a subscription name.
var ErrInvalidClientMetricsResource = errors.New("invalid client metrics resource")

// # Client metrics subscriptions
//
// Kafka keeps the client-metrics subscriptions of KIP-714 (kafka-client-metrics --alter,
// IncrementalAlterConfigs on a CLIENT_METRICS resource, type 16) in the metadata log as config
// records of that resource type: per subscription name, its metrics, interval.ms and match
// configs. The broker has checked the names and values (telemetry.ParseSubscription); the
// state machine only stores them, and every broker's telemetry answers
// GetTelemetrySubscriptions from them.

// AlterClientMetrics replaces the configs of one client-metrics subscription. An empty
// Configs removes the subscription.
type AlterClientMetrics struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs,omitempty"`
}

// alterClientMetrics applies AlterClientMetrics.
func (s *ClusterState) alterClientMetrics(c *AlterClientMetrics) error {
	if c.Name == "" {
		return ErrInvalidClientMetricsResource
	}
	if len(c.Configs) == 0 {
		delete(s.ClientMetrics, c.Name)
		return nil
	}
	if s.ClientMetrics == nil {
		s.ClientMetrics = map[string]map[string]string{}
	}
	s.ClientMetrics[c.Name] = maps.Clone(c.Configs)
	return nil
}
