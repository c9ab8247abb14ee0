package metadata

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	iofs "io/fs"
	"maps"
	"path/filepath"
	"sort"
	"sync"

	"github.com/logd/logd/internal/vfs"
)

// FileName is the metadata file's name inside the data directory.
const FileName = "logd-metadata.json"

type state struct {
	ClusterID string   `json:"cluster_id"`
	Topics    []*Topic `json:"topics"`
}

// Store is the single-node metadata store: the cluster id and topics (ids, partition counts,
// configs) in one JSON file in the data directory, replaced atomically on every change. The
// broker uses it until it is wired to the Quorum. Safe for concurrent use.
type Store struct {
	fs   vfs.FS
	dir  string
	path string

	mu        sync.Mutex // guards the fields below; held across the file write of a change
	clusterID string
	byName    map[string]*Topic
	byID      map[TopicID]*Topic
}

// Open loads the store from dir, creating it (with a new cluster id) if absent.
func Open(fs vfs.FS, dir string) (*Store, error) {
	s := &Store{fs: fs, dir: dir, path: filepath.Join(dir, FileName), byName: map[string]*Topic{}, byID: map[TopicID]*Topic{}}
	data, err := vfs.ReadFile(fs, s.path)
	if errors.Is(err, iofs.ErrNotExist) {
		var id TopicID
		rand.Read(id[:])
		s.clusterID = id.String()
		return s, s.persistLocked()
	}
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("metadata file %s is corrupt: %w", s.path, err)
	}
	s.clusterID = st.ClusterID
	for _, t := range st.Topics {
		if err := ValidateTopicName(t.Name); err != nil || t.Partitions <= 0 || t.Partitions > MaxPartitions {
			return nil, fmt.Errorf("metadata file %s: bad topic %q", s.path, t.Name)
		}
		s.byName[t.Name] = t
		s.byID[t.ID] = t
	}
	return s, nil
}

// ClusterID returns the cluster's id.
func (s *Store) ClusterID() string { return s.clusterID }

// Topics returns every topic, sorted by name.
func (s *Store) Topics() []Topic {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Topic, 0, len(s.byName))
	for _, t := range s.byName {
		out = append(out, cloneTopic(*t))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Topic returns a topic by name.
func (s *Store) Topic(name string) (Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byName[name]
	if !ok {
		return Topic{}, false
	}
	return cloneTopic(*t), true
}

// TopicByID returns a topic by id.
func (s *Store) TopicByID(id TopicID) (Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byID[id]
	if !ok {
		return Topic{}, false
	}
	return cloneTopic(*t), true
}

// CreateTopic adds a topic with a new id. configs holds the overrides (already validated).
func (s *Store) CreateTopic(name string, partitions int32, configs map[string]string) (Topic, error) {
	if err := ValidateTopicName(name); err != nil {
		return Topic{}, err
	}
	if partitions <= 0 || partitions > MaxPartitions {
		return Topic{}, fmt.Errorf("%w: %d", ErrInvalidPartitions, partitions)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byName[name]; ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrTopicExists, name)
	}
	t := &Topic{Name: name, Partitions: partitions, Configs: map[string]string{}}
	for k, v := range configs {
		t.Configs[k] = v
	}
	for {
		rand.Read(t.ID[:])
		if _, dup := s.byID[t.ID]; !dup && t.ID != (TopicID{}) {
			break
		}
	}
	s.byName[name] = t
	s.byID[t.ID] = t
	if err := s.persistLocked(); err != nil {
		delete(s.byName, name)
		delete(s.byID, t.ID)
		return Topic{}, err
	}
	return cloneTopic(*t), nil
}

// DeleteTopic removes a topic and returns what it was.
func (s *Store) DeleteTopic(name string) (Topic, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byName[name]
	if !ok {
		return Topic{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	delete(s.byName, name)
	delete(s.byID, t.ID)
	if err := s.persistLocked(); err != nil {
		s.byName[name], s.byID[t.ID] = t, t
		return Topic{}, err
	}
	return cloneTopic(*t), nil
}

// SetPartitions grows a topic to total partitions.
func (s *Store) SetPartitions(name string, total int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	if total <= t.Partitions || total > MaxPartitions {
		return fmt.Errorf("%w: topic %s has %d partitions; the new count must be larger (and at most %d)", ErrInvalidPartitions, name, t.Partitions, MaxPartitions)
	}
	old := t.Partitions
	t.Partitions = total
	if err := s.persistLocked(); err != nil {
		t.Partitions = old
		return err
	}
	return nil
}

// SetConfigs replaces a topic's config overrides.
func (s *Store) SetConfigs(name string, configs map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	old := t.Configs
	t.Configs = make(map[string]string, len(configs))
	for k, v := range configs {
		t.Configs[k] = v
	}
	if err := s.persistLocked(); err != nil {
		t.Configs = old
		return err
	}
	return nil
}

// persistLocked writes the whole state atomically. REQUIRES: s.mu held (or s unshared).
func (s *Store) persistLocked() error {
	st := state{ClusterID: s.clusterID}
	for _, t := range s.byName {
		st.Topics = append(st.Topics, t)
	}
	sort.Slice(st.Topics, func(i, j int) bool { return st.Topics[i].Name < st.Topics[j].Name })
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(s.fs, s.dir, s.path, data)
}

func cloneTopic(t Topic) Topic {
	t.Configs = maps.Clone(t.Configs)
	return t
}
