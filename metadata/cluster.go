package metadata

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/logd/logd/acl"
)

// The cluster state machine: what the Raft quorum replicates. ClusterState.Apply is
// deterministic — the same commands in the same order give the same state on every voter — so
// it reads no clock, draws no random number and iterates no map unsorted. Whatever needs time
// or randomness (heartbeat deadlines, new topic ids) is decided by the controller before it
// proposes a command, and carried in the command.

// NoLeader is a partition's leader when no eligible replica can lead (Kafka's -1).
const NoLeader int32 = -1

// Errors of the cluster state machine; the broker maps them to Kafka error codes.
var (
	ErrUnknownBroker            = errors.New("unknown broker")
	ErrStaleBrokerEpoch         = errors.New("stale broker epoch")
	ErrDuplicateBroker          = errors.New("broker id registered by another live incarnation")
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	ErrUnknownPartition         = errors.New("unknown partition")
	ErrNotLeader                = errors.New("not the partition's leader")
	ErrFencedLeaderEpoch        = errors.New("fenced leader epoch")
	ErrInvalidUpdateVersion     = errors.New("partition epoch is not the current one")
	ErrIneligibleReplica        = errors.New("replica is fenced or shutting down")
	ErrInvalidISR               = errors.New("invalid ISR")
	ErrElectionNotNeeded        = errors.New("election not needed")
	ErrPreferredNotAvailable    = errors.New("preferred leader not available")
	ErrEligibleNotAvailable     = errors.New("no eligible leader available")
	ErrNoReassignment           = errors.New("no reassignment in progress")
	ErrUnknownCommand           = errors.New("unknown metadata command")
)

// BrokerRegistration is a broker as the controller knows it.
type BrokerRegistration struct {
	ID int32 `json:"id"`
	// Epoch is the Raft index of the registration: requests carrying an older epoch come from
	// a previous incarnation and are refused.
	Epoch       int64  `json:"epoch"`
	Incarnation string `json:"incarnation"`
	// Host and Port are the broker's inter-broker listener (inter.broker.listener.name): what
	// followers, the controller's clients and transaction markers dial.
	Host string `json:"host"`
	Port int32  `json:"port"`
	// Listeners are every client listener's advertised address, the inter-broker one first.
	// Empty in registrations written before listeners existed: Host and Port then serve every
	// listener (Endpoint).
	Listeners []Endpoint `json:"listeners,omitempty"`
	Rack      string     `json:"rack,omitempty"`
	// Fenced brokers lead nothing and are in no ISR (but a last member, kept so the partition
	// knows who had its data). A broker registers fenced and is unfenced once it has caught up
	// with the metadata; it is fenced again when its heartbeats stop.
	Fenced bool `json:"fenced"`
	// ShuttingDown is set by a controlled shutdown: leadership moves away first.
	ShuttingDown bool `json:"shutting_down,omitempty"`
	// LogDirs are the broker's online log directories (KIP-858; dirs.go) and OfflineDirs
	// those of them it reported failed since it registered. Both empty: a registration
	// without directories, every replica's directory counts as online.
	LogDirs     []TopicID `json:"log_dirs,omitempty"`
	OfflineDirs []TopicID `json:"offline_dirs,omitempty"`
}

// Endpoint is one listener of a broker: its name (PLAINTEXT, or a custom one such as
// INTERNAL), security protocol and advertised address.
type Endpoint struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
}

// SecurityProtocols are Kafka's security protocols by their wire ids (SecurityProtocol.java),
// as BrokerRegistration's listeners carry them.
var SecurityProtocols = []string{0: "PLAINTEXT", 1: "SSL", 2: "SASL_PLAINTEXT", 3: "SASL_SSL"}

// SecurityProtocolID is the wire id of a protocol name, -1 if Kafka has none by that name.
func SecurityProtocolID(name string) int16 {
	for i, p := range SecurityProtocols {
		if p == name {
			return int16(i)
		}
	}
	return -1
}

