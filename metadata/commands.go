package metadata

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Commands of the cluster state machine. Each is one Raft log entry, encoded by
// EncodeCommand as {"op": name, "body": command}. Field names are part of the log format:
// never rename one, only add.

// InitCluster names the cluster. The first controller proposes it with a random id; it
// applies only while the cluster has no id, so a racing second proposal changes nothing.
type InitCluster struct {
	ClusterID string `json:"cluster_id"`
}

// RegisterBroker (re)registers a broker. The same incarnation registering again is answered
// with its existing registration; another incarnation replaces it only once the old one is
// fenced. A new registration starts fenced, its epoch the entry's Raft index.
type RegisterBroker struct {
	ID          int32  `json:"id"`
	Incarnation string `json:"incarnation"`
	Host        string `json:"host"`
	Port        int32  `json:"port"`
	// Listeners: see BrokerRegistration.Listeners.
	Listeners []Endpoint `json:"listeners,omitempty"`
	Rack      string     `json:"rack,omitempty"`
	// LogDirs are the broker's online log directories (KIP-858).
	LogDirs []TopicID `json:"log_dirs,omitempty"`
}

// UnfenceBroker lets a registered broker lead and join ISRs again (it heartbeats and has
// caught up with the metadata log); leaderless partitions it can lead get it as leader.
type UnfenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// FenceBroker fences a broker whose heartbeats stopped: it is removed from every ISR (but a
// last member) and every partition it led gets a new leader from the ISR, or none.
type FenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// ControlledShutdown starts a broker's controlled shutdown: like fencing, leadership moves to
// other ISR members and the broker leaves the ISRs, but it stays registered until it stops.
// The result (an int) is the number of partitions left without a leader because no other
// eligible replica was in their ISR.
type ControlledShutdown struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// CreateTopic creates a topic. ID is chosen by the proposer (a state machine draws no random
// numbers). Without Assignment, ReplicationFactor replicas per partition are placed over the
// eligible brokers, round robin from a rotating start.
type CreateTopic struct {
	Name              string            `json:"name"`
	ID                TopicID           `json:"id"`
	Partitions        int32             `json:"partitions"`
	ReplicationFactor int16             `json:"replication_factor"`
	Assignment        [][]int32         `json:"assignment,omitempty"`
	Configs           map[string]string `json:"configs,omitempty"`
}

// DeleteTopic deletes a topic.
type DeleteTopic struct {
	Name string `json:"name"`
}

// CreatePartitions grows a topic to Total partitions, placed like the first ones, or — with
// Assignment — on the replicas it names for each new partition (registered brokers, none
// twice, as many as the topic's replication factor).
type CreatePartitions struct {
	Name       string    `json:"name"`
	Total      int32     `json:"total"`
	Assignment [][]int32 `json:"assignment,omitempty"`
}

// AlterConfigs replaces a topic's config overrides.
type AlterConfigs struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs"`
}

// AlterPartition is a partition leader's ISR change (Kafka's AlterPartition). It is refused
// unless it comes from the current leader (right broker epoch) with the current leader epoch
// and partition epoch; a replica it adds must be eligible. The result is the new
// PartitionAssignment.
type AlterPartition struct {
	BrokerID       int32   `json:"broker_id"`
	BrokerEpoch    int64   `json:"broker_epoch"`
	Topic          string  `json:"topic"`
	Partition      int32   `json:"partition"`
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	ISR            []int32 `json:"isr"`
}

// Election types of ElectLeaders (Kafka's ElectionType).
const (
	ElectPreferred int8 = 0
	ElectUnclean   int8 = 1
)

