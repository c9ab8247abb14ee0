package broker

import (
	"maps"
	"net"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/telemetry"
)

// # Client metrics (KIP-714)
//
// CLIENT_METRICS config resources (type 16) are the client telemetry subscriptions
// (telemetry/doc.go): kafka-client-metrics --alter sets a subscription's metrics, interval.ms
// and match with IncrementalAlterConfigs, --describe reads them with DescribeConfigs (only
// the configs set, source CLIENT_METRICS_CONFIG, as Kafka answers), --list lists them with
// ListConfigResources and --delete deletes every config, which removes the subscription. They
// live in the metadata quorum (ClientMetricsStore: metadata.AlterClientMetrics through the
// controller); every broker's telemetry.Manager reads them from its copy when a client asks
// (GetTelemetrySubscriptions, 71_get_telemetry_subscriptions.go) or pushes (PushTelemetry,
// 72_push_telemetry.go), and the pushed metrics are exported on /metrics.

// ClientMetricsStore is a Cluster that keeps client-metrics subscriptions in the metadata
// (cluster.Node).
type ClientMetricsStore interface {
	// ClientMetrics returns every subscription's configs by name (read only; nil when none).
	ClientMetrics() map[string]map[string]string
	// SetClientMetrics replaces a subscription's configs (empty: removes it) through the
	// controller and waits until this node's metadata has them.
	SetClientMetrics(name string, configs map[string]string) error
}

// clientMetrics returns the stored subscriptions (none without a store).
func (b *Broker) clientMetrics() map[string]map[string]string {
	if s, ok := b.cluster.(ClientMetricsStore); ok {
		return s.ClientMetrics()
	}
	return nil
}

// newTelemetry builds the broker's telemetry manager over the stored subscriptions and
// registers its exporter with the broker's metrics.
func (b *Broker) newTelemetry() *telemetry.Manager {
	m := telemetry.NewManager(telemetry.Config{MaxBytes: b.cfg.TelemetryMaxBytes, Subscriptions: b.clientMetrics, Logger: b.log})
	if b.metrics != nil {
		if err := b.metrics.Registry().Register(m.Exporter()); err != nil {
			b.log.Warn("client telemetry is not exported", "err", err)
		}
	}
	return m
}

// telemetryClient describes a telemetry request's sender for the subscriptions' selectors.
func telemetryClient(c *call) telemetry.Client {
	tc := telemetry.Client{Conn: c.req.Session, ClientID: string(c.req.ClientID)}
	if c.req.RemoteAddr != nil {
		if host, port, err := net.SplitHostPort(c.req.RemoteAddr.String()); err == nil {
			tc.Address, tc.Port = host, port
		}
	}
	return tc
}

// clientMetricsConfigTypes are the configs of a CLIENT_METRICS resource and their types.
var clientMetricsConfigTypes = map[string]kmsg.ConfigType{
	telemetry.ConfigMetrics:  typeList,
	telemetry.ConfigInterval: typeInt,
	telemetry.ConfigMatch:    typeList,
}

// checkClientMetricsResource refuses an empty subscription name, as Kafka does.
func checkClientMetricsResource(name string) error {
	if name == "" {
		return refuse(kerr.InvalidRequest, "client metrics subscription name must not be empty")
	}
	return nil
}

// describeClientMetrics describes a CLIENT_METRICS resource: the configs it sets, as Kafka
// lists them (none for an unknown subscription).
func (b *Broker) describeClientMetrics(name string, names []string) ([]configEntry, error) {
	if err := checkClientMetricsResource(name); err != nil {
		return nil, err
	}
	want := nameFilter(names)
	cur := b.clientMetrics()[name]
	var out []configEntry
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if want != nil && !want[k] {
			continue
		}
		typ, ok := clientMetricsConfigTypes[k]
		if !ok {
			typ = typeString
		}
		out = append(out, configEntry{name: k, value: cur[k], source: kmsg.ConfigSourceClientMetricsConfig, typ: typ,
			doc: "client metrics subscription " + k})
	}
	return out, nil
}

// clientMetricsOps applies IncrementalAlterConfigs operations to a subscription's configs;
// APPEND and SUBTRACT work on metrics and match. Unknown names pass here and are refused by
// the subscription's validation (INVALID_REQUEST, Kafka's code).
func clientMetricsOps(cur map[string]string, ops []configOp) (map[string]string, error) {
	return applyOps(cur, ops, func(name string) (kmsg.ConfigType, string, bool) {
		if typ, ok := clientMetricsConfigTypes[name]; ok {
			return typ, "", true
		}
		return typeString, "", true
	})
}

// alterClientMetricsLocked replaces a subscription's configs with what next computes from
// the current ones, after validating them (telemetry.ParseSubscription); no configs left
// removes the subscription. REQUIRES: b.admin held.
func (b *Broker) alterClientMetricsLocked(name string, validateOnly bool, next func(cur map[string]string) (map[string]string, error)) error {
	if err := checkClientMetricsResource(name); err != nil {
		return err
	}
	store, ok := b.cluster.(ClientMetricsStore)
	if !ok {
		return refuse(kerr.InvalidRequest, "this broker keeps no client metrics subscriptions")
	}
	cur := store.ClientMetrics()[name]
	out, err := next(cur)
	if err != nil {
		return err
	}
	if _, err := telemetry.ParseSubscription(name, out); err != nil {
		return err
	}
	if validateOnly || maps.Equal(out, cur) {
		return nil
	}
	if err := store.SetClientMetrics(name, out); err != nil {
		return err
	}
	b.log.Info("altered client metrics subscription", "name", name, "configs", out)
	return nil
}

// listClientMetrics lists the subscriptions' names, sorted, for ListConfigResources.
func (b *Broker) listClientMetrics() []string {
	return slices.Sorted(maps.Keys(b.clientMetrics()))
}
