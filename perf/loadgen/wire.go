package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/internal/kwire"
)

// clientID is sent in every request header.
const clientID = "logd-load"

// Highest versions the generator speaks. Produce v13 and Fetch v13+ name topics by id only;
// the generator names them, which every broker since Kafka 1.0 accepts.
const (
	maxProduceVersion = 12
	minProduceVersion = 3 // record batch v2
	maxFetchVersion   = 12
	minFetchVersion   = 4
)

// maxResponseBytes bounds a response frame: far above any fetch the generator asks for.
const maxResponseBytes = 1 << 30

// dial opens a generator connection to addr with a read buffer of readBuf bytes to start
// with: the load loops pipeline on it (kwire's Send and Receive) with no setup round trip.
func dial(addr string, timeout time.Duration, readBuf int) (*kwire.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return kwire.Dial(ctx, addr, kwire.Options{ClientID: clientID, MaxResponseBytes: maxResponseBytes,
		ReadBufferBytes: readBuf})
}

// Conn is a connection used for setup round trips (ApiVersions, Metadata, CreateTopics).
type Conn struct {
	kc       *kwire.Conn
	versions kwire.Versions
}

// Dial connects and negotiates API versions.
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	kc, err := dial(addr, timeout, 64<<10)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	v, err := kc.ApiVersions(ctx, clientID, "1.0")
	if err != nil {
		kc.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return &Conn{kc: kc, versions: v}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.kc.Close() }

// setupTimeout bounds one setup round trip.
const setupTimeout = 30 * time.Second

// Version picks the highest version of key both sides speak within [lo, hi], or -1.
func (c *Conn) Version(key kmsg.Key, lo, hi int16) int16 { return c.versions.Pick(key, lo, hi) }

// roundTrip sends req at its set version and reads its response.
func (c *Conn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	return c.kc.Request(ctx, req)
}

// RoundTrip sends req at the highest version both sides speak and returns the response.
func (c *Conn) RoundTrip(req kmsg.Request) (kmsg.Response, error) {
	v := c.Version(kmsg.Key(req.Key()), 0, req.MaxVersion())
	if v < 0 {
		return nil, fmt.Errorf("broker does not support API key %d", req.Key())
	}
	req.SetVersion(v)
	return c.roundTrip(req)
}

// Leaders returns, for each partition 0..partitions-1 of topic, its leader's "host:port".
// If the topic is missing it is created with the given partition count (CreateTopics when the
// broker supports it, otherwise Metadata auto-creation). A topic with fewer partitions is an
// error: the run would not measure what was asked.
func (c *Conn) Leaders(topic string, partitions int32, create bool) ([]string, error) {
	leaders, err := c.leaders(topic, false)
	if errors.Is(err, kerr.UnknownTopicOrPartition) && create {
		if c.Version(kmsg.CreateTopics, 0, 7) >= 0 {
			if err = c.createTopic(topic, partitions); err != nil {
				return nil, err
			}
			leaders, err = c.leadersRetry(topic, partitions)
		} else {
			leaders, err = c.leaders(topic, true)
		}
	}
	if err != nil {
		return nil, err
	}
	if int32(len(leaders)) < partitions {
		return nil, fmt.Errorf("topic %s has %d partitions, the run asks for %d: create it with %d (or use -partitions %d)",
			topic, len(leaders), partitions, partitions, len(leaders))
	}
	return leaders[:partitions], nil
}

// maxPartitionsPerRequest keeps CreateTopics and CreatePartitions under Kafka's KRaft
// controller limit on records per operation (10,000: a topic record plus one per partition;
// beyond it Kafka answers POLICY_VIOLATION).
const maxPartitionsPerRequest = 5000

