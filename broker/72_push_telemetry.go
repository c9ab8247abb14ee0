package broker

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/telemetry"
)

// PushTelemetry: version 0 (KIP-714, Kafka 4.3.1's range). The client's metrics, OTLP
// MetricsData compressed with one of the accepted types, are checked as Kafka checks them —
// a zero or reserved instance id or a push after a terminating one INVALID_REQUEST, a push
// within the interval THROTTLING_QUOTA_EXCEEDED (a terminating push excepted), another
// subscription id UNKNOWN_SUBSCRIPTION_ID, an unknown compression type
// UNSUPPORTED_COMPRESSION_TYPE, more than telemetry.max.bytes TELEMETRY_TOO_LARGE, bytes that
// do not decompress or decode INVALID_RECORD — then exported on /metrics (telemetry/doc.go).
func init() {
	register(api{key: int16(kmsg.PushTelemetry), min: 0, max: 0, handle: handlePushTelemetry})
}

func handlePushTelemetry(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.PushTelemetryRequest)
	resp := req.ResponseKind().(*kmsg.PushTelemetryResponse)
	err := b.telemetry.Push(telemetryClient(c), telemetry.Push{InstanceID: req.ClientInstanceID, SubscriptionID: req.SubscriptionID,
		Terminating: req.Terminating, Compression: req.CompressionType, Metrics: req.Metrics})
	if err != nil {
		resp.ErrorCode = errorCode(err)
		b.log.Debug("telemetry push refused", "client", string(c.req.ClientID), "err", err)
	}
	return resp, nil
}
