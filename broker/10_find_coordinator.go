package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: versions 0-6 (v4+ batches keys). A group's coordinator is the leader of the
// key's __consumer_offsets partition (groups.go), a transactional id's the leader of its
// __transaction_state partition (txns.go); on a single node, this node. Each topic is created
// by the first key of its type. The API is advertised from v0: librdkafka enables LZ4 only
// when FindCoordinator v0 is (without it kcat and confluent-kafka send lz4 batches
// uncompressed).
func init() {
	register(api{key: int16(kmsg.FindCoordinator), min: 0, max: 6, handle: handleFindCoordinator})
}

// coordinatorFor answers one key: node, host, port, error code and message.
func (b *Broker) coordinatorFor(keyType int8, key string) (node int32, host string, port int32, code int16, msg *string) {
	switch keyType {
	case 0: // group
		return b.coordinatorNode(offsetsTopic, b.cfg.OffsetsTopicPartitions, b.offsetsTopicConfigs(), key)
	case 1: // transaction
		return b.txnCoordinatorNode(key)
	}
	m := "unknown coordinator key type (0: group, 1: transaction)"
	return -1, "", -1, kerr.InvalidRequest.Code, &m
}

func handleFindCoordinator(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if c.version() < 4 {
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = b.coordinatorFor(req.CoordinatorType, req.CoordinatorKey)
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.NodeID, co.Host, co.Port, co.ErrorCode, co.ErrorMessage = b.coordinatorFor(req.CoordinatorType, key)
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}
