package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/auth"
	"github.com/logd/logd/metadata"
)

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32
	// ReplicationFactor is the replica count of each partition; -1 means the default
	// (default.replication.factor).
	ReplicationFactor int16
	// Assignment, if set, names each partition's replicas; it replaces Partitions and
	// ReplicationFactor.
	Assignment [][]int32
	Configs    map[string]string
}

// Cluster is the cluster the broker belongs to (Config.Cluster; the cluster package's Node
// implements it): its topics (changes go through it; reads are a copy of its replicated
// state), its live brokers, each partition's replicas and leader, and the active controller.
type Cluster interface {
	ClusterID() string
	// Topics lists every topic, sorted by name.
	Topics() []metadata.Topic
	Topic(name string) (metadata.Topic, bool)
	TopicByID(id metadata.TopicID) (metadata.Topic, bool)
	CreateTopic(spec TopicSpec) (metadata.Topic, error)
	// DeleteTopic deletes a topic's metadata and returns what it was.
	DeleteTopic(name string) (metadata.Topic, error)
	// SetPartitions grows a topic to total partitions; assignment, if not nil, names the
	// replicas of each new partition.
	SetPartitions(name string, total int32, assignment [][]int32) error
	// SetConfigs replaces a topic's config overrides.
	SetConfigs(name string, configs map[string]string) error
	// Brokers returns the brokers that may serve clients (registered, unfenced), by id.
	Brokers() []metadata.BrokerRegistration
	// DefaultReplicationFactor is the replica count of topics created without one
	// (default.replication.factor, at most the live brokers).
	DefaultReplicationFactor() int16
	// ControllerID is the active controller's node id, or -1 while there is none.
	ControllerID() int32
	// Partition returns a partition's replicas, ISR, leader and epochs.
	Partition(topic string, p int32) (metadata.PartitionAssignment, bool)
	// AllocateProducerIDs reserves a cluster-unique block of metadata.ProducerIDBlockSize
	// producer ids and returns its first id.
	AllocateProducerIDs() (int64, error)
	// ProducerIDIssued reports whether id belongs to a block the controller handed out.
	ProducerIDIssued(id int64) bool
	// ActiveController returns the controller's services when this node is the active
	// controller, else an error wrapping metadata.ErrNotController.
	ActiveController() (ControllerService, error)
	// ScramCredential finds a user's SCRAM credential (auth.ScramStore) in the metadata.
	ScramCredential(mechanism, user string) (auth.ScramCredential, bool)
	// ScramCredentials returns every user's SCRAM credentials by mechanism type; read only.
	ScramCredentials() map[string]map[int8]*metadata.ScramCredential
	// AlterScram changes SCRAM credentials on the active controller (sending req, the
	// same changes as Kafka's request, when this node is not it): one result per user.
	AlterScram(c *metadata.AlterScram, req *kmsg.AlterUserSCRAMCredentialsRequest) ([]metadata.ScramResult, error)
	// CreateACLs adds ACLs to the cluster metadata (valid ones: acl.Binding.Validate).
	CreateACLs(bindings []acl.Binding) error
	// DeleteACLs removes the ACLs each filter selects and returns them, per filter.
	DeleteACLs(filters []acl.Filter) ([][]acl.Binding, error)
	// AlterClientQuotas applies valid quota alterations (metadata.ValidateQuotaAlteration)
	// and returns each one's refusal by the state machine, "" when it applied.
	AlterClientQuotas(alts []metadata.QuotaAlteration) ([]string, error)
	// DelegationTokens returns the delegation tokens by id; read only.
	DelegationTokens() map[string]*metadata.DelegationToken
	// ProposeDelegationToken applies a delegation token command (metadata.CreateDelegationToken,
	// RenewDelegationToken, ExpireDelegationToken) when this node is the active controller,
	// else fails with an error wrapping metadata.ErrNotController.
	ProposeDelegationToken(cmd any) (any, error)
	// ForwardToController sends req to the active controller and returns its answer, retrying
	// while code reads NOT_CONTROLLER from it (delegation tokens' requests).
	ForwardToController(req kmsg.Request, code func(kmsg.Response) int16) (kmsg.Response, error)
}

// ControllerService is what the active controller does for brokers (KRaft's controller
// APIs, served by controller_apis.go and 73_assign_replicas_to_dirs.go).
type ControllerService interface {
	RegisterBroker(r metadata.RegisterBroker) (*metadata.BrokerRegistration, error)
	// Heartbeat handles a broker's heartbeat; metadataOffset is the last metadata log index
	// the broker has applied, offlineDirs its failed log directories (KIP-858).
	Heartbeat(id int32, epoch int64, metadataOffset int64, wantShutdown bool, offlineDirs []metadata.TopicID) (metadata.HeartbeatResult, error)
	// AssignReplicasToDirs records the log directories of a broker's replicas (KIP-858): one
	// error per assignment, nil where it applied.
	AssignReplicasToDirs(c metadata.AssignReplicasToDirs) ([]error, error)
	AlterPartition(c metadata.AlterPartition) (*metadata.PartitionAssignment, error)
	AllocateProducerIDs(brokerID int32, epoch int64) (int64, error)
	// ElectLeaders elects a partition's leader: the preferred replica, or an unclean choice.
	ElectLeaders(c metadata.ElectLeaders) error
	// Reassign moves a partition to new replicas (KIP-455); a nil target cancels.
	Reassign(c metadata.Reassign) error
}

// errNotHosted is a partition this broker holds no replica of (NOT_LEADER_OR_FOLLOWER).
var errNotHosted = errors.New("this broker holds no replica of the partition")
