package connect

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// Header is one record header; Schema may be nil (schemaless).
type Header struct {
	Key    string
	Schema *Schema
	Value  any
}

// SourceRecord is what a SourceTask produces: a key and value with their schemas (nil schema:
// schemaless), the topic to write to, and where in the source it came from. SourcePartition
// and SourceOffset are Kafka Connect's source partition and offset maps (JSON-compatible values
// only: string, bool, float64/int64, nil, []any, map[string]any), kept in the offsets topic.
type SourceRecord struct {
	SourcePartition map[string]any
	SourceOffset    map[string]any
	Topic           string
	Partition       int32 // -1: the producer's partitioner chooses (by key)
	KeySchema       *Schema
	Key             any
	ValueSchema     *Schema
	Value           any // nil with a key: a tombstone
	Timestamp       time.Time
	Headers         []Header
}

// SinkRecord is what a SinkTask is given: a record of a topic partition, converted.
type SinkRecord struct {
	Topic       string
	Partition   int32
	Offset      int64
	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any // nil: a tombstone
	Timestamp   time.Time
	Headers     []Header
}

// TopicPartition names a partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// ConfigError is a problem with one configuration property, as the REST API's config
// validation reports it.
type ConfigError struct {
	Name    string // the property
	Message string // what is wrong and how to fix it
}

// Connector is a configured connector instance: it checks its configuration and splits it
// into at most maxTasks task configurations. The runtime calls Start once, TaskConfigs when it
// (re)creates the tasks, and Stop when the connector is deleted, paused or moved.
type Connector interface {
	// Validate reports every problem with config; nil if none.
	Validate(config map[string]string) []ConfigError
	// Start starts the connector with a validated config.
	Start(ctx ConnectorContext, config map[string]string) error
	// TaskConfigs returns the configurations of the tasks to run (at least one, at most maxTasks).
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop releases what Start took.
	Stop() error
}

// ExactlyOnceSourceConnector is implemented by a source connector that can say whether it
// provides exactly-once semantics with a configuration (Java's SourceConnector
// exactlyOnceSupport): a connector configured with exactly.once.support=required is refused
// unless it implements this and returns true. Connectors do not define transaction boundaries
// (transaction.boundary=connector is refused for all of them).
type ExactlyOnceSourceConnector interface {
	// ExactlyOnceSupport says whether the connector's records and offsets, written in one
	// transaction, are exactly once with config (resuming from the offsets re-reads nothing).
	ExactlyOnceSupport(config map[string]string) bool
}

// ConnectorContext is what the runtime offers a running connector.
type ConnectorContext interface {
	// RequestTaskReconfiguration asks the runtime to call TaskConfigs again (the source's
	// shape changed, e.g. a table was added).
	RequestTaskReconfiguration()
	// RaiseError fails the connector with err (its status becomes FAILED with err's text).
	RaiseError(err error)
}

// SourceTask reads from an external system. Poll is called repeatedly from one goroutine;
// Commit is called from the same goroutine between polls.
type SourceTask interface {
	// Start starts the task; ctx gives the stored offsets to resume from.
	Start(ctx SourceTaskContext, config map[string]string) error
	// Poll returns the next records, waiting at most until ctx is done; none is fine.
	Poll(ctx context.Context) ([]SourceRecord, error)
	// Commit says that every record polled up to and including these source offsets (the
	// newest per source partition) was acknowledged by the cluster and its offset stored: the
	// source may now release what it kept for them (e.g. confirm a replication slot's LSN).
	// The map is keyed by the source partition rendered as JSON with its keys sorted (the
	// second element of the offsets topic's key), e.g. {"filename":"/tmp/in.txt"}.
	Commit(offsets map[string]map[string]any) error
	// Stop stops the task; Poll is not called again.
	Stop() error
}

// SourceTaskContext is what the runtime offers a source task.
type SourceTaskContext interface {
	// Offset returns the stored offset of a source partition, nil if none was stored.
	Offset(partition map[string]any) (map[string]any, error)
}

// SinkTask writes to an external system. Put and Flush are called from one goroutine.
type SinkTask interface {
	// Start starts the task.
	Start(ctx SinkTaskContext, config map[string]string) error
	// Put hands over records; the task may buffer them until Flush. An error fails the task
	// unless it wraps ErrRetriable, in which case Put is retried with the same records.
	Put(records []SinkRecord) error
	// Flush writes everything buffered for these partitions durably; the runtime then commits
	// the offsets (the next offset to read per partition).
	Flush(offsets map[TopicPartition]int64) error
	// Stop stops the task.
	Stop() error
}

// SinkTaskContext is what the runtime offers a sink task.
type SinkTaskContext interface {
	// Assignment returns the partitions currently assigned to the task.
	Assignment() []TopicPartition
	// Context is done once the task is being stopped (deleted, paused, moved, worker shutting
	// down): a task waiting inside Put or Flush, e.g. backing off before retrying a write,
	// should give up then and return an error (its records are then not committed).
	Context() context.Context
}

// ErrRetriable marks a task error after which the runtime retries the same call (Kafka
// Connect's RetriableException).
var ErrRetriable = errors.New("connect: retriable")

// Kind says whether a plugin is a source or a sink.
type Kind string

// The plugin kinds, with the REST API's names.
const (
	Source Kind = "source"
	Sink   Kind = "sink"
)

// Plugin describes a connector implementation for the registry.
type Plugin struct {
	Class   string   // the Java class name configs use, e.g. io.debezium.connector.postgresql.PostgresConnector
	Aliases []string // short names also accepted in connector.class
	Kind    Kind
	Version string
	// TaskClass is the Java task class name the runtime adds to every task configuration as
	// task.class, as Java's worker does ("" adds none).
	TaskClass string
	// NewConnector returns a new connector instance.
	NewConnector func() Connector
	// NewSourceTask (Source) or NewSinkTask (Sink) returns a new task instance.
	NewSourceTask func() SourceTask
	NewSinkTask   func() SinkTask
}

var registry struct {
	mu      sync.RWMutex
	plugins []*Plugin
}

// Register adds a plugin (from an init function); a class or alias registered twice panics.
func Register(p *Plugin) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	for _, q := range registry.plugins {
		for _, n := range append([]string{p.Class}, p.Aliases...) {
			if n == q.Class || slices.Contains(q.Aliases, n) {
				panic("connect: plugin " + n + " registered twice")
			}
		}
	}
	registry.plugins = append(registry.plugins, p)
}

// Lookup returns the plugin whose class or alias is name.
func Lookup(name string) (*Plugin, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	for _, p := range registry.plugins {
		if p.Class == name || slices.Contains(p.Aliases, name) {
			return p, true
		}
	}
	return nil, false
}

// Plugins returns every registered plugin, ordered by class.
func Plugins() []*Plugin {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	ps := slices.Clone(registry.plugins)
	slices.SortFunc(ps, func(a, b *Plugin) int { return strings.Compare(a.Class, b.Class) })
	return ps
}
