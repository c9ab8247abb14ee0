package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// Metadata: versions 0-13 (v0 for kafka-python, which still sends the oldest versions). v13's
// top-level ErrorCode is Kafka's REBOOTSTRAP_REQUIRED (KIP-1102), for a client whose bootstrap
// servers no longer belong to the cluster; a logd node always answers for its own cluster, so
// it stays 0, as Kafka's does in the ordinary case.
func init() {
	register(api{key: int16(kmsg.Metadata), min: 0, max: 13, handle: handleMetadata})
}

// topicAuthorizedOperationsUnknown is Kafka's INT32_MIN "not requested" value.
const topicAuthorizedOperationsUnknown = -2147483648

func handleMetadata(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.MetadataRequest)
	v := c.version()
	resp := kmsg.NewPtrMetadataResponse()
	clusterID := b.cluster.ClusterID()
	resp.ClusterID = &clusterID
	for _, br := range b.cluster.Brokers() {
		host, port, ok := br.Endpoint(c.req.Listener)
		if !ok {
			continue // not reachable on this client's listener (Kafka leaves it out too)
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, host, port
		if br.Rack != "" {
			mb.Rack = kmsg.StringPtr(br.Rack)
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	resp.ControllerID = b.cluster.ControllerID()
	resp.AuthorizedOperations = b.authorizedOperations(c, req.IncludeClusterAuthorizedOperations, acl.ResourceCluster, acl.ClusterName)

	// v0: an empty list means all topics; v1+: a null list means all, an empty one none.
	all := req.Topics == nil || (v == 0 && len(req.Topics) == 0)
	var topics []metadata.Topic
	if all {
		topics = b.cluster.Topics()
		for _, t := range topics {
			if b.allowed(c, acl.OpDescribe, acl.ResourceTopic, t.Name) {
				resp.Topics = append(resp.Topics, b.metadataTopicFor(c, req, t))
			}
		}
		return resp, nil
	}
	autoCreate := b.cfg.AutoCreateTopics && (v < 4 || req.AllowAutoTopicCreation)
	if autoCreate && !c.parked && b.missingTopic(req.Topics) {
		// Creating waits for the controller: answered from the topic-change queue, which
		// runs this handler again (parked, so it creates there).
		b.queueCatalog(catalogTopic, lookupAPI(int16(kmsg.Metadata)), c)
		return nil, errDeferred
	}
	for _, rt := range req.Topics {
		var t metadata.Topic
		var ok bool
		switch {
		case rt.Topic != nil && !b.authorizeTopic(c, acl.OpDescribe, *rt.Topic):
			resp.Topics = append(resp.Topics, metadataTopicError(rt, kerr.TopicAuthorizationFailed.Code))
			continue
		case rt.Topic != nil:
			t, ok = b.cluster.Topic(*rt.Topic)
			if !ok && autoCreate && !b.mayCreateTopic(c, *rt.Topic) {
				resp.Topics = append(resp.Topics, metadataTopicError(rt, kerr.TopicAuthorizationFailed.Code))
				continue
			}
			if !ok && autoCreate {
				_, err := b.createTopic(*rt.Topic, b.cfg.NumPartitions, nil)
				if err != nil && !errors.Is(err, metadata.ErrTopicExists) {
					resp.Topics = append(resp.Topics, metadataTopicError(rt, errorCode(err)))
					continue
				}
				t, ok = b.cluster.Topic(*rt.Topic)
			}
		case rt.TopicID != [16]byte{}:
			t, ok = b.cluster.TopicByID(rt.TopicID)
			if ok && !b.authorizeTopic(c, acl.OpDescribe, t.Name) {
				resp.Topics = append(resp.Topics, metadataTopicError(rt, kerr.TopicAuthorizationFailed.Code))
				continue
			}
		}
		if !ok {
			code := kerr.UnknownTopicOrPartition.Code
			if rt.Topic == nil {
				code = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, metadataTopicError(rt, code))
			continue
		}
		resp.Topics = append(resp.Topics, b.metadataTopicFor(c, req, t))
	}
	return resp, nil
}

// metadataTopicFor is metadataTopic with the authorized operations the request asked for.
func (b *Broker) metadataTopicFor(c *call, req *kmsg.MetadataRequest, t metadata.Topic) kmsg.MetadataResponseTopic {
	mt := b.metadataTopic(t)
	mt.AuthorizedOperations = b.authorizedOperations(c, req.IncludeTopicAuthorizedOperations, acl.ResourceTopic, t.Name)
	return mt
}

// missingTopic reports whether a topic named in topics does not exist.
func (b *Broker) missingTopic(topics []kmsg.MetadataRequestTopic) bool {
	for _, rt := range topics {
		if rt.Topic != nil {
			if _, ok := b.cluster.Topic(*rt.Topic); !ok {
				return true
			}
		}
	}
	return false
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
	mt.IsInternal = internalTopic(name) // listed like Kafka, marked internal
	mt.AuthorizedOperations = topicAuthorizedOperationsUnknown
	live := map[int32]bool{}
	for _, br := range b.cluster.Brokers() {
		live[br.ID] = true
	}
	for p := int32(0); p < t.Partitions; p++ {
		mt.Partitions = append(mt.Partitions, b.metadataPartition(name, p, live))
	}
	return mt
}

// metadataPartition describes a partition: its leader (LEADER_NOT_AVAILABLE
// without one), leader epoch, replicas, ISR, and the replicas on brokers not live.
func (b *Broker) metadataPartition(topic string, p int32, live map[int32]bool) kmsg.MetadataResponseTopicPartition {
	mp := kmsg.NewMetadataResponseTopicPartition()
	mp.Partition = p
	pa, ok := b.cluster.Partition(topic, p)
	if !ok {
		mp.ErrorCode, mp.Leader = kerr.UnknownTopicOrPartition.Code, -1
		return mp
	}
	mp.Leader, mp.LeaderEpoch = pa.Leader, pa.LeaderEpoch
	if pa.Leader == metadata.NoLeader {
		mp.ErrorCode = kerr.LeaderNotAvailable.Code
	}
	mp.Replicas, mp.ISR = pa.Replicas, pa.ISR
	mp.OfflineReplicas = []int32{}
	for _, r := range pa.Replicas {
		if !live[r] {
			mp.OfflineReplicas = append(mp.OfflineReplicas, r)
		}
	}
	return mp
}