// SecurityProtocolName is the name of a wire id ("" for an unknown id).
func SecurityProtocolName(id int16) string {
	if id < 0 || int(id) >= len(SecurityProtocols) {
		return ""
	}
	return SecurityProtocols[id]
}

// Endpoint returns the broker's address on the listener named name. A registration without
// listeners (written before they existed) answers Host and Port for any name; otherwise a
// name the broker does not listen on is not found, and Kafka leaves such a broker out of the
// answers given on that listener.
func (b *BrokerRegistration) Endpoint(name string) (host string, port int32, ok bool) {
	if len(b.Listeners) == 0 || name == "" {
		return b.Host, b.Port, true
	}
	for _, l := range b.Listeners {
		if l.Name == name {
			return l.Host, l.Port, true
		}
	}
	return "", 0, false
}

// PartitionAssignment is one partition's replicas, leader and ISR.
type PartitionAssignment struct {
	Replicas []int32 `json:"replicas"`
	ISR      []int32 `json:"isr"`
	Leader   int32   `json:"leader"`
	// LeaderEpoch changes with the leader; PartitionEpoch with any field of the partition.
	LeaderEpoch    int32 `json:"leader_epoch"`
	PartitionEpoch int32 `json:"partition_epoch"`
	// During a reassignment (KIP-455) Replicas is target ∪ original; Adding are the target
	// replicas not in the original set, Removing the original replicas not in the target.
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
	// Directories are the log directory of each replica that has told the controller
	// (AssignReplicasToDirs, KIP-858; Kafka's PartitionRecord Directories). A replica
	// without one is unassigned: its directory counts as online.
	Directories map[int32]TopicID `json:"directories,omitempty"`
}

func (p *PartitionAssignment) clone() *PartitionAssignment {
	c := *p
	c.Replicas, c.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	c.Adding, c.Removing = slices.Clone(p.Adding), slices.Clone(p.Removing)
	c.Directories = maps.Clone(p.Directories)
	return &c
}

// TopicState is one topic in the cluster state.
type TopicState struct {
	Name       string                 `json:"name"`
	ID         TopicID                `json:"id"`
	Configs    map[string]string      `json:"configs,omitempty"`
	Partitions []*PartitionAssignment `json:"partitions"`
}

func (t *TopicState) clone() *TopicState {
	c := &TopicState{Name: t.Name, ID: t.ID, Configs: maps.Clone(t.Configs)}
	for _, p := range t.Partitions {
		c.Partitions = append(c.Partitions, p.clone())
	}
	return c
}

// uncleanElection reports unclean.leader.election.enable for the topic (default false).
func (t *TopicState) uncleanElection() bool {
	return t.Configs["unclean.leader.election.enable"] == "true"
}

// ClusterState is the replicated cluster metadata. It is not safe for concurrent use: the
// Raft FSM serializes Apply and guards reads.
type ClusterState struct {
	ClusterID string                        `json:"cluster_id"`
	Brokers   map[int32]*BrokerRegistration `json:"brokers"`
	Topics    map[string]*TopicState        `json:"topics"`
	// PlacementCursor rotates where the replicas of new partitions start, so leaders spread
	// over the brokers (Kafka picks a random start; a replicated state machine cannot).
	PlacementCursor int64 `json:"placement_cursor"`
	// NextProducerID is the first producer id not yet given to a broker (AllocateProducerIDs).
	NextProducerID int64 `json:"next_producer_id,omitempty"`
	// Features are the finalized feature levels and FeaturesEpochMs their epoch (features.go).
	Features        map[string]int16 `json:"features,omitempty"`
	FeaturesEpochMs int64            `json:"features_epoch_ms,omitempty"`
	// LastIndex is the Raft index of the last command applied.
	LastIndex uint64 `json:"last_index"`
	// Scram is the SCRAM credentials by user and mechanism type (AlterScram).
	Scram map[string]map[int8]*ScramCredential `json:"scram,omitempty"`
	// ACLs are the cluster's access control lists (acls.go), in creation order.
	ACLs []acl.Binding `json:"acls,omitempty"`
	// Quotas are the client quotas (quotas.go), in creation order.
	Quotas []ClientQuota `json:"quotas,omitempty"`
	// BrokerConfigs are the dynamic broker configs by resource: a broker id, or "" for the
	// cluster default (broker_configs.go).
	BrokerConfigs map[string]map[string]string `json:"broker_configs,omitempty"`
	// DelegationTokens are the delegation tokens by id (delegation_tokens.go).
	DelegationTokens map[string]*DelegationToken `json:"delegation_tokens,omitempty"`
	// GroupConfigs are the configs of GROUP config resources by group id (group_configs.go).
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
	// ClientMetrics are the client-metrics subscriptions' configs by name (client_metrics.go).
	ClientMetrics map[string]map[string]string `json:"client_metrics,omitempty"`
	// VoterDirs are the metadata quorum's voters' directory ids (quorum_membership.go).
	VoterDirs map[int32]TopicID `json:"voter_dirs,omitempty"`
}

