package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/metadata"
)

// Metadata: versions 0-12 (v0 for kafka-python, which still sends the oldest versions).
func init() {
	register(api{key: int16(kmsg.Metadata), min: 0, max: 12, handle: handleMetadata})
}

// topicAuthorizedOperationsUnknown is Kafka's INT32_MIN "not requested" value.
const topicAuthorizedOperationsUnknown = -2147483648

func handleMetadata(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.MetadataRequest)
	v := c.version()
	resp := kmsg.NewPtrMetadataResponse()
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: b.cfg.NodeID, Host: b.cfg.AdvertisedHost, Port: b.cfg.AdvertisedPort}}
	clusterID := b.meta.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.cfg.NodeID

	// v0: an empty list means all topics; v1+: a null list means all, an empty one none.
	all := req.Topics == nil || (v == 0 && len(req.Topics) == 0)
	var topics []metadata.Topic
	if all {
		topics = b.meta.Topics()
		for _, t := range topics {
			resp.Topics = append(resp.Topics, b.metadataTopic(t))
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (v < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var t metadata.Topic
		var ok bool
		switch {
		case rt.Topic != nil:
			t, ok = b.meta.Topic(*rt.Topic)
			if !ok && autoCreate {
				_, err := b.createTopic(*rt.Topic, b.cfg.NumPartitions, nil)
				if err != nil && !errors.Is(err, metadata.ErrTopicExists) {
					resp.Topics = append(resp.Topics, metadataTopicError(rt, errorCode(err)))
					continue
				}
				t, ok = b.meta.Topic(*rt.Topic)
			}
		case rt.TopicID != [16]byte{}:
			t, ok = b.meta.TopicByID(rt.TopicID)
		}
		if !ok {
			code := kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				code = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, metadataTopicError(rt, code))
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t))
	}
	return resp, nil
}

func metadataTopicError(rt kmsg.MetadataRequestTopic, code int16) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic, t.TopicID, t.ErrorCode = rt.Topic, rt.TopicID, code
	t.AuthorizedOperations = topicAuthorizedOperationsUnknown
	return t
}

func (b *Broker) metadataTopic(t metadata.Topic) kmsg.MetadataResponseTopic {
	name := t.Name
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = name == offsetsTopic // listed like Kafka, marked internal
	mt.AuthorizedOperations = topicAuthorizedOperationsUnknown
	nodes := []int32{b.cfg.NodeID}
	for p := int32(0); p < t.Partitions; p++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p
		mp.Leader = b.cfg.NodeID
		mp.LeaderEpoch = 0
		mp.Replicas = nodes
		mp.ISR = nodes
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
