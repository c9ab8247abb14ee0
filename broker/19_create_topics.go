package broker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/metadata"
)

// CreateTopics: versions 2-7 (Kafka 4 removed v0-1). v5+ answers with the created topic's
// partition count, replication factor and configs; v7+ with its id. Each topic succeeds or
// fails on its own; ValidateOnly runs every check and creates nothing. A request that would
// write more than maxRecordsPerOperation metadata records fails as a whole (tooLargeOperation).
func init() {
	register(api{key: int16(kmsg.CreateTopics), min: 2, max: 7, handle: handleCreateTopics, catalog: catalogTopic})
}

func handleCreateTopics(b *Broker, c *call) (kmsg.Response, error) {
	req := c.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	counts := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	b.admin.Lock()
	defer b.admin.Unlock()
	tooLarge := tooLargeOperation(b.createTopicsRecords(req, counts))
	for i := range req.Topics {
		rt := &req.Topics[i]
		n := counts[rt.Topic]
		if n == 0 {
			continue // a duplicate, answered at its first occurrence (the response is keyed by name)
		}
		counts[rt.Topic] = 0
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var t metadata.Topic
		var err error
		if n > 1 {
			err = refuse(kerr.InvalidRequest, "topic %q appears %d times in the request", rt.Topic, n)
		} else if !b.mayCreateTopic(c, rt.Topic) {
			err = errTopicAuthorization(acl.OpCreate, rt.Topic)
		} else if tooLarge != nil {
			err = tooLarge
		} else if err = c.timedOut(req.TimeoutMillis); err == nil {
			t, err = b.createRequestedTopic(c, rt, req.ValidateOnly)
		}
		st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
		if err == nil {
			st.TopicID = t.ID // zero when validating only, as in Kafka
			st.NumPartitions = t.Partitions
			st.ReplicationFactor = rt.ReplicationFactor
			if pa, ok := b.cluster.Partition(t.Name, 0); ok {
				st.ReplicationFactor = int16(len(pa.Replicas))
			}
			configs := b.topicConfigEntries(t.Configs, nil)
			if !b.allowed(c, acl.OpDescribeConfigs, acl.ResourceTopic, rt.Topic) {
				st.ConfigErrorCode, configs = kerr.TopicAuthorizationFailed.Code, nil // Kafka: none without DESCRIBE_CONFIGS
			}
			for _, e := range configs {
				ce := kmsg.NewCreateTopicsResponseTopicConfig()
				ce.Name, ce.Value, ce.Source, ce.ReadOnly = e.name, kmsg.StringPtr(e.value), int8(e.source), e.readOnly
				st.Configs = append(st.Configs, ce)
			}
		} else {
			b.log.Debug("create topic refused", "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// maxRecordsPerOperation is the most metadata records one CreateTopics or CreatePartitions
// request may write, as Kafka's controller allows (QuorumController.MAX_RECORDS_PER_USER_OP,
// KAFKA-17870): a record per new topic, per new partition and per topic config. It keeps one
// request from making a node open tens of thousands of logs, and their descriptors, at once.
const maxRecordsPerOperation = 10000

// tooLargeOperation refuses a request that would write records metadata records, as Kafka
// does (POLICY_VIOLATION for every topic of the request), or returns nil.
func tooLargeOperation(records int64) error {
	if records <= maxRecordsPerOperation {
		return nil
	}
	return refuse(kerr.PolicyViolation, "the request would create %d metadata records (a topic, each partition and each config is one); at most %d are allowed in one request, as in Kafka: create the topics or partitions over several requests", records, maxRecordsPerOperation)
}

// createTopicsRecords counts the metadata records req would write: for each topic named once
// that does not exist yet, one for the topic, one per partition (its count, the broker default
// for -1, or its replica assignment) and one per config. REQUIRES: b.admin held.
func (b *Broker) createTopicsRecords(req *kmsg.CreateTopicsRequest, counts map[string]int) int64 {
	var n int64
	for i := range req.Topics {
		rt := &req.Topics[i]
		if counts[rt.Topic] != 1 {
			continue
		}
		if _, exists := b.cluster.Topic(rt.Topic); exists {
			continue
		}
		partitions := int64(rt.NumPartitions)
		switch {
		case len(rt.ReplicaAssignment) > 0:
			partitions = int64(len(rt.ReplicaAssignment))
		case rt.NumPartitions == -1:
			partitions = int64(b.cfg.NumPartitions)
		case rt.NumPartitions < 0:
			partitions = 0
		}
		n += 1 + partitions + int64(len(rt.Configs))
	}
	return n
}

// createTopicFromRequest checks one CreateTopics entry in Kafka's order (name, existence,
// partitions and replicas, configs) and creates the topic. REQUIRES: b.admin held.
func (b *Broker) createTopicFromRequest(rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) (metadata.Topic, error) {
	spec, err := b.topicSpecFromRequest(rt)
	if err != nil {
		return metadata.Topic{}, err
	}
	return b.createTopicLocked(spec, validateOnly)
}

// createRequestedTopic is createTopicFromRequest for a client's CreateTopics: once the topic
// is valid, its partitions are taken from the client's controller mutation quota (strict
// from v6, quotas.go), validate-only requests included, as Kafka's controller does.
// REQUIRES: b.admin held.
func (b *Broker) createRequestedTopic(c *call, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) (metadata.Topic, error) {
	spec, err := b.topicSpecFromRequest(rt)
	if err != nil {
		return metadata.Topic{}, err
	}
	if b.quotas.Active() {
		if _, err := b.createTopicLocked(spec, true); err != nil {
			return metadata.Topic{}, err
		}
		if err := b.takeMutations(c, spec.Partitions, 6); err != nil {
			return metadata.Topic{}, err
		}
	}
	return b.createTopicLocked(spec, validateOnly)
}

// topicSpecFromRequest is the topic a CreateTopics topic asks for, checked for what the
// request alone can tell.
func (b *Broker) topicSpecFromRequest(rt *kmsg.CreateTopicsRequestTopic) (TopicSpec, error) {
	if err := metadata.ValidateTopicName(rt.Topic); err != nil {
		return TopicSpec{}, err
	}
	if _, ok := b.cluster.Topic(rt.Topic); ok {
		return TopicSpec{}, fmt.Errorf("%w: %q", metadata.ErrTopicExists, rt.Topic)
	}
	partitions, err := b.newTopicPartitions(rt)
	if err != nil {
		return TopicSpec{}, err
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if _, dup := configs[c.Name]; dup {
			return TopicSpec{}, refuse(kerr.InvalidRequest, "config %q appears twice", c.Name)
		}
		if c.Value == nil {
			return TopicSpec{}, refuse(kerr.InvalidConfig, "config %q: null values are not supported for topic configs", c.Name)
		}
		configs[c.Name] = *c.Value
	}
	spec := TopicSpec{Name: rt.Topic, Partitions: partitions, ReplicationFactor: rt.ReplicationFactor, Configs: configs}
	if len(rt.ReplicaAssignment) > 0 {
		spec.Assignment = make([][]int32, len(rt.ReplicaAssignment))
		for _, a := range rt.ReplicaAssignment {
			spec.Assignment[a.Partition] = a.Replicas
		}
	}
	return spec, nil
}

// newTopicPartitions resolves a new topic's partition count from its count or its replica
// assignment (checked against the live brokers: checkReplicas).
func (b *Broker) newTopicPartitions(rt *kmsg.CreateTopicsRequestTopic) (int32, error) {
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, refuse(kerr.InvalidRequest, "give either a partition count and replication factor or a replica assignment, not both")
		}
		n := int32(len(rt.ReplicaAssignment))
		seen := make([]bool, n)
		rf := len(rt.ReplicaAssignment[0].Replicas)
		for _, a := range rt.ReplicaAssignment {
			if a.Partition < 0 || a.Partition >= n || seen[a.Partition] {
				return 0, refuse(kerr.InvalidReplicaAssignment, "the assignment must list partitions 0 to %d once each", n-1)
			}
			seen[a.Partition] = true
			if err := b.checkReplicas(a.Partition, a.Replicas, rf); err != nil {
				return 0, err
			}
		}
		return n, nil
	}
	n := rt.NumPartitions
	switch {
	case n == -1:
		n = b.cfg.NumPartitions
	case n <= 0:
		return 0, refuse(kerr.InvalidPartitions, "partition count %d: it must be at least 1, or -1 for the broker default", n)
	case n > metadata.MaxPartitions:
		return 0, refuse(kerr.InvalidPartitions, "partition count %d is above logd's limit %d", n, metadata.MaxPartitions)
	}
	switch rf := rt.ReplicationFactor; {
	case rf == -1 || rf == 1:
	case rf <= 0:
		return 0, refuse(kerr.InvalidReplicationFactor, "replication factor %d: it must be at least 1, or -1 for the broker default", rf)
	}
	// The controller places the replicas, or refuses more than there are brokers.
	return n, nil
}

// checkReplicas checks partition p's explicit replica list: rf replicas (the topic's
// replication factor), no broker twice, every one a live broker. The controller checks the
// list again against the registered brokers when it applies it.
func (b *Broker) checkReplicas(p int32, replicas []int32, rf int) error {
	if len(replicas) == 0 {
		return refuse(kerr.InvalidReplicaAssignment, "partition %d: the replica list is empty", p)
	}
	if len(replicas) != rf {
		return refuse(kerr.InvalidReplicaAssignment, "partition %d: %d replicas %v, but the topic's replication factor is %d: every partition needs as many", p, len(replicas), replicas, rf)
	}
	live := b.cluster.Brokers()
	for i, r := range replicas {
		if slices.Contains(replicas[:i], r) {
			return refuse(kerr.InvalidReplicaAssignment, "partition %d: replicas %v list broker %d twice", p, replicas, r)
		}
		if !slices.ContainsFunc(live, func(br metadata.BrokerRegistration) bool { return br.ID == r }) {
			return refuse(kerr.InvalidReplicaAssignment, "partition %d: replica %d is not a live broker (live: %v)", p, r, brokerIDs(live))
		}
	}
	return nil
}

// brokerIDs lists brokers' ids, for messages.
func brokerIDs(brs []metadata.BrokerRegistration) []int32 {
	ids := make([]int32, len(brs))
	for i, br := range brs {
		ids[i] = br.ID
	}
	return ids
}

// checkNewTopic validates a topic about to be created. REQUIRES: b.admin held.
func (b *Broker) checkNewTopic(name string, partitions int32, configs map[string]string) error {
	if err := metadata.ValidateTopicName(name); err != nil {
		return err
	}
	if partitions <= 0 || partitions > metadata.MaxPartitions {
		return refuse(kerr.InvalidPartitions, "partition count %d must be between 1 and %d", partitions, metadata.MaxPartitions)
	}
	if _, ok := b.cluster.Topic(name); ok {
		return fmt.Errorf("%w: %q", metadata.ErrTopicExists, name)
	}
	// Kafka refuses names that differ only in '.' versus '_': they collide in metric names.
	if strings.ContainsAny(name, "._") {
		key := strings.ReplaceAll(name, ".", "_")
		for _, t := range b.cluster.Topics() {
			if strings.ReplaceAll(t.Name, ".", "_") == key {
				return refuse(kerr.InvalidTopicException, "topic %q collides with existing topic %q: '.' and '_' are the same in metric names", name, t.Name)
			}
		}
	}
	return checkTopicConfigs(b.logDefaults(), configs)
}
