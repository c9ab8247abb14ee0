package restproxy

import (
	"context"
	"errors"
	"net/http"

	"github.com/twmb/franz-go/pkg/kerr"
)

// apiError is an answer other than success: the HTTP status, Confluent's error code and a
// message for the user.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// badRequest is a 400 whose message says what is wrong with the request.
func badRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: http.StatusBadRequest, msg: msg}
}

// Confluent's fixed error codes (KafkaExceptionMapper and Errors in kafka-rest).
const (
	codeKafkaBadRequest     = 40002
	codeKafkaAuthentication = 40101
	codeKafkaAuthorization  = 40301
	codeTopicNotFound       = 40401
	codePartitionNotFound   = 40402
	codeUnknownTopicPart    = 40403
	codeKafkaError          = 50002
	codeKafkaRetriable      = 50003
	codeBrokerNotAvailable  = 50302
	codePayloadError        = 42206
	codeGroupNotFound       = 40405
)

// errorFor maps err as Confluent's exception mappers map the Kafka client's exceptions.
func errorFor(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.UnknownTopicID:
			return &apiError{http.StatusNotFound, codeUnknownTopicPart, ke.Description}
		case kerr.TopicAlreadyExists, kerr.InvalidReplicationFactor, kerr.InvalidPartitions,
			kerr.InvalidConfig, kerr.InvalidTopicException, kerr.PolicyViolation,
			kerr.InvalidReplicaAssignment, kerr.InvalidRequest, kerr.MessageTooLarge,
			kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTimestamp:
			return &apiError{http.StatusBadRequest, codeKafkaBadRequest, ke.Description}
		case kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed,
			kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed:
			return &apiError{http.StatusForbidden, codeKafkaAuthorization, ke.Description}
		case kerr.SaslAuthenticationFailed:
			return &apiError{http.StatusUnauthorized, codeKafkaAuthentication, ke.Description}
		case kerr.BrokerNotAvailable:
			return &apiError{http.StatusServiceUnavailable, codeBrokerNotAvailable, ke.Description}
		}
		if ke.Retriable {
			return &apiError{http.StatusInternalServerError, codeKafkaRetriable, ke.Description}
		}
		return &apiError{http.StatusInternalServerError, codeKafkaError, ke.Description}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &apiError{http.StatusInternalServerError, codeKafkaRetriable, "the cluster did not answer in time: " + err.Error()}
	}
	return &apiError{http.StatusInternalServerError, codeKafkaError, err.Error()}
}

// withMessage is err, a Kafka error, mapped as errorFor maps it but with the broker's own
// message (when it sent one), which says more than the code's description.
func withMessage(err error, msg *string) error {
	e := *errorFor(err)
	if msg != nil && *msg != "" {
		e.msg = *msg
	}
	return &e
}

// writeError answers err in Confluent's error shape.
func (p *Proxy) writeError(w http.ResponseWriter, err error) {
	e := errorFor(err)
	if e.status >= 500 {
		p.cfg.Logger.Warn("rest proxy", "err", err)
	}
	writeJSON(w, e.status, errorBody{ErrorCode: e.code, Message: e.msg})
}

// errorBody is Confluent's error JSON.
type errorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// errorOf is the Kafka error of a response's code, nil for none.
func errorOf(code int16) error { return kerr.ErrorForCode(code) }
