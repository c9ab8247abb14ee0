package broker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/group"
	"github.com/logd/logd/metadata"
)

// The group coordinator's glue: the internal __consumer_offsets topic and the coordinator's
// lifetime. The group APIs (08, 09, 11-16, 42, 47) answer COORDINATOR_LOAD_IN_PROGRESS
// (retriable) while the offsets log is being replayed.

// offsetsTopic is Kafka's internal topic for committed offsets and group metadata.
const offsetsTopic = "__consumer_offsets"

// offsetsTopicConfigs: no time or size retention (the coordinator expires offsets by
// offsets.retention.minutes and compacts the log itself, see group.LogJournal), and segments
// small enough that a compaction frees space soon.
func (b *Broker) offsetsTopicConfigs() map[string]string {
	return map[string]string{
		"retention.ms":    "-1",
		"retention.bytes": "-1",
		"segment.bytes":   strconv.FormatInt(b.cfg.OffsetsTopicSegmentBytes, 10),
	}
}

// coordinator returns the group coordinator, creating and replaying __consumer_offsets on
// first use (Kafka also creates the topic when a group first needs it). While another
// request is loading it, the answer is COORDINATOR_LOAD_IN_PROGRESS (retriable).
func (b *Broker) coordinator() (*group.Coordinator, *kerr.Error) {
	return b.loadCoordinator(false)
}

// loadCoordinator is coordinator; with wait set it waits for a load in progress instead
// (FindCoordinator, the first request of every group client: a client that is told to
// retry backs off for seconds).
func (b *Broker) loadCoordinator(wait bool) (*group.Coordinator, *kerr.Error) {
	if coord := b.groups.Load(); coord != nil {
		return coord, nil
	}
	if b.cluster != nil {
		// The coordinator keeps its journal in local logs; in a cluster it would have to
		// follow __consumer_offsets leadership. Not built yet: groups need a single node.
		return nil, kerr.CoordinatorNotAvailable
	}
	if wait {
		b.groupsMu.Lock()
	} else if !b.groupsMu.TryLock() {
		return nil, kerr.CoordinatorLoadInProgress
	}
	defer b.groupsMu.Unlock()
	if coord := b.groups.Load(); coord != nil {
		return coord, nil
	}
	if b.groupsClosed {
		return nil, kerr.CoordinatorNotAvailable
	}
	if err := b.loadGroupsLocked(); err != nil {
		b.log.Error("cannot load consumer groups", "err", err)
		return nil, kerr.CoordinatorNotAvailable
	}
	return b.groups.Load(), nil
}

// loadGroupsLocked creates the offsets topic if needed, replays it and starts the
// coordinator. REQUIRES: b.groupsMu held.
func (b *Broker) loadGroupsLocked() error {
	start := time.Now()
	t, ok := b.meta.Topic(offsetsTopic)
	if !ok {
		_, err := b.createTopic(offsetsTopic, b.cfg.OffsetsTopicPartitions, b.offsetsTopicConfigs())
		if err != nil && !errors.Is(err, metadata.ErrTopicExists) {
			return fmt.Errorf("create %s: %w", offsetsTopic, err)
		}
		if t, ok = b.meta.Topic(offsetsTopic); !ok {
			return fmt.Errorf("%s: %w", offsetsTopic, errUnknownTopicOrPartition)
		}
	}
	logs := make([]*engine.Log, t.Partitions)
	for p := range logs {
		part, err := b.partition(offsetsTopic, int32(p))
		if err != nil {
			return err
		}
		logs[p] = part.log
	}
	j, err := group.OpenLogJournal(logs, group.JournalConfig{Logger: b.log})
	if err != nil {
		return err
	}
	coord := group.New(group.Config{
		Partitions:                    t.Partitions,
		InitialRebalanceDelay:         b.cfg.GroupInitialRebalanceDelay,
		MinSessionTimeout:             b.cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             b.cfg.GroupMaxSessionTimeout,
		MaxGroupSize:                  b.cfg.GroupMaxSize,
		OffsetsRetention:              b.cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: b.cfg.OffsetsRetentionCheckInterval,
		ConsumerSessionTimeout:        b.cfg.GroupConsumerSessionTimeout,
		ConsumerHeartbeatInterval:     b.cfg.GroupConsumerHeartbeatInterval,
		Topics:                        b.assignableTopic,
		TopicNames:                    b.assignableTopicNames,
		Logger:                        b.log,
	}, j, j.Records)
	b.journal = j
	b.groups.Store(coord)
	b.log.Info("loaded consumer groups", "groups", len(coord.List()), "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// assignableTopic resolves a topic subscribed by a consumer-protocol group member.
func (b *Broker) assignableTopic(name string) (group.TopicInfo, bool) {
	t, ok := b.meta.Topic(name)
	if !ok || name == offsetsTopic {
		return group.TopicInfo{}, false
	}
	return group.TopicInfo{ID: t.ID, Name: t.Name, Partitions: t.Partitions}, true
}

// assignableTopicNames lists the topics a consumer-protocol member's regex may match.
func (b *Broker) assignableTopicNames() []string {
	ts := b.meta.Topics()
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		if t.Name != offsetsTopic {
			names = append(names, t.Name)
		}
	}
	return names
}

// warmGroups loads the coordinator in the background at start when __consumer_offsets
// exists, so the first group request after a restart does not wait for the replay.
func (b *Broker) warmGroups() {
	if b.cluster != nil {
		return
	}
	if _, ok := b.meta.Topic(offsetsTopic); ok {
		go b.loadCoordinator(true)
	}
}

// closeGroups answers parked group requests and stops the coordinator's timers and
// compactions; no coordinator is loaded after it. Called by Close before the engine closes.
func (b *Broker) closeGroups() {
	b.groupsMu.Lock() // waits for a load in progress
	defer b.groupsMu.Unlock()
	b.groupsClosed = true
	if coord := b.groups.Load(); coord != nil {
		coord.Close()
		b.journal.Close()
	}
}

// await waits for a parked group answer, or for the broker to shut down.
func await[T any](b *Broker, ch <-chan T) (T, bool) {
	select {
	case v := <-ch:
		return v, true
	case <-b.closing:
		var zero T
		return zero, false
	}
}

// errCode is the wire code of a coordinator error (nil: none).
func errCode(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

// clientHost is Kafka's member client host: InetAddress.toString, "/" + address.
func clientHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		host = addr.String()
	}
	return "/" + host
}

// knownPartition reports whether a topic partition exists (OffsetCommit and OffsetDelete
// refuse others with UNKNOWN_TOPIC_OR_PARTITION, as Kafka does).
func (b *Broker) knownPartition(topic string, p int32) bool {
	t, ok := b.meta.Topic(topic)
	return ok && p >= 0 && p < t.Partitions
}

// errInternalTopic refuses client writes to and deletion of the offsets topic.
var errInternalTopic = fmt.Errorf("%s is an internal topic: %w", offsetsTopic, kerr.InvalidTopicException)
