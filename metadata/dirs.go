package metadata

import (
	"errors"
	"fmt"
	"slices"
)

// KIP-858 (JBOD in KRaft): the controller knows each broker's log directories and the
// directory of each replica, so that a directory failing on a broker moves the leadership
// of exactly the partitions it held, and ISRs lose exactly those replicas.
//
//	RegisterBroker.LogDirs        the broker's online directories, at registration
//	AssignReplicasToDirs          a broker placed (or moved) replicas: Directories[broker] = dir
//	DirectoriesOffline            a heartbeat's OfflineLogDirs: the dirs leave LogDirs, and
//	                              every partition whose replica is in one loses it as leader
//	                              and ISR member (Kafka's handleDirectoriesOffline)
//
// A replica is eligible (to lead, to join an ISR) only if its broker is eligible and its
// directory is online: unassigned, or one of the broker's LogDirs (Kafka's
// DirectoryId.isOnline; a registration without directories counts every one online). A broker
// that restarts registers its online directories again: a repaired directory is back, its
// replicas eligible, and their leaders add them to the ISR once they caught up.

// ErrUnknownDirectory is an assignment to a directory id that is not a real one (the zero
// id, Kafka's UNASSIGNED, cannot be assigned).
var ErrUnknownDirectory = errors.New("not a log directory id")

// AssignReplicasToDirs records where a broker keeps replicas (Kafka's AssignReplicasToDirs,
// API 73): a replica it created or moved to another directory. A replica assigned to a
// directory the broker does not have online loses its leadership and ISR place as if that
// directory had just failed. The result ([]error, one per assignment, nil where it applied)
// says which assignments were refused: an unknown topic (ErrUnknownTopicID) or partition, a
// partition the broker holds no replica of (ErrNotLeader), the zero directory id.
type AssignReplicasToDirs struct {
	BrokerID    int32           `json:"broker_id"`
	BrokerEpoch int64           `json:"broker_epoch"`
	Assignments []DirAssignment `json:"assignments"`
}

// DirAssignment is one replica of AssignReplicasToDirs: a topic by id, a partition and the
// directory the broker keeps it in.
type DirAssignment struct {
	Topic     TopicID `json:"topic"`
	Partition int32   `json:"partition"`
	Dir       TopicID `json:"dir"`
}

// DirectoriesOffline is a broker reporting log directories that failed (its heartbeat's
// OfflineLogDirs). Directories still among its online LogDirs move to its OfflineDirs, and
// every partition with its replica in one of them loses the broker from its ISR (but a last
// member) and as leader, electing another eligible ISR member (Kafka's
// ReplicationControlManager.handleDirectoriesOffline). The result (an int) is how many
// partitions lost the replica.
type DirectoriesOffline struct {
	BrokerID    int32     `json:"broker_id"`
	BrokerEpoch int64     `json:"broker_epoch"`
	Dirs        []TopicID `json:"dirs"`
}

// ErrUnknownTopicID is a topic id no topic has.
var ErrUnknownTopicID = errors.New("unknown topic id")

// dirOnline reports whether dir is online on broker b (Kafka's DirectoryId.isOnline): the
// zero id (unassigned) always is, as is any directory of a registration that names none.
func (b *BrokerRegistration) dirOnline(dir TopicID) bool {
	if dir == (TopicID{}) || len(b.LogDirs) == 0 && len(b.OfflineDirs) == 0 {
		return true
	}
	return slices.Contains(b.LogDirs, dir)
}

// replicaEligible reports whether broker r may lead partition p or join its ISR: the broker
// is eligible and p's replica on it is in an online directory.
func (s *ClusterState) replicaEligible(p *PartitionAssignment, r int32) bool {
	return s.eligible(r) && s.Brokers[r].dirOnline(p.Directories[r])
}

// pruneDirectories forgets the directories of brokers that are no longer replicas.
func (p *PartitionAssignment) pruneDirectories() {
	for r := range p.Directories {
		if !slices.Contains(p.Replicas, r) {
			delete(p.Directories, r)
		}
	}
	if len(p.Directories) == 0 {
		p.Directories = nil
	}
}

func (s *ClusterState) assignReplicasToDirs(c *AssignReplicasToDirs) (any, error) {
	b, err := s.checkBroker(c.BrokerID, c.BrokerEpoch)
	if err != nil {
		return nil, err
	}
	results := make([]error, len(c.Assignments))
	for i, a := range c.Assignments {
		t, ok := s.TopicByID(a.Topic)
		switch {
		case !ok:
			results[i] = fmt.Errorf("%w: %s", ErrUnknownTopicID, a.Topic)
			continue
		case a.Partition < 0 || int(a.Partition) >= len(t.Partitions):
			results[i] = fmt.Errorf("%w: %s-%d", ErrUnknownPartition, t.Name, a.Partition)
			continue
		case a.Dir == (TopicID{}):
			results[i] = fmt.Errorf("%w: %s (unassigned)", ErrUnknownDirectory, a.Dir)
			continue
		}
		p := t.Partitions[a.Partition]
		if !slices.Contains(p.Replicas, c.BrokerID) {
			results[i] = fmt.Errorf("%w: broker %d holds no replica of %s-%d", ErrNotLeader, c.BrokerID, t.Name, a.Partition)
			continue
		}
		if p.Directories[c.BrokerID] == a.Dir {
			continue
		}
		if p.Directories == nil {
			p.Directories = map[int32]TopicID{}
		}
		p.Directories[c.BrokerID] = a.Dir
		p.PartitionEpoch++
		if !b.dirOnline(a.Dir) {
			s.leavePartition(t, p, c.BrokerID)
		}
	}
	return results, nil
}

func (s *ClusterState) directoriesOffline(c *DirectoriesOffline) (any, error) {
	b, err := s.checkBroker(c.BrokerID, c.BrokerEpoch)
	if err != nil {
		return nil, err
	}
	var failed []TopicID
	for _, d := range b.LogDirs {
		if slices.Contains(c.Dirs, d) {
			failed = append(failed, d)
		}
	}
	if len(failed) == 0 {
		return 0, nil
	}
	b.LogDirs = slices.DeleteFunc(slices.Clone(b.LogDirs), func(d TopicID) bool { return slices.Contains(failed, d) })
	b.OfflineDirs = append(slices.Clone(b.OfflineDirs), failed...)
	moved := 0
	for _, t := range s.sortedTopics() {
		for _, p := range t.Partitions {
			d, ok := p.Directories[c.BrokerID]
			if !ok || !slices.Contains(failed, d) || !slices.Contains(p.ISR, c.BrokerID) && p.Leader != c.BrokerID {
				continue
			}
			s.leavePartition(t, p, c.BrokerID)
			moved++
		}
	}
	return moved, nil
}
