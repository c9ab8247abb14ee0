package bench

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/perf/loadgen"
)

// topicTimeout bounds creating a topic until every partition is served (minutes for
// thousands of partitions on a busy machine).
const topicTimeout = 5 * time.Minute

// maxCreatePartitions is the most partitions createTopic creates in one CreateTopics request
// (Kafka's KRaft controller refuses more than 10,000 records per operation, one per
// partition).
const maxCreatePartitions = 5000

// createTopic creates a topic with replicas copies of each partition and waits until each
// partition's leader serves it; it returns how long that took and the leaders' addresses by
// partition. A broker without CreateTopics, or more than maxCreatePartitions partitions, is
// left to loadgen, which creates a missing topic with the broker's default replication
// factor (by Metadata auto-creation, or CreateTopics then CreatePartitions in steps): only
// one replica may be asked for then. When r is not nil and CreateTopics created the topic
// (it did not exist), the topic is added to r's created topics, the ones Run may delete.
func createTopic(bootstrap, topic string, partitions int32, replicas int, r *Report) (time.Duration, []string, error) {
	start := time.Now()
	c, err := loadgen.Dial(bootstrap, 10*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer c.Close()
	switch {
	case c.Version(kmsg.CreateTopics, 0, 7) >= 0 && partitions <= maxCreatePartitions:
		created, err := createReplicated(c, topic, partitions, replicas)
		if err != nil {
			return 0, nil, err
		}
		if created && r != nil {
			r.created = append(r.created, topic)
		}
	case replicas > 1:
		return 0, nil, fmt.Errorf("topic %s: replication factor %d needs CreateTopics and at most %d partitions", topic, replicas, maxCreatePartitions)
	}
	// A cluster may list a new partition before its leader is elected (LEADER_NOT_AVAILABLE),
	// or a node learn of a topic after another created it (UNKNOWN_TOPIC_OR_PARTITION).
	deadline := start.Add(topicTimeout)
	var leaders []string
	for {
		leaders, err = c.Leaders(topic, partitions, true)
		var ke *kerr.Error
		if err == nil || !errors.As(err, &ke) || !ke.Retriable || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return 0, nil, err
	}
	err = waitServed(topic, leaders, deadline)
	return time.Since(start), leaders, err
}

// leaderSpread says how many partitions each leader leads: "127.0.0.1:4001 ×2, …".
func leaderSpread(leaders []string) string {
	n := map[string]int{}
	for _, l := range leaders {
		n[l]++
	}
	var out []string
	for _, l := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%s ×%d", l, n[l]))
	}
	return strings.Join(out, ", ")
}

// createReplicated creates topic with partitions partitions of replicas replicas each; created
// is false when the topic existed already.
func createReplicated(c *loadgen.Conn, topic string, partitions int32, replicas int) (created bool, err error) {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, partitions, int16(replicas)
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 60000
	resp, err := c.RoundTrip(req)
	if err != nil {
		return false, fmt.Errorf("CreateTopics: %w", err)
	}
	for _, rt := range resp.(*kmsg.CreateTopicsResponse).Topics {
		e := kerr.ErrorForCode(rt.ErrorCode)
		switch {
		case e == nil:
			created = true
		case !errors.Is(e, kerr.TopicAlreadyExists):
			msg := ""
			if rt.ErrorMessage != nil {
				msg = ": " + *rt.ErrorMessage
			}
			return false, fmt.Errorf("CreateTopics %s (%d partitions, replication factor %d): %w%s", topic, partitions, replicas, e, msg)
		}
	}
	return created, nil
}

// deleteTopics deletes topics (DeleteTopics) and returns those the broker deleted; err says
// why the others were not.
func deleteTopics(bootstrap string, topics []string) (deleted []string, err error) {
	if len(topics) == 0 {
		return nil, nil
	}
	c, err := loadgen.Dial(bootstrap, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 60000
	for _, t := range topics {
		req.TopicNames = append(req.TopicNames, t) // v0–5
		dt := kmsg.NewDeleteTopicsRequestTopic()   // v6+
		dt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, dt)
	}
	resp, err := c.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("DeleteTopics: %w", err)
	}
	var errs []error
	for _, rt := range resp.(*kmsg.DeleteTopicsResponse).Topics {
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		}
		if e := kerr.ErrorForCode(rt.ErrorCode); e != nil {
			errs = append(errs, fmt.Errorf("DeleteTopics %s: %w", name, e))
			continue
		}
		deleted = append(deleted, name)
	}
	return deleted, errors.Join(errs...)
}

// waitServed waits until every partition of topic answers ListOffsets without error at its
// leader (leaders[p] for partition p): a broker may list a new topic's leaders in Metadata
// before it serves them (Kafka answers NOT_LEADER_OR_FOLLOWER for a moment after
// CreateTopics), and may open partitions lazily. A leader is asked for at most 500
// partitions at a time, so no single request waits on thousands of them.
func waitServed(topic string, leaders []string, deadline time.Time) error {
	byLeader := map[string][]int32{}
	for p, addr := range leaders {
		byLeader[addr] = append(byLeader[addr], int32(p))
	}
	for addr, parts := range byLeader {
		c, err := loadgen.Dial(addr, 10*time.Second)
		if err != nil {
			return err
		}
		for len(parts) > 0 {
			chunk := parts[:min(500, len(parts))]
			err := listOffsets(c, topic, chunk)
			if err == nil {
				parts = parts[len(chunk):]
				continue
			}
			if time.Now().After(deadline) {
				c.Close()
				return fmt.Errorf("%s: %w", addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return nil
}

// listOffsets asks for the end offsets of parts and returns the first error.
func listOffsets(c *loadgen.Conn, topic string, parts []int32) error {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := c.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("ListOffsets: %w", err)
	}
	for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				return fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, e)
			}
		}
	}
	return nil
}
