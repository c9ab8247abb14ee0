package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/telemetry"
)

// GetTelemetrySubscriptions: version 0 (KIP-714, Kafka 4.3.1's range). A client sending a
// zero instance id gets a new one; the answer is the metrics the client-metrics
// subscriptions matching the client request, their push interval, the accepted compression
// types (zstd, lz4, gzip, snappy: Kafka's order of preference) and telemetry.max.bytes
// (telemetry/doc.go). Asking again within the push interval is THROTTLING_QUOTA_EXCEEDED.
// Any client may ask: Kafka authorizes neither telemetry API.
func init() {
	register(api{key: int16(kmsg.GetTelemetrySubscriptions), min: 0, max: 0, handle: handleGetTelemetrySubscriptions})
}

func handleGetTelemetrySubscriptions(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.GetTelemetrySubscriptionsRequest)
	resp := req.ResponseKind().(*kmsg.GetTelemetrySubscriptionsResponse)
	sub, err := b.telemetry.GetSubscriptions(telemetryClient(c), req.ClientInstanceID)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		b.log.Debug("telemetry subscription request refused", "client", string(c.req.ClientID), "err", err)
		return resp, nil
	}
	resp.ClientInstanceID = sub.InstanceID
	resp.SubscriptionID = sub.SubscriptionID
	resp.AcceptedCompressionTypes = telemetry.AcceptedCompressions
	resp.PushIntervalMillis = int32(sub.Interval.Milliseconds())
	resp.TelemetryMaxBytes = sub.MaxBytes
	resp.DeltaTemporality = false // Prometheus counters are cumulative (telemetry/doc.go)
	resp.RequestedMetrics = sub.Metrics
	return resp, nil
}
