package engine

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/logd/logd/segment"
)

// LogConfig holds one partition's settings, named after Kafka's topic configs.
type LogConfig struct {
	SegmentBytes       int64         // segment.bytes
	SegmentMs          time.Duration // segment.ms
	RetentionMs        time.Duration // retention.ms; negative: no time limit
	RetentionBytes     int64         // retention.bytes; negative: no size limit
	MaxMessageBytes    int32         // max.message.bytes: largest batch accepted
	IndexIntervalBytes int           // index.interval.bytes
	MaxIndexBytes      int           // segment.index.bytes
	LogAppendTime      bool          // message.timestamp.type=LogAppendTime
	FlushMessages      int64         // flush.messages: sync after this many messages
	FlushMs            time.Duration // flush.ms: sync data older than this
	// Compaction (see cleaner.go). CleanupPolicy's zero value means delete.
	CleanupPolicy          CleanupPolicy // cleanup.policy
	MinCleanableDirtyRatio float64       // min.cleanable.dirty.ratio
	MinCompactionLag       time.Duration // min.compaction.lag.ms
	MaxCompactionLag       time.Duration // max.compaction.lag.ms
	DeleteRetention        time.Duration // delete.retention.ms: how long tombstones stay
}

// CleanupPolicy is Kafka's cleanup.policy: delete (retention), compact (the log cleaner), or
// both ("compact,delete").
type CleanupPolicy uint8

// Cleanup policies; they combine.
const (
	CleanupDelete  CleanupPolicy = 1
	CleanupCompact CleanupPolicy = 2
)

// ParseCleanupPolicy parses cleanup.policy's list value: "delete", "compact", "compact,delete"
// (in any order, with spaces around items).
func ParseCleanupPolicy(v string) (CleanupPolicy, error) {
	var p CleanupPolicy
	for _, item := range strings.Split(v, ",") {
		switch strings.TrimSpace(item) {
		case "delete":
			p |= CleanupDelete
		case "compact":
			p |= CleanupCompact
		case "":
		default:
			return 0, fmt.Errorf("cleanup.policy %q: %q is not a cleanup policy (delete, compact)", v, strings.TrimSpace(item))
		}
	}
	if p == 0 {
		return 0, fmt.Errorf("cleanup.policy must not be empty (delete, compact or compact,delete)")
	}
	return p, nil
}

// String renders the policy as Kafka lists it.
func (p CleanupPolicy) String() string {
	switch {
	case p&CleanupCompact != 0 && p&CleanupDelete != 0:
		return "compact,delete"
	case p&CleanupCompact != 0:
		return "compact"
	}
	return "delete"
}

// compacts reports whether the log cleaner compacts the log.
func (c *LogConfig) compacts() bool { return c.CleanupPolicy&CleanupCompact != 0 }

// deletes reports whether retention deletes the log's old segments.
func (c *LogConfig) deletes() bool { return c.CleanupPolicy == 0 || c.CleanupPolicy&CleanupDelete != 0 }

// DefaultLogConfig matches Kafka's defaults. Kafka's flush.messages and flush.ms default to
// "never" (Long.MAX_VALUE): durability on acks=all comes from the broker's fsync-before-ack.
var DefaultLogConfig = LogConfig{
	SegmentBytes:       1 << 30,
	SegmentMs:          7 * 24 * time.Hour,
	RetentionMs:        7 * 24 * time.Hour,
	RetentionBytes:     -1,
	MaxMessageBytes:    1048588,
	IndexIntervalBytes: 4096,
	MaxIndexBytes:      10 << 20,
	FlushMessages:      math.MaxInt64,
	FlushMs:            never,

	CleanupPolicy:          CleanupDelete,
	MinCleanableDirtyRatio: 0.5,
	MaxCompactionLag:       never,
	DeleteRetention:        24 * time.Hour,
}

// never is Kafka's Long.MAX_VALUE "never" for flush.ms.
const never = time.Duration(math.MaxInt64)

// Validate reports the first setting outside its legal range, named by its Kafka config name.
func (c *LogConfig) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("segment.bytes %d must be between 14 and %d", c.SegmentBytes, math.MaxInt32)
	case c.SegmentMs < time.Millisecond:
		return fmt.Errorf("segment.ms %d must be at least 1", c.SegmentMs.Milliseconds())
	case c.MaxMessageBytes < 0:
		return fmt.Errorf("max.message.bytes %d must not be negative", c.MaxMessageBytes)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("index.interval.bytes %d must not be negative", c.IndexIntervalBytes)
	case c.MaxIndexBytes < 4*1024:
		return fmt.Errorf("segment.index.bytes %d must be at least 4096", c.MaxIndexBytes)
	case c.FlushMessages < 1:
		return fmt.Errorf("flush.messages %d must be at least 1", c.FlushMessages)
	case c.FlushMs < 0:
		return fmt.Errorf("flush.ms %d must not be negative", c.FlushMs.Milliseconds())
	case c.CleanupPolicy > CleanupDelete|CleanupCompact:
		return fmt.Errorf("cleanup.policy %d is not a cleanup policy", c.CleanupPolicy)
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1):
		return fmt.Errorf("min.cleanable.dirty.ratio %v must be between 0 and 1", c.MinCleanableDirtyRatio)
	case c.MinCompactionLag < 0:
		return fmt.Errorf("min.compaction.lag.ms %d must not be negative", c.MinCompactionLag.Milliseconds())
	case c.MaxCompactionLag < time.Millisecond:
		return fmt.Errorf("max.compaction.lag.ms %d must be at least 1", c.MaxCompactionLag.Milliseconds())
	case c.DeleteRetention < 0:
		return fmt.Errorf("delete.retention.ms %d must not be negative", c.DeleteRetention.Milliseconds())
	}
	return nil
}

func (c *LogConfig) segmentConfig() segment.Config {
	return segment.Config{IndexIntervalBytes: c.IndexIntervalBytes, MaxIndexBytes: c.MaxIndexBytes}
}