// createTopic creates topic with partitions, in steps of maxPartitionsPerRequest (CreateTopics
// then CreatePartitions).
func (c *Conn) createTopic(topic string, partitions int32) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = topic, min(partitions, maxPartitionsPerRequest), -1
	if c.Version(kmsg.CreateTopics, 0, 7) < 4 {
		t.ReplicationFactor = 1 // -1 (broker default) arrived in v4
	}
	req.Topics = append(req.Topics, t)
	req.TimeoutMillis = 60000
	resp, err := c.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("CreateTopics: %w", err)
	}
	for _, rt := range resp.(*kmsg.CreateTopicsResponse).Topics {
		if e := kerr.ErrorForCode(rt.ErrorCode); e != nil && !errors.Is(e, kerr.TopicAlreadyExists) {
			return fmt.Errorf("CreateTopics %s: %w", topic, e)
		}
	}
	for n := t.NumPartitions; n < partitions; {
		n = min(n+maxPartitionsPerRequest, partitions)
		if _, err := c.leadersRetry(topic, 1); err != nil {
			return err
		}
		req := kmsg.NewPtrCreatePartitionsRequest()
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, n
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 60000
		resp, err := c.RoundTrip(req)
		if err != nil {
			return fmt.Errorf("CreatePartitions: %w", err)
		}
		for _, r := range resp.(*kmsg.CreatePartitionsResponse).Topics {
			if e := kerr.ErrorForCode(r.ErrorCode); e != nil {
				return fmt.Errorf("CreatePartitions %s to %d: %w", topic, n, e)
			}
		}
	}
	return nil
}

// leadersRetry waits until Metadata lists topic with at least partitions partitions (minutes
// for thousands of partitions on a busy machine).
func (c *Conn) leadersRetry(topic string, partitions int32) ([]string, error) {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		l, err := c.leaders(topic, false)
		if err == nil && int32(len(l)) < partitions {
			err = fmt.Errorf("topic %s: %d of %d partitions in Metadata", topic, len(l), partitions)
		}
		if err == nil || time.Now().After(deadline) {
			return l, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Conn) leaders(topic string, autoCreate bool) ([]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = autoCreate
	v := c.Version(kmsg.Metadata, 1, 12)
	if v < 0 {
		return nil, errors.New("broker does not support Metadata v1-12")
	}
	req.SetVersion(v)
	resp, err := c.roundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("Metadata: %w", err)
	}
	md := resp.(*kmsg.MetadataResponse)
	brokers := map[int32]string{}
	for _, b := range md.Brokers {
		brokers[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for _, t := range md.Topics {
		if e := kerr.ErrorForCode(t.ErrorCode); e != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, e)
		}
		out := make([]string, len(t.Partitions))
		for _, p := range t.Partitions {
			if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
				return nil, fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, e)
			}
			if p.Partition < 0 || int(p.Partition) >= len(out) {
				return nil, fmt.Errorf("topic %s: partition %d out of range", topic, p.Partition)
			}
			out[p.Partition] = brokers[p.Leader]
			if out[p.Partition] == "" {
				return nil, fmt.Errorf("topic %s partition %d: leader %d not among brokers", topic, p.Partition, p.Leader)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("topic %s: not in Metadata response", topic)
}

// WaitReady waits until every partition of topic answers ListOffsets without error: a broker
// may list a new topic's leaders in Metadata before it serves them (Kafka answers
// NOT_LEADER_OR_FOLLOWER for a moment after CreateTopics), and may open partitions lazily.
// Partitions are asked in chunks of 500, so no single request waits on thousands of them.
func (c *Conn) WaitReady(topic string, partitions int32, timeout time.Duration) error {
	v := c.Version(kmsg.ListOffsets, 1, 7)
	if v < 0 {
		return nil // nothing to ask with; the run will tell
	}
	deadline := time.Now().Add(timeout)
	for lo := int32(0); lo < partitions; {
		hi := min(lo+500, partitions)
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(v)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := lo; p < hi; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := c.roundTrip(req)
		if err != nil {
			return fmt.Errorf("ListOffsets: %w", err)
		}
		var bad error
		for _, t := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && bad == nil {
					bad = fmt.Errorf("topic %s partition %d: %w", topic, p.Partition, e)
				}
			}
		}
		if bad == nil {
			lo = hi
			continue
		}
		if time.Now().After(deadline) {
			return bad
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
