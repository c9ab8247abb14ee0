package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator: versions 0-6 (v4+ batches keys). A group's coordinator is the leader of the
// key's __consumer_offsets partition (groups.go), a transactional id's the leader of its
// __transaction_state partition (txns.go), a share partition's (key type SHARE,
// "group:topicId:partition") the leader of its __share_group_state partition (share_state.go); on a single node, this node. Its address is the
// one on the listener the client came in on. Each topic is created
// by the first key of its type. The API is advertised from v0: librdkafka enables LZ4 only
// when FindCoordinator v0 is (without it kcat and confluent-kafka send lz4 batches
// uncompressed).
func init() {
	register(api{key: int16(kmsg.FindCoordinator), min: 0, max: 6, handle: handleFindCoordinator})
}

// coordinatorFor answers one key: node, host and port on the client's listener, error code
// and message.
func (b *Broker) coordinatorFor(keyType int8, key, listener string) (node int32, host string, port int32, code int16, msg *string) {
	switch keyType {
	case 0: // group
		node, host, port, code, msg = b.coordinatorNode(offsetsTopic, b.cfg.OffsetsTopicPartitions, b.offsetsTopicConfigs(), key)
	case 1: // transaction
		node, host, port, code, msg = b.txnCoordinatorNode(key)
	case 2: // share: "group:topicId:partition", the share coordinator APIs' (83-87)
		if !validShareKey(key) {
			m := "a share coordinator key is group:topicId:partition"
			return -1, "", -1, kerr.InvalidRequest.Code, &m
		}
		node, host, port, code, msg = b.coordinatorNode(shareStateTopic, shareStatePartitions, shareStateTopicConfigs, key)
	default:
		m := "unknown coordinator key type (0: group, 1: transaction, 2: share)"
		return -1, "", -1, kerr.InvalidRequest.Code, &m
	}
	if code != 0 || listener == "" {
		return node, host, port, code, msg
	}
	for _, br := range b.cluster.Brokers() {
		if br.ID == node {
			if h, p, ok := br.Endpoint(listener); ok {
				return node, h, p, 0, nil
			}
		}
	}
	m := "the coordinator has no listener named " + listener
	return -1, "", -1, kerr.CoordinatorNotAvailable.Code, &m
}

func handleFindCoordinator(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if c.version() < 4 {
		resp.NodeID, resp.Host, resp.Port, resp.ErrorCode, resp.ErrorMessage = b.authorizedCoordinatorFor(c, req.CoordinatorType, req.CoordinatorKey)
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.NodeID, co.Host, co.Port, co.ErrorCode, co.ErrorMessage = b.authorizedCoordinatorFor(c, req.CoordinatorType, key)
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp, nil
}
