package restproxy

import "encoding/json"

// The JSON shapes of Confluent REST Proxy's v3 API (its api/v3/openapi.yaml).

type relationship struct {
	Related string `json:"related"`
}

type resourceMeta struct {
	Self         string `json:"self"`
	ResourceName string `json:"resource_name,omitempty"`
}

type listMeta struct {
	Self string  `json:"self"`
	Next *string `json:"next"`
}

type list[T any] struct {
	Kind     string   `json:"kind"`
	Metadata listMeta `json:"metadata"`
	Data     []T      `json:"data"`
}

func newList[T any](kind, self string, data []T) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Kind: kind, Metadata: listMeta{Self: self}, Data: data}
}

type clusterData struct {
	Kind                   string        `json:"kind"`
	Metadata               resourceMeta  `json:"metadata"`
	ClusterID              string        `json:"cluster_id"`
	Controller             *relationship `json:"controller,omitempty"`
	ACLs                   relationship  `json:"acls"`
	Brokers                relationship  `json:"brokers"`
	BrokerConfigs          relationship  `json:"broker_configs"`
	ConsumerGroups         relationship  `json:"consumer_groups"`
	Topics                 relationship  `json:"topics"`
	PartitionReassignments relationship  `json:"partition_reassignments"`
}

type brokerData struct {
	Kind              string       `json:"kind"`
	Metadata          resourceMeta `json:"metadata"`
	ClusterID         string       `json:"cluster_id"`
	BrokerID          int32        `json:"broker_id"`
	Host              *string      `json:"host"`
	Port              *int32       `json:"port"`
	Rack              *string      `json:"rack"`
	Configs           relationship `json:"configs"`
	PartitionReplicas relationship `json:"partition_replicas"`
}

type topicData struct {
	Kind                   string       `json:"kind"`
	Metadata               resourceMeta `json:"metadata"`
	ClusterID              string       `json:"cluster_id"`
	TopicName              string       `json:"topic_name"`
	IsInternal             bool         `json:"is_internal"`
	ReplicationFactor      int          `json:"replication_factor"`
	PartitionsCount        int          `json:"partitions_count"`
	Partitions             relationship `json:"partitions"`
	Configs                relationship `json:"configs"`
	PartitionReassignments relationship `json:"partition_reassignments"`
}

type partitionData struct {
	Kind         string        `json:"kind"`
	Metadata     resourceMeta  `json:"metadata"`
	ClusterID    string        `json:"cluster_id"`
	TopicName    string        `json:"topic_name"`
	PartitionID  int32         `json:"partition_id"`
	Leader       *relationship `json:"leader,omitempty"`
	Replicas     relationship  `json:"replicas"`
	Reassignment relationship  `json:"reassignment"`
}

type configSynonym struct {
	Name   string  `json:"name"`
	Value  *string `json:"value"`
	Source string  `json:"source"`
}

type topicConfigData struct {
	Kind        string          `json:"kind"`
	Metadata    resourceMeta    `json:"metadata"`
	ClusterID   string          `json:"cluster_id"`
	TopicName   string          `json:"topic_name"`
	Name        string          `json:"name"`
	Value       *string         `json:"value"`
	IsDefault   bool            `json:"is_default"`
	IsReadOnly  bool            `json:"is_read_only"`
	IsSensitive bool            `json:"is_sensitive"`
	Source      string          `json:"source"`
	Synonyms    []configSynonym `json:"synonyms"`
}

type consumerGroupData struct {
	Kind                 string        `json:"kind"`
	Metadata             resourceMeta  `json:"metadata"`
	ClusterID            string        `json:"cluster_id"`
	ConsumerGroupID      string        `json:"consumer_group_id"`
	IsSimple             bool          `json:"is_simple"`
	PartitionAssignor    string        `json:"partition_assignor"`
	State                string        `json:"state"`
	Type                 string        `json:"type"`
	IsMixedConsumerGroup bool          `json:"is_mixed_consumer_group"`
	Coordinator          *relationship `json:"coordinator,omitempty"`
	Consumers            relationship  `json:"consumers"`
	LagSummary           relationship  `json:"lag_summary"`
}