// ElectLeaders elects a partition's leader (Kafka's ElectLeaders): preferred moves
// leadership to the first replica if it is an eligible ISR member; unclean gives a leaderless
// partition a leader, from the ISR if possible, else any eligible replica (which may lose
// committed records: an operator's explicit choice).
type ElectLeaders struct {
	Type      int8   `json:"type"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// Reassign moves a partition to Target replicas (KIP-455): the replicas become target ∪
// original until every target replica is in the ISR, then the target. A nil Target cancels a
// reassignment in progress.
type Reassign struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Target    []int32 `json:"target"`
}

// AllocateProducerIDs reserves the next block of ProducerIDBlockSize producer ids for a
// broker (Kafka's AllocateProducerIds), so ids are unique across the cluster and across
// failovers. The result (an int64) is the block's first id.
type AllocateProducerIDs struct {
	BrokerID    int32 `json:"broker_id"`
	BrokerEpoch int64 `json:"broker_epoch"`
}

// ImportTopics adds the topics of a data directory written before the metadata quorum
// existed (see ReadLegacy) with their ids, partition counts and configs, every partition on
// Replica alone (it need not be registered yet: its partitions get it as leader once it is
// eligible), and raises NextProducerID to at least NextProducerID so that no producer id the
// old node handed out is handed out again. A topic that already exists with the same id is
// skipped, so a repeated import changes nothing; one that exists with another id refuses the
// whole import.
type ImportTopics struct {
	Replica        int32   `json:"replica"`
	Topics         []Topic `json:"topics"`
	NextProducerID int64   `json:"next_producer_id"`
}

// ProducerIDBlockSize is how many producer ids one AllocateProducerIDs reserves.
const ProducerIDBlockSize = 1000

var commandNames = map[string]func() any{
	"init_cluster":          func() any { return &InitCluster{} },
	"register_broker":       func() any { return &RegisterBroker{} },
	"unfence_broker":        func() any { return &UnfenceBroker{} },
	"fence_broker":          func() any { return &FenceBroker{} },
	"controlled_shutdown":   func() any { return &ControlledShutdown{} },
	"create_topic":          func() any { return &CreateTopic{} },
	"delete_topic":          func() any { return &DeleteTopic{} },
	"create_partitions":     func() any { return &CreatePartitions{} },
	"alter_configs":         func() any { return &AlterConfigs{} },
	"alter_partition":       func() any { return &AlterPartition{} },
	"elect_leaders":         func() any { return &ElectLeaders{} },
	"reassign":              func() any { return &Reassign{} },
	"allocate_producer_ids": func() any { return &AllocateProducerIDs{} },
	"import_topics":         func() any { return &ImportTopics{} },
	"set_feature_levels":    func() any { return &SetFeatureLevels{} },
	"unregister_broker":     func() any { return &UnregisterBroker{} },
	"alter_scram":           func() any { return &AlterScram{} },
	"create_acls":           func() any { return &CreateACLs{} },
	"delete_acls":           func() any { return &DeleteACLs{} },
	"alter_client_quotas":   func() any { return &AlterClientQuotas{} },
	"alter_broker_configs":  func() any { return &AlterBrokerConfigs{} },
	// Delegation tokens (delegation_tokens.go).
	"create_delegation_token":          func() any { return &CreateDelegationToken{} },
	"renew_delegation_token":           func() any { return &RenewDelegationToken{} },
	"expire_delegation_token":          func() any { return &ExpireDelegationToken{} },
	"remove_expired_delegation_tokens": func() any { return &RemoveExpiredDelegationTokens{} },
	"alter_group_configs":              func() any { return &AlterGroupConfigs{} },
	"alter_client_metrics":             func() any { return &AlterClientMetrics{} },
	"set_voter_directory":              func() any { return &SetVoterDirectory{} },
	// KIP-858 log directories (dirs.go).
	"assign_replicas_to_dirs": func() any { return &AssignReplicasToDirs{} },
	"directories_offline":     func() any { return &DirectoriesOffline{} },
}

func commandName(c any) (string, bool) {
	switch c.(type) {
	case *InitCluster:
		return "init_cluster", true
	case *RegisterBroker:
		return "register_broker", true
	case *UnfenceBroker:
		return "unfence_broker", true
	case *FenceBroker:
		return "fence_broker", true
	case *ControlledShutdown:
		return "controlled_shutdown", true
	case *CreateTopic:
		return "create_topic", true
	case *DeleteTopic:
		return "delete_topic", true
	case *CreatePartitions:
		return "create_partitions", true
	case *AlterConfigs:
		return "alter_configs", true
	case *AlterPartition:
		return "alter_partition", true
	case *ElectLeaders:
		return "elect_leaders", true
	case *Reassign:
		return "reassign", true
	case *AllocateProducerIDs:
		return "allocate_producer_ids", true
	case *ImportTopics:
		return "import_topics", true
	case *SetFeatureLevels:
		return "set_feature_levels", true
	case *UnregisterBroker:
		return "unregister_broker", true
	case *AlterScram:
		return "alter_scram", true
	case *CreateACLs:
		return "create_acls", true
	case *DeleteACLs:
		return "delete_acls", true
	case *AlterClientQuotas:
		return "alter_client_quotas", true
	case *AlterBrokerConfigs:
		return "alter_broker_configs", true
	case *CreateDelegationToken:
		return "create_delegation_token", true
	case *RenewDelegationToken:
		return "renew_delegation_token", true
	case *ExpireDelegationToken:
		return "expire_delegation_token", true
	case *RemoveExpiredDelegationTokens:
		return "remove_expired_delegation_tokens", true
	case *AlterGroupConfigs:
		return "alter_group_configs", true
	case *AlterClientMetrics:
		return "alter_client_metrics", true
	case *SetVoterDirectory:
		return "set_voter_directory", true
	case *AssignReplicasToDirs:
		return "assign_replicas_to_dirs", true
	case *DirectoriesOffline:
		return "directories_offline", true
	}
	return "", false
}

type envelope struct {
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
}

// EncodeCommand encodes a command (a pointer to one of the command types) as a log entry.
func EncodeCommand(c any) ([]byte, error) {
	name, ok := commandName(c)
	if !ok {
		return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, c)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return json.Marshal(envelope{Op: name, Body: body})
}

// DecodeCommand decodes a log entry written by EncodeCommand.
func DecodeCommand(data []byte) (any, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("metadata command: %w", err)
	}
	mk, ok := commandNames[e.Op]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownCommand, e.Op)
	}
	c := mk()
	if err := json.Unmarshal(e.Body, c); err != nil {
		return nil, fmt.Errorf("metadata command %s: %w", e.Op, err)
	}
	return c, nil
}

// Apply applies one command at Raft index. A refused command changes nothing and returns the
// reason; the result of an accepted one depends on the command (see each type).
func (s *ClusterState) Apply(index uint64, c any) (any, error) {
	if index > s.LastIndex {
		s.LastIndex = index
	}
	switch c := c.(type) {
	case *InitCluster:
		if s.ClusterID == "" {
			s.ClusterID = c.ClusterID
		}
		return s.ClusterID, nil
	case *RegisterBroker:
		return s.registerBroker(int64(index), c)
	case *UnfenceBroker:
		return nil, s.unfenceBroker(c)
	case *FenceBroker:
		b, err := s.checkBroker(c.ID, c.Epoch)
		if err != nil {
			return nil, err
		}
		b.Fenced = true
		s.leaveAll(c.ID)
		return nil, nil
	case *ControlledShutdown:
		b, err := s.checkBroker(c.ID, c.Epoch)
		if err != nil {
			return nil, err
		}
		b.ShuttingDown = true
		return s.leaveAll(c.ID), nil
	case *CreateTopic:
		return s.createTopic(c)
	case *DeleteTopic:
		if _, ok := s.Topics[c.Name]; !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, c.Name)
		}
		delete(s.Topics, c.Name)
		return nil, nil
	case *CreatePartitions:
		return nil, s.createPartitions(c)
	case *AlterConfigs:
		t, ok := s.Topics[c.Name]
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, c.Name)
		}
		t.Configs = maps.Clone(c.Configs)
		if t.uncleanElection() {
			for _, p := range t.Partitions {
				s.elect(t, p, false)
			}
		}
		return nil, nil
	case *AlterPartition:
		return s.alterPartition(c)
	case *ElectLeaders:
		return s.electLeaders(c)
	case *Reassign:
		return s.reassign(c)
	case *AllocateProducerIDs:
		if _, err := s.checkBroker(c.BrokerID, c.BrokerEpoch); err != nil {
			return nil, err
		}
		first := s.NextProducerID
		s.NextProducerID += ProducerIDBlockSize
		return first, nil
	case *ImportTopics:
		return nil, s.importTopics(c)
	case *SetFeatureLevels:
		return nil, s.setFeatureLevels(c)
	case *AlterBrokerConfigs:
		return nil, s.alterBrokerConfigs(c)
	case *AlterGroupConfigs:
		return nil, s.alterGroupConfigs(c)
	case *AlterClientMetrics:
		return nil, s.alterClientMetrics(c)
	case *UnregisterBroker:
		return nil, s.unregisterBroker(c)
	case *AlterScram:
		return s.alterScram(c), nil
	case *CreateACLs:
		return nil, s.createACLs(c)
	case *DeleteACLs:
		return s.deleteACLs(c)
	case *AlterClientQuotas:
		return s.alterClientQuotas(c), nil
	case *CreateDelegationToken:
		return nil, s.createDelegationToken(c)
	case *RenewDelegationToken:
		return s.renewDelegationToken(c)
	case *ExpireDelegationToken:
		return s.expireDelegationToken(c)
	case *RemoveExpiredDelegationTokens:
		return s.removeExpiredDelegationTokens(c), nil
	case *SetVoterDirectory:
		s.setVoterDirectory(c)
		return nil, nil
	case *AssignReplicasToDirs:
		return s.assignReplicasToDirs(c)
	case *DirectoriesOffline:
		return s.directoriesOffline(c)
	}
	return nil, fmt.Errorf("%w: %T", ErrUnknownCommand, c)
}

func (s *ClusterState) registerBroker(epoch int64, c *RegisterBroker) (any, error) {
	if c.ID < 0 {
		return nil, fmt.Errorf("%w: id %d", ErrUnknownBroker, c.ID)
	}
	if old, ok := s.Brokers[c.ID]; ok {
		if old.Incarnation == c.Incarnation {
			r := *old
			return &r, nil
		}
		if !old.Fenced {
			return nil, fmt.Errorf("%w: %d", ErrDuplicateBroker, c.ID)
		}
	}
	b := &BrokerRegistration{ID: c.ID, Epoch: epoch, Incarnation: c.Incarnation, Host: c.Host, Port: c.Port,
		Listeners: c.Listeners, Rack: c.Rack, Fenced: true, LogDirs: slices.Clone(c.LogDirs)}
	s.Brokers[c.ID] = b
	r := *b
	return &r, nil
}

func (s *ClusterState) unfenceBroker(c *UnfenceBroker) error {
	b, err := s.checkBroker(c.ID, c.Epoch)
	if err != nil {
		return err
	}
	if b.ShuttingDown {
		return fmt.Errorf("%w: broker %d is shutting down", ErrIneligibleReplica, c.ID)
	}
	b.Fenced = false
	for _, t := range s.sortedTopics() {
		for _, p := range t.Partitions {
			if p.Leader == NoLeader && slices.Contains(p.Replicas, c.ID) {
				s.elect(t, p, false)
			}
		}
	}
	return nil
}

// leaveAll takes broker id out of every ISR (keeping a last member) and moves the leadership
// of its partitions to another eligible ISR member, or to no one. It returns how many
// partitions it left without a leader.
func (s *ClusterState) leaveAll(id int32) int {
	leaderless := 0
	for _, t := range s.sortedTopics() {
		for _, p := range t.Partitions {
			if !slices.Contains(p.ISR, id) && p.Leader != id {
				continue
			}
			s.leavePartition(t, p, id)
			if p.Leader == NoLeader {
				leaderless++
			}
		}
	}
	return leaderless
}

// leavePartition takes broker id out of one partition's ISR (keeping a last member) and
// moves the partition's leadership off it, to another eligible ISR member or to no one.
func (s *ClusterState) leavePartition(t *TopicState, p *PartitionAssignment, id int32) {
	changed := false
	if len(p.ISR) > 1 && slices.Contains(p.ISR, id) {
		p.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
		changed = true
	}
	if p.Leader == id {
		s.reelect(t, p) // bumps the epochs
		changed = false
	}
	if changed {
		p.PartitionEpoch++
	}
}

// setLeader changes a partition's leader, bumping both epochs.
func (s *ClusterState) setLeader(p *PartitionAssignment, leader int32) {
	p.Leader = leader
	p.LeaderEpoch++
	p.PartitionEpoch++
}

// elect gives a leaderless partition a leader (see candidate). It reports whether a leader
// was elected.
func (s *ClusterState) elect(t *TopicState, p *PartitionAssignment, forceUnclean bool) bool {
	if p.Leader != NoLeader {
		return false
	}
	leader, unclean := s.candidate(t, p, forceUnclean)
	if leader == NoLeader {
		return false
	}
	s.setLeader(p, leader)
	if unclean {
		p.ISR = []int32{leader}
	}
	return true
}

// reelect moves a partition's leadership off its current leader: to the candidate, or to no
// one. Both epochs are bumped once.
func (s *ClusterState) reelect(t *TopicState, p *PartitionAssignment) {
	current := p.Leader
	p.Leader = NoLeader
	leader, unclean := s.candidate(t, p, false)
	if leader == current {
		leader, unclean = NoLeader, false
	}
	s.setLeader(p, leader)
	if unclean {
		p.ISR = []int32{leader}
	}
}

// candidate picks a partition's next leader: the first eligible ISR member in replica order,
// else — with unclean election enabled for the topic, or forced — the first eligible replica
// (unclean: it becomes the whole ISR). NoLeader when there is none.
func (s *ClusterState) candidate(t *TopicState, p *PartitionAssignment, forceUnclean bool) (int32, bool) {
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && s.replicaEligible(p, r) {
			return r, false
		}
	}
	if forceUnclean || t.uncleanElection() {
		for _, r := range p.Replicas {
			if s.replicaEligible(p, r) {
				return r, true
			}
		}
	}
	return NoLeader, false
}

func (s *ClusterState) createTopic(c *CreateTopic) (any, error) {
	if err := ValidateTopicName(c.Name); err != nil {
		return nil, err
	}
	if _, ok := s.Topics[c.Name]; ok {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, c.Name)
	}
	if c.ID == (TopicID{}) {
		return nil, fmt.Errorf("%w: topic %s has no id", ErrInvalidTopic, c.Name)
	}
	if _, dup := s.TopicByID(c.ID); dup {
		return nil, fmt.Errorf("%w: id %s is taken", ErrTopicExists, c.ID)
	}
	t := &TopicState{Name: c.Name, ID: c.ID, Configs: maps.Clone(c.Configs)}
	if c.Assignment != nil {
		if len(c.Assignment) == 0 || len(c.Assignment) > MaxPartitions {
			return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, len(c.Assignment))
		}
		for i, replicas := range c.Assignment {
			if err := s.checkAssignment(replicas); err != nil {
				return nil, fmt.Errorf("partition %d: %w", i, err)
			}
			t.Partitions = append(t.Partitions, s.newPartition(replicas))
		}
	} else {
		if c.Partitions <= 0 || c.Partitions > MaxPartitions {
			return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, c.Partitions)
		}
		parts, err := s.place(int(c.Partitions), int(c.ReplicationFactor))
		if err != nil {
			return nil, err
		}
		t.Partitions = parts
	}
	s.Topics[c.Name] = t
	return t.clone(), nil
}

func (s *ClusterState) importTopics(c *ImportTopics) error {
	if c.Replica < 0 {
		return fmt.Errorf("%w: import onto broker %d", ErrInvalidReplicaAssignment, c.Replica)
	}
	for _, t := range c.Topics {
		if err := ValidateTopicName(t.Name); err != nil {
			return err
		}
		if t.Partitions <= 0 || t.Partitions > MaxPartitions || t.ID == (TopicID{}) {
			return fmt.Errorf("%w: imported topic %s has %d partitions, id %s", ErrInvalidPartitions, t.Name, t.Partitions, t.ID)
		}
		if old, ok := s.Topics[t.Name]; ok && old.ID != t.ID {
			return fmt.Errorf("%w: %s, with id %s (importing id %s)", ErrTopicExists, t.Name, old.ID, t.ID)
		}
		if old, ok := s.TopicByID(t.ID); ok && old.Name != t.Name {
			return fmt.Errorf("%w: id %s is topic %s (importing %s)", ErrTopicExists, t.ID, old.Name, t.Name)
		}
	}
	for _, t := range c.Topics {
		if _, ok := s.Topics[t.Name]; ok {
			continue
		}
		ts := &TopicState{Name: t.Name, ID: t.ID, Configs: maps.Clone(t.Configs)}
		for range t.Partitions {
			ts.Partitions = append(ts.Partitions, s.newPartition([]int32{c.Replica}))
		}
		s.Topics[t.Name] = ts
	}
	s.NextProducerID = max(s.NextProducerID, c.NextProducerID)
	return nil
}

func (s *ClusterState) createPartitions(c *CreatePartitions) error {
	t, ok := s.Topics[c.Name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, c.Name)
	}
	n := int32(len(t.Partitions))
	if c.Total <= n || c.Total > MaxPartitions {
		return fmt.Errorf("%w: topic %s has %d partitions; the new count must be larger (and at most %d)", ErrInvalidPartitions, c.Name, n, MaxPartitions)
	}
	rf := len(t.Partitions[0].Replicas) - len(t.Partitions[0].Adding)
	if c.Assignment == nil {
		parts, err := s.place(int(c.Total-n), rf)
		if err != nil {
			return err
		}
		t.Partitions = append(t.Partitions, parts...)
		return nil
	}
	if len(c.Assignment) != int(c.Total-n) {
		return fmt.Errorf("%w: %d partitions added to %s but %d replica lists given", ErrInvalidReplicaAssignment, c.Total-n, c.Name, len(c.Assignment))
	}
	for i, replicas := range c.Assignment {
		if err := s.checkAssignment(replicas); err != nil {
			return fmt.Errorf("partition %d: %w", int(n)+i, err)
		}
		if len(replicas) != rf {
			return fmt.Errorf("%w: partition %d has %d replicas, the topic's replication factor is %d", ErrInvalidReplicaAssignment, int(n)+i, len(replicas), rf)
		}
	}
	for _, replicas := range c.Assignment {
		t.Partitions = append(t.Partitions, s.newPartition(replicas))
	}
	return nil
}

// place assigns n new partitions rf replicas each over the eligible brokers: partition i's
// replicas are consecutive brokers starting at (cursor + i), so leaders rotate.
func (s *ClusterState) place(n, rf int) ([]*PartitionAssignment, error) {
	brokers := s.eligibleBrokers()
	if rf <= 0 || rf > len(brokers) {
		return nil, fmt.Errorf("%w: %d, with %d eligible brokers", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	parts := make([]*PartitionAssignment, 0, n)
	for i := 0; i < n; i++ {
		start := int((s.PlacementCursor + int64(i)) % int64(len(brokers)))
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = brokers[(start+j)%len(brokers)]
		}
		parts = append(parts, s.newPartition(replicas))
	}
	s.PlacementCursor += int64(n)
	return parts, nil
}

// newPartition starts a partition on replicas: the ISR is its eligible replicas, the leader
// the first of them.
func (s *ClusterState) newPartition(replicas []int32) *PartitionAssignment {
	p := &PartitionAssignment{Replicas: slices.Clone(replicas), Leader: NoLeader}
	for _, r := range replicas {
		if s.eligible(r) {
			p.ISR = append(p.ISR, r)
		}
	}
	if len(p.ISR) == 0 {
		p.ISR = []int32{replicas[0]} // a leaderless partition still names who owns its data
		return p
	}
	p.Leader = p.ISR[0]
	return p
}

// checkAssignment validates an explicit replica list: not empty, no duplicates, registered
// brokers.
func (s *ClusterState) checkAssignment(replicas []int32) error {
	if len(replicas) == 0 {
		return fmt.Errorf("%w: no replicas", ErrInvalidReplicaAssignment)
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if seen[r] {
			return fmt.Errorf("%w: broker %d twice", ErrInvalidReplicaAssignment, r)
		}
		seen[r] = true
		if _, ok := s.Brokers[r]; !ok {
			return fmt.Errorf("%w: broker %d is not registered", ErrInvalidReplicaAssignment, r)
		}
	}
	return nil
}

func (s *ClusterState) alterPartition(c *AlterPartition) (any, error) {
	if _, err := s.checkBroker(c.BrokerID, c.BrokerEpoch); err != nil {
		return nil, err
	}
	t, p, err := s.partition(c.Topic, c.Partition)
	if err != nil {
		return nil, err
	}
	switch {
	case p.Leader != c.BrokerID:
		return nil, fmt.Errorf("%w: %s-%d is led by %d, not %d", ErrNotLeader, c.Topic, c.Partition, p.Leader, c.BrokerID)
	case c.LeaderEpoch != p.LeaderEpoch:
		return nil, fmt.Errorf("%w: %d, current %d", ErrFencedLeaderEpoch, c.LeaderEpoch, p.LeaderEpoch)
	case c.PartitionEpoch != p.PartitionEpoch:
		return nil, fmt.Errorf("%w: %d, current %d", ErrInvalidUpdateVersion, c.PartitionEpoch, p.PartitionEpoch)
	}
	isr := slices.Clone(c.ISR)
	slices.Sort(isr)
	if len(isr) == 0 || len(slices.Compact(slices.Clone(isr))) != len(isr) || !slices.Contains(isr, c.BrokerID) {
		return nil, fmt.Errorf("%w: %v must hold the leader %d once", ErrInvalidISR, c.ISR, c.BrokerID)
	}
	for _, r := range isr {
		if !slices.Contains(p.Replicas, r) {
			return nil, fmt.Errorf("%w: %d is not a replica of %s-%d", ErrInvalidISR, r, c.Topic, c.Partition)
		}
		if !slices.Contains(p.ISR, r) && !s.replicaEligible(p, r) {
			if s.eligible(r) {
				return nil, fmt.Errorf("%w: %d (its replica's log directory is offline)", ErrIneligibleReplica, r)
			}
			return nil, fmt.Errorf("%w: %d", ErrIneligibleReplica, r)
		}
	}
	p.ISR = isr
	p.PartitionEpoch++
	s.maybeCompleteReassignment(t, p)
	return p.clone(), nil
}

func (s *ClusterState) electLeaders(c *ElectLeaders) (any, error) {
	t, p, err := s.partition(c.Topic, c.Partition)
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case ElectPreferred:
		preferred := p.Replicas[0]
		if p.Leader == preferred {
			return nil, ErrElectionNotNeeded
		}
		if !slices.Contains(p.ISR, preferred) || !s.replicaEligible(p, preferred) {
			return nil, fmt.Errorf("%w: %d", ErrPreferredNotAvailable, preferred)
		}
		s.setLeader(p, preferred)
	case ElectUnclean:
		if p.Leader != NoLeader {
			return nil, ErrElectionNotNeeded
		}
		if !s.elect(t, p, true) {
			return nil, ErrEligibleNotAvailable
		}
	default:
		return nil, fmt.Errorf("%w: election type %d", ErrUnknownCommand, c.Type)
	}
	return p.clone(), nil
}

func (s *ClusterState) reassign(c *Reassign) (any, error) {
	t, p, err := s.partition(c.Topic, c.Partition)
	if err != nil {
		return nil, err
	}
	original := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Adding, r) })
	if c.Target == nil {
		if len(p.Adding) == 0 && len(p.Removing) == 0 {
			return nil, ErrNoReassignment
		}
		if err := s.setReplicas(t, p, original); err != nil {
			return nil, err
		}
		return p.clone(), nil
	}
	if err := s.checkAssignment(c.Target); err != nil {
		return nil, err
	}
	replicas := slices.Clone(c.Target)
	var adding, removing []int32
	for _, r := range original {
		if !slices.Contains(c.Target, r) {
			replicas = append(replicas, r)
			removing = append(removing, r)
		}
	}
	for _, r := range c.Target {
		if !slices.Contains(original, r) {
			adding = append(adding, r)
		}
	}
	// A reassignment replacing another drops the previous one's new replicas that the new
	// target does not keep, from the ISR too.
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	if len(isr) == 0 {
		return nil, fmt.Errorf("%w: no replica of %v is in the ISR %v", ErrInvalidISR, replicas, p.ISR)
	}
	p.Replicas, p.ISR, p.Adding, p.Removing = replicas, isr, adding, removing
	p.pruneDirectories()
	p.PartitionEpoch++
	if !slices.Contains(replicas, p.Leader) {
		s.reelect(t, p)
	}
	s.maybeCompleteReassignment(t, p)
	return p.clone(), nil
}

// maybeCompleteReassignment finishes a reassignment once every target replica is in the ISR:
// the replicas become the target, the removed ones leave the ISR, and the leader moves if it
// was removed.
func (s *ClusterState) maybeCompleteReassignment(t *TopicState, p *PartitionAssignment) {
	if len(p.Adding) == 0 && len(p.Removing) == 0 {
		return
	}
	target := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Removing, r) })
	for _, r := range target {
		if !slices.Contains(p.ISR, r) {
			return
		}
	}
	s.setReplicas(t, p, target) // cannot fail: the target is inside the ISR
}

// setReplicas ends a reassignment with replicas as the assignment. It refuses when no ISR
// member would remain (cancelling a reassignment whose only in-sync replicas are new ones).
func (s *ClusterState) setReplicas(t *TopicState, p *PartitionAssignment, replicas []int32) error {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	if len(isr) == 0 {
		return fmt.Errorf("%w: no replica of %v is in the ISR %v", ErrInvalidISR, replicas, p.ISR)
	}
	p.Replicas, p.ISR, p.Adding, p.Removing = slices.Clone(replicas), isr, nil, nil
	p.pruneDirectories()
	p.PartitionEpoch++
	if !slices.Contains(replicas, p.Leader) {
		s.reelect(t, p)
	}
	return nil
}
