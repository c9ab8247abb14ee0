package metadata

import (
	"encoding/base64"
	"errors"
	"fmt"
)

// Errors of topic changes; the broker maps them to Kafka error codes.
var (
	ErrTopicExists       = errors.New("topic already exists")
	ErrUnknownTopic      = errors.New("unknown topic")
	ErrInvalidTopic      = errors.New("invalid topic name")
	ErrInvalidPartitions = errors.New("invalid partition count")
)

// MaxPartitions bounds a topic's partition count.
const MaxPartitions = 1 << 20

// TopicID is a Kafka topic UUID.
type TopicID [16]byte

// String renders the id as Kafka does (URL-safe base64 without padding).
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// Topic is one topic's metadata.
type Topic struct {
	Name       string            `json:"name"`
	ID         TopicID           `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"` // only the overrides
}

// ValidateTopicName applies Kafka's rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
func ValidateTopicName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	if len(name) > 249 {
		return fmt.Errorf("%w: %q is longer than 249 characters", ErrInvalidTopic, name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; use letters, digits, '.', '_' and '-'", ErrInvalidTopic, name, c)
		}
	}
	return nil
}
