package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/logd/logd/engine"
	"github.com/logd/logd/internal/kwire"
)

// Versions a follower speaks: Fetch v12 (topic names, CurrentLeaderEpoch, ReplicaID in the
// body; flexible), OffsetForLeaderEpoch v3 (the first with ReplicaID) and ListOffsets v4 (the
// first with CurrentLeaderEpoch).
const (
	fetchVersion                = 12
	offsetForLeaderEpochVersion = 3
	listOffsetsVersion          = 4
)

// Conn is a follower's connection to a leader broker, speaking the Kafka protocol with the
// follower's replica id. It implements LeaderClient. It is not safe for concurrent use: a
// follower has one request in flight per leader. A Conn whose request failed midway (I/O
// error, cancelled context) is broken and must be closed; the caller dials again.
type Conn struct {
	replicaID int32
	// MaxWait and MinBytes are the fetch long-poll parameters (replica.fetch.wait.max.ms,
	// replica.fetch.min.bytes).
	MaxWait  time.Duration
	MinBytes int32

	kc *kwire.Conn
}

// Dial connects to a leader broker at addr as replica replicaID, secured by sec (the
// inter-broker listener's TLS and SASL; zero: PLAINTEXT).
func Dial(ctx context.Context, addr string, replicaID int32, sec kwire.Security) (*Conn, error) {
	kc, err := kwire.Dial(ctx, addr, kwire.Options{ClientID: fmt.Sprintf("logd-replica-%d", replicaID), Security: sec})
	if err != nil {
		return nil, err
	}
	return &Conn{replicaID: replicaID, MaxWait: 500 * time.Millisecond, MinBytes: 1, kc: kc}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.kc.Close() }

// Err is why the connection broke, or nil while it is usable.
func (c *Conn) Err() error { return c.kc.Err() }

// OffsetForLeaderEpoch implements LeaderClient.
func (c *Conn) OffsetForLeaderEpoch(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch, epoch int32) (engine.EpochEndOffset, error) {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.SetVersion(offsetForLeaderEpochVersion)
	req.ReplicaID = c.replicaID
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = tp.Partition, currentLeaderEpoch, epoch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.roundTrip(ctx, req)
	if err != nil {
		return engine.EpochEndOffset{}, err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return engine.EpochEndOffset{}, fmt.Errorf("%s: OffsetForLeaderEpoch answered %d topics", tp, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := codeError(p.ErrorCode); err != nil {
		return engine.EpochEndOffset{}, fmt.Errorf("%s: OffsetForLeaderEpoch: %w", tp, err)
	}
	return engine.EpochEndOffset{Epoch: p.LeaderEpoch, EndOffset: p.EndOffset}, nil
}

// LogStartOffset implements LeaderClient.
func (c *Conn) LogStartOffset(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch int32) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	req.ReplicaID = c.replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = tp.Partition, currentLeaderEpoch, -2 // earliest
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	kresp, err := c.roundTrip(ctx, req)
	if err != nil {
		return 0, err
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("%s: ListOffsets answered %d topics", tp, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := codeError(p.ErrorCode); err != nil {
		return 0, fmt.Errorf("%s: ListOffsets: %w", tp, err)
	}
	return p.Offset, nil
}

// Fetch implements LeaderClient.
func (c *Conn) Fetch(ctx context.Context, tp engine.TopicPartition, currentLeaderEpoch int32, offset int64, maxBytes int32) (FetchResult, error) {
	res, err := c.FetchMany(ctx, []PartitionFetch{{TP: tp, CurrentLeaderEpoch: currentLeaderEpoch, Offset: offset}}, maxBytes, maxBytes)
	if err != nil {
		return FetchResult{}, err
	}
	return res[0].FetchResult, res[0].Err
}

// PartitionFetch is one partition of a follower's Fetch.
type PartitionFetch struct {
	TP                 engine.TopicPartition
	CurrentLeaderEpoch int32
	Offset             int64
}

// PartitionFetchResult is one partition's answer: records and offsets, or Err (wrapping this
// package's sentinels where the leader answered one).
type PartitionFetchResult struct {
	FetchResult
	Err error
}

// FetchMany fetches several partitions in one request (Kafka's fetcher threads do, one per
// leader): each at most partitionMaxBytes, the response at most maxBytes (the first batch
// always whole). The answers are in the order of parts; the returned error is the request's
// (a broken connection, a request-level error code), after which the Conn may be broken. The
// records are copies owned by the caller.
func (c *Conn) FetchMany(ctx context.Context, parts []PartitionFetch, maxBytes, partitionMaxBytes int32) ([]PartitionFetchResult, error) {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID = c.replicaID
	req.MaxWaitMillis = int32(c.MaxWait / time.Millisecond)
	req.MinBytes, req.MaxBytes = c.MinBytes, maxBytes
	req.SessionEpoch = -1 // no fetch session (KIP-227)
	for _, pf := range parts {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != pf.TP.Topic {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = pf.TP.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset, rp.PartitionMaxBytes = pf.TP.Partition, pf.CurrentLeaderEpoch, pf.Offset, partitionMaxBytes
		rp.LastFetchedEpoch, rp.LogStartOffset = -1, -1
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	kresp, err := c.roundTrip(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := codeError(resp.ErrorCode); err != nil {
		return nil, fmt.Errorf("Fetch: %w", err)
	}
	answers := make(map[engine.TopicPartition]*kmsg.FetchResponseTopicPartition, len(parts))
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			p := &resp.Topics[ti].Partitions[pi]
			answers[engine.TopicPartition{Topic: resp.Topics[ti].Topic, Partition: p.Partition}] = p
		}
	}
	out := make([]PartitionFetchResult, len(parts))
	for i, pf := range parts {
		p := answers[pf.TP]
		switch {
		case p == nil:
			out[i].Err = fmt.Errorf("%s: Fetch answered without the partition", pf.TP)
		case codeError(p.ErrorCode) != nil:
			out[i].Err = fmt.Errorf("%s: Fetch: %w", pf.TP, codeError(p.ErrorCode))
		default:
			out[i].FetchResult = FetchResult{Records: p.RecordBatches, HighWatermark: p.HighWatermark, LogStartOffset: p.LogStartOffset}
		}
	}
	return out, nil
}

// codeError maps a Kafka error code to an error, this package's sentinels where one fits.
func codeError(code int16) error {
	ke := kerr.ErrorForCode(code)
	switch {
	case ke == nil:
		return nil
	case errors.Is(ke, kerr.FencedLeaderEpoch):
		return fmt.Errorf("%w: %w", ErrFencedLeaderEpoch, ke)
	case errors.Is(ke, kerr.NotLeaderForPartition):
		return fmt.Errorf("%w: %w", ErrNotLeader, ke)
	case errors.Is(ke, kerr.OffsetOutOfRange):
		return fmt.Errorf("%w: %w", ErrOffsetOutOfRange, ke)
	}
	return ke
}

// roundTrip sends one request and reads its response. The context's deadline (or, without
// one, the fetch's MaxWait plus 30 s) bounds the wait; a failure breaks the connection.
func (c *Conn) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.MaxWait+30*time.Second)
		defer cancel()
	}
	return c.kc.Request(ctx, req)
}
