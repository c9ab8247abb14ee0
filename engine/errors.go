package engine

import (
	"errors"

	"github.com/logd/logd/engine/internal/groupcommit"
	"github.com/logd/logd/engine/internal/producer"
)

// Errors returned by the engine. The broker maps each to its Kafka error code in one place;
// every error the engine returns satisfies errors.Is with one of these or with the segment
// package's batch errors (segment.ErrCorrupt, segment.ErrTruncated, segment.ErrUnsupportedMagic,
// all CORRUPT_MESSAGE on the wire).
var (
	// ErrOffsetOutOfRange: a read or DeleteRecords offset outside [log start, end].
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrMessageTooLarge: a batch larger than max.message.bytes.
	ErrMessageTooLarge = errors.New("record batch larger than max.message.bytes")
	// ErrLogDirOffline: the log directory failed an fsync (or another write) and is offline
	// (KAFKA_STORAGE_ERROR).
	ErrLogDirOffline = groupcommit.ErrLogDirOffline
	// ErrInvalidProducerEpoch: a batch from a fenced producer epoch.
	ErrInvalidProducerEpoch = producer.ErrInvalidProducerEpoch
	// ErrOutOfOrderSequence: an idempotent batch whose sequence does not follow the last one.
	ErrOutOfOrderSequence = producer.ErrOutOfOrderSequence
	// ErrClosed: the log or engine was closed.
	ErrClosed = errors.New("log closed")
	// ErrUnknownPartition: no log exists for the topic partition.
	ErrUnknownPartition = errors.New("unknown topic partition")
	// ErrPartitionExists: CreateLog for a partition that already has a log.
	ErrPartitionExists = errors.New("topic partition already exists")
	// ErrInvalidRecord: a batch set that is empty or has trailing bytes.
	ErrInvalidRecord = errors.New("invalid record batch set")
)