type consumerData struct {
	Kind            string       `json:"kind"`
	Metadata        resourceMeta `json:"metadata"`
	ClusterID       string       `json:"cluster_id"`
	ConsumerGroupID string       `json:"consumer_group_id"`
	ConsumerID      string       `json:"consumer_id"`
	InstanceID      *string      `json:"instance_id"`
	ClientID        string       `json:"client_id"`
	Assignments     relationship `json:"assignments"`
}

type consumerLagData struct {
	Kind            string       `json:"kind"`
	Metadata        resourceMeta `json:"metadata"`
	ClusterID       string       `json:"cluster_id"`
	ConsumerGroupID string       `json:"consumer_group_id"`
	TopicName       string       `json:"topic_name"`
	PartitionID     int32        `json:"partition_id"`
	CurrentOffset   int64        `json:"current_offset"`
	LogEndOffset    int64        `json:"log_end_offset"`
	Lag             int64        `json:"lag"`
	ConsumerID      string       `json:"consumer_id"`
	InstanceID      *string      `json:"instance_id"`
	ClientID        string       `json:"client_id"`
}

type lagSummaryData struct {
	Kind              string       `json:"kind"`
	Metadata          resourceMeta `json:"metadata"`
	ClusterID         string       `json:"cluster_id"`
	ConsumerGroupID   string       `json:"consumer_group_id"`
	MaxLagConsumerID  string       `json:"max_lag_consumer_id"`
	MaxLagInstanceID  *string      `json:"max_lag_instance_id"`
	MaxLagClientID    string       `json:"max_lag_client_id"`
	MaxLagTopicName   string       `json:"max_lag_topic_name"`
	MaxLagPartitionID int32        `json:"max_lag_partition_id"`
	MaxLag            int64        `json:"max_lag"`
	TotalLag          int64        `json:"total_lag"`
	MaxLagConsumer    relationship `json:"max_lag_consumer"`
	MaxLagPartition   relationship `json:"max_lag_partition"`
}

// createTopicRequest is CreateTopicRequestData.
type createTopicRequest struct {
	TopicName         string `json:"topic_name"`
	PartitionsCount   *int32 `json:"partitions_count"`
	ReplicationFactor *int16 `json:"replication_factor"`
	Configs           []nvp  `json:"configs"`
	ValidateOnly      bool   `json:"validate_only"`
	ReplicasAssign    any    `json:"replicas_assignments"`
}

// nvp is a config name and value, with the batch alter's operation.
type nvp struct {
	Name      string  `json:"name"`
	Value     *string `json:"value"`
	Operation *string `json:"operation,omitempty"`
}

// produceRequest is ProduceRequest.
type produceRequest struct {
	PartitionID *int32          `json:"partition_id"`
	Headers     []produceHeader `json:"headers"`
	Key         *produceData    `json:"key"`
	Value       *produceData    `json:"value"`
	Timestamp   *string         `json:"timestamp"`
}

type produceHeader struct {
	Name  string  `json:"name"`
	Value *[]byte `json:"value"` // base64 in JSON
}

type produceData struct {
	Type          string          `json:"type"`
	Data          json.RawMessage `json:"data"`
	Subject       *string         `json:"subject"`
	SchemaID      *int            `json:"schema_id"`
	SchemaVersion *int            `json:"schema_version"`
	Schema        *string         `json:"schema"`
}

// produceResponse is ProduceResponse, one delivery report.
type produceResponse struct {
	ErrorCode   int              `json:"error_code"`
	Message     string           `json:"message,omitempty"`
	ClusterID   string           `json:"cluster_id,omitempty"`
	TopicName   string           `json:"topic_name,omitempty"`
	PartitionID *int32           `json:"partition_id,omitempty"`
	Offset      *int64           `json:"offset,omitempty"`
	Timestamp   *string          `json:"timestamp,omitempty"`
	Key         *produceRespData `json:"key,omitempty"`
	Value       *produceRespData `json:"value,omitempty"`
}

type produceRespData struct {
	Type string `json:"type"`
	Size int    `json:"size"`
}