// NewClusterState returns an empty cluster state.
func NewClusterState(clusterID string) *ClusterState {
	return &ClusterState{ClusterID: clusterID, Brokers: map[int32]*BrokerRegistration{}, Topics: map[string]*TopicState{}}
}

// Clone returns a deep copy.
func (s *ClusterState) Clone() *ClusterState {
	c := &ClusterState{ClusterID: s.ClusterID, Brokers: map[int32]*BrokerRegistration{}, Topics: map[string]*TopicState{},
		PlacementCursor: s.PlacementCursor, NextProducerID: s.NextProducerID, LastIndex: s.LastIndex,
		Features: maps.Clone(s.Features), FeaturesEpochMs: s.FeaturesEpochMs, Scram: cloneScram(s.Scram),
		ACLs: slices.Clone(s.ACLs), Quotas: cloneQuotas(s.Quotas)}
	c.BrokerConfigs = cloneBrokerConfigs(s.BrokerConfigs)
	c.DelegationTokens = cloneDelegationTokens(s.DelegationTokens)
	c.GroupConfigs = cloneBrokerConfigs(s.GroupConfigs)
	c.ClientMetrics = cloneBrokerConfigs(s.ClientMetrics)
	c.VoterDirs = maps.Clone(s.VoterDirs)
	for id, b := range s.Brokers {
		bc := *b
		c.Brokers[id] = &bc
	}
	for n, t := range s.Topics {
		c.Topics[n] = t.clone()
	}
	return c
}

// TopicByID finds a topic by id.
func (s *ClusterState) TopicByID(id TopicID) (*TopicState, bool) {
	for _, t := range s.Topics {
		if t.ID == id {
			return t, true
		}
	}
	return nil, false
}

// eligible reports whether a broker may lead or join an ISR: registered, unfenced, not
// shutting down.
func (s *ClusterState) eligible(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.Fenced && !b.ShuttingDown
}

// eligibleBrokers returns the eligible brokers' ids, sorted.
func (s *ClusterState) eligibleBrokers() []int32 {
	var ids []int32
	for id := range s.Brokers {
		if s.eligible(id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// sortedTopics iterates topics in name order (determinism).
func (s *ClusterState) sortedTopics() []*TopicState {
	out := make([]*TopicState, 0, len(s.Topics))
	for _, t := range s.Topics {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *ClusterState) partition(topic string, p int32) (*TopicState, *PartitionAssignment, error) {
	t, ok := s.Topics[topic]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if p < 0 || int(p) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%w: %s-%d", ErrUnknownPartition, topic, p)
	}
	return t, t.Partitions[p], nil
}

func (s *ClusterState) checkBroker(id int32, epoch int64) (*BrokerRegistration, error) {
	b, ok := s.Brokers[id]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownBroker, id)
	}
	if epoch != b.Epoch {
		return nil, fmt.Errorf("%w: broker %d epoch %d, registered %d", ErrStaleBrokerEpoch, id, epoch, b.Epoch)
	}
	return b, nil
}
