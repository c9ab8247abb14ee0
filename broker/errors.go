package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logd/logd/acl"
	"github.com/logd/logd/engine"
	"github.com/logd/logd/metadata"
	"github.com/logd/logd/replication"
	"github.com/logd/logd/segment"
	"github.com/logd/logd/telemetry"
	"github.com/logd/logd/txn"
)

// Errors of the broker layer itself.
var (
	errUnknownTopicOrPartition = errors.New("unknown topic or partition")
	errInvalidConfig           = errors.New("invalid config")
	errInvalidRequest          = errors.New("invalid request")
	errUnsupportedCompression  = errors.New("unsupported compression type for this request version")
	errInvalidRequiredAcks     = errors.New("acks must be -1, 0 or 1")
)

// errorCode maps an error from any layer to its Kafka error code: the one place that does.
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMapping is one Go error and its Kafka code.
type errorMapping struct {
	err  error
	code *kerr.Error
}

// txnErrorCodes are the transaction coordinator's errors (txnError).
var txnErrorCodes = []errorMapping{
	{txn.ErrNotCoordinator, kerr.NotCoordinator},
	{txn.ErrInvalidRequest, kerr.InvalidRequest},
	{txn.ErrInvalidTimeout, kerr.InvalidTransactionTimeout},
	{txn.ErrConcurrentTransactions, kerr.ConcurrentTransactions},
	{txn.ErrProducerFenced, kerr.ProducerFenced},
	{txn.ErrInvalidProducerIDMapping, kerr.InvalidProducerIDMapping},
	{txn.ErrInvalidTxnState, kerr.InvalidTxnState},
	{txn.ErrNotInTransaction, kerr.TransactionAbortable},
	{txn.ErrUnknownTransactionalID, kerr.TransactionalIDNotFound},
}

var errorCodes = []errorMapping{
	{metadata.ErrScramDuplicate, kerr.DuplicateResource},
	{metadata.ErrScramNotFound, kerr.ResourceNotFound},
	{metadata.ErrScramUnacceptable, kerr.UnacceptableCredential},
	{metadata.ErrScramUnknownMechanism, kerr.UnsupportedSaslMechanism},
	{metadata.ErrDelegationTokenNotFound, kerr.DelegationTokenNotFound},
	{metadata.ErrDelegationTokenExpired, kerr.DelegationTokenExpired},
	{metadata.ErrDelegationTokenOwnerMismatch, kerr.DelegationTokenOwnerMismatch},
	{engine.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{engine.ErrMessageTooLarge, kerr.MessageTooLarge},
	{engine.ErrLogDirOffline, kerr.KafkaStorageError},
	{engine.ErrLogDirNotFound, kerr.LogDirNotFound},
	{engine.ErrTopicNameTooLong, kerr.InvalidTopicException},
	{engine.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{engine.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{engine.ErrInvalidTxnState, kerr.InvalidTxnState},
	{engine.ErrCoordinatorFenced, kerr.TransactionCoordinatorFenced},
	{engine.ErrInvalidRecord, kerr.InvalidRecord},
	{engine.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{engine.ErrClosed, kerr.NotLeaderForPartition},
	{replication.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{replication.ErrUnknownReplica, kerr.NotLeaderForPartition},
	{replication.ErrNotLeader, kerr.NotLeaderForPartition},
	{replication.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{replication.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{replication.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{replication.ErrTimedOut, kerr.RequestTimedOut},
	{segment.ErrCorrupt, kerr.CorruptMessage},
	{segment.ErrTruncated, kerr.CorruptMessage},
	{segment.ErrUnsupportedMagic, kerr.CorruptMessage}, // Kafka: v3+ produce takes magic 2 only
	{metadata.ErrTopicExists, kerr.TopicAlreadyExists},
	{metadata.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{metadata.ErrInvalidTopic, kerr.InvalidTopicException},
	{metadata.ErrInvalidPartitions, kerr.InvalidPartitions},
	{errUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{errInvalidConfig, kerr.InvalidConfig},
	{errInvalidRequest, kerr.InvalidRequest},
	{errUnsupportedCompression, kerr.UnsupportedCompressionType},
	{errInvalidRequiredAcks, kerr.InvalidRequiredAcks},
	{errNotHosted, kerr.NotLeaderForPartition},
	// The controller's refusals (cluster mode).
	{metadata.ErrNotController, kerr.NotController},
	{metadata.ErrDuplicateVoter, kerr.DuplicateVoter},
	{metadata.ErrVoterNotFound, kerr.VoterNotFound},
	{metadata.ErrVoterChangeInProgress, kerr.RequestTimedOut},
	{metadata.ErrVoterNotCaughtUp, kerr.RequestTimedOut},
	{metadata.ErrLastVoter, kerr.InvalidRequest},
	{metadata.ErrUnknownBroker, kerr.BrokerIDNotRegistered},
	{metadata.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{metadata.ErrDuplicateBroker, kerr.DuplicateBrokerRegistration},
	{metadata.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{metadata.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{metadata.ErrUnknownPartition, kerr.UnknownTopicOrPartition},
	{metadata.ErrUnknownTopicID, kerr.UnknownTopicID},
	{metadata.ErrUnknownDirectory, kerr.LogDirNotFound},
	{metadata.ErrNotLeader, kerr.NotLeaderForPartition},
	{metadata.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{metadata.ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{metadata.ErrIneligibleReplica, kerr.IneligibleReplica},
	{metadata.ErrInvalidISR, kerr.InvalidRequest},
	{metadata.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{metadata.ErrPreferredNotAvailable, kerr.PreferredLeaderNotAvailable},
	{metadata.ErrEligibleNotAvailable, kerr.EligibleLeadersNotAvailable},
	{metadata.ErrNoReassignment, kerr.NoReassignmentInProgress},
	{acl.ErrInvalid, kerr.InvalidRequest},
	{metadata.ErrInvalidQuota, kerr.InvalidRequest},
	{metadata.ErrInvalidClientMetricsResource, kerr.InvalidRequest},
	{telemetry.ErrInvalidRequest, kerr.InvalidRequest},
	{telemetry.ErrInvalidConfig, kerr.InvalidConfig},
	{telemetry.ErrThrottled, kerr.ThrottlingQuotaExceeded},
	{telemetry.ErrUnknownSubscription, kerr.UnknownSubscriptionID},
	{telemetry.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{telemetry.ErrTooLarge, kerr.TelemetryTooLarge},
	{telemetry.ErrInvalidRecord, kerr.InvalidRecord},
}
